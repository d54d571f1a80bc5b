"""GoogLeNet's Table 1 (Szegedy et al. 2014): channels, output sizes, params and ops per row.

The params column is in K and the ops column in M; the paper does not say what K and M are,
whether biases count, or how the last digit is cut. The audit tries every such rule on every
row and keeps those that reproduce the most cells from the network's own counts: that says
what the table determines and what it leaves open. A disagreeing cell gets a cause only when a
computation gives its printed digits exactly.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction

from convzoo.inspect import summarize
from convzoo.inspect.audit.checks import (
    Derivation,
    Rounding,
    add_number,
    decimal,
    first_reproducing,
    parse_printed,
    rules_tied_best,
)
from convzoo.inspect.audit.report import AuditReport
from convzoo.inspect.audit.tables import int_or_none, load_table
from convzoo.inspect.trace import LayerRecord

_MODES = {"truncated": "truncate", "rounded": "round"}
_COUNTS = {"weights": "not counted", "weights and biases": "counted"}


def _params_rules() -> tuple[dict[str, tuple[str, Rounding]], dict[str, dict[str, str]]]:
    rules: dict[str, tuple[str, Rounding]] = {}
    parts: dict[str, dict[str, str]] = {}
    for count, unit, mode in itertools.product(_COUNTS, (1024, 1000), _MODES):
        name = f"{count}, K = {unit}, {mode}"
        rules[name] = (count, Rounding(unit, _MODES[mode], "K"))
        parts[name] = {
            "the unit": f"K = {unit}",
            "the last digit": mode,
            "whether biases count": _COUNTS[count],
        }
    return rules, parts


def _ops_rules() -> tuple[dict[str, Rounding], dict[str, dict[str, str]]]:
    rules: dict[str, Rounding] = {}
    parts: dict[str, dict[str, str]] = {}
    for (unit, label), mode in itertools.product(((10**6, "10^6"), (2**20, "2^20")), _MODES):
        name = f"multiply-adds, M = {label}, {mode}"
        rules[name] = Rounding(unit, _MODES[mode], "M")
        parts[name] = {"the unit": f"M = {label}", "the last digit": mode}
    return rules, parts


#: The rules the params column may follow, by name: (which count, how it is printed), and each
#: rule's parts (what a tie between rules leaves open).
PARAMS_RULES, PARAMS_PARTS = _params_rules()
#: The rules the ops column may follow (multiply-adds of the conv and linear layers).
OPS_RULES, OPS_PARTS = _ops_rules()
#: The rules the table follows (sources.csv states them; the audit checks they are determined).
STATED_PARAMS = Rounding(1024, "truncate", "K")
STATED_OPS = Rounding(10**6, "round", "M")
CHANNEL_COLUMNS = {
    "n1x1": "branch1.conv",
    "n3x3_reduce": "branch2.0.conv",
    "n3x3": "branch2.1.conv",
    "n5x5_reduce": "branch3.0.conv",
    "n5x5": "branch3.1.conv",
    "pool_proj": "branch4.1.conv",
}


@dataclass
class RowCounts:
    """The network's counts for one row of the table."""

    label: str
    weights: int
    biases: int
    macs: int
    positions: int  # output height x width of the row
    printed_params: str
    printed_ops: str

    def count(self, which: str) -> int:
        return self.weights + (self.biases if which == "weights and biases" else 0)


