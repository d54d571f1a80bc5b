"""The benchmark harness, its validation, its results files and the charts."""

from __future__ import annotations

import collections
import csv
import json
import sys
import time

import numpy as np
import pytest
import torch

import convzoo
from convzoo.bench import charts, harness
from convzoo.bench.charts import plot_results, published_accuracy, read_accuracy_files
from convzoo.bench.harness import (
    BenchSettings,
    balanced_orders,
    median_interval,
    network_macs,
    paired_comparisons,
    paired_speedup,
    parse_batch_sizes,
    percentile,
    precision_notes,
    run_benchmark,
    summarize_times,
    time_interleaved,
    validate,
)
from convzoo.bench.machine import machine_info, matmul_peak_gflops
from convzoo.cli import main
from convzoo.errors import ConvzooError

FAST = {"budget_s": 0.05, "min_reps": 3, "warmup": 1}


# ---- statistics and timing ---------------------------------------------------------------


@pytest.mark.parametrize("q", [0, 10, 50, 90, 100])
def test_percentile_matches_numpy(q):
    values = [5.0, 1.0, 9.0, 3.0, 7.5, 2.2, 8.1]
    assert percentile(values, q) == pytest.approx(np.percentile(values, q))


def test_summarize_times_in_ms():
    stats = summarize_times([0.001, 0.002, 0.003, 0.004, 0.010])
    assert stats["median_ms"] == pytest.approx(3.0)
    assert stats["p10_ms"] == pytest.approx(np.percentile([1, 2, 3, 4, 10], 10))
    assert stats["p90_ms"] == pytest.approx(np.percentile([1, 2, 3, 4, 10], 90))
    assert stats["reps"] == 5


def test_time_interleaved_measures_each_function_and_respects_budget():
    calls = {"a": 0, "b": 0}

    def a():
        calls["a"] += 1
        time.sleep(0.002)

    def b():
        calls["b"] += 1
        time.sleep(0.006)

    start = time.perf_counter()
    ta, tb = time_interleaved([a, b], "cpu", warmup=1, budget_s=0.15, min_reps=4)
    elapsed = time.perf_counter() - start
    assert len(ta) == len(tb) >= 4
    assert calls["a"] == calls["b"] == len(ta) + 1  # + the warm-up
    # sleep() can only overshoot: medians at least the sleep, and b clearly slower than a.
    assert np.median(ta) >= 0.002 and np.median(tb) >= 0.006
    assert np.median(tb) > np.median(ta) + 0.002
    assert elapsed < 1.5  # the budget stops it


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7])
def test_balanced_orders_let_each_follow_each_other_equally_often(n):
    orders = balanced_orders(n)
    assert all(sorted(o) == list(range(n)) for o in orders)
    follows = collections.Counter((o[i], o[i + 1]) for o in orders for i in range(n - 1))
    pairs = {(a, b) for a in range(n) for b in range(n) if a != b}
    assert set(follows) == pairs
    assert len(set(follows.values())) <= 1  # every ordered pair alike


def test_time_interleaved_calls_each_once_a_round_in_the_balanced_orders():
    order = []
    fns = [lambda k=k: order.append(k) for k in range(3)]
    times = time_interleaved(fns, "cpu", warmup=0, budget_s=0.0, min_reps=6)
    assert [len(t) for t in times] == [6, 6, 6]  # one call each per round
    assert [order[i : i + 3] for i in range(0, 18, 3)] == balanced_orders(3)


def _sign_test_interval(values, confidence):
    """The textbook rank: the largest k with P(Binomial(n, 1/2) <= k - 1) <= (1 - c) / 2."""
    import math

    n, xs = len(values), sorted(values)
    k = 0
    while (
        k + 1 <= n // 2
        and sum(math.comb(n, i) for i in range(k + 1)) / 2**n <= (1 - confidence) / 2
    ):
        k += 1
    return xs[k - 1], xs[n - k]


@pytest.mark.parametrize("n", [6, 9, 20, 57, 200])
def test_median_interval_is_the_sign_test_interval(n):
    values = list(np.random.default_rng(n).lognormal(size=n))
    assert median_interval(values, 0.9) == pytest.approx(_sign_test_interval(values, 0.9))
    low, high = median_interval(values, 0.9)
    assert low <= float(np.median(values)) <= high


