"""`convzoo bench`: time the networks on this machine (latency, throughput, memory, GFLOP/s)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import convzoo.weights  # noqa: F401  (registers the networks and the weights loader)
from convzoo.bench.harness import (
    PRECISIONS,
    RUNTIMES,
    BenchSettings,
    new_results_dir,
    parse_batch_sizes,
    run_benchmark,
)
from convzoo.cli._args import (
    THREADS_HELP,
    add_input_size_argument,
    device_or_auto,
    non_negative_int,
    positive_int,
    threads,
)
from convzoo.errors import ConvzooError
from convzoo.registry import list_models


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="time networks on this CPU or GPU and write CSV/JSON results (and charts)",
        description="Time networks per batch size: median and p10/p90 latency, images/s, "
        "forward/backward ms (train), peak memory, GMACs and achieved GFLOP/s. Several "
        "runtimes and precisions are timed side by side, interleaved, so that their ratios "
        "hold on a shared machine. Results go to a new folder per run (bench-results/bench-N) "
        "and are written after every point, so Ctrl-C keeps what was measured. Example: "
        "convzoo bench resnet18 --batch-sizes 1,16 --threads 2 "
        "--runtime eager,optimize,onnxruntime,openvino --precision fp32,bf16,int8",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="networks to time (see convzoo list)")
    p.add_argument("--all", action="store_true", help="every network of the zoo")
    p.add_argument("--batch-sizes", default="1,2,4,8,16,32,64", help="comma-separated")
    p.add_argument(
        "--device",
        type=device_or_auto,
        default="auto",
        help="auto (the GPU if there is one, as train), cpu or cuda",
    )
    p.add_argument("--mode", default="inference", choices=["inference", "train", "both"])
    p.add_argument(
        "--runtime",
        action="append",
        type=_names,
        default=None,
        metavar="|".join(RUNTIMES),
        help="what runs the network; several (comma-separated or repeated) are timed "
        "interleaved: eager PyTorch, convzoo.optimize, ONNX Runtime, OpenVINO (default eager)",
    )
    p.add_argument(
        "--precision",
        action="append",
        type=_names,
        default=None,
        metavar="|".join(PRECISIONS),
        help="fp32 is strict float32 (TF32 off on GPU); tf32 lets NVIDIA GPUs' matrix units "
        "round products to TF32; int8 is post-training quantization (calibrated on random "
        "inputs here: timing only). Several are timed interleaved (default fp32)",
    )
    p.add_argument("--channels-last", action="store_true", help="NHWC memory format (eager)")
    p.add_argument(
        "--optimize", action="store_true", help="same as --runtime optimize (BN folded, compiled)"
    )
    p.add_argument(
        "--optimize-runtime",
        choices=["inductor", "auto", "onnxruntime", "openvino", "eager"],
        default="inductor",
        help="the runtime the optimize variant asks optimize() for; auto builds every runtime "
        "available, times them and keeps the fastest (default inductor)",
    )
    p.add_argument(
        "--control",
        choices=RUNTIMES,
        default=None,
        metavar="RUNTIME",
        help="an A/A control: time this runtime's variants twice, built separately; the two "
        "differ only by the measurement, so their ratio shows how far apart a tie can land",
    )
    p.add_argument(
        "--no-cudnn-benchmark",
        action="store_true",
        help="keep cuDNN's heuristic algorithm choice instead of timing its algorithms",
    )
    p.add_argument(
        "--threads",
        type=threads,
        default=None,
        help=THREADS_HELP,
    )
    p.add_argument(
        "--against",
        choices=["torchvision"],
        default=None,
        help="also time the torchvision twin, interleaved, and report the speed ratio",
    )
    p.add_argument("--budget", type=float, default=2.0, help="seconds of timing per point")
    p.add_argument("--min-reps", type=positive_int, default=5, help="runs per point at least")
    p.add_argument("--warmup", type=non_negative_int, default=2, help="untimed runs first")
    p.add_argument(
        "--pause",
        type=float,
        default=0.0,
        help="untimed seconds after each call (ONNX Runtime's threads spin on; try 0.05)",
    )
    add_input_size_argument(
        p, type=positive_int, default=None, help="square input instead of the card's"
    )
    p.add_argument(
        "--out",
        default=None,
        help="results folder (default: a new bench-results/bench-N); one that holds results "
        "is refused unless --append",
    )
    p.add_argument("--append", action="store_true", help="add the rows to --out's results")
    p.add_argument("--plot", action="store_true", help="draw the charts into the results folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.all and args.names:
        raise ConvzooError("give network names or --all, not both")
    names = list_models() if args.all else list(args.names)
    settings = BenchSettings(
        names=names,
        batch_sizes=parse_batch_sizes(args.batch_sizes),
        device=args.device,
        mode=args.mode,
        runtimes=[r for group in args.runtime or [] for r in group],
        precisions=[p for group in args.precision or [] for p in group],
        channels_last=args.channels_last,
        optimize=args.optimize,
        optimize_runtime=args.optimize_runtime,
        control=args.control,
        threads=args.threads,
        against=args.against,
        budget_s=args.budget,
        min_reps=args.min_reps,
        warmup=args.warmup,
        pause_s=args.pause,
        image_size=args.input_size,
        cudnn_benchmark=not args.no_cudnn_benchmark,
    )
    if args.append and not args.out:
        raise ConvzooError("--append adds to the results of --out DIR; give --out")
    from convzoo.bench.harness import precision_notes, validate

    validate(settings)  # before a results folder is made
    for note in precision_notes(settings):
        print(f"note: {note}", file=sys.stderr)
    out = Path(args.out) if args.out else new_results_dir()
    try:
        rows = run_benchmark(settings, out, progress=not args.no_progress, append=args.append)
    except KeyboardInterrupt:
        print(f"interrupted: the points measured so far are in {out}/results.csv", file=sys.stderr)
        raise
    print_table(rows)
    print_comparisons(rows)
    from convzoo.bench.charts import load_results

    notes = load_results(out).get("stability", {})
    for line in notes.get("advice", []):
        print(f"warning: unstable measurement: {line}")
    print(f"\nresults: {out / 'results.csv'}, {out / 'results.json'} (with machine and settings)")
    if args.plot:
        from convzoo.bench.charts import plot_results  # matplotlib: ~0.5 s, charts only

        for path in plot_results(out):
            print(f"chart: {path}")
    return 0


def print_table(rows: list[dict]) -> None:
    """A markdown table of the rows, one line a point."""
    cols = [
        ("network", "network"),
        ("runtime", "runtime"),
        ("precision", "precision"),
        ("mode", "mode"),
        ("batch_size", "batch"),
        ("latency_ms_median", "ms (median)"),
        ("latency_ms_p10", "p10"),
        ("latency_ms_p90", "p90"),
        ("images_per_s", "img/s"),
        ("forward_ms", "fwd ms"),
        ("backward_ms", "bwd ms"),
        ("peak_memory_mb", "peak MB"),
        ("gmacs_per_image", "GMACs"),
        ("achieved_gflops", "GFLOP/s"),
        ("share_of_matmul_peak", "of peak"),
        ("speed_vs_torchvision", "vs tv"),
        ("top1_agreement_vs_fp32", "top-1 = fp32"),
        ("status", "status"),
    ]
    several = {k: len({r.get(k) for r in rows}) > 1 for k in ("runtime", "precision")}
    several["runtime"] |= any(r.get("instance", 1) > 1 for r in rows)  # an A/A control
    used = [
        (k, h)
        for k, h in cols
        if any(r.get(k) not in (None, "") for r in rows) and several.get(k, True)
    ]
    print("| " + " | ".join(h for _, h in used) + " |")
    print("|" + "|".join("---" for _ in used) + "|")
    for r in rows:
        cells = []
        for k, _ in used:
            v = r.get(k)
            if isinstance(v, float):
                pct = k in ("share_of_matmul_peak", "top1_agreement_vs_fp32")
                v = f"{v:.1%}" if pct else f"{v:,.4g}"
            if k == "runtime" and r.get("instance", 1) > 1:
                v = f"{v} #{r['instance']}"
            if k == "status" and r.get("unstable"):
                v = f"{v} (unstable: p90 {r.get('p90_over_median')}x median)"
            cells.append("" if v is None else str(v))
        print("| " + " | ".join(cells) + " |")


def print_comparisons(rows: list[dict]) -> None:
    """The paired speed ratios of the point's variants (optimize against the peers, A/A)."""
    from convzoo.bench.harness import PAIRED_CONFIDENCE, paired_comparisons

    found = paired_comparisons(rows)
    if not found:
        return
    print(
        f"\nSpeed ratios, paired round by round (median, {PAIRED_CONFIDENCE:.0%} interval; "
        "> 1: the first is faster):"
    )
    for c in found:
        print(
            f"  {c['network']} {c['mode']} batch {c['batch_size']}: {c['ours']} vs "
            f"{c['theirs']}: {c['ratio']:.2f}x ({c['low']:.2f}-{c['high']:.2f}, "
            f"{c['rounds']} rounds){' [A/A control]' if c['kind'] == 'A/A' else ''}"
        )
