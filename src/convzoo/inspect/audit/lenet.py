"""LeNet-5 (LeCun et al. 1998): section II.B's per-layer numbers, the totals, and Table I.

The per-layer parameters and connections come from the model's ``layer_counts()``, which
recounts them from the modules. The paper prints one number for C5 (its connections) and one
for F6 (its parameters); the other of each is derived (a fully connected unit has one weight per
connection), and the audit checks the derivation rather than a printed cell. Table I, which S2
maps each C3 map reads, is checked against the model's C3, and the parameters and connections
it implies against section II.B's C3 numbers.
"""

from __future__ import annotations

import convzoo.weights  # noqa: F401  (registers the networks and the weights loader)
from convzoo.inspect.audit.checks import add_number
from convzoo.inspect.audit.report import AuditReport
from convzoo.inspect.audit.tables import int_or_none, ints, load_table
from convzoo.inspect.trace import meta_build
from convzoo.models.lenet import LeNet5_1998
from convzoo.registry import create_model


def audit_lenet(rep: AuditReport, model: str) -> None:
    with meta_build():
        net = create_model(model, num_classes=10)
    if not isinstance(net, LeNet5_1998):
        raise AssertionError(f"{model} is not the paper's LeNet-5")  # TABLE_MODELS is wrong
    rep.current_table = "paper_lenet5_1998"
    counts = {c["layer"]: c for c in net.layer_counts()}
    table = load_table("paper_lenet5_1998")
    for r in table:
        if r["layer"] != "Total":
            _check_layer(rep, r, counts.get(r["layer"]))
    total = next(r for r in table if r["layer"] == "Total")
    _check_totals(rep, net, total, counts)
    rep.current_table = "paper_lenet5_table1"
    _check_table1(rep, net, table)
    layers = [f for f in rep.findings if f.table == "paper_lenet5_1998" and f.row != "Total"]
    maps = [f for f in rep.findings if f.table == "paper_lenet5_table1"]
    derived = [f"{f.row}'s {f.field.split(' (')[0]}" for f in layers if "not printed" in f.field]
    rep.summary.append(
        f"Section II.B: {sum(f.ok for f in layers)} of {len(layers)} per-layer cells agree with "
        f"the network's own counts ({len(derived)} of them derived, not printed: "
        f"{', '.join(derived)}). "
        f"Table I: {sum(f.ok for f in maps)} of {len(maps)} cells agree."
    )


def _check_layer(rep: AuditReport, r: dict[str, str], live: dict[str, int] | None) -> None:
    layer = r["layer"]
    for key, other in (("params", "connections"), ("connections", "params")):
        printed = int_or_none(r[key])
        value = live[key] if live else None
        if printed is not None:
            add_number(rep, layer, key, printed, value)
            continue
        # not printed: one weight per connection, so it equals the other, printed, number
        given = int_or_none(r[other])
        rep.add(
            layer,
            f"{key} (not printed: = its {other})",
            given,
            value,
            given == value,
            "inconsistent",
            f"the paper prints only this layer's {other}.",
        )


def _check_totals(
    rep: AuditReport, net: LeNet5_1998, total: dict[str, str], counts: dict[str, dict[str, int]]
) -> None:
    params = sum(c["params"] for c in counts.values())
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    printed = int(total["params"])
    rep.add(
        "Total",
        "params",
        printed,
        params,
        printed == params == trainable,
        "inconsistent",
        "the trainable free parameters of section II.A's end, an exact count (no 'about').",
    )
    connections = sum(c["connections"] for c in counts.values())
    output = net.rbf.in_features * net.rbf.out_features
    printed = int(total["connections"])
    ok = printed == connections
    reproduction = ""
    if not ok and printed == connections + output:
        reproduction = (
            f"C1..F6's {connections:,} plus the {net.rbf.in_features} x {net.rbf.out_features} "
            f"= {output:,} connections of the RBF output layer, whose centres are fixed (not "
            f"trainable): {connections + output:,}"
        )
    rep.add(
        "Total",
        "connections",
        printed,
        connections,
        ok,
        "convention" if reproduction else "unexplained",
        "C1..F6 counted.",
        reproduction,
    )


def _check_table1(rep: AuditReport, net: LeNet5_1998, table: list[dict[str, str]]) -> None:
    c3 = net.c3
    k2 = c3.kernel_size**2
    params = connections = 0
    for r in load_table("paper_lenet5_table1"):
        j = int(r["c3_map"])
        printed = sorted(ints(r["s2_maps"]) or [])
        live = sorted(c3.table[j]) if j < len(c3.table) else []
        rep.add(
            f"C3 map {j}",
            "S2 maps",
            " ".join(map(str, printed)),
            " ".join(map(str, live)),
            printed == live,
        )
        params += len(printed) * k2 + 1
        connections += (len(printed) * k2 + 1) * 10 * 10  # C3's maps are 10x10 (Figure 2: 16@10x10)
    c3_row = next(r for r in table if r["layer"] == "C3")
    for key, value in (("params", params), ("connections", connections)):
        cell = int(c3_row[key])
        rep.add(
            "C3 (from Table I)",
            key,
            cell,
            value,
            cell == value,
            "inconsistent",
            f"Table I's {sum(1 for _ in c3.table)} maps, {c3.kernel_size}x{c3.kernel_size} "
            "kernels and one bias each, on 10x10 outputs.",
        )
