"""The lecture's four tables: AlexNet, VGG16 and ResNet18 (sequential), and GoogLeNet.

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
from typing import Any

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


def _split(table: list[dict[str, str]]) -> tuple[list[PrintedRow], int | None]:
    rows = [PrintedRow.parse(r) for r in table if r["layer"] != "Total"]
    total = next((int_or_none(r["params"]) for r in table if r["layer"] == "Total"), None)
    return rows, total


def _live_rows(model: str, convention: str = "lecture") -> tuple[list[LayerRecord], int]:
    t = summarize(model, convention=convention)
    rows = [
        r
        for r in t.rows
        if r.kind in ("conv", "linear", "maxpool", "avgpool", "concat")
        and not (r.kind in ("maxpool", "avgpool") and r.input_shape == r.output_shape)
    ]
    return rows, t.total_params


def _hwc(shape: tuple[int, ...]) -> list[int]:
    return [shape[2], shape[3], shape[1]] if len(shape) == 4 else [1, 1, shape[-1]]


def _joined(values: list[int] | None, sep: str = " ") -> str:
    return sep.join(map(str, values)) if values else "-"


# --- the sequential tables (AlexNet, VGG16, ResNet18) ------------------------------------------


def audit_sequential(rep: AuditReport, model: str, table_id: str) -> None:
    rows, printed_total = _split(load_table(table_id))
    live, live_total = _live_rows(model)
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
    real_total = _live_rows(model, convention="real")[1]
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
            _joined(row.inp),
            _joined(prev_out),
            False,
            "inconsistent",
            "the input differs from the output of the row above.",
        )


def _check_shapes(rep: AuditReport, row: PrintedRow, lv: LayerRecord, first: bool) -> None:
    if row.kind == "linear":
        return
    live_in, live_out = _hwc(lv.input_shape), _hwc(lv.output_shape)
    if row.inp is not None and len(row.inp) == 3:
        ok = row.inp == live_in
        note = reproduction = ""
        if not ok and first:
            note = f"the network's default input is {live_in[0]}x{live_in[1]}."
            reproduction = _stem_pair(row, lv)
        rep.add(
            row.tag,
            "input",
            _joined(row.inp),
            _joined(live_in),
            ok,
            "variant" if reproduction else "inconsistent",
            note,
            reproduction,
        )
    if row.outp is not None and len(row.outp) == 3:
        rep.add(
            row.tag,
            "output",
            _joined(row.outp),
            _joined(live_out),
            row.outp == live_out,
            "unexplained",
        )
    if row.kernel:
        lk = list(lv.kernel) if lv.kernel else None
        rep.add(
            row.tag,
            "kernel",
            _joined(row.kernel, "x"),
            _joined(lk, "x"),
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
    live_in, live_pad = _hwc(lv.input_shape)[0], lv.padding[0] if lv.padding else 0
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


# --- the lecture's GoogLeNet table -------------------------------------------------------------


def audit_lecture_googlenet(rep: AuditReport, model: str, table_id: str) -> None:
    rows, printed_total = _split(load_table(table_id))
    live, live_total = _live_rows(model)
    convs = [r for r in live if r.kind in ("conv", "linear")]
    used: set[int] = set()
    for row in rows:
        if _malformed(rep, row):
            continue
        _check_in_vs_input(rep, row)
        if row.params is not None and row.cin is not None and row.cout is not None:
            own_columns_finding(
                rep, row.tag, row.params, row.kernel, row.cin, row.cout, row.kind == "pool"
            )
        if row.kind in ("conv", "linear"):
            _match_googlenet_layer(rep, row, convs, used)
    if printed_total is not None:
        published_sum = sum(r.params or 0 for r in rows)
        check_printed_total(rep, printed_total, published_sum)
        rep.add(
            "Total",
            "params",
            printed_total,
            live_total,
            printed_total == live_total,
            "inconsistent",
            "the network counted as the lecture counts (biases, no auxiliary classifiers).",
        )
    conv_rows = sum(1 for r in rows if r.kind == "conv")
    named = sum(1 for f in rep.findings if f.field == "params" and "matched to" in f.note)
    rep.summary.append(
        f"{named} of the table's {conv_rows} conv rows name a layer of the network (same "
        f"kernel and channels); the network has {sum(1 for c in convs if c.kind == 'conv')} "
        f"conv layers and {live_total:,} parameters counted the lecture's way (auxiliary "
        "classifiers excluded)."
    )
    by_cause = _count_causes(rep)
    rep.summary.append(
        "Disagreements by kind: " + ", ".join(f"{n} {c}" for c, n in by_cause.items()) + "."
    )


def _count_causes(rep: AuditReport) -> dict[str, int]:
    counts: dict[str, int] = {}
    for f in rep.mismatches:
        counts[f.cause] = counts.get(f.cause, 0) + 1
    return counts


def _malformed(rep: AuditReport, row: PrintedRow) -> bool:
    """Concat rows carry no layer; a cell with sizes run together is read, if it can be."""
    if row.kind == "concat" or (row.inp is None and row.outp is None and row.params is None):
        if row.outp is None or len(row.outp) != 3:
            cell = row.raw["input"] or row.raw["output"]
            reading = _read_run_together(ints(cell) or [], row)
            rep.add(
                row.tag,
                "output",
                cell,
                "-",
                False,
                "typo" if reading else "unexplained",
                "malformed cell: H W C (and H W C) expected.",
                reading,
            )
        return True
    if (row.inp is not None and len(row.inp) not in (3, 6)) or (
        row.outp is None and row.inp is not None
    ):
        reading = _read_run_together(row.inp or [], row)
        rep.add(
            row.tag,
            "input/output",
            row.raw["input"],
            "-",
            False,
            "typo" if reading else "unexplained",
            "malformed cell: the input and output sizes run together.",
            reading,
        )
    return False


def _read_run_together(numbers: list[int], row: PrintedRow) -> str:
    """How a cell of five or seven numbers reads as an input and an output size, if it does.

    Five: the input's height and width, then the output (the input's channels left out).
    Seven: an input and an output with one stray number, the row's own 'in' and 'out' columns
    naming the two channel counts.
    """
    if len(numbers) == 5 and numbers[0:2] == numbers[2:4]:
        h, w = numbers[0:2]
        return (
            f"the input's side {h} {w} and the output {' '.join(map(str, numbers[2:]))} run "
            "together, the input's channels left out"
        )
    if len(numbers) == 7:
        for i, stray in enumerate(numbers):
            rest = numbers[:i] + numbers[i + 1 :]
            inp, out = rest[:3], rest[3:]
            if inp[0] == inp[1] and out[0] == out[1] and (inp[2], out[2]) == (row.cin, row.cout):
                return (
                    f"the input {' '.join(map(str, inp))} and the output "
                    f"{' '.join(map(str, out))} (the row's 'in' and 'out') with a stray '{stray}'"
                )
    return ""


def _check_in_vs_input(rep: AuditReport, row: PrintedRow) -> None:
    if row.kind != "conv" or row.inp is None or len(row.inp) != 3 or row.cin is None:
        return
    if row.inp[2] != row.cin:
        rep.add(
            row.tag,
            "in (vs input size)",
            row.cin,
            row.inp[2],
            False,
            "inconsistent",
            "the row's input size and its 'in' column disagree.",
        )


def _find_conv(
    convs: list[LayerRecord], used: set[int], kernel: tuple[int, ...] | None, cin: Any, cout: Any
) -> int | None:
    for i, lv in enumerate(convs):
        lk = tuple(lv.kernel) if lv.kernel else (1, 1)
        if i not in used and lk == kernel and lv.in_channels == cin and lv.out_channels == cout:
            return i
    return None


def _match_googlenet_layer(
    rep: AuditReport, row: PrintedRow, convs: list[LayerRecord], used: set[int]
) -> None:
    """The live layer with the row's kernel and channels (in order), and its parameters."""
    kernel = tuple(row.kernel) if row.kernel else None
    match = _find_conv(convs, used, kernel, row.cin, row.cout)
    in_slip = row.inp is not None and len(row.inp) == 3 and row.inp[2] != row.cin
    if match is None and in_slip and row.inp is not None:
        match = _find_conv(convs, used, kernel, row.inp[2], row.cout)
        if match is not None:
            rep.add(
                row.tag,
                "in",
                row.cin,
                row.inp[2],
                False,
                "typo",
                "the 'in' column is the slip.",
                f"'in' read from the row's input size, {row.inp[2]}: "
                f"{_joined(row.kernel, 'x')} {row.inp[2]}->{row.cout} is {convs[match].name}",
            )
    if match is None:
        _unmatched_layer(rep, row, convs, used, in_slip)
        return
    used.add(match)
    lv = convs[match]
    _googlenet_params(rep, row, lv)


