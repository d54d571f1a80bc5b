"""ResNet's Table 1 whole (He et al. 2015): output sizes, building blocks, and FLOPs.

The paper's networks are ``variant="v1"`` for the bottleneck depths: the paper's text does not
say which conv of a bottleneck strides, the authors' released Caffe models do (the first 1x1,
``res3a_branch2a``, has stride 2). Our default is v1.5 (torchvision's: the 3x3 strides). The
FLOPs row counts multiply-adds (the paper says so) of the conv and linear layers, printed with
one decimal in units of 10^9 and rounded (sources.csv); the 34-layer column is checked against
the 34-layer plain baseline too, whose 3.6 billion FLOPs the paper's text gives.
"""

from __future__ import annotations

import re
from functools import cache

from torch import nn

import convzoo.weights  # noqa: F401  (registers the networks and the weights loader)
from convzoo.inspect import summarize
from convzoo.inspect.audit.checks import Derivation, Rounding, first_reproducing, rules_tied_best
from convzoo.inspect.audit.report import AuditReport
from convzoo.inspect.audit.tables import load_table
from convzoo.inspect.trace import LayerRecord, meta_build
from convzoo.models.resnet import ResNet
from convzoo.registry import create_model

DEPTHS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
BOTTLENECKS = ("resnet50", "resnet101", "resnet152")
#: The FLOPs row's rule: units of 10^9, one decimal, rounded.
STATED_FLOPS = Rounding(10**9, "round", " G")
FLOPS_RULES = {"rounded": STATED_FLOPS, "truncated": Rounding(10**9, "truncate", " G")}
V1_NOTE = (
    "The paper's v1: stride 2 in the first 1x1 conv of a stage's first bottleneck, as in the "
    "authors' released Caffe models (res3a_branch2a); the paper's text does not say which conv "
    "strides."
)


@cache
def _network(model: str, paper: bool) -> ResNet:
    """A ResNet on the meta device: the paper's variant (v1 for the bottleneck depths) or our
    default; built once, and traced from the same instance. (No defaults here or in
    :func:`_traced`: ``cache`` keys ``f(x)`` and ``f(x, True)`` apart, which built ResNet-152
    twice for one report.)"""
    with meta_build():
        if paper and model in BOTTLENECKS:
            net = create_model(model, variant="v1")
        else:
            net = create_model(model)
    if not isinstance(net, ResNet):
        raise AssertionError(f"{model} is not a ResNet")  # DEPTHS is wrong
    return net


@cache
def _traced(model: str, paper: bool) -> tuple[LayerRecord, ...]:
    """The rows of a traced ResNet (the paper's variant, or our default); traced once."""
    return tuple(summarize(_network(model, paper)).rows)


def _macs(rows: tuple[LayerRecord, ...]) -> int:
    return sum(x.macs for x in rows if x.kind in ("conv", "linear"))


def _projection_macs(rows: tuple[LayerRecord, ...]) -> int:
    return sum(x.macs for x in rows if x.kind == "conv" and ".downsample." in f".{x.name}.")


def audit_resnet(rep: AuditReport, model: str) -> None:
    depths = rep.columns(DEPTHS)
    rep.current_table = "paper_resnet_table1_stages"
    for name in depths:
        _check_stages(rep, name)
    rep.current_table = "paper_resnet_table1"
    reproduced: dict[str, list[str]] = {rule: [] for rule in FLOPS_RULES}
    for r in load_table("paper_resnet_table1"):
        if r["model"] in depths:
            _check_flops(rep, r["model"], r["flops_1e9"], reproduced)
    stage_cells = [f for f in rep.findings if f.table == "paper_resnet_table1_stages"]
    rep.summary.append(
        f"Output sizes and building blocks: {sum(f.ok for f in stage_cells)} of "
        f"{len(stage_cells)} cells agree with {', '.join(depths)} (v1 for the bottleneck depths)."
    )
    tied = rules_tied_best(reproduced)
    rep.summary.append(
        "FLOPs: the rule that reproduces the most cells (by the paper's networks or the plain "
        f"baselines) is {' or '.join(tied)}: "
        + "; ".join(
            f"{rule} reproduces {', '.join(cells) or 'none'}" for rule, cells in reproduced.items()
        )
        + "."
    )


# --- output sizes and building blocks -------------------------------------------------------------