def test_median_interval_of_too_few_values_is_their_range():
    assert median_interval([3.0, 1.0, 2.0]) == (1.0, 3.0)
    assert all(np.isnan(median_interval([])))


def test_paired_speedup_takes_out_the_load_that_comes_and_goes():
    # The host slows down 3x for half of the rounds; ours is 1.25x faster in every round.
    load = [1.0, 3.0] * 10
    theirs = [0.010 * f for f in load]
    ours = [0.008 * f for f in load]
    got = paired_speedup(ours, theirs)
    assert got["ratio"] == pytest.approx(1.25)
    assert (got["low"], got["high"]) == pytest.approx((1.25, 1.25))
    assert got["rounds"] == 20
    with pytest.raises(ValueError, match="same rounds"):
        paired_speedup(ours, theirs[:-1])


def test_paired_comparisons_pair_optimize_with_each_peer_and_the_control():
    def row(runtime, precision, ms, instance=1):
        return {
            "network": "resnet18",
            "mode": "inference",
            "batch_size": 1,
            "status": "ok",
            "runtime": runtime,
            "precision": precision,
            "instance": instance,
            "rounds_ms": ms,
        }

    rows = [
        row("optimize", "int8", [5.0, 6.0, 5.0, 6.0, 5.0]),
        row("onnxruntime", "int8", [10.0, 12.0, 10.0, 12.0, 10.0]),
        row("openvino", "int8", [5.0, 6.0, 5.0, 6.0, 5.0]),
        row("openvino", "int8", [5.5, 6.6, 5.5, 6.6, 5.5], instance=2),
        row("openvino", "bf16", [4.0] * 5),  # no optimize bf16: nothing to pair it with
    ]
    found = {(c["ours"], c["theirs"]): c for c in paired_comparisons(rows)}
    assert set(found) == {
        ("optimize int8", "onnxruntime int8"),
        ("optimize int8", "openvino int8"),
        ("openvino int8 #2", "openvino int8"),
    }
    assert found["optimize int8", "onnxruntime int8"]["ratio"] == pytest.approx(2.0)
    assert found["optimize int8", "openvino int8"]["ratio"] == pytest.approx(1.0)
    aa = found["openvino int8 #2", "openvino int8"]
    assert aa["kind"] == "A/A" and aa["ratio"] == pytest.approx(1 / 1.1)


def test_machine_info_records_versions_and_hardware():
    info = machine_info("cpu")
    assert info["versions"]["torch"] == torch.__version__
    assert info["logical_cores"] >= 1 and info["torch_threads"] >= 1
    assert info["cpu"]
    json.dumps(info)  # serialisable as is


def test_matmul_peak_is_plausible():
    peak = matmul_peak_gflops("cpu", n=256, budget_s=0.1)
    # At least 1 GFLOP/s on any machine of this century, at most 100 TFLOP/s for a CPU.
    assert 1 < peak < 1e5


def test_network_macs_match_torchvision_published_ops():
    import torchvision

    # torchvision's meta "_ops" is in GFLOPS but counts multiply-adds (1.814 for ResNet-18).
    ops = torchvision.models.get_model_weights("resnet18").DEFAULT.meta["_ops"]
    params, macs = network_macs("resnet18", (3, 224, 224))
    assert macs / 1e9 == pytest.approx(ops, rel=0.02)
    assert params == 11_689_512  # He et al. 2016 / torchvision


def test_network_macs_without_a_table_counts_with_torch_on_meta(monkeypatch):
    """The fallback (torch's FlopCounterMode over a network built on meta) counts convs and
    matmuls only: exactly what torchvision's "_ops" counts (1.814 G for ResNet-18)."""
    import torchvision

    import convzoo.bench.harness as H

    def no_table(*args, **kwargs):
        raise RuntimeError("a tracing gap")

    monkeypatch.setattr(H, "summarize", no_table)
    ops = torchvision.models.get_model_weights("resnet18").DEFAULT.meta["_ops"]
    params, macs = network_macs("resnet18", (3, 224, 224))
    assert round(macs / 1e9, 3) == ops
    assert params == 11_689_512


