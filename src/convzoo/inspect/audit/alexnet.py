"""AlexNet (Krizhevsky et al. 2012): the abstract's sizes, Figure 2's neurons, section 3.5.

The network is ``alexnet_2012``: two towers (conv2, conv4 and conv5 read only their own tower's
maps), 227x227 input. The abstract's and section 4's "60 million parameters" and the abstract's
"650,000 neurons" are checked under the rule their digits imply (rounded to the last non-zero
digit shown); Figure 2's caption gives the input's dimension and the neurons (output elements)
of every layer; section 3.5 gives each layer's kernels, their size and depth, and conv1's stride.
"""

from __future__ import annotations

import itertools
import math

from convzoo.inspect import summarize
from convzoo.inspect.audit.checks import Rounding, add_number
from convzoo.inspect.audit.report import AuditReport
from convzoo.inspect.audit.tables import int_or_none, load_table
from convzoo.inspect.trace import LayerRecord

LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")


def _shown_unit(value: int) -> int:
    """The unit of a round number's last non-zero digit: 60,000,000 -> 10^7, 650,000 -> 10^4."""
    unit = 1
    while value % (unit * 10) == 0:
        unit *= 10
    return unit


def audit_alexnet2012(rep: AuditReport, model: str) -> None:
    t = summarize(model)
    layers = [r for r in t.rows if r.kind in ("conv", "linear")]
    named = dict(zip(LAYERS, layers, strict=True))
    rep.current_table = "paper_alexnet_2012"
    for r in load_table("paper_alexnet_2012"):
        _check_size(rep, r, t.total_params, named)
    rep.current_table = "paper_alexnet_figure2"
    for r in load_table("paper_alexnet_figure2"):
        _check_neurons(rep, r, named, t.rows[0].input_shape)
    rep.current_table = "paper_alexnet_kernels"
    for r in load_table("paper_alexnet_kernels"):
        _check_kernels(rep, r, named[r["layer"]])
    wrong = [f"{f.row} {f.field}" for f in rep.mismatches]
    rep.summary.append(
        f"{len(rep.matches)} of {len(rep.findings)} cells agree with {model} "
        f"({t.total_params:,} parameters); the others: {', '.join(wrong) or 'none'}."
    )


def _neurons(named: dict[str, LayerRecord]) -> int:
    return sum(math.prod(r.output_shape[1:]) for r in named.values())


def _check_size(
    rep: AuditReport, r: dict[str, str], params: int, named: dict[str, LayerRecord]
) -> None:
    value = int(r["value"])
    rule = Rounding(_shown_unit(value), "round")
    live = params if r["quantity"] == "params" else _neurons(named)
    shown = rule.shown(live, 0) * rule.unit
    ok = shown == value
    note = (
        f"{live:,} {r['quantity']} ({r['where']}), to the printed {rule.unit:,}s: {int(shown):,}."
    )
    if r["quantity"] == "neurons":
        figure = sum(int(x["neurons"]) for x in load_table("paper_alexnet_figure2")[1:])
        note += f" Figure 2's caption's own layers sum to {figure:,}."
    rep.add(r["quantity"], "total", r["printed"], f"{live:,}", ok, "unexplained", note)


def _check_neurons(
    rep: AuditReport, r: dict[str, str], named: dict[str, LayerRecord], input_shape: tuple[int, ...]
) -> None:
    printed = int(r["neurons"])
    if r["layer"] == "input":
        live = math.prod(input_shape[1:])
        side = math.isqrt(printed // input_shape[1])
        reproduction = ""
        if side * side * input_shape[1] == printed:
            reproduction = (
                f"{side}x{side}x{input_shape[1]} = {printed:,}: the {side}x{side} input that "
                f"section 3.5 names too, with which conv1 (11x11, stride 4, no padding) would give "
                f"({side} - 11) / 4 + 1 = {(side - 11) / 4 + 1:g} positions, not the 55 of its "
                "other numbers"
            )
        rep.add(
            "input", "dimension", printed, live, printed == live, "inconsistent", "", reproduction
        )
        return
    layer = named[r["layer"]]
    live = math.prod(layer.output_shape[1:])
    ok = printed == live
    note = reproduction = ""
    if not ok:
        dims = _dims(layer)
        note = f"{' x '.join(map(str, layer.output_shape[1:]))} = {live:,} in the network."
        found = [
            c
            for c in itertools.combinations_with_replacement(sorted(set(dims)), 3)
            if math.prod(c) == printed
        ]
        if found:
            reproduction = " or ".join(" x ".join(map(str, c)) for c in found) + (
                f" = {printed:,}, the layer's own numbers ({_dims_text(layer)}) with one of "
                "its two sides replaced"
            )
        square = printed % layer.output_shape[1] == 0 and _is_square(
            printed // layer.output_shape[1]
        )
        if not square:
            note += (
                f" No square map of {layer.output_shape[1]} channels has {printed:,} neurons "
                f"({printed // layer.output_shape[1]:,} positions is not a square)."
            )
    rep.add(
        r["layer"],
        "neurons",
        printed,
        live,
        ok,
        "typo" if reproduction else "unexplained",
        note,
        reproduction,
    )


def _is_square(n: int) -> bool:
    return math.isqrt(n) ** 2 == n


def _dims(layer: LayerRecord) -> list[int]:
    """The numbers a layer is described by: output side, maps, maps per tower."""
    maps = layer.output_shape[1]
    side = layer.output_shape[2] if len(layer.output_shape) == 4 else 1
    return [side, maps, maps // 2]


def _dims_text(layer: LayerRecord) -> str:
    side, maps, half = _dims(layer)
    return f"output side {side}, {maps} maps, {half} a tower"


def _check_kernels(rep: AuditReport, r: dict[str, str], layer: LayerRecord) -> None:
    name = r["layer"]
    kernels = int(r["kernels"])
    add_number(rep, name, "kernels", kernels, layer.out_channels)
    size = int_or_none(r["size"])
    if size is not None:
        live = layer.kernel[0] if layer.kernel else None
        add_number(rep, name, "kernel size", size, live)
    depth = int_or_none(r["depth"])
    if depth is not None:
        k = math.prod(layer.kernel) if layer.kernel else 1
        weights = layer.params - (layer.out_channels or 0) * layer.has_bias
        live_depth = weights // ((layer.out_channels or 1) * k)
        towers = (
            ""
            if live_depth == layer.in_channels
            else f"of {layer.in_channels} input maps: each tower's kernels read their own tower's."
        )
        add_number(rep, name, "kernel depth", depth, live_depth, towers)
    stride = int_or_none(r["stride"])
    if stride is not None:
        live = layer.stride[0] if layer.stride else None
        add_number(rep, name, "stride", stride, live)
