"""The lecture's GoogLeNet table: its rows matched to the network's layers by kernel and channels.

The table is ragged and often contradicts itself, so its rows are not paired in order: each conv
row is matched to the first unused layer of the network with its kernel and channels (or with
its 'in' read from the row's input size, or one keystroke away), and the parameters are then
compared. Malformed cells are read when a reading reproduces them exactly.
"""

from __future__ import annotations

import math
from typing import Any

from convzoo.inspect.audit.checks import check_printed_total, one_edit, own_columns_finding
from convzoo.inspect.audit.lecture import PrintedRow, hwc, joined, live_rows, split_rows
from convzoo.inspect.audit.report import AuditReport
from convzoo.inspect.audit.tables import ints, load_table
from convzoo.inspect.trace import LayerRecord


def audit_lecture_googlenet(rep: AuditReport, model: str, table_id: str) -> None:
    rows, printed_total = split_rows(load_table(table_id))
    live, live_total = live_rows(model)
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
                f"{joined(row.kernel, 'x')} {row.inp[2]}->{row.cout} is {convs[match].name}",
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
    printed = f"{joined(row.kernel, 'x')} {row.kind} {row.cin}->{row.cout}"
    for i, lv in enumerate(convs):
        lk = tuple(lv.kernel) if lv.kernel else (1, 1)
        if i in used or lk != kernel or row.cin is None or row.cout is None:
            continue
        if row.outp and len(row.outp) == 3 and hwc(lv.output_shape)[0] != row.outp[0]:
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
