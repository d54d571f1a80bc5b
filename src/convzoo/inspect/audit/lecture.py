"""The lecture's sequential tables: AlexNet, VGG16 and ResNet18 (GoogLeNet: lecture_googlenet).

The live network is traced with :func:`convzoo.inspect.summarize` in the lecture's counting
convention (conv layers with biases, no batch norm, no projection shortcuts). The published
rows are paired with the live layers in order (by kind), and every cell is compared; the
table's own columns (kernel, channels, input and output sizes) are also checked against each
other, which is how a stray or slipped number is told from another network.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass

from convzoo.inspect import summarize
from convzoo.inspect.audit.checks import (
    add_number,
    check_printed_total,
    one_edit,
    own_columns_finding,
)
from convzoo.inspect.audit.report import AuditReport
from convzoo.inspect.audit.tables import int_or_none, ints, layer_kind, load_table
from convzoo.inspect.trace import LayerRecord


@dataclass
class PrintedRow:
    """One row of a lecture table, its cells parsed."""

    tag: str
    label: str
    kind: str
    kernel: list[int] | None
    cin: int | None
    cout: int | None
    inp: list[int] | None
    outp: list[int] | None
    stride: str
    pad: str
    params: int | None
    raw: dict[str, str]

    @classmethod
    def parse(cls, r: dict[str, str]) -> PrintedRow:
        block = f", {r['block']}" if r.get("block") else ""
        return cls(
            tag=f"{r['layer']} (row {r['row']}{block})",
            label=r["layer"],
            kind=layer_kind(r["layer"]),
            kernel=ints(r["kernel"]),
            cin=int_or_none(r["in"]),
            cout=int_or_none(r["out"]),
            inp=ints(r["input"]),
            outp=ints(r["output"]),
            stride=r["stride"].strip(),
            pad=r["pad"].strip(),
            params=int_or_none(r["params"]),
            raw=r,
        )


def split_rows(table: list[dict[str, str]]) -> tuple[list[PrintedRow], int | None]:
    rows = [PrintedRow.parse(r) for r in table if r["layer"] != "Total"]
    total = next((int_or_none(r["params"]) for r in table if r["layer"] == "Total"), None)
    return rows, total


def live_rows(model: str, convention: str = "lecture") -> tuple[list[LayerRecord], int]:
    t = summarize(model, convention=convention)
    rows = [
        r
        for r in t.rows
        if r.kind in ("conv", "linear", "maxpool", "avgpool", "concat")
        and not (r.kind in ("maxpool", "avgpool") and r.input_shape == r.output_shape)
    ]
    return rows, t.total_params


def hwc(shape: tuple[int, ...]) -> list[int]:
    return [shape[2], shape[3], shape[1]] if len(shape) == 4 else [1, 1, shape[-1]]


def joined(values: list[int] | None, sep: str = " ") -> str:
    return sep.join(map(str, values)) if values else "-"


def audit_sequential(rep: AuditReport, model: str, table_id: str) -> None:
    rows, printed_total = split_rows(load_table(table_id))
    live, live_total = live_rows(model)
    pairs = _pair_by_kind(rows, live)
    prev_out: list[int] | None = None
    for i, row in enumerate(rows):
        _check_label(rep, row)
        if row.params is not None and row.cin is not None and row.cout is not None:
            own_columns_finding(
                rep, row.tag, row.params, row.kernel, row.cin, row.cout, row.kind == "pool"
            )
        _check_chain(rep, row, prev_out)
        prev_out = row.outp or prev_out
        lv = pairs.get(i)
        if lv is None:
            rep.add(
                row.tag,
                "layer",
                row.label,
                "-",
                False,
                "variant",
                "no layer of the live network corresponds to this row.",
            )
            continue
        _check_shapes(rep, row, lv, first=i == 0)
        _check_pad(rep, row, lv)
        _check_channels_and_params(rep, row, lv)
    if printed_total is not None:
        _check_total(rep, rows, printed_total, live_total)
    real_total = live_rows(model, convention="real")[1]
    rep.summary.append(
        f"The network counted as the lecture does (conv biases, no batch norm, no projection "
        f"shortcuts) has {live_total:,} parameters; the real {model} has {real_total:,}."
    )


def _pair_by_kind(rows: list[PrintedRow], live: list[LayerRecord]) -> dict[int, LayerRecord]:
    pub = [r.kind for r in rows]
    liv = ["pool" if r.kind in ("maxpool", "avgpool") else r.kind for r in live]
    pairs: dict[int, LayerRecord] = {}
    for a, b, n in difflib.SequenceMatcher(None, pub, liv, autojunk=False).get_matching_blocks():
        for k in range(n):
            pairs[a + k] = live[b + k]
    return pairs


def _check_label(rep: AuditReport, row: PrintedRow) -> None:
    """VGG's labels name kernel and width (``conv3-64``): a '0' typed for the '-'."""
    typed = re.fullmatch(r"conv(\d)0(\d+)", row.label)
    if typed and row.cout is not None and int(typed.group(2)) == row.cout:
        right = f"conv{typed.group(1)}-{typed.group(2)}"
        rep.add(
            row.tag,
            "label",
            row.label,
            right,
            False,
            "typo",
            "the row's kernel and width name the layer.",
            f"{right} with '0' typed for '-'",
        )


