"""The audit of the nine published tables: what it finds is pinned here (see docs/audit.md)."""

from __future__ import annotations

import pytest

from convzoo.errors import ConvzooError
from convzoo.inspect.references.audit import audit, audit_table, load_table, sources


def test_nine_tables_with_sources() -> None:
    src = sources()
    assert len(src) == 9
    for table, row in src.items():
        assert row["source"] and row["title"]
        assert load_table(table)  # every CSV is packaged and readable


def test_lecture_alexnet_is_right_everywhere() -> None:
    rep = audit("alexnet", "lecture")
    assert rep.mismatches == []
    assert rep.find("Total", "params").published == 62_378_344


def test_lecture_vgg16_findings() -> None:
    rep = audit("vgg16", "lecture")
    label = rep.find("conv3064 (row 2)", "label")
    assert not label.ok and label.cause == "typo"
    stray = rep.find("maxpool (row 6)", "params")
    assert not stray.ok and stray.published == 65_664 and stray.live == 0
    total = rep.find("Total", "params")
    assert total.published == 138_423_208 and total.live == 138_357_544
    assert total.published - total.live == 65_664
    assert rep.find("Total", "params (sum of rows)").ok  # the total adds up its own rows
    # every conv and fc row's parameters are right
    assert all(f.ok for f in rep.findings if f.field == "params" and "conv3" in f.row)
    assert len(rep.mismatches) == 4


def test_lecture_resnet18_findings() -> None:
    rep = audit("resnet18", "lecture")
    assert rep.find("Total", "params").ok  # 11,511,784: the lecture's convention reproduced
    assert not rep.find("conv1 (row 1)", "input").ok  # 227 copied from AlexNet; 224 in fact
    pads = [f for f in rep.mismatches if f.field == "pad" and f.published == "0.5"]
    assert len(pads) == 4 and all(f.cause == "convention" and f.live == 1 for f in pads)
    assert {f.row for f in rep.mismatches} == {
        "conv1 (row 1)",
        "maxpool (row 2)",
        "conv3-1 (row 7)",
        "conv4-1 (row 11)",
        "conv5-1 (row 15)",
    }


def test_lecture_googlenet_findings() -> None:
    rep = audit("googlenet", "lecture")
    sums = rep.find("Total", "params (sum of rows)")
    assert not sums.ok and sums.published == 6_414_960 and sums.live == 5_877_249
    # a dropped digit: 1x1 conv 192 -> 96 has 18,528 parameters, printed 8,528
    slip = rep.find("conv1x1 (row 6, inception (3a))", "params")
    assert slip.published == 8_528 and slip.live == 18_528 and slip.cause == "typo"
    # rows that are right: the stem's 1x1 and 3x3 convs
    assert rep.find("conv2-1 (row 4)", "params").ok
    assert len(rep.mismatches) > 50  # the table is mostly wrong


def test_paper_lenet5() -> None:
    rep = audit("lenet5_1998", "paper")
    for layer in ("C1", "S2", "C3", "S4", "C5", "F6"):
        assert rep.find(layer, "params").ok and rep.find(layer, "connections").ok
    assert rep.find("Total", "params").ok  # 60,000
    conn = rep.find("Total", "connections")
    assert conn.published - conn.live == 840 and conn.cause == "convention"


def test_paper_alexnet_and_vgg() -> None:
    assert audit("alexnet_2012", "paper").mismatches == []
    rep = audit("vgg19", "paper")
    assert rep.mismatches == [] and len(rep.findings) == 6  # all of Table 2, rounded to 1 M


def test_paper_googlenet_table1() -> None:
    rep = audit("googlenet", "paper")
    # K = 1024 honoured: 163,328 weights are the published 159K
    assert rep.find("inception (3a)", "params").ok
    assert rep.find("convolution", "ops").published == "34M"
    assert not rep.find("convolution", "ops").ok  # 7x7x3x64 at 112x112 is 118M
    assert rep.find("linear", "params").ok  # 1000K = 1,024,000 weights
    four_c = rep.find("inception (4c)", "params")
    assert not four_c.ok and four_c.cause == "inconsistent"
    assert rep.find("inception (4c)", "ops").ok  # while its own ops column is right
    channel_cols = [f for f in rep.findings if f.field.startswith("n") or f.field == "pool_proj"]
    assert len(channel_cols) == 54 and all(f.ok for f in channel_cols)


def test_paper_resnet_table1() -> None:
    rep = audit("resnet50", "paper")
    assert rep.find("resnet18", "GFLOPs (multiply-adds)").ok
    assert rep.find("resnet34", "GFLOPs (multiply-adds)").ok
    for depth in (50, 101, 152):
        assert rep.find(f"resnet{depth} (v1, the paper's)", "GFLOPs (multiply-adds)").ok
        v15 = rep.find(f"resnet{depth}", "GFLOPs (multiply-adds)")
        assert not v15.ok and v15.cause == "variant"


def test_audit_errors_and_render() -> None:
    with pytest.raises(ConvzooError, match="no lecture table"):
        audit("lenet5", "lecture")
    with pytest.raises(ConvzooError, match="unknown reference"):
        audit("vgg16", "book")
    with pytest.raises(ConvzooError, match="unknown table"):
        audit_table("lecture_lenet")
    text = audit("vgg16").render()
    assert "typo" in text and "Where the table is right" in text
    assert audit("vgg16").render("md").startswith("## Audit of")