# ---- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["0", "1,0,4", "-2", "a", ""])
def test_bad_batch_sizes_are_refused(text):
    with pytest.raises(ConvzooError, match="batch size"):
        parse_batch_sizes(text)


def test_parse_batch_sizes():
    assert parse_batch_sizes("1,2, 16") == [1, 2, 16]


def test_unknown_network_suggests_names():
    with pytest.raises(ConvzooError, match="resnet18"):
        validate(BenchSettings(names=["resnet181"]))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_unavailable_is_one_clear_message():
    with pytest.raises(ConvzooError, match="no CUDA GPU"):
        validate(BenchSettings(names=["lenet5"], device="cuda"))


def test_missing_onnxruntime_is_one_clear_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import raises ImportError
    with pytest.raises(ConvzooError, match="pip install"):
        validate(BenchSettings(names=["lenet5"], runtime="onnxruntime"))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bench", "resnet181"], "unknown model"),
        (["bench", "lenet5", "--batch-sizes", "0"], "at least 1"),
        (["bench"], "no network"),
        (["bench", "lenet5", "--mode", "train", "--optimize"], "inference-only"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


# ---- a real run --------------------------------------------------------------------------


@pytest.mark.slow
def test_run_writes_csv_and_json_with_machine_and_settings(tmp_path):
    settings = BenchSettings(names=["lenet5"], batch_sizes=[1, 2], mode="both", **FAST)
    rows = run_benchmark(settings, tmp_path, progress=False)
    assert [(r["mode"], r["batch_size"]) for r in rows] == [
        ("inference", 1),
        ("inference", 2),
        ("train", 1),
        ("train", 2),
    ]
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["complete"] is True
    assert data["settings"]["batch_sizes"] == [1, 2]
    assert data["machine"]["matmul_peak_gflops"] > 0
    with open(tmp_path / "results.csv") as f:
        csv_rows = list(csv.DictReader(f))
    assert len(csv_rows) == 4 and csv_rows[0]["network"] == "lenet5"
    for r in rows:
        assert r["status"] == "ok"
        assert r["latency_ms_p10"] <= r["latency_ms_median"] <= r["latency_ms_p90"]
        assert r["images_per_s"] == pytest.approx(
            r["batch_size"] / r["latency_ms_median"] * 1e3, rel=1e-3
        )
        assert r["params"] == convzoo.parameter_count("lenet5")
        assert r["peak_memory_mb"] > 0
        factor = 3 if r["mode"] == "train" else 1
        expected = 2 * r["gmacs_per_image"] * r["batch_size"] * factor / r["latency_ms_median"]
        assert r["achieved_gflops"] == pytest.approx(expected * 1e3, rel=1e-2)
    train = [r for r in rows if r["mode"] == "train"]
    assert all(r["forward_ms"] > 0 and r["backward_ms"] > 0 for r in train)


@pytest.mark.slow
def test_against_torchvision_reports_the_ratio(tmp_path):
    settings = BenchSettings(
        names=["resnet18"], batch_sizes=[1], against="torchvision", image_size=32, **FAST
    )
    (row,) = run_benchmark(settings, tmp_path, progress=False)
    assert row["torchvision_latency_ms_median"] > 0
    assert row["speed_vs_torchvision"] == pytest.approx(
        row["torchvision_latency_ms_median"] / row["latency_ms_median"], rel=1e-2
    )


@pytest.mark.slow
def test_training_step_of_the_twin_is_timed_as_ours(tmp_path, monkeypatch):
    """Forward and backward between their own marks on both sides: timing the twin's step as
    one region let a GPU overlap its backward with its forward (ratio 0.83 on an H200)."""
    marks = []
    real = harness._Timer.measure

    def counting(self, out):
        marks.append(id(out))
        return real(self, out)

    monkeypatch.setattr(harness._Timer, "measure", counting)
    settings = BenchSettings(
        names=["resnet18"],
        batch_sizes=[2],
        mode="train",
        against="torchvision",
        image_size=32,
        **FAST,
    )
    (row,) = run_benchmark(settings, tmp_path, progress=False)
    # Per step, ours and the twin's alike: a forward and a backward region, each with its own
    # list of times (warm-up steps included), inside the interleaver's one region per call.
    counts = sorted(collections.Counter(marks).values())
    steps = FAST["warmup"] + row["reps"]
    assert counts == [row["reps"]] * 2 + [steps] * 4
    assert row["speed_vs_torchvision"] == pytest.approx(
        row["torchvision_latency_ms_median"] / row["latency_ms_median"], rel=1e-2
    )


@pytest.mark.slow
def test_oom_point_is_recorded_and_the_run_goes_on(tmp_path, monkeypatch):
    real = harness._measure_point

    def fake(settings, model, twin, mode, bs, *args):
        if bs == 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return real(settings, model, twin, mode, bs, *args)

    monkeypatch.setattr(harness, "_measure_point", fake)
    settings = BenchSettings(names=["lenet5"], batch_sizes=[1, 2, 4], **FAST)
    rows = run_benchmark(settings, tmp_path, progress=False)
    assert [r["status"] for r in rows] == ["ok", "oom", "ok"]
    assert rows[1].get("latency_ms_median") is None


@pytest.mark.slow
def test_ctrl_c_keeps_the_points_measured(tmp_path, monkeypatch):
    real = harness._measure_point

    def fake(settings, model, twin, mode, bs, *args):
        if bs == 2:
            raise KeyboardInterrupt
        return real(settings, model, twin, mode, bs, *args)

    monkeypatch.setattr(harness, "_measure_point", fake)
    settings = BenchSettings(names=["lenet5"], batch_sizes=[1, 2, 4], **FAST)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(settings, tmp_path, progress=False)
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["interrupted"] is True and data["complete"] is False
    assert [r["batch_size"] for r in data["results"]] == [1]
    assert "lenet5" in (tmp_path / "results.csv").read_text()


@pytest.mark.slow
def test_onnxruntime_runtime_times_the_exported_network(tmp_path):
    settings = BenchSettings(names=["lenet5"], batch_sizes=[1, 3], runtime="onnxruntime", **FAST)
    rows = run_benchmark(settings, tmp_path, progress=False)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert all(r["runtime"] == "onnxruntime" and r["images_per_s"] > 0 for r in rows)


@pytest.mark.slow
def test_cli_bench_prints_a_table_and_plots(tmp_path, capsys):
    argv = ["bench", "lenet5", "--batch-sizes", "1,2", "--budget", "0.05", "--min-reps", "2"]
    assert main([*argv, "--no-progress", "--out", str(tmp_path), "--plot"]) == 0
    out = capsys.readouterr().out
    assert "| lenet5 | inference | 1 |" in out
    assert (tmp_path / "latency_vs_batch.png").is_file()


# ---- charts ------------------------------------------------------------------------------


def _row(name, mode, bs, ms, gmacs, params, fwd=None, bwd=None):
    return {
        "network": name,
        "mode": mode,
        "batch_size": bs,
        "status": "ok",
        "latency_ms_median": ms,
        "images_per_s": bs / ms * 1e3,
        "gmacs_per_image": gmacs,
        "params": params,
        "forward_ms": fwd,
        "backward_ms": bwd,
    }


@pytest.fixture
def small_results(tmp_path):
    rows = []
    for name, gmacs, params, ms1 in [
        ("resnet18", 1.814, 11_689_512, 20.0),
        ("vgg16", 15.47, 138_357_544, 150.0),
        ("alexnet_owt", 0.714, 61_100_840, 8.0),
        ("lenet5", 0.0004, 61_706, 0.2),
    ]:
        for bs in (1, 4, 16):
            rows.append(_row(name, "inference", bs, ms1 * bs**0.8, gmacs, params))
        rows.append(_row(name, "train", 16, ms1 * 30, gmacs, params, ms1 * 10, ms1 * 20))
    rows.append({**_row("vgg19", "inference", 16, 1.0, 19.6, 143_667_240), "status": "oom"})
    data = {
        "machine": {"cpu": "Test CPU", "torch_threads": 2, "versions": {"torch": "x"}},
        "settings": {"precision": "fp32", "runtime": "torch"},
        "results": rows,
    }
    (tmp_path / "results.json").write_text(json.dumps(data))
    return tmp_path


@pytest.mark.slow
def test_charts_render_png_and_svg(small_results):
    import matplotlib.image

    paths = plot_results(small_results)
    stems = {p.stem for p in paths}
    assert stems == {"accuracy_vs_gmacs", "latency_vs_batch", "throughput", "forward_backward"}
    for p in paths:
        assert p.stat().st_size > 1000
        if p.suffix == ".png":
            img = matplotlib.image.imread(p)
            assert img.shape[0] > 300 and img.shape[1] > 600
    svg = (small_results / "latency_vs_batch.svg").read_text()
    # Labelled axes with units, and one line per network.
    assert "batch size (images)" in svg and "inference time per batch (ms" in svg
    assert "vgg16" in svg and "lenet5" in svg
    # Only networks with a published top-1 (a torchvision twin) are in the bubble chart.
    bubbles = (small_results / "accuracy_vs_gmacs.svg").read_text()
    assert "resnet18" in bubbles and "lenet5" not in bubbles


def test_published_accuracy_comes_from_torchvision_weights():
    assert published_accuracy("resnet18") == pytest.approx(69.758)
    assert published_accuracy("resnet50") == pytest.approx(76.130)  # V1, not the V2 recipe
    assert published_accuracy("lenet5") is None  # no twin, no published ImageNet number


@pytest.mark.slow
def test_evaluate_results_override_accuracy(tmp_path, small_results):
    acc = tmp_path / "eval.json"
    acc.write_text(json.dumps([{"model": "lenet5", "top1": 0.42}, {"model": "vgg16", "acc1": 71}]))
    assert read_accuracy_files([acc]) == {"lenet5": pytest.approx(42.0), "vgg16": 71.0}
    plot_results(small_results, tmp_path / "charts", accuracy_files=[acc])
    assert "lenet5" in (tmp_path / "charts" / "accuracy_vs_gmacs.svg").read_text()


def test_plot_cli_errors_on_missing_folder(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "nothing")]) == 2
    assert "results.json" in capsys.readouterr().err