def _check_chain(rep: AuditReport, row: PrintedRow, prev_out: list[int] | None) -> None:
    if prev_out is not None and row.inp is not None and math.prod(row.inp) != math.prod(prev_out):
        rep.add(
            row.tag,
            "input (vs row above)",
            joined(row.inp),
            joined(prev_out),
            False,
            "inconsistent",
            "the input differs from the output of the row above.",
        )


def _check_shapes(rep: AuditReport, row: PrintedRow, lv: LayerRecord, first: bool) -> None:
    if row.kind == "linear":
        return
    live_in, live_out = hwc(lv.input_shape), hwc(lv.output_shape)
    if row.inp is not None and len(row.inp) == 3:
        ok = row.inp == live_in
        note = reproduction = ""
        if not ok and first:
            note = f"the network's default input is {live_in[0]}x{live_in[1]}."
            reproduction = _stem_pair(row, lv)
        rep.add(
            row.tag,
            "input",
            joined(row.inp),
            joined(live_in),
            ok,
            "variant" if reproduction else "inconsistent",
            note,
            reproduction,
        )
    if row.outp is not None and len(row.outp) == 3:
        rep.add(
            row.tag,
            "output",
            joined(row.outp),
            joined(live_out),
            row.outp == live_out,
            "unexplained",
        )
    if row.kernel:
        lk = list(lv.kernel) if lv.kernel else None
        rep.add(
            row.tag,
            "kernel",
            joined(row.kernel, "x"),
            joined(lk, "x"),
            row.kernel == lk,
            "unexplained",
        )
    if row.stride:
        ls = lv.stride[0] if lv.stride else None
        add_number(rep, row.tag, "stride", int_or_none(row.stride), ls)


def _stem_pair(row: PrintedRow, lv: LayerRecord) -> str:
    """The first row's printed input and pad, when together they give its printed output."""
    pad, stride = int_or_none(row.pad), int_or_none(row.stride)
    if not (row.inp and row.outp and row.kernel and pad is not None and stride):
        return ""
    own = (row.inp[0] + 2 * pad - row.kernel[0]) // stride + 1
    if own != row.outp[0]:
        return ""
    live_in, live_pad = hwc(lv.input_shape)[0], lv.padding[0] if lv.padding else 0
    return (
        f"the printed input {row.inp[0]} with the printed pad {pad}: "
        f"({row.inp[0]} + 2·{pad} - {row.kernel[0]}) // {stride} + 1 = {own}, the printed "
        f"output, as the network's {live_in} with pad {live_pad} gives"
    )


def _check_pad(rep: AuditReport, row: PrintedRow, lv: LayerRecord) -> None:
    if not row.pad or row.kind == "linear":
        return
    lp = lv.padding[0] if lv.padding else None
    if row.pad == "0.5":
        rep.add(
            row.tag,
            "pad",
            row.pad,
            lp,
            False,
            "convention" if _halves(row, lp) else "unexplained",
            "'0.5' is the lecture's shorthand for the padding that halves the size at stride 2.",
            _halves(row, lp),
        )
        return
    ok = int_or_none(row.pad) == lp
    reproduction = _stem_pair(row, lv) if not ok else ""
    rep.add(
        row.tag, "pad", row.pad, lp, ok, "variant" if reproduction else "typo", "", reproduction
    )


def _halves(row: PrintedRow, pad: int | None) -> str:
    """The network's pad giving the printed output, half the printed input (the '0.5')."""
    stride = int_or_none(row.stride)
    if not (row.inp and row.outp and row.kernel and stride and pad is not None):
        return ""
    side = (row.inp[0] + 2 * pad - row.kernel[0]) // stride + 1
    if side != row.outp[0] or 2 * side != row.inp[0]:
        return ""
    return (
        f"the network's pad {pad}: ({row.inp[0]} + 2·{pad} - {row.kernel[0]}) // {stride} + 1 "
        f"= {side}, the printed output, half the printed input"
    )


def _check_channels_and_params(rep: AuditReport, row: PrintedRow, lv: LayerRecord) -> None:
    if row.cin is not None:
        add_number(rep, row.tag, "in", row.cin, lv.in_channels)
    if row.cout is not None:
        add_number(rep, row.tag, "out", row.cout, lv.out_channels)
    if row.params is None:
        return
    ok = row.params == lv.params
    if ok or row.kind != "pool":
        slip = one_edit(row.params, lv.params) if not ok else ""
        rep.add(
            row.tag,
            "params",
            row.params,
            lv.params,
            ok,
            "typo" if slip else "inconsistent",
            "",
            f"{lv.params:,} with {slip}" if slip else "",
        )
        return
    rep.add(
        row.tag,
        "params",
        row.params,
        lv.params,
        False,
        "inconsistent",
        "pooling has no parameters (see the row's own columns).",
    )


def _check_total(
    rep: AuditReport, rows: list[PrintedRow], printed_total: int, live_total: int
) -> None:
    published_sum = sum(r.params or 0 for r in rows)
    check_printed_total(rep, printed_total, published_sum)
    ok = printed_total == live_total
    reproduction = ""
    if not ok and printed_total == published_sum:
        diff = printed_total - live_total
        culprits = [r.tag for r in rows if r.params == diff]
        reproduction = (
            f"the sum of the printed rows, which exceeds the network's {live_total:,} by "
            f"{diff:,}" + (f", the number in {', '.join(culprits)}" if culprits else "")
        )
    rep.add("Total", "params", printed_total, live_total, ok, "inconsistent", "", reproduction)
