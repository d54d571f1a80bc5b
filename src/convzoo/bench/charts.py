"""The benchmark charts of the lecture's "ConvNets Benchmarks" slides, from a results folder.

1. Top-1 accuracy against GMACs, bubble area proportional to parameters (Canziani, Paszke &
   Culurciello 2016, "An Analysis of Deep Neural Network Models for Practical Applications",
   fig. 2).
2. Inference time against batch size, log-log, one line per network (Canziani et al., fig. 5).
3. Throughput (images/s) per network.
4. Forward and backward time per minibatch, stacked bars (jcjohnson's cnn-benchmarks: ms per
   minibatch of 16 at 224x224).

Every chart is written as PNG and SVG with matplotlib's object API (``Figure``, no pyplot and
no global backend switch), tick labels of log axes as plain numbers.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import convzoo.weights  # noqa: F401  (registers the networks and the weights loader)
from convzoo.errors import ConvzooError
from convzoo.io import atomic_write
from convzoo.registry import model_card


def load_results(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON written by ``convzoo bench`` (a results folder or its ``results.json``)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no results.json; run `convzoo bench ... --out DIR` first")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConvzooError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict) or "results" not in data:
        raise ConvzooError(f"{path}: not a convzoo bench results file (no 'results' list)")
    return data


def published_accuracy(name: str) -> float | None:
    """ImageNet top-1 (%) of the torchvision twin's original weights, if the network has one."""
    try:
        twin = model_card(name).torchvision_twin
    except ValueError:
        return None
    if not twin:
        return None
    try:
        import torchvision

        # The first entry (IMAGENET1K_V1) is the original training recipe, the paper-era
        # number the lecture's chart shows; DEFAULT can be a newer recipe (ResNet-50 V2: 80.9%
        # instead of 76.1%) that says more about training tricks than about the network.
        meta = next(iter(torchvision.models.get_model_weights(twin))).meta
        return float(meta["_metrics"]["ImageNet-1K"]["acc@1"])
    except (KeyError, ValueError, AttributeError):
        return None


def read_accuracy_files(paths: list[str | os.PathLike[str]]) -> dict[str, float]:
    """Top-1 (%) per network from ``convzoo evaluate`` results (JSON).

    Accepted shapes: one object or a list of objects with a network name (``model``,
    ``network`` or ``name``) and a top-1 (``top1``, ``acc1``, ``acc@1``, ``top1_accuracy`` or
    ``accuracy``; a fraction in [0, 1] is read as such and turned into %).
    """
    found: dict[str, float] = {}
    for p in paths:
        p = Path(p)
        if not p.is_file():
            raise FileNotFoundError(f"accuracy file {str(p)!r} does not exist")
        data = json.loads(p.read_text())
        records = data if isinstance(data, list) else data.get("results", [data])
        for rec in records if isinstance(records, list) else [records]:
            if not isinstance(rec, dict):
                continue
            metrics = rec.get("metrics", rec)
            name = rec.get("model") or rec.get("network") or rec.get("name")
            acc = next(
                (
                    metrics[k]
                    for k in ("top1", "acc1", "acc@1", "top1_accuracy", "accuracy")
                    if k in metrics
                ),
                None,
            )
            if name and isinstance(acc, (int, float)):
                found[name] = float(acc) * (100 if acc <= 1 else 1)
    return found


def cnn_benchmarks_reference(gpu: str = "Pascal Titan X") -> dict[str, dict[str, Any]]:
    """jcjohnson/cnn-benchmarks' published forward/backward ms (minibatch 16, 224x224, fp32,
    cuDNN 5.1), keyed by the convzoo network of the same design; ``gpu`` is "Pascal Titan X"
    or "GTX 1080 Ti"."""
    import csv
    from importlib import resources

    text = resources.files("convzoo.bench").joinpath("references/cnn_benchmarks.csv").read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    out = {}
    for row in csv.DictReader(lines):
        if row["gpu"] == gpu:
            for key in ("forward_ms", "backward_ms", "total_ms"):
                row[key] = float(row[key])
            out[row["convzoo"]] = row
    if not out:
        raise ConvzooError(f"cnn-benchmarks has no published numbers for {gpu!r}")
    return out


def _ms(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _ok(rows: list[dict[str, Any]], mode: str) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("status") == "ok" and r.get("mode") == mode]


def _subtitle(data: dict[str, Any]) -> str:
    m = data.get("machine", {})
    s = data.get("settings", {})
    if m.get("gpu"):
        dev = m["gpu"].get("name", "GPU")  # the CPU threads say nothing about a GPU's speed
    else:
        dev = f"{m.get('cpu', '?')}, {s.get('threads') or m.get('torch_threads')} threads"
    extra = ", channels-last" if s.get("channels_last") else ""
    runtimes = s.get("runtimes") or [s.get("runtime") or "eager"]
    precisions = s.get("precisions") or [s.get("precision") or "fp32"]
    if s.get("optimize") and "optimize" not in runtimes:
        extra += ", optimized"
    return (
        f"{dev}, {'/'.join(precisions)}{extra}, {'/'.join(runtimes)} "
        f"(torch {m.get('versions', {}).get('torch', '?')})"
    )