@pytest.mark.slow
def test_a_network_that_cannot_be_built_is_recorded_and_the_run_goes_on(tmp_path, monkeypatch):
    import convzoo.registry as registry

    real = registry.create_model

    def flaky(name, *args, **kwargs):
        if name == "lenet5_1998":
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(registry, "create_model", flaky)
    settings = BenchSettings(names=["lenet5_1998", "lenet5"], batch_sizes=[1, 2], **FAST)
    rows = run_benchmark(settings, tmp_path, progress=False)
    assert [r["network"] for r in rows] == ["lenet5_1998"] * 2 + ["lenet5"] * 2
    assert all(r["status"].startswith("error: RuntimeError: CUDA error") for r in rows[:2])
    assert all(r["precision"] == "fp32" and r["image_size"] == "1x32x32" for r in rows[:2])
    assert all(r["status"] == "ok" for r in rows[2:])
    saved = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert [r["status"] for r in saved][2:] == ["ok", "ok"]


def test_cnn_benchmarks_reference_is_consistent_and_names_zoo_networks():
    from convzoo.bench.charts import cnn_benchmarks_reference

    for gpu in ("Pascal Titan X", "GTX 1080 Ti"):
        ref = cnn_benchmarks_reference(gpu)
        assert set(ref) == {
            *("alexnet_2012", "googlenet", "vgg16", "vgg19"),
            *(f"resnet{d}" for d in (18, 34, 50, 101, 152)),
        }
        assert set(ref) <= set(convzoo.list_models())
        for row in ref.values():
            # The published totals are the sum of the published columns (rounded to 0.01 ms).
            assert row["total_ms"] == pytest.approx(
                row["forward_ms"] + row["backward_ms"], abs=0.02
            )
    assert cnn_benchmarks_reference()["resnet50"]["total_ms"] == 103.58
    with pytest.raises(ConvzooError, match="no published numbers"):
        cnn_benchmarks_reference("GTX 580")


