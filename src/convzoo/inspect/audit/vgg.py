"""VGG's Table 1 (configurations A to E, layer by layer) beside its Table 2 (parameters).

Each configuration's printed layers are compared with the registered network's, in order;
Table 1's layers are also counted on their own (3x3 or 1x1 convs with biases, 2x2 pools
halving the side, fully connected layers) and that count, like the network's, is put through
Table 2's rule (millions, rounded) to check the printed millions.
"""

from __future__ import annotations

from torch import nn

import convzoo.weights  # noqa: F401  (registers the networks and the weights loader)
from convzoo.inspect.audit.checks import Rounding, add_number, rules_tied_best
from convzoo.inspect.audit.report import AuditReport
from convzoo.inspect.audit.tables import load_table
from convzoo.inspect.trace import meta_build
from convzoo.registry import create_model, model_card

#: Table 2's rule: millions of parameters, rounded to the integer.
STATED_TABLE2 = Rounding(10**6, "round", " M")
TABLE2_RULES = {
    "millions, rounded": STATED_TABLE2,
    "millions, truncated": Rounding(10**6, "truncate", " M"),
    "2^20, rounded": Rounding(2**20, "round", " M"),
}


def live_layers(model: str) -> list[str]:
    """The network's layers in Table 1's words (``conv3-64``, ``maxpool``, ``LRN``, ``FC-4096``)."""
    with meta_build():
        net = create_model(model)
    names = []
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            names.append(f"conv{m.kernel_size[0]}-{m.out_channels}")
        elif isinstance(m, nn.MaxPool2d):
            names.append("maxpool")
        elif isinstance(m, nn.LocalResponseNorm):
            names.append("LRN")
        elif isinstance(m, nn.Linear):
            names.append(f"FC-{m.out_features}")
    return names


def table1_params(layers: list[str], side: int, channels: int = 3) -> int:
    """The parameters Table 1's own layers imply (conv and FC with biases)."""
    total, width = 0, channels
    for layer in layers:
        if layer.startswith("conv"):
            k, out = (int(p) for p in layer[4:].split("-"))
            total += k * k * width * out + out
            width = out
        elif layer == "maxpool":
            side //= 2
        elif layer.startswith("FC-"):
            out = int(layer[3:])
            fan_in = width * side * side
            total += fan_in * out + out
            width, side = out, 1
    return total


def audit_vgg(rep: AuditReport, model: str) -> None:
    table2 = load_table("paper_vgg_table2")
    checked = rep.columns([r["model"] for r in table2])
    table2 = [r for r in table2 if r["model"] in checked]
    models = {r["config"]: r["model"] for r in table2}
    rep.current_table = "paper_vgg_table1"
    implied: dict[str, int] = {}
    for r in load_table("paper_vgg_table1"):
        if r["config"] not in models:
            continue
        name = models[r["config"]]
        printed = r["layers"].split()
        _check_configuration(rep, f"{r['config']} ({name})", printed, live_layers(name), r)
        implied[r["config"]] = table1_params(printed, int(r["input"]))
    rep.current_table = "paper_vgg_table2"
    live_counts = {r["config"]: _param_count(r["model"]) for r in table2}
    for r in table2:
        tag = f"{r['config']} ({r['model']})"
        live = live_counts[r["config"]]
        rep.add(
            tag,
            "params (M)",
            r["params_millions"],
            f"{live / 1e6:.2f} ({live:,})",
            STATED_TABLE2.reproduces(live, r["params_millions"]),
            "inconsistent",
            "millions rounded to the integer.",
        )
        own = implied[r["config"]]
        rep.add(
            tag,
            "params (M) from Table 1",
            r["params_millions"],
            f"{own / 1e6:.2f} ({own:,})",
            STATED_TABLE2.reproduces(own, r["params_millions"]),
            "inconsistent",
            "Table 1's own layers counted with biases, the first FC reading 7x7 maps.",
        )
    tied = rules_tied_best(
        {
            name: [c for c, n in live_counts.items() if rule.reproduces(n, _printed(table2, c))]
            for name, rule in TABLE2_RULES.items()
        }
    )
    layer_cells = [f for f in rep.findings if f.table == "paper_vgg_table1"]
    table2_cells = [f for f in rep.findings if f.field == "params (M)"]
    rep.summary.append(
        f"Table 1: {sum(f.ok for f in layer_cells)} of {len(layer_cells)} cells (layers in "
        f"order, weight-layer counts, input size) agree with the "
        f"{'networks' if len(models) > 1 else 'network'} {', '.join(models.values())}."
    )
    rep.summary.append(
        f"Table 2: {sum(f.ok for f in table2_cells)} of {len(table2_cells)} agree; of the rules "
        f"tried, {'; '.join(tied)} reproduce the most cells. Table 1's own layers give "
        + ", ".join(f"{c} {n / 1e6:.2f}" for c, n in implied.items())
        + " million: "
        + ("equal to the networks' counts." if implied == live_counts else "not the networks'.")
    )


def _printed(table2: list[dict[str, str]], config: str) -> str:
    return next(r["params_millions"] for r in table2 if r["config"] == config)


def _param_count(model: str) -> int:
    with meta_build():
        net = create_model(model)
    return sum(p.numel() for p in net.parameters())


def _check_configuration(
    rep: AuditReport, tag: str, printed: list[str], live: list[str], r: dict[str, str]
) -> None:
    layers = [p for p in printed if p != "soft-max"]
    for i in range(max(len(layers), len(live))):
        pub = layers[i] if i < len(layers) else "-"
        got = live[i] if i < len(live) else "-"
        rep.add(tag, f"layer {i + 1}", pub, got, pub == got)
    side = model_card(tag.split("(")[1].rstrip(")")).input_size[-1]
    add_number(rep, tag, "input", int(r["input"]), side)
    weight_layers = sum(1 for p in live if p.startswith(("conv", "FC-")))
    rep.add(
        tag,
        "weight layers",
        int(r["weight_layers"]),
        weight_layers,
        int(r["weight_layers"]) == weight_layers,
        "inconsistent",
    )
    printed_weights = sum(1 for p in layers if p.startswith(("conv", "FC-")))
    rep.add(
        tag,
        "weight layers (own layers)",
        int(r["weight_layers"]),
        printed_weights,
        int(r["weight_layers"]) == printed_weights,
        "inconsistent",
    )