def _live_blocks(net: ResNet, stage: int) -> str:
    """A stage's blocks as Table 1 writes them: ``[1x1 64; 3x3 64; 1x1 256] x3``."""
    layer = getattr(net, f"layer{stage}")
    specs = set()
    for block in layer:
        convs = [m for m in block.children() if isinstance(m, nn.Conv2d)]
        specs.add(
            "; ".join(f"{m.kernel_size[0]}x{m.kernel_size[1]} {m.out_channels}" for m in convs)
        )
    if len(specs) != 1:
        return "blocks differ: " + " | ".join(sorted(specs))
    return f"[{specs.pop()}] x{len(layer)}"


def _conv_text(m: nn.Conv2d) -> str:
    return f"{m.kernel_size[0]}x{m.kernel_size[1]} {m.out_channels}"


def _side(shape: tuple[int, ...]) -> str:
    return f"{shape[2]}x{shape[3]}" if len(shape) == 4 else "1x1"


def _check_stages(rep: AuditReport, name: str) -> None:
    traced = _traced(name, True)
    net = _network(name, True)
    rows = {r.name: r for r in traced}
    for r in load_table("paper_resnet_table1_stages"):
        printed = r[name]
        pool = "max pool" in printed
        tag = f"{r['layer']}{' pool' if pool else ''} ({name})"
        if r["layer"] == "conv1":
            c = net.conv1
            live = f"{c.kernel_size[0]}x{c.kernel_size[1]} {c.out_channels} /{c.stride[0]}"
            out = _side(rows["conv1"].output_shape)
        elif pool:
            p = net.maxpool
            live = f"{p.kernel_size}x{p.kernel_size} max pool /{p.stride}"
            out = _side(rows["maxpool"].output_shape)
        elif (m := re.fullmatch(r"conv(\d)_x", r["layer"])) is not None:
            stage = int(m.group(1)) - 1
            live = _live_blocks(net, stage)
            out = _side([x for x in traced if x.name.startswith(f"layer{stage}.")][-1].output_shape)
        else:
            fc = net.fc
            live = f"average pool {fc.out_features}-d fc softmax"
            out = _side(rows["avgpool"].output_shape)
        rep.add(tag, "output size", r["output_size"], out, r["output_size"] == out)
        rep.add(tag, "layers", printed, live, printed == live)


# --- FLOPs ------------------------------------------------------------------------------------


def _check_flops(
    rep: AuditReport, name: str, printed: str, reproduced: dict[str, list[str]]
) -> None:
    rows = _traced(name, True)
    macs = _macs(rows)
    plain_macs = macs - _projection_macs(rows)
    plain = Derivation(
        f"the {name[6:]}-layer plain baseline (the network without its projection shortcuts)",
        plain_macs,
        f"{plain_macs / 1e9:.3f} G",
    )
    for rule_name, rule in FLOPS_RULES.items():
        if rule.reproduces(macs, printed) or rule.reproduces(plain_macs, printed):
            reproduced[rule_name].append(name)
    tag = f"{name} (v1, the paper's)" if name in BOTTLENECKS else name
    field = "GFLOPs (multiply-adds)"
    ok = STATED_FLOPS.reproduces(macs, printed)
    note = (
        f"{macs / 1e9:.3f} G multiply-adds (conv and linear), rounded: "
        f"{STATED_FLOPS.format(macs, printed)}."
    )
    if name in BOTTLENECKS:
        note += " " + V1_NOTE
    found = None if ok else first_reproducing(printed, [plain], [STATED_FLOPS])
    if ok or found:
        reproduction = f"{plain.label}: {plain.formula}, rounded: {printed}" if found else ""
        rep.add(tag, field, printed, f"{macs / 1e9:.2f}", ok, "variant", note, reproduction)
    else:
        note += f" The plain baseline has {plain.formula}."
        rep.add(tag, field, printed, f"{macs / 1e9:.2f}", False, "unexplained", note)
    if name not in BOTTLENECKS:
        return
    v15 = _macs(_traced(name, False))
    rep.add(
        name,
        field,
        printed,
        f"{v15 / 1e9:.2f}",
        STATED_FLOPS.reproduces(v15, printed),
        "variant" if ok else "unexplained",
        "v1.5 (our default, torchvision's): the stride in the bottleneck's 3x3 conv; the 1x1 "
        "before it runs at the higher resolution, so v1.5 costs more than the paper's v1.",
        f"the paper's v1 network, {macs / 1e9:.3f} G, rounded: {printed}" if ok else "",
    )