@pytest.mark.slow
def test_gpu_forward_backward_chart_marks_cnn_benchmarks(small_results):
    data = json.loads((small_results / "results.json").read_text())
    data["machine"]["gpu"] = {"name": "Test GPU"}
    (small_results / "results.json").write_text(json.dumps(data))
    plot_results(small_results)
    svg = (small_results / "forward_backward.svg").read_text()
    assert "cnn-benchmarks total, Pascal Titan X" in svg
    assert "Test GPU" in svg and "threads" not in svg  # the CPU's threads say nothing here
    cpu = small_results / "cpu"
    data["machine"].pop("gpu")
    cpu.mkdir()
    (cpu / "results.json").write_text(json.dumps(data))
    plot_results(cpu)
    assert "cnn-benchmarks" not in (cpu / "forward_backward.svg").read_text()


# ---- several runtimes and precisions, interleaved -----------------------------------------


@pytest.mark.slow
def test_several_variants_are_timed_interleaved_in_one_round(tmp_path, monkeypatch):
    seen = []
    real = harness.time_interleaved

    def spy(fns, *args, **kwargs):
        seen.append(len(fns))
        return real(fns, *args, **kwargs)

    monkeypatch.setattr(harness, "time_interleaved", spy)
    settings = BenchSettings(
        names=["lenet5"], batch_sizes=[2], runtimes=["eager"], precisions=["fp32", "bf16"], **FAST
    )
    rows = run_benchmark(settings, tmp_path, progress=False)
    assert [(r["runtime"], r["precision"], r["status"]) for r in rows] == [
        ("eager", "fp32", "ok"),
        ("eager", "bf16", "ok"),
    ]
    assert seen == [2]  # both variants in one interleaved timing, not one after the other
    assert rows[0]["reps"] == rows[1]["reps"]