def _in_row(name: str, parts: list[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in parts)


def audit_googlenet_table1(rep: AuditReport, model: str, table_id: str) -> None:
    t = summarize(model)
    counts: list[RowCounts] = []
    table = load_table(table_id)
    types = [r["type"] for r in table]
    for r in table:
        if not r["module"]:
            continue
        if types.count(r["type"]) > 1:  # 'convolution', 'max pool': named by their output
            r = {**r, "type": f"{r['type']} {r['output_size']}"}
        parts = r["module"].split("+")
        rows = [x for x in t.rows if _in_row(x.name, parts) and x.kind != "act"]
        if not rows:
            continue
        _check_output_and_channels(rep, r, rows)
        layers = [x for x in rows if x.kind in ("conv", "linear")]
        if layers and (r["params"] or r["ops"]):
            shape = layers[-1].output_shape
            counts.append(
                RowCounts(
                    label=r["type"],
                    weights=sum(x.params - (x.out_channels or 0) * x.has_bias for x in layers),
                    biases=sum((x.out_channels or 0) for x in layers if x.has_bias),
                    macs=sum(x.macs for x in layers),
                    positions=shape[2] * shape[3] if len(shape) == 4 else 1,
                    printed_params=r["params"],
                    printed_ops=r["ops"],
                )
            )
    params_tied = _tied_params_rules(counts)
    ops_tied = rules_tied_best(
        {
            name: [
                c.label for c in counts if c.printed_ops and rule.reproduces(c.macs, c.printed_ops)
            ]
            for name, rule in OPS_RULES.items()
        }
    )
    for c in counts:
        if c.printed_params:
            _check_params(rep, c, params_tied)
        if c.printed_ops:
            _check_ops(rep, c)
    _summarize(rep, params_tied, ops_tied)


def _check_output_and_channels(
    rep: AuditReport, r: dict[str, str], rows: list[LayerRecord]
) -> None:
    shape = rows[-1].output_shape
    live = "x".join(
        map(str, [shape[2], shape[3], shape[1]] if len(shape) == 4 else [1, 1, shape[-1]])
    )
    rep.add(r["type"], "output size", r["output_size"], live, r["output_size"] == live)
    if not r["type"].startswith("inception"):
        return
    branches = {
        x.name.split(".", 1)[1]: x.out_channels for x in rows if "." in x.name and x.kind == "conv"
    }
    for col, branch in CHANNEL_COLUMNS.items():
        add_number(rep, r["type"], col, int_or_none(r[col]), branches.get(branch))


def _tied_params_rules(counts: list[RowCounts]) -> list[str]:
    reproduced = {
        name: [
            c.label
            for c in counts
            if c.printed_params and rule.reproduces(c.count(which), c.printed_params)
        ]
        for name, (which, rule) in PARAMS_RULES.items()
    }
    return rules_tied_best(reproduced)


def _ops_per_position(c: RowCounts) -> Derivation:
    ops, _ = parse_printed(c.printed_ops)
    exact = ops * 10**6 / c.positions
    return Derivation(
        "the row's printed ops / its output positions",
        exact,
        f"{c.printed_ops} / {c.positions} = {decimal(exact, 1024)}K (K = 1024)",
    )


def _check_params(rep: AuditReport, c: RowCounts, tied: list[str]) -> None:
    rule = STATED_PARAMS
    ok = any(
        PARAMS_RULES[name][1].reproduces(c.count(PARAMS_RULES[name][0]), c.printed_params)
        for name in tied
    )
    live = (
        f"{rule.format(c.weights, c.printed_params)} ({c.weights:,} weights, {c.biases:,} biases)"
    )
    if ok:
        rep.add(c.label, "params", c.printed_params, live, True)
        return
    off = _units(rule.units_off(c.weights, c.printed_params))
    note = f"the weights are {decimal(c.weights, 1024, 2)}K{off}."
    if not c.printed_ops:
        rep.add(c.label, "params", c.printed_params, live, False, "unexplained", note)
        return
    derivation = _ops_per_position(c)
    # the column's own rule first, then rounding (a number derived from another may be rounded)
    reproduced = first_reproducing(
        c.printed_params, [derivation], [rule, Rounding(1024, "round", "K")]
    )
    if reproduced is not None:
        d, used = reproduced
        how = "truncated" if used.mode == "truncate" else "rounded"
        rep.add(
            c.label,
            "params",
            c.printed_params,
            live,
            False,
            "inconsistent",
            note,
            f"{d.label}, {d.formula}, {how}: {c.printed_params}",
        )
        return
    if STATED_OPS.reproduces(c.macs, c.printed_ops):
        implied = rule.format(derivation.exact, c.printed_params)
        note += (
            f" The row's own ops ({c.printed_ops}) agree with the network and imply {implied}: "
            "the params cell contradicts its own row."
        )
    elif _params_ops_consistent(c):
        note += _AGREE_WITH_EACH_OTHER.format(c=c)
    else:
        rep.add(c.label, "params", c.printed_params, live, False, "unexplained", note)
        return
    rep.add(
        c.label,
        "params",
        c.printed_params,
        live,
        False,
        "inconsistent",
        note + " " + NOTHING_REPRODUCES,
    )


_AGREE_WITH_EACH_OTHER = (
    " The row's printed params ({c.printed_params}) and ops ({c.printed_ops}) agree with each "
    "other ({c.positions} output positions), not with its patch size and channel columns, which "
    "agree with the network."
)
NOTHING_REPRODUCES = "Nothing computed from the numbers reproduces the printed value."


def _units(off: int) -> str:
    """', printed one unit above the count' for a cell a unit or two off; '' otherwise."""
    n = abs(off)
    if n == 0 or n > 2:
        return ""
    return f", printed {n} unit{'s' if n > 1 else ''} {'above' if off > 0 else 'below'} the count"


def _params_ops_consistent(c: RowCounts) -> bool:
    """Can one count give both printed cells (the params cell times the output positions)?"""
    p, pd = parse_printed(c.printed_params)
    o, od = parse_printed(c.printed_ops)
    step_p, step_o = Fraction(1, 10**pd), Fraction(1, 10**od)
    # the weights the params cell allows (truncated: [p, p + step)) give ops in:
    lo = p * 1024 * c.positions / 10**6
    hi = (p + step_p) * 1024 * c.positions / 10**6
    # the ops the ops cell allows (rounded: [o - step/2, o + step/2))
    return lo < o + step_o / 2 and o - step_o / 2 < hi


def _check_ops(rep: AuditReport, c: RowCounts) -> None:
    rule = STATED_OPS
    ok = rule.reproduces(c.macs, c.printed_ops)
    live = f"{rule.format(c.macs, c.printed_ops)} ({c.macs:,} multiply-adds)"
    if ok:
        rep.add(c.label, "ops", c.printed_ops, live, True)
        return
    shown = rule.format(c.macs, c.printed_ops)
    note = (
        f"the layers' {decimal(c.macs, 10**6, 2)}M multiply-adds round to {shown}"
        f"{_units(rule.units_off(c.macs, c.printed_ops))}."
    )
    if c.printed_params and _params_ops_consistent(c):
        rep.add(
            c.label,
            "ops",
            c.printed_ops,
            live,
            False,
            "inconsistent",
            note + _AGREE_WITH_EACH_OTHER.format(c=c) + " " + NOTHING_REPRODUCES,
        )
        return
    rep.add(c.label, "ops", c.printed_ops, live, False, "unexplained", note)


def _determined(tied: list[str], parts: dict[str, dict[str, str]]) -> str:
    """Which parts the tied rules share (determined by the table) and which they do not."""
    said = []
    for what in parts[tied[0]]:
        values = {parts[name][what] for name in tied}
        said.append(
            f"{what} is determined ({values.pop()})"
            if len(values) == 1
            else f"{what} is not determined"
        )
    return "; ".join(said)


def _summarize(rep: AuditReport, params_tied: list[str], ops_tied: list[str]) -> None:
    params = [f for f in rep.findings if f.field == "params"]
    ops = [f for f in rep.findings if f.field == "ops"]
    chans = [f for f in rep.findings if f.field in CHANNEL_COLUMNS]
    sizes = [f for f in rep.findings if f.field == "output size"]
    agree = [f.row for f in params if f.ok]
    rep.summary.append(
        f"Params: of {len(PARAMS_RULES)} counting rules tried, {len(params_tied)} reproduce the "
        f"most cells ({', '.join(agree)}): {'; '.join(params_tied)}. So "
        + _determined(params_tied, PARAMS_PARTS)
        + "."
    )
    rep.summary.append(
        f"Ops: of {len(OPS_RULES)} rules tried, {'; '.join(ops_tied)} reproduce the most cells. So "
        + _determined(ops_tied, OPS_PARTS)
        + "."
    )
    rep.summary.append(
        f"Channel columns: {sum(f.ok for f in chans)} of {len(chans)} agree; output sizes: "
        f"{sum(f.ok for f in sizes)} of {len(sizes)}; ops: {sum(f.ok for f in ops)} of {len(ops)}; "
        f"params: {sum(f.ok for f in params)} of {len(params)}."
    )
    derived = [f"{f.row} {f.field}" for f in rep.mismatches if f.reproduction]
    unexplained = [f"{f.row} {f.field}" for f in rep.mismatches if not f.reproduction]
    rep.summary.append(
        f"Disagreeing cells that a computation reproduces: {', '.join(derived) or 'none'}; "
        f"that nothing reproduces: {', '.join(unexplained) or 'none'}."
    )