def _unmatched_layer(
    rep: AuditReport, row: PrintedRow, convs: list[LayerRecord], used: set[int], in_slip: bool
) -> None:
    """A row no layer matches: a channel one keystroke from a layer's is a typo."""
    kernel = tuple(row.kernel) if row.kernel else (1, 1)
    printed = f"{_joined(row.kernel, 'x')} {row.kind} {row.cin}->{row.cout}"
    for i, lv in enumerate(convs):
        lk = tuple(lv.kernel) if lv.kernel else (1, 1)
        if i in used or lk != kernel or row.cin is None or row.cout is None:
            continue
        if row.outp and len(row.outp) == 3 and _hwc(lv.output_shape)[0] != row.outp[0]:
            continue  # a layer elsewhere in the network: not this row's
        slips = [
            f"'{col}' {p:,} is {live:,} with {slip}"
            for col, p, live in (
                ("in", row.cin, lv.in_channels),
                ("out", row.cout, lv.out_channels),
            )
            if p != live and (slip := one_edit(p, live or 0))
        ]
        same = [
            col
            for col, p, live in (
                ("in", row.cin, lv.in_channels),
                ("out", row.cout, lv.out_channels),
            )
            if p == live
        ]
        if slips and len(slips) + len(same) == 2:
            used.add(i)
            rep.add(
                row.tag,
                "layer",
                printed,
                f"{lv.name} {lv.in_channels}->{lv.out_channels}",
                False,
                "typo",
                "",
                "; ".join(slips),
            )
            return
    rep.add(
        row.tag,
        "layer",
        printed,
        "-",
        False,
        "inconsistent" if in_slip else "unexplained",
        "no layer of the network has this kernel and these channels"
        + (", and the row's input size and 'in' column disagree." if in_slip else "."),
    )


def _googlenet_params(rep: AuditReport, row: PrintedRow, lv: LayerRecord) -> None:
    if row.params is None:
        return
    ok = row.params == lv.params
    slip = one_edit(row.params, lv.params) if not ok else ""
    cause, reproduction = ("typo", f"{lv.params:,} with {slip}") if slip else ("", "")
    if not ok and not slip and row.cin is not None and row.cout is not None:
        k = math.prod(row.kernel) if row.kernel else 1
        own = k * row.cin * row.cout + row.cout
        if own == row.params:  # the row's own (slipped) columns feed the cell
            cause = "typo"
            reproduction = (
                f"the row's own columns, 'in' = {row.cin}: {k}·{row.cin}·{row.cout} + "
                f"{row.cout} = {own:,}"
            )
        else:
            cause = "inconsistent"
    rep.add(
        row.tag, "params", row.params, lv.params, ok, cause, f"matched to {lv.name}.", reproduction
    )