def test_a_control_times_a_second_instance_and_the_cli_pairs_them(tmp_path, capsys):
    out = tmp_path / "aa"
    argv = ["bench", "lenet5", "--batch-sizes", "2", "--budget", "0.05", "--min-reps", "6"]
    assert main([*argv, "--control", "eager", "--out", str(out), "--no-progress"]) == 0
    rows = json.loads((out / "results.json").read_text())["results"]
    assert [(r["runtime"], r["instance"]) for r in rows] == [("eager", 1), ("eager", 2)]
    assert len(rows[0]["rounds_ms"]) == len(rows[1]["rounds_ms"]) == rows[0]["reps"] >= 6
    printed = capsys.readouterr().out
    assert "| eager #2 |" in printed
    assert "eager fp32 #2 vs eager fp32:" in printed and "[A/A control]" in printed
    with (out / "results.csv").open() as f:
        assert [r["instance"] for r in csv.DictReader(f)] == ["1", "2"]


def test_a_control_of_a_runtime_not_timed_is_refused():
    with pytest.raises(ConvzooError, match="--control openvino times a second instance"):
        validate(BenchSettings(names=["lenet5"], runtimes=["eager"], control="openvino"))


@pytest.mark.slow
def test_every_runtime_and_int8_side_by_side(tmp_path):
    settings = BenchSettings(
        names=["lenet5"],
        batch_sizes=[2],
        runtimes=["eager", "optimize", "onnxruntime", "openvino"],
        precisions=["fp32", "int8"],
        calibration_batches=2,
        **FAST,
    )
    rows = {
        (r["runtime"], r["precision"]): r for r in run_benchmark(settings, tmp_path, progress=False)
    }
    assert rows["eager", "int8"]["status"].startswith("n/a: --runtime eager does not run int8")
    for key in [("optimize", "fp32"), ("onnxruntime", "int8"), ("openvino", "int8")]:
        assert rows[key]["status"] == "ok", rows[key]["status"]
        assert rows[key]["images_per_s"] > 0
    assert 0 <= rows["openvino", "int8"]["top1_agreement_vs_fp32"] <= 1
    assert "openvino int8" in rows["openvino", "int8"]["chosen"]


