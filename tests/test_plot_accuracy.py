"""`convzoo plot --accuracy eval-*.json`: the evaluate -> plot path draws the evaluated top-1, on
an axis that names its data set, and refuses files it cannot draw instead of doing nothing."""

from __future__ import annotations

import json

import matplotlib
import pytest

from convzoo.cli import main

# The module's fixture benchmarks, trains and evaluates (3.7 s here): the full suite's.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bench_and_eval(tmp_path_factory):
    """A tiny LeNet-5 benchmark and a `convzoo evaluate` of a 1-epoch LeNet-5 digits run."""
    root = tmp_path_factory.mktemp("plot")
    bench = root / "bench"
    args = ["bench", "lenet5", "--batch-sizes", "1", "--budget", "0.02", "--min-reps", "2"]
    assert main([*args, "--warmup", "1", "--out", str(bench), "--no-progress"]) == 0
    run = root / "run"
    assert main(["train", "lenet5", "--epochs", "1", "--out", str(run), "--quiet"]) == 0
    assert main(["evaluate", str(run), "--quiet"]) == 0
    return bench, run / "eval-digits.json"


def test_evaluate_results_are_drawn_on_their_data_set(bench_and_eval, tmp_path, capsys):
    bench, eval_json = bench_and_eval
    # Text kept as text in the SVG, so that the labels can be read back.
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        code = main(["plot", str(bench), "--out", str(tmp_path), "--accuracy", str(eval_json)])
    assert code == 0
    assert str(tmp_path / "accuracy_vs_gmacs.png") in capsys.readouterr().out
    svg = (tmp_path / "accuracy_vs_gmacs.svg").read_text()
    assert "top-1 accuracy on digits, val split (%)" in svg
    assert "ImageNet" not in svg and "lenet5" in svg


def test_without_accuracy_files_the_axis_says_imagenet(bench_and_eval, tmp_path):
    bench, _ = bench_and_eval
    assert main(["plot", str(bench), "--out", str(tmp_path)]) == 0
    # LeNet-5 has no published ImageNet accuracy: no bubble chart, the others are drawn.
    assert not (tmp_path / "accuracy_vs_gmacs.png").exists()
    assert (tmp_path / "latency_vs_batch.png").exists()


def test_files_that_cannot_be_drawn_are_refused(bench_and_eval, tmp_path, capsys):
    bench, eval_json = bench_and_eval
    report = json.loads(eval_json.read_text())
    old = tmp_path / "old.json"  # what `convzoo evaluate` wrote before it named the model
    old.write_text(json.dumps({k: v for k, v in report.items() if k != "model"}))
    assert main(["plot", str(bench), "--out", str(tmp_path / "a"), "--accuracy", str(old)]) == 2
    assert "names no network" in capsys.readouterr().err
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**report, "model": "resnet18"}))
    assert main(["plot", str(bench), "--out", str(tmp_path / "b"), "--accuracy", str(other)]) == 2
    assert "convzoo bench resnet18" in capsys.readouterr().err
    fm = tmp_path / "fm.json"
    fm.write_text(json.dumps({**report, "data": "fashion-mnist"}))
    args = ["plot", str(bench), "--out", str(tmp_path / "c"), "--accuracy", str(eval_json)]
    assert main([*args, str(fm)]) == 2
    assert "different data sets" in capsys.readouterr().err
    assert not any((tmp_path / d).exists() for d in "abc")
