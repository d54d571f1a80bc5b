"""The table: lecture convention totals, depth, columns, and every renderer."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

import convzoo
from convzoo.errors import ConvzooError
from convzoo.inspect import summarize
from convzoo.inspect.table import COLUMNS, FORMATS


@pytest.fixture(scope="module")
def resnet18():
    return summarize("resnet18")


@pytest.mark.parametrize(
    ("name", "lecture_total"),
    [
        ("resnet18", 11_511_784),  # the lecture's ResNet18 total, reproduced exactly
        ("alexnet", 62_378_344),  # the lecture's AlexNet total
        ("vgg16", 138_357_544),  # the sum of the lecture's VGG16 rows without its stray 65,664
    ],
)
def test_lecture_convention_reproduces_the_lecture(name: str, lecture_total: int) -> None:
    table = summarize(name, convention="lecture")
    assert table.total_params == lecture_total
    assert {r.kind for r in table.rows} <= {"conv", "linear", "maxpool", "avgpool", "concat"}
    assert not any(r.shortcut for r in table.rows)


def test_resnet18_lecture_rows_follow_the_lecture(resnet18) -> None:
    lec = summarize("resnet18", convention="lecture")
    convs = [r for r in lec.rows if r.kind == "conv"]
    assert convs[0].params == 7 * 7 * 3 * 64 + 64  # 9,472 as in the lecture
    assert convs[1].params == 36_928  # 3x3x64x64 + 64
    # the real network has no conv biases but batch norm
    assert resnet18.total_params == 11_689_512


def test_totals_are_computed_from_rows(resnet18) -> None:
    t = resnet18.totals
    assert t.macs == sum(r.macs for r in resnet18.rows)
    assert t.flops == 2 * t.macs
    assert t.params == sum(r.params for r in resnet18.rows) + t.unused_params
    assert t.trainable_params + t.frozen_params == t.params
    assert resnet18.total_params == t.params and resnet18.total_macs == t.macs


def test_frozen_parameters_are_reported() -> None:
    import torch
    import torchvision

    with torch.device("meta"):
        model = torchvision.models.resnet18()
    for p in model.parameters():
        p.requires_grad_(False)
    model.fc.weight.requires_grad_(True)
    t = summarize(model).totals
    assert t.trainable_params == 512 * 1000
    assert t.frozen_params == t.params - 512 * 1000


def test_depth_merges_blocks() -> None:
    full = summarize("googlenet")
    top = summarize("googlenet", depth=1)
    names = [r.name for r in top.rows]
    assert "inception3a" in names and not any(n.startswith("inception3a.") for n in names)
    assert sum(r.params for r in top.rows) == sum(r.params for r in full.rows)
    assert sum(r.macs for r in top.rows) == full.total_macs
    row = top.rows[names.index("inception3a")]
    assert row.output_shape[1:] == (256, 28, 28)


def test_text_fits_100_columns_for_every_network() -> None:
    for name in convzoo.list_models():
        text = summarize(name).render("text")
        assert max(len(line) for line in text.splitlines()) <= 100, name
        assert "FLOPs = 2 x MACs" in text


def test_text_drops_low_priority_columns_first(resnet18) -> None:
    narrow = resnet18.render("text", width=60)
    assert max(len(line) for line in narrow.splitlines()[:-8]) <= 60
    header = narrow.splitlines()[1]
    assert "params" in header and "layer" in header and "activations" not in header
    assert "left out" in narrow


def test_markdown_is_a_lecture_like_table(resnet18) -> None:
    md = summarize("vgg16", convention="lecture").render("md")
    lines = md.splitlines()
    assert lines[2].startswith("| # | layer |")
    assert any(line.startswith("| 16 | classifier.6 |") for line in lines)
    assert "**138,357,544**" in md


def test_csv_round_trips(resnet18) -> None:
    rows = list(csv.DictReader(io.StringIO(resnet18.render("csv"))))
    assert len(rows) == len(resnet18.rows)
    assert sum(int(r["params"]) for r in rows) == resnet18.total_params
    assert list(rows[0]) == list(COLUMNS)


def test_json_schema(resnet18) -> None:
    doc = json.loads(resnet18.render("json"))
    assert doc["schema"] == "convzoo.summary/1"
    assert doc["totals"]["flops"] == 2 * doc["totals"]["macs"]
    assert doc["input_shape"] == [1, 3, 224, 224]
    first = doc["rows"][0]
    assert set(first) >= {
        "index",
        "name",
        "type",
        "kind",
        "input_shape",
        "output_shape",
        "kernel",
        "stride",
        "padding",
        "params",
        "macs",
        "receptive_field",
    }
    assert first["kernel"] == [7, 7] and first["receptive_field"] == [7, 7]


def test_latex_and_html(resnet18) -> None:
    tex = resnet18.render("latex")
    assert tex.startswith("\\begin{table}") and "layer1.0.conv1" in tex
    assert "\\#" in tex  # escaped header
    page = resnet18.render("html")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<table>" in page and "11,689,512" in page


def test_columns_selection_and_errors(resnet18) -> None:
    out = resnet18.render("csv", columns=["name", "macs"])
    assert out.splitlines()[0] == "name,macs"
    with pytest.raises(ConvzooError, match="unknown column 'flops'"):
        resnet18.render("csv", columns=["name", "flops"])
    with pytest.raises(ConvzooError, match="unknown format 'xml'"):
        resnet18.render("xml")
    assert set(FORMATS) == {"text", "md", "csv", "json", "latex", "html"}


def test_markdown_of_a_tiny_network_computed_by_hand() -> None:
    """Every number below is worked out by hand from the rule, not saved from a run."""
    from torch import nn

    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32, 3)
    )
    cols = [
        "index",
        "name",
        "type",
        "input",
        "output",
        "kernel",
        "stride",
        "pad",
        "params",
        "macs",
        "rf",
    ]
    md = summarize(model, input_size=(1, 8, 8)).render("md", columns=cols)
    expected = """\
