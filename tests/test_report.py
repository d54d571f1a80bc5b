"""The figures and the HTML report (issue 12, sections 1 and 2), without a browser."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
import torch
from PIL import Image
from torch import nn

import convzoo
from convzoo.cli import main
from convzoo.errors import ConvzooError
from convzoo.inspect.trace import trace
from convzoo.report import diagram, inception_scene, report_html, to_svg, write_report
from convzoo.report.graph import Block, figure_of, walk

SVG = "{http://www.w3.org/2000/svg}"


def _figure(name: str):
    with torch.device("meta"):
        m = convzoo.create_model(name)
    return figure_of(trace(m, (1, *m.card.input_size)))


def _blocks(name: str) -> list[Block]:
    return [b for s in _figure(name) for b in s.blocks()]


def test_googlenet_has_its_nine_inception_modules_of_four_branches() -> None:
    blocks = _blocks("googlenet")
    names = ["3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"]
    assert [b.name for b in blocks] == [f"inception{n}" for n in names]
    for b in blocks:
        assert b.kind == "inception" and b.join.main.kind == "concat"
        # 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | pool -> 1x1 (the paper's Figure 2b)
        assert [len(br) for br in b.branches] == [1, 2, 2, 2]


def test_naive_inception_has_single_layer_branches() -> None:
    assert all([len(br) for br in b.branches] == [1, 1, 1, 1] for b in _blocks("googlenet_naive"))


@pytest.mark.parametrize(
    ("name", "blocks", "projections"),
    [("resnet18", 8, 3), ("resnet50", 16, 4), ("resnet152", 50, 4)],
)
def test_resnet_blocks_and_shortcuts(name: str, blocks: int, projections: int) -> None:
    found = _blocks(name)
    assert len(found) == blocks and all(b.kind == "residual" for b in found)
    assert sum(b.projection for b in found) == projections
    # an identity shortcut is an empty branch; a projection shortcut is one conv (+ BN)
    for b in found:
        short = min(b.branches, key=len)
        assert len(short) == (1 if b.projection else 0)


def test_vgg16_stages_are_its_five_blocks() -> None:
    stages = _figure("vgg16")
    convs = [sum(1 for n in walk(s.items) if n.main.kind == "conv") for s in stages]
    assert convs[:5] == [2, 2, 3, 3, 3]  # conv3-64 x2, conv3-128 x2, conv3-256 x3, ...
    assert all(walk(s.items)[-1].main.kind == "maxpool" for s in stages[:5])


def test_every_row_is_drawn_once() -> None:
    for name in ("googlenet", "resnet50", "alexnet_2012", "lenet5_1998"):
        with torch.device("meta"):
            m = convzoo.create_model(name)
        result = trace(m, (1, *m.card.input_size))
        drawn = [r.name for s in figure_of(result) for n in walk(s.items) for r in n.rows]
        assert sorted(drawn[1:]) == sorted(r.name for r in result.records), name


def test_a_densenet_is_drawn_whole() -> None:
    """Not series-parallel (each layer reads all before it): drawn as a series, every row."""
    from torchvision.models import get_model

    with torch.device("meta"):
        model = get_model("densenet121")
    result = trace(model, (1, 3, 224, 224))
    drawn = [r.name for s in figure_of(result) for n in walk(s.items) for r in n.rows]
    assert sorted(drawn[1:]) == sorted(r.name for r in result.records)


def test_svg_is_well_formed_and_names_the_blocks() -> None:
    svg = to_svg(diagram("resnet50", look="blocks"))
    root = ET.fromstring(svg)
    groups = [g for g in root.iter(f"{SVG}g") if "residual" in (g.get("class") or "")]
    assert len(groups) == 16
    assert {g.get("data-name") for g in groups} >= {"layer1.0", "layer4.2"}
    assert sum("bottleneck" in g.get("class") for g in groups) == 16


def test_alexnet_is_drawn_in_two_towers() -> None:
    svg = to_svg(diagram("alexnet_2012"))
    root = ET.fromstring(svg)
    layers = {g.get("data-name"): g for g in root.iter(f"{SVG}g") if g.get("data-name")}
    labels = lambda g: [t.text for t in g.iter(f"{SVG}text")]  # noqa: E731
    assert labels(layers["features.4"]).count("128@27×27") == 2  # conv2: 2 x 128 maps
    assert (
        "384@13×13" in labels(layers["features.8"])
        or labels(layers["features.8"]).count("192@13×13") == 2
    )
    # the one-tower AlexNet of torchvision is drawn in one
    one = ET.fromstring(to_svg(diagram("alexnet_owt")))
    conv2 = next(g for g in one.iter(f"{SVG}g") if g.get("data-name") == "features.3")
    assert labels(conv2).count("192@27×27") == 1


def test_inception_figures_a_and_b(tmp_path) -> None:
    naive, reduced = inception_scene(naive=True), inception_scene(naive=False)
    count = lambda s, kind="conv": to_svg(s).count(f'class="node {kind}"')  # noqa: E731
    assert count(naive) == 3 and count(naive, "maxpool") == 1  # (a) 1x1, 3x3, 5x5 and a pool
    assert count(reduced) == 6 and count(reduced, "maxpool") == 1  # (b) with three 1x1 more
    assert main(["draw", "inception", "--reduced", "-o", str(tmp_path / "b.png")]) == 0
    assert Image.open(tmp_path / "b.png").size[0] > 600


def test_draw_svg_and_png(tmp_path) -> None:
    assert main(["draw", "lenet5", "-o", str(tmp_path / "lenet.svg")]) == 0
    root = ET.parse(tmp_path / "lenet.svg").getroot()
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"C1", "S2", "C3", "S4", "C5", "F6", "OUTPUT"} <= set(texts)
    assert "6@28×28" in texts and "16@10×10" in texts
    assert main(["draw", "vgg16", "-o", str(tmp_path / "vgg.png")]) == 0
    assert Image.open(tmp_path / "vgg.png").format == "PNG"
    assert main(["draw", "vgg16", "-o", str(tmp_path / "vgg.pdf")]) == 2


def test_report_sections_and_self_containment(tmp_path) -> None:
    page = report_html("resnet18", audit=False)
    for section in ('id="diagram"', 'id="charts"', 'id="table"'):
        assert section in page
    assert page.count('class="block residual') == 8
    assert "11,689,512" in page  # the total, as torchvision's resnet18 has
    # nothing loaded from elsewhere: no script, no external URL, no link
    assert "<script" not in page and "<link" not in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page
    assert 'id="audit"' not in page


def test_report_holds_the_audit_where_a_published_table_exists(tmp_path) -> None:
    assert main(["report", "alexnet", "-o", str(tmp_path / "a.html")]) == 0
    page = (tmp_path / "a.html").read_text()
    assert 'id="audit"' in page and "AlexNet Network - Structural Details" in page
    assert 'id="audit"' not in report_html("torchvision:resnet18")  # no published table


def test_report_of_torchvision_and_of_a_module() -> None:
    page = report_html("torchvision:resnet18")
    assert page.count('class="block residual') == 8
    mobile = report_html("torchvision:mobilenet_v2")
    assert mobile.count('class="block residual') == 10  # its ten inverted residuals
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    with pytest.raises(ConvzooError):
        report_html("torchvision:no_such_net")
    assert "Sequential" in report_html(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()))
    del model


def test_report_of_a_run_shows_the_files_that_exist(tmp_path) -> None:
    run = tmp_path / "run"
    (run / "best").mkdir(parents=True)
    meta = {
        "model": {"name": "lenet5", "kwargs": {"num_classes": 10, "in_chans": 1}},
        "transforms": {"input_size": [1, 32, 32]},
    }
    (run / "best" / "meta.json").write_text(json.dumps(meta))
    page = report_html(run)
    assert "no curves" in page and "learning curves" not in page
    (run / "metrics.csv").write_text("epoch,train_loss,val_acc\n1,0.5,0.9\n2,0.3,0.95\n")
    Image.new("RGB", (20, 10), "red").save(run / "learning_curves.png")
    Image.new("RGB", (10, 10), "blue").save(run / "eval-digits-confusion.png")
    Image.new("RGB", (10, 10), "green").save(run / "top-losses.png")
    page = report_html(run / "best")
    assert page.count("data:image/png;base64,") == 3
    assert "0.95" in page and 'alt="top losses"' in page and 'alt="confusion matrix"' in page


def test_report_of_a_bench_folder(tmp_path) -> None:
    (tmp_path / "results.json").write_text(json.dumps({"results": []}))
    assert "convzoo plot" in report_html(tmp_path)
    Image.new("RGB", (10, 10)).save(tmp_path / "latency.png")
    assert report_html(tmp_path).count("data:image/png;base64,") == 1


def test_report_refuses_what_it_cannot_write(tmp_path) -> None:
    with pytest.raises(ConvzooError, match="HTML"):
        write_report("lenet5", tmp_path / "r.txt")
    with pytest.raises(ConvzooError, match="neither"):
        report_html(tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", convzoo.list_models())
def test_report_of_every_network(name: str) -> None:
    page = report_html(name, audit=False)
    t = convzoo.summarize(name)
    assert f"{t.total_params:,}" in page
    assert page.count("<tr class=") == len(t.rows)
