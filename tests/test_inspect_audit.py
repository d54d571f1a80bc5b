"""The audit's interface and the lecture's four tables: the cause of every disagreeing cell.

The paper tables are in tests/test_audit_*.py; docs/audit.md is checked to be generated.
"""

from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path

import pytest

from convzoo.cli import main
from convzoo.errors import ConvzooError
from convzoo.inspect.audit import (
    AUDITS,
    CAUSES,
    TABLE_MODELS,
    AuditReport,
    audit,
    audit_table,
    load_table,
    sources,
)
from convzoo.inspect.audit.checks import one_edit

AUDIT_PACKAGE = Path(__file__).parents[1] / "src" / "convzoo" / "inspect" / "audit"


def causes(rep: AuditReport) -> dict[tuple[str, str], str]:
    return {(f.row, f.field): f.cause for f in rep.mismatches}


def test_nine_audits_and_their_tables_with_sources() -> None:
    src = sources()
    assert list(AUDITS) and sorted(AUDITS) == sorted(TABLE_MODELS)
    assert len(AUDITS) == 9
    assert {row["audit"] for row in src.values()} == set(AUDITS)
    for table, row in src.items():
        assert row["source"] and row["title"] and row["found_at"] and row["rounding"]
        assert load_table(table)  # every CSV is packaged and readable
    for table in ("paper_lenet5_table1", "paper_vgg_table1", "paper_resnet_table1_stages"):
        assert table in src  # each paper's other tables are audited too
    assert "res3a_branch2a" in src["paper_resnet_table1"]["notes"]


def test_lecture_alexnet_is_right_everywhere() -> None:
    rep = audit("alexnet", "lecture")
    assert rep.mismatches == []
    assert rep.find("Total", "params").published == 62_378_344


def test_lecture_vgg16_findings() -> None:
    rep = audit("vgg16", "lecture")
    assert causes(rep) == {
        ("conv3064 (row 2)", "label"): "typo",
        ("maxpool (row 6)", "params (own columns)"): "inconsistent",
        ("maxpool (row 6)", "params"): "inconsistent",
        ("Total", "params"): "inconsistent",
    }
    assert rep.find("conv3064 (row 2)", "label").live == "conv3-64"
    stray = rep.find("maxpool (row 6)", "params (own columns)")
    # not another layer's: the pooling row's own 2x2 kernel and 128 -> 128 channels put
    # through the conv formula
    assert stray.published == 2 * 2 * 128 * 128 + 128 == 65_664
    assert "2·2·128·128 + 128 = 65,664" in stray.reproduction
    assert rep.find("maxpool (row 6)", "params").live == 0  # pooling has no parameters
    total = rep.find("Total", "params")
    assert total.published == 138_423_208 and total.live == 138_357_544
    assert total.published - total.live == 65_664
    assert "sum of the printed rows" in total.reproduction
    assert rep.find("Total", "params (sum of rows)").ok  # the total adds up its own rows
    # every conv and fc row's parameters are right
    assert all(f.ok for f in rep.findings if f.field == "params" and "conv3" in f.row)


def test_lecture_resnet18_findings() -> None:
    rep = audit("resnet18", "lecture")
    assert rep.find("Total", "params").ok  # 11,511,784: the lecture's convention reproduced
    assert causes(rep) == {
        ("conv1 (row 1)", "input"): "variant",
        ("conv1 (row 1)", "pad"): "variant",
        **{
            (row, "pad"): "convention"
            for row in (
                "maxpool (row 2)",
                "conv3-1 (row 7)",
                "conv4-1 (row 11)",
                "conv5-1 (row 15)",
            )
        },
    }
    # 227 with pad 1 gives the printed 112, as 224 with pad 3 does
    assert (227 + 2 * 1 - 7) // 2 + 1 == 112 == (224 + 2 * 3 - 7) // 2 + 1
    assert "(227 + 2·1 - 7) // 2 + 1 = 112" in rep.find("conv1 (row 1)", "pad").reproduction
    pads = [f for f in rep.mismatches if f.published == "0.5"]
    assert len(pads) == 4 and all(f.live == 1 for f in pads)
    # pad 1 halves the size at stride 2: (56 + 2 - 3) // 2 + 1 = 28
    assert "(56 + 2·1 - 3) // 2 + 1 = 28" in rep.find("conv3-1 (row 7)", "pad").reproduction


