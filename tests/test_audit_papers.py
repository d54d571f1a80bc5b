"""LeNet-5, AlexNet and VGG: each paper's tables audited whole, every disagreement's cause."""

from __future__ import annotations

import torch
import torchvision

from convzoo.inspect.audit import audit, load_table, sources


def _causes(rep) -> dict[tuple[str, str], str]:
    return {(f.row, f.field): f.cause for f in rep.mismatches}


def test_lenet5_section_iib_and_table_i() -> None:
    rep = audit("lenet5_1998", "paper")
    assert _causes(rep) == {("Total", "connections"): "convention"}
    conn = rep.find("Total", "connections")
    assert conn.published - conn.live == 84 * 10 and "84 x 10 = 840" in conn.reproduction
    assert rep.find("Total", "params").ok  # "only 60,000 trainable free parameters"
    # the paper prints one number for C5 and one for F6; the others are derived
    c5 = rep.find("C5", "params (not printed: = its connections)")
    f6 = rep.find("F6", "connections (not printed: = its params)")
    assert c5.ok and c5.live == 120 * (16 * 5 * 5 + 1) == 48_120
    assert f6.ok and f6.live == 84 * (120 + 1) == 10_164
    row = {r["layer"]: r for r in load_table("paper_lenet5_1998")}
    assert row["C5"]["params"] == "" and row["F6"]["connections"] == ""
    # Table I: 6 maps of 3 inputs, 9 of 4, 1 of 6 -> 1,516 parameters, on 10x10 maps
    maps = [len(r["s2_maps"].split()) for r in load_table("paper_lenet5_table1")]
    assert sorted(maps) == [3] * 6 + [4] * 9 + [6]
    assert all(rep.find(f"C3 map {j}", "S2 maps").ok for j in range(16))
    assert rep.find("C3 (from Table I)", "params").live == sum(m * 25 + 1 for m in maps) == 1516
    where = sources()["paper_lenet5_1998"]["where"]
    assert "end of section II.A" in where and "60,000 trainable free parameters" in where
    assert "no 'about'" in where


def test_alexnet_2012_size_figure2_and_kernels() -> None:
    rep = audit("alexnet_2012", "paper")
    assert _causes(rep) == {
        ("neurons", "total"): "unexplained",
        ("input", "dimension"): "inconsistent",
        ("conv1", "neurons"): "typo",
    }
    # the two-tower network's parameters, by hand: conv1..conv5 (conv2, 4, 5 per tower), fc6..8
    by_hand = (
        96 * (11 * 11 * 3) + 96
        + 256 * (5 * 5 * 48) + 256
        + 384 * (3 * 3 * 256) + 384
        + 384 * (3 * 3 * 192) + 384
        + 256 * (3 * 3 * 192) + 256
        + 4096 * (6 * 6 * 256) + 4096
        + 4096 * 4096 + 4096
        + 1000 * 4096 + 1000
    )  # fmt: skip
    params = rep.find("params", "total")
    assert params.ok and params.live == f"{by_hand:,}" and round(by_hand, -7) == 60_000_000
    assert params.published == "60 million"  # the paper says no "about"
    assert "section 4" in load_table("paper_alexnet_2012")[0]["where"]
    # 650,000 neurons: the network's 659,272 round to 660,000; the caption's own sum is 622,312
    neurons = rep.find("neurons", "total")
    assert neurons.live == "659,272" and "622,312" in neurons.note
    # Figure 2: conv1 is 55 x 55 x 96 = 290,400, not 253,440 = 48 x 55 x 96
    conv1 = rep.find("conv1", "neurons")
    assert conv1.live == 55 * 55 * 96 and 48 * 55 * 96 == conv1.published == 253_440
    assert "48 x 55 x 96" in conv1.reproduction
    assert "224x224x3" in rep.find("input", "dimension").reproduction  # 224 * 224 * 3 = 150,528
    for layer in ("conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"):
        assert rep.find(layer, "neurons").ok
    # section 3.5: 96 kernels of 11x11x3 at stride 4, 256 of 5x5x48, 384 of 3x3x256, ...
    for layer, depth in (
        ("conv1", 3),
        ("conv2", 48),
        ("conv3", 256),
        ("conv4", 192),
        ("conv5", 192),
    ):
        assert rep.find(layer, "kernel depth").ok and rep.find(layer, "kernel depth").live == depth
    assert rep.find("conv1", "stride").ok


def test_vgg_tables_1_and_2() -> None:
    rep = audit("vgg16", "paper")
    assert rep.mismatches == []
    table2 = [f for f in audit("vgg19", "paper").findings if f.field == "params (M)"]
    assert len(table2) == 6 and all(f.ok for f in table2)  # all of Table 2, rounded to 1 M
    layers = [
        f for f in rep.findings if f.table == "paper_vgg_table1" and f.field.startswith("layer")
    ]
    assert {f.row.split()[0] for f in layers} == {"A", "A-LRN", "B", "C", "D", "E"}
    # Table 1's own layers give Table 2's millions, as torchvision's networks count them
    for config, name in (("A", "vgg11"), ("B", "vgg13"), ("D", "vgg16"), ("E", "vgg19")):
        with torch.device("meta"):
            tv = getattr(torchvision.models, name)(weights=None)
        count = sum(p.numel() for p in tv.parameters())
        own = rep.find(f"{config} ({name})", "params (M) from Table 1")
        assert own.ok and f"({count:,})" in own.live
        assert rep.find(f"{config} ({name})", "params (M)").published == str(round(count / 1e6))


def test_vgg_one_configuration_is_the_whole_tables_column() -> None:
    """The report audits a network's own configuration only."""
    whole = audit("vgg16", "paper")
    own = audit("vgg16_c", "paper", whole=False)
    assert {f.row for f in own.findings} == {"C (vgg16_c)"}
    assert own.findings == [f for f in whole.findings if f.row == "C (vgg16_c)"]