@pytest.mark.slow
def test_the_optimize_variant_can_choose_its_runtime_by_measuring(tmp_path):
    # int8 of random weights is not held to int8's tolerance (the bench records the difference
    # instead), so the choice must not reject every candidate on that check either.
    settings = BenchSettings(
        names=["lenet5"],
        batch_sizes=[2],
        runtimes=["optimize"],
        precisions=["int8"],
        calibration_batches=2,
        optimize_runtime="auto",
        **FAST,
    )
    (row,) = run_benchmark(settings, tmp_path, progress=False)
    assert row["status"] == "ok", row["status"]
    assert "int8" in row["chosen"] and "fastest of those measured here" in row["chosen"]


def test_a_single_unsupported_variant_is_refused():
    with pytest.raises(ConvzooError, match="does not run bf16"):
        validate(BenchSettings(names=["lenet5"], runtimes=["onnxruntime"], precisions=["bf16"]))
    with pytest.raises(ConvzooError, match="does not run int8"):
        validate(BenchSettings(names=["lenet5"], precisions=["int8"]))


def test_old_spellings_still_work():
    s = BenchSettings(names=["lenet5"], runtime="torch", precision="bf16")
    validate(s)
    assert (s.runtimes, s.precisions) == (["eager"], ["bf16"])
    s = BenchSettings(names=["lenet5"], optimize=True)
    validate(s)
    assert s.runtimes == ["optimize"] and s.optimize
    s = BenchSettings(names=["lenet5"], runtimes=["eager", "optimize"], precisions=["fp32"])
    validate(s)
    validate(s)  # the CLI validates before making the folder, run_benchmark again
    assert s.runtimes == ["eager", "optimize"] and s.precisions == ["fp32"]


def test_device_defaults_to_auto_like_train():
    s = BenchSettings(names=["lenet5"])
    assert s.device == "auto"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert harness.resolve_device(s.device).type == expected


@pytest.mark.parametrize("size", [0, -3, 4])
def test_image_size_too_small_is_refused(size, capsys, tmp_path):
    # LeNet-5 takes 32x32 at least (ModelCard.min_input_size); 0 used to be silently ignored.
    # Below 1 argparse refuses it (SystemExit 2); 4 is refused by the card's minimum.
    argv = ["bench", "lenet5", "--image-size", str(size), "--out", str(tmp_path / "r")]
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2 and "--image-size" in err and err.count("\n") == 1, err
    assert not (tmp_path / "r").exists()


# ---- results are never replaced -------------------------------------------------------------