def test_lecture_googlenet_findings() -> None:
    rep = audit("googlenet", "lecture")
    sums = rep.find("Total", "params (sum of rows)")
    assert not sums.ok and sums.published == 6_414_960 and sums.live == 5_877_249
    assert sums.live == sum(int(r["params"] or 0) for r in load_table("lecture_googlenet")[:-1])
    # a dropped digit: 1x1 conv 192 -> 96 has 18,528 parameters, printed 8,528
    slip = rep.find("conv1x1 (row 6, inception (3a))", "params")
    assert slip.published == 8_528 and slip.live == 1 * 192 * 96 + 96 == 18_528
    assert slip.cause == "typo" and slip.reproduction == "18,528 with a digit dropped"
    # 178 output channels: 3b's 1x1 branch has 128 (one digit changed)
    row14 = rep.find("conv1x1 (row 14)", "layer")
    assert row14.cause == "typo" and "'out' 178 is 128" in row14.reproduction
    # two digits off is no typo: 13,312 printed for 12,352
    assert rep.find("conv1x1 (row 9)", "params").cause == "inconsistent"
    assert rep.find("fc (row 78)", "layer").cause == "unexplained"  # 1,088 outputs
    assert rep.find("conv2-1 (row 4)", "params").ok  # the stem's 3x3 conv is right
    assert len(rep.mismatches) > 50  # the table is mostly wrong


@pytest.mark.parametrize("table", ["lecture_googlenet", "lecture_vgg16", "lecture_resnet18"])
def test_every_typo_reproduces_its_cell(table: str) -> None:
    """A typo's reproduction is one keystroke: recomputed here from the two numbers."""
    rep = audit_table(table)
    assert rep.mismatches and all(f.cause in CAUSES for f in rep.mismatches)
    for f in rep.mismatches:
        m = re.fullmatch(r"([\d,]+) with (.+)", f.reproduction)
        if f.cause == "typo" and m:
            right = int(m.group(1).replace(",", ""))
            assert one_edit(int(f.published), right) == m.group(2)
            assert right == f.live or "own columns" in f.field


def test_summaries_are_formatted_not_typed() -> None:
    """No string literal in a summary sentence holds a number (names like Table 1, v1 aside)."""
    for path in AUDIT_PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "append"
                and ast.unparse(node.func.value).endswith("summary")
            ):
                continue
            specs = {
                id(c)
                for v in ast.walk(node)
                if isinstance(v, ast.FormattedValue) and v.format_spec is not None
                for c in ast.walk(v.format_spec)
            }
            for const in ast.walk(node):
                if id(const) in specs:
                    continue  # a format spec (".2f"), not text
                if isinstance(const, ast.Constant) and isinstance(const.value, str):
                    text = re.sub(r"Table \d|\bv1(\.5)?\b", "", const.value)  # names, not counts
                    assert not re.search(r"\d", text), f"{path.name}: {const.value!r}"


def test_audit_errors_and_render() -> None:
    with pytest.raises(ConvzooError, match="no lecture table"):
        audit("lenet5", "lecture")
    with pytest.raises(ConvzooError, match="unknown reference"):
        audit("vgg16", "book")
    with pytest.raises(ConvzooError, match="unknown table"):
        audit_table("lecture_lenet")
    with pytest.raises(ConvzooError, match="unknown table"):
        load_table("lecture_lenet")
    rep = audit("vgg16")
    text = rep.render()
    assert "typo" in text and "Where the table is right" in text
    assert "Reproduced by: the conv formula" in text
    assert rep.render("md").startswith("## Audit of")
    with pytest.raises(ConvzooError, match="unknown audit format"):
        rep.render("html")
    assert math.isclose(len(rep.matches) + len(rep.mismatches), len(rep.findings))


@pytest.mark.parametrize(
    "name",
    [
        "lenet5_1998",
        "alexnet_2012",
        "vgg19",
        "googlenet",
        pytest.param("resnet18", marks=pytest.mark.slow),  # traces eight ResNets
    ],
)
def test_cli_audits_each_paper(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", name, "--against", "paper"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Audit of") and "cells checked" in out and "Checked against" in out


def test_cli_json_list_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--table", "paper_lenet5_1998", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["table"] == "paper_lenet5_1998" and len(doc["tables"]) == 2
    assert {f["table"] for f in doc["findings"]} == {"paper_lenet5_1998", "paper_lenet5_table1"}
    assert main(["audit", "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == list(TABLE_MODELS)
    assert main(["audit"]) == 2  # nothing to audit: a one-line error, not a traceback
    assert "give a network name" in capsys.readouterr().err