**Sequential - Structural Details (input 1x8x8, batch 1)**

| # | layer | type | input | output | kernel | stride | pad | params | MACs | RF |
|---:|---|---|---|---|---|---|---|---:|---:|---|
| 1 | 0 | Conv2d | 8x8x1 | 8x8x2 | 3x3 | 1 | 1 | 20 | 1,152 | 3 |
|  | 1 | ReLU | 8x8x2 | 8x8x2 |  |  |  | 0 | 128 |  |
|  | 2 | MaxPool2d | 8x8x2 | 4x4x2 | 2x2 | 2 | 0 | 0 | 128 | 4 |
|  | 3 | Flatten | 4x4x2 | 1x1x32 |  |  |  | 0 | 0 |  |
| 2 | 4 | Linear | 1x1x32 | 1x1x3 |  |  |  | 99 | 96 |  |
| **Total** |  |  |  |  |  |  |  | **119** | **1,504** |  |

- Total params: 119 (trainable 119, frozen 0)
- Total MACs: 1,504 (1.50K); FLOPs = 2 x MACs = 3,008
- Weight memory: 476 B (parameters and buffers)
- Activation memory of one forward pass at batch 1: 1.14 KiB (input 256 B)
"""
    # conv: 8*8*2 outputs x 1*3*3 = 1,152; ReLU 128; pool 4*4*2 x 2*2 = 128; fc 32*3 = 96.
    # params 2*9+2 = 20 and 32*3+3 = 99 (x 4 B = 476 B); activations 128+128+32+3 = 291 floats
    # (the flatten is a view) = 1,164 B; receptive fields 3 and 3 + (2-1) x 1 = 4.
    assert md == expected


# --- issue 12, section 5: the text summary for students, notebooks ---------------------------


def _lecture_layer_column(table_file: str) -> list[str]:
    from importlib import resources

    text = resources.files("convzoo").joinpath(f"inspect/audit/data/{table_file}").read_text()
    return [r["layer"] for r in csv.DictReader(io.StringIO(text)) if r["layer"] != "Total"]


@pytest.mark.parametrize(
    ("name", "table_file"),
    [("resnet18", "lecture_resnet18.csv"), ("alexnet", "lecture_alexnet.csv")],
)
def test_lecture_names_are_the_lecture_tables_names(name: str, table_file: str) -> None:
    # the transcribed lecture tables are the independent reference
    t = summarize(name, convention="lecture")
    names = [t.lecture.get(r.name, "") for r in t.rows]
    assert [n for n in names if n] == _lecture_layer_column(table_file)


def test_lecture_names_of_lenet_vgg_googlenet() -> None:
    lenet = summarize("lenet5")
    assert sorted(lenet.lecture.values()) == sorted(["C1", "S2", "C3", "S4", "C5", "F6", "OUTPUT"])
    vgg = summarize("vgg16").lecture
    assert vgg["features.0"] == "conv3-64" and vgg["classifier.6"] == "FC-1000"
    g = summarize("googlenet").lecture
    assert g["inception3a.branch2.0.conv"] == "3a #3x3 reduce"
    assert g["inception3a.branch4.1.conv"] == "3a pool proj"
    text = summarize("lenet5").render("text", lecture_names=True)
    assert "lecture" in text.splitlines()[1] and " C3 " in text


def test_text_keeps_the_type_column_at_100_columns() -> None:
    for name in ("vgg16", "resnet50", "googlenet"):
        lines = summarize(name).render("text").splitlines()
        assert "type" in lines[1].split(), name
        assert "Conv2d" in "\n".join(lines), name


def test_groups_column_shows_alexnets_two_towers() -> None:
    rows = list(csv.DictReader(io.StringIO(summarize("alexnet_2012").render("csv"))))
    groups = [int(r["groups"]) for r in rows if r["type"] == "Conv2d"]
    assert groups == [1, 2, 1, 2, 2]  # conv2, conv4, conv5 in two towers (the paper's Fig. 2)
    text = summarize("alexnet_2012").render("text", width=140)
    assert "groups" in text.splitlines()[1]


def test_width_follows_the_terminal() -> None:
    wide = summarize("resnet18").render("text", width=180)
    assert max(len(line) for line in wide.splitlines()) > 100
    assert "left out" not in wide


def test_input_of_one_side_is_the_networks_channels() -> None:
    assert summarize("vgg16", input_size="224").input_shape == (1, 3, 224, 224)
    assert summarize("lenet5", input_size=32).input_shape == (1, 1, 32, 32)
    with pytest.raises(ConvzooError, match="2 dimension"):
        summarize("vgg16", input_size="224x224")


@pytest.mark.slow
def test_latex_fits_the_text_width_of_an_a4_page() -> None:
    """Measured with DejaVu Sans (wider than Computer Modern) at LaTeX's footnotesize (8 pt)
    by matplotlib's font metrics: every row, cells plus 2 x 3 pt column gaps, within the text
    width of an A4 page with 2.5 cm margins (597.5 pt - 2 x 71.1 pt = 455 pt,
    ``usepackage[a4paper,margin=2.5cm]{geometry}``)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    font = FontProperties(family="DejaVu Sans", size=8)
    measure = TextToPath()

    def width(s: str) -> float:
        s = re.sub(r"\\textbf\{(.*)\}", r"\1", s).replace("\\", "")
        return measure.get_text_width_height_descent(s, font, ismath=False)[0] if s else 0.0

    for name in ("resnet152", "googlenet", "vgg19_bn", "alexnet_2012"):
        tex = summarize(name).render("latex")
        lines = [ln for ln in tex.splitlines() if ln.endswith(r"\\") and "&" in ln]
        cols = [ln[:-2].split(" & ") for ln in lines]
        n = len(cols[0])
        col_w = [max(width(c[i]) for c in cols) for i in range(n)]
        assert sum(col_w) + 6 * n <= 455, (name, sum(col_w) + 6 * n)
        rows_per_float = [
            sum(1 for ln in part.splitlines() if ln.endswith(r"\\"))
            for part in tex.split(r"\begin{table}")[1:]
        ]
        assert max(rows_per_float) <= 53  # 50 rows, the header and the total: one A4 page


def test_notebook_face_of_a_table() -> None:
    t = summarize("vgg16")
    assert len(repr(t)) < 120 and "138,357,544" in repr(t)
    page = t._repr_html_()
    assert page.count("<tr") == len(t.rows) + 1 and "position:sticky" in page
    frame = t.to_pandas()
    assert len(frame) == len(t.rows) and int(frame["params"].sum()) == t.total_params
    assert list(frame.columns) == list(t.columns)