@pytest.mark.slow
def test_a_new_folder_per_run_by_default(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["bench", "lenet5", "--batch-sizes", "1", "--budget", "0.02", "--min-reps", "2"]
    assert main([*argv, "--no-progress"]) == 0
    assert main([*argv, "--no-progress"]) == 0
    runs = sorted(p.name for p in (tmp_path / "bench-results").iterdir())
    assert runs == ["bench-1", "bench-2"]
    assert all((tmp_path / "bench-results" / r / "results.json").is_file() for r in runs)
    assert "bench-results/bench-2/results.csv" in capsys.readouterr().out


@pytest.mark.slow
def test_existing_results_are_refused_or_appended_to(tmp_path, capsys):
    settings = dict(names=["lenet5"], batch_sizes=[1], **FAST)
    run_benchmark(BenchSettings(**settings), tmp_path, progress=False)
    before = (tmp_path / "results.json").read_bytes()
    with pytest.raises(ConvzooError, match="already holds bench results"):
        run_benchmark(BenchSettings(**settings), tmp_path, progress=False)
    assert (tmp_path / "results.json").read_bytes() == before  # untouched
    argv = ["bench", "lenet5", "--batch-sizes", "2", "--budget", "0.02", "--no-progress"]
    assert main([*argv, "--out", str(tmp_path)]) == 2
    assert "--append" in capsys.readouterr().err
    assert main([*argv, "--out", str(tmp_path), "--append"]) == 0
    data = json.loads((tmp_path / "results.json").read_text())
    assert [r["batch_size"] for r in data["results"]] == [1, 2]
    assert len(data["earlier_runs"]) == 1
    assert len(list(csv.DictReader((tmp_path / "results.csv").open()))) == 2


@pytest.mark.parametrize("has_kernels", [False, True])
def test_bf16_without_bf16_kernels_is_said_before_the_run(
    tmp_path, monkeypatch, capsys, has_kernels
):
    """On an AVX2-only CPU eager bf16 is emulated (ResNet-18: 2.06 s against 47 ms in fp32):
    the user hears it before waiting, and the results file keeps it."""
    monkeypatch.setattr(harness, "cpu_has_bf16_kernels", lambda: has_kernels)
    argv = ["bench", "lenet5", "--batch-sizes", "2", "--budget", "0.02", "--min-reps", "2"]
    out = tmp_path / "r"
    assert main([*argv, "--precision", "fp32,bf16", "--no-progress", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    notes = json.loads((out / "results.json").read_text())["machine"]["precision_notes"]
    assert ("no bf16 kernels" in err) is (not has_kernels)
    assert bool(notes) is (not has_kernels)
    settings = BenchSettings(names=["lenet5"], precisions=["fp32"])
    validate(settings)
    assert precision_notes(settings) == []  # nothing to say without bf16


# ---- unstable measurements ------------------------------------------------------------------


def test_spread_is_flagged_unstable_with_advice(tmp_path, monkeypatch, capsys):
    def spiky(fns, *args, **kwargs):
        # Nine quiet runs and a p90 far above the median: what a busy machine gives.
        return [[0.010] * 8 + [0.050, 0.060] for _ in fns]

    monkeypatch.setattr(harness, "time_interleaved", spiky)
    argv = ["bench", "lenet5", "--batch-sizes", "1", "--no-progress", "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    data = json.loads((tmp_path / "results.json").read_text())
    (row,) = data["results"]
    times = [10] * 8 + [50, 60]
    expected = np.percentile(times, 90) / np.median(times)
    assert row["p90_over_median"] == pytest.approx(expected, rel=1e-3)
    assert row["unstable"] is True
    assert data["stability"]["stable"] is False and data["stability"]["unstable_points"] == 1
    assert any("p90" in a for a in data["stability"]["advice"])
    assert "warning: unstable measurement" in out and "unstable: p90" in out


def test_a_busy_machine_is_reported():
    quiet = harness.stability([], 0.1, 0.2, 1)
    busy = harness.stability([], 50.0, 50.0, 1)
    assert quiet["busy"] is False and quiet["stable"] is True
    assert busy["busy"] is True and busy["stable"] is False
    assert "load average 50.0" in busy["advice"][0]


# ---- charts read as a person reads them ----------------------------------------------------


@pytest.mark.slow
def test_log_axes_read_plain_numbers(small_results):
    import re

    plot_results(small_results)
    svg = (small_results / "latency_vs_batch.svg").read_text()
    # matplotlib writes each tick label as a comment in the SVG text.
    assert not re.search(r"10\^\{|\\times", svg) and "×" not in svg
    assert re.search(r"<!-- 1,000 -->|<!-- 100 -->", svg)


@pytest.mark.slow
def test_forward_backward_legend_stays_off_the_bars(small_results, monkeypatch):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    made = []
    real_save = charts._save

    def keep(fig, out, stem):
        made.append((stem, fig))
        return real_save(fig, out, stem)

    monkeypatch.setattr(charts, "_save", keep)
    plot_results(small_results)
    fig = dict(made)["forward_backward"]
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    for artist in [*ax.patches, *ax.texts]:
        box = artist.get_window_extent(renderer)
        assert not legend.overlaps(box), artist


@pytest.mark.slow
def test_a_variant_that_cannot_be_built_costs_only_its_own_row(tmp_path, monkeypatch):
    def broken(runtime, *args, **kwargs):
        raise RuntimeError(f"{runtime} exploded")

    monkeypatch.setattr(harness, "build_runtime", broken)
    settings = BenchSettings(
        names=["lenet5"], batch_sizes=[1], runtimes=["eager", "onnxruntime"], **FAST
    )
    rows = run_benchmark(settings, tmp_path, progress=False)
    assert [(r["runtime"], r["status"]) for r in rows] == [
        ("eager", "ok"),
        ("onnxruntime", "error: RuntimeError: onnxruntime exploded"),
    ]
    assert rows[0]["images_per_s"] > 0