def _pick_batch(rows: list[dict[str, Any]], wanted: int) -> int | None:
    sizes = sorted({r["batch_size"] for r in rows})
    if not sizes:
        return None
    return wanted if wanted in sizes else min(sizes, key=lambda b: (abs(math.log(b / wanted)), b))


def _save(fig: Any, out: Path, stem: str) -> list[Path]:
    paths = []
    for ext in ("png", "svg"):
        path = out / f"{stem}.{ext}"
        with atomic_write(path, "wb") as f:
            fig.savefig(f, dpi=150, bbox_inches="tight", format=ext)
        paths.append(path)
    return paths


def _plain(value: float) -> str:
    """A tick label as a person writes it: 740, 1,000, 0.2; not 7.4x10^2."""
    if value >= 10:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _plain_log_axis(axis: Any) -> None:
    """Plain numbers on a log axis: every decade, and 2 and 5 between them when the axis
    spans fewer than three decades (more would crowd)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _pos: _plain(v)))
    low, high = sorted(axis.get_view_interval())
    if low > 0 and math.log10(high / low) < 3:

        def minor(v: float, _pos: int) -> str:
            mantissa = round(v / 10 ** math.floor(math.log10(v)), 3)
            return _plain(v) if mantissa in (2.0, 5.0) else ""

        axis.set_minor_formatter(FuncFormatter(minor))
    else:
        axis.set_minor_formatter(NullFormatter())


def _figure(width: float, height: float) -> tuple[Any, Any]:
    # The object API: no pyplot, no global backend switch (savefig picks Agg for PNG).
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.subplots()


def _accuracy_chart(
    rows: list[dict[str, Any]],
    accuracy: dict[str, float],
    out: Path,
    accuracy_label: str | None = None,
) -> list[Path]:
    """(1) accuracy vs GMACs, bubble area = parameters. With ``accuracy_label`` (the data set
    of the given accuracies) only those networks are drawn: the published ImageNet numbers
    are of another data set."""
    import matplotlib

    nets: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r.get("gmacs_per_image") and r.get("params"):
            nets.setdefault(r["network"], r)
    points = []
    for name, r in nets.items():
        acc = accuracy.get(name) if accuracy_label else accuracy.get(name, published_accuracy(name))
        if acc is not None:
            points.append((name, r["gmacs_per_image"], acc, r["params"]))
    if not points:
        return []
    fig, ax = _figure(8, 5.5)
    max_p = max(p[3] for p in points)
    cmap = matplotlib.colormaps["tab20"]
    points.sort(key=lambda p: p[1])
    for i, (name, g, acc, params) in enumerate(points):
        area = 2500 * params / max_p  # marker area in points^2, proportional to parameters
        ax.scatter(g, acc, s=area, alpha=0.5, color=cmap(i % 20), edgecolors="black")
        # Neighbours along x alternate above and below, so close labels do not overlap.
        dy = 8 if i % 2 == 0 else -14
        ax.annotate(name, (g, acc), xytext=(6, dy), textcoords="offset points", fontsize=8)
    ax.set_xlabel("multiply-adds per image (GMACs)")
    ax.set_ylabel(accuracy_label or "ImageNet top-1 accuracy (%)")
    ax.set_title(
        "Top-1 accuracy vs operations (bubble area = parameters)\n"
        f"largest bubble: {max_p / 1e6:.0f} M parameters",
        fontsize=10,
    )
    ax.set_xscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.margins(0.15)
    _plain_log_axis(ax.xaxis)
    return _save(fig, out, "accuracy_vs_gmacs")


def _series_label(r: dict[str, Any], several: bool) -> str:
    if not several:
        return str(r["network"])
    return f"{r['network']} ({r.get('runtime', 'eager')} {r.get('precision', 'fp32')})"


def _latency_chart(inference: list[dict[str, Any]], subtitle: str, out: Path) -> list[Path]:
    """(2) latency vs batch size, log-log, one line per network (and variant)."""
    import matplotlib

    several = len({(r.get("runtime"), r.get("precision")) for r in inference}) > 1
    by_net: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for r in inference:
        by_net[_series_label(r, several)].append((r["batch_size"], r["latency_ms_median"]))
    if not by_net:
        return []
    fig, ax = _figure(9, 5.5)
    # 20 colours and 5 markers: up to 100 networks stay distinguishable.
    cmap, markers = matplotlib.colormaps["tab20"], "osD^v"
    for i, (name, pts) in enumerate(by_net.items()):
        pts.sort()
        ax.plot(
            [p[0] for p in pts],
            [p[1] for p in pts],
            marker=markers[(i // 20 + i) % len(markers)],
            markersize=4,
            color=cmap(i % 20),
            label=name,
        )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size (images)")
    ax.set_ylabel("inference time per batch (ms, median)")
    ax.set_title(f"Inference time vs batch size\n{subtitle}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    _plain_log_axis(ax.xaxis)
    _plain_log_axis(ax.yaxis)
    # Outside the axes: inside, a legend of 20+ networks hides the lines it names.
    ax.legend(
        fontsize=8,
        ncol=2 if len(by_net) > 12 else 1,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0,
    )
    return _save(fig, out, "latency_vs_batch")


def _throughput_chart(
    inference: list[dict[str, Any]], batch_size: int, subtitle: str, out: Path
) -> list[Path]:
    """(3) throughput per network (and variant) at one batch size."""
    bs = _pick_batch(inference, batch_size)
    if bs is None:
        return []
    several = len({(r.get("runtime"), r.get("precision")) for r in inference}) > 1
    sel = sorted((r for r in inference if r["batch_size"] == bs), key=lambda r: r["images_per_s"])
    fig, ax = _figure(8, 0.9 + 0.35 * len(sel))
    names = [_series_label(r, several) for r in sel]
    values = [r["images_per_s"] for r in sel]
    bars = ax.barh(names, values, color="tab:blue")
    ax.bar_label(bars, labels=[f"{v:,.1f}" for v in values], padding=3, fontsize=8)
    ax.set_xlabel("throughput (images/s, median)")
    ax.set_title(f"Inference throughput at batch {bs}\n{subtitle}", fontsize=10)
    ax.margins(x=0.15)
    ax.grid(True, axis="x", alpha=0.3)
    return _save(fig, out, "throughput")


def _forward_backward_chart(
    train: list[dict[str, Any]], batch_size: int, on_gpu: bool, subtitle: str, out: Path
) -> list[Path]:
    """(4) forward / backward bars, as cnn-benchmarks."""
    bs = _pick_batch(train, batch_size)
    if bs is None:
        return []
    sel = sorted(
        (r for r in train if r["batch_size"] == bs),
        key=lambda r: r["forward_ms"] + r["backward_ms"],
    )
    fig, ax = _figure(8, 0.9 + 0.35 * len(sel))
    names = [r["network"] for r in sel]
    fwd = [r["forward_ms"] for r in sel]
    bwd = [r["backward_ms"] for r in sel]
    ax.barh(names, fwd, color="tab:green", label="forward")
    bars = ax.barh(names, bwd, left=fwd, color="tab:orange", label="backward")
    ax.bar_label(
        bars,
        labels=[f"{_ms(f + b)} ms" for f, b in zip(fwd, bwd, strict=True)],
        padding=3,
        fontsize=8,
    )
    if on_gpu and bs == 16:
        # cnn-benchmarks' own numbers for the same designs, minibatch 16 on a 2016 GPU.
        ref = cnn_benchmarks_reference()
        marks = [(i, ref[n]["total_ms"]) for i, n in enumerate(names) if n in ref]
        if marks:
            ax.scatter(
                [m[1] for m in marks],
                [m[0] for m in marks],
                marker="D",
                color="black",
                zorder=3,
                label="cnn-benchmarks total, Pascal Titan X (2016)",
            )
            ax.set_xscale("log")
    ax.set_xlabel(f"time per minibatch of {bs} (ms, median)")
    ax.set_title(f"Forward and backward time (training mode)\n{subtitle}", fontsize=10)
    ax.margins(x=0.15)
    ax.grid(True, axis="x", alpha=0.3)
    if ax.get_xscale() == "log":
        _plain_log_axis(ax.xaxis)
    # Above the axes, outside them: inside, the legend covered the longest bar and its value.
    ax.legend(
        loc="lower left",
        bbox_to_anchor=(0.0, 1.12),
        ncol=3,
        fontsize=8,
        frameon=False,
        borderaxespad=0,
    )
    return _save(fig, out, "forward_backward")


def plot_results(
    results: str | os.PathLike[str] | dict[str, Any],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    accuracy_files: list[str | os.PathLike[str]] | None = None,
    batch_size: int = 16,
    accuracy_label: str | None = None,
) -> list[Path]:
    """Draw the four charts from a results folder; returns the written files (PNG and SVG).

    Charts without data (no training rows for the forward/backward chart, no network with a
    known accuracy for the bubble chart) are skipped. ``accuracy_label`` names the data set of
    ``accuracy_files`` on the y axis; then only their networks are drawn (the published
    ImageNet numbers are of another data set).
    """
    if isinstance(results, dict):
        data, default_out = results, Path(".")
    else:
        data = load_results(results)
        default_out = Path(results) if Path(results).is_dir() else Path(results).parent
    out = Path(out_dir) if out_dir is not None else default_out
    out.mkdir(parents=True, exist_ok=True)
    rows = data["results"]
    if not any(r.get("status") == "ok" for r in rows):
        raise ConvzooError("the results hold no successful measurement to plot")
    subtitle = _subtitle(data)
    inference = _ok(rows, "inference")
    on_gpu = bool(data.get("machine", {}).get("gpu"))
    accuracy = read_accuracy_files(accuracy_files or [])
    written = _accuracy_chart(rows, accuracy, out, accuracy_label)
    written += _latency_chart(inference, subtitle, out)
    written += _throughput_chart(inference, batch_size, subtitle, out)
    written += _forward_backward_chart(_ok(rows, "train"), batch_size, on_gpu, subtitle, out)
    return written
