"""`convzoo bench`: time the networks on this machine (latency, throughput, memory, GFLOP/s)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="time networks on this CPU or GPU and write CSV/JSON results (and charts)",
        description="Time networks per batch size: median and p10/p90 latency, images/s, "
        "forward/backward ms (train), peak memory, GMACs and achieved GFLOP/s. Results are "
        "written after every point, so Ctrl-C keeps what was measured.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="networks to time (see convzoo list)")
    p.add_argument("--all", action="store_true", help="every network of the zoo")
    p.add_argument("--batch-sizes", default="1,2,4,8,16,32,64", help="comma-separated")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--mode", default="inference", choices=["inference", "train", "both"])
    p.add_argument(
        "--precision",
        default="fp32",
        choices=["fp32", "tf32", "bf16", "fp16"],
        help="fp32 is strict float32 (TF32 off on GPU); tf32 lets NVIDIA GPUs' matrix units "
        "round products to TF32 (default fp32)",
    )
    p.add_argument("--channels-last", action="store_true", help="NHWC memory format")
    p.add_argument(
        "--optimize", action="store_true", help="time convzoo.optimize(): BN folded, compiled"
    )
    p.add_argument(
        "--no-cudnn-benchmark",
        action="store_true",
        help="keep cuDNN's heuristic algorithm choice instead of timing its algorithms",
    )
    p.add_argument("--threads", type=int, default=None, help="torch/onnxruntime CPU threads")
    p.add_argument(
        "--against",
        choices=["torchvision"],
        default=None,
        help="also time the torchvision twin, interleaved, and report the speed ratio",
    )
    p.add_argument("--runtime", default="torch", choices=["torch", "onnxruntime"])
    p.add_argument("--budget", type=float, default=2.0, help="seconds of timing per point")
    p.add_argument("--min-reps", type=int, default=5, help="runs per point at least")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    p.add_argument("--image-size", type=int, default=None, help="square input instead of card's")
    p.add_argument(
        "--out", default="bench-results", help="results folder (default ./bench-results)"
    )
    p.add_argument("--plot", action="store_true", help="draw the charts into the results folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from convzoo.bench.harness import BenchSettings, parse_batch_sizes, run_benchmark
    from convzoo.errors import ConvzooError
    from convzoo.registry import list_models

    if args.all and args.names:
        raise ConvzooError("give network names or --all, not both")
    names = list_models() if args.all else list(args.names)
    settings = BenchSettings(
        names=names,
        batch_sizes=parse_batch_sizes(args.batch_sizes),
        device=args.device,
        mode=args.mode,
        precision=args.precision,
        channels_last=args.channels_last,
        optimize=args.optimize,
        threads=args.threads,
        against=args.against,
        runtime=args.runtime,
        budget_s=args.budget,
        min_reps=args.min_reps,
        warmup=args.warmup,
        image_size=args.image_size,
        cudnn_benchmark=not args.no_cudnn_benchmark,
    )
    out = Path(args.out)
    try:
        rows = run_benchmark(settings, out, progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"interrupted: the points measured so far are in {out}/results.csv", file=sys.stderr)
        raise
    print_table(rows)
    print(f"\nresults: {out / 'results.csv'}, {out / 'results.json'} (with machine and settings)")
    if args.plot:
        from convzoo.bench.charts import plot_results

        for path in plot_results(out):
            print(f"chart: {path}")
    return 0


def print_table(rows: list[dict]) -> None:
    """A markdown table of the rows, one line a point."""
    cols = [
        ("network", "network"),
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
        ("status", "status"),
    ]
    used = [(k, h) for k, h in cols if any(r.get(k) not in (None, "") for r in rows)]
    print("| " + " | ".join(h for _, h in used) + " |")
    print("|" + "|".join("---" for _ in used) + "|")
    for r in rows:
        cells = []
        for k, _ in used:
            v = r.get(k)
            if isinstance(v, float):
                v = f"{v:.1%}" if k == "share_of_matmul_peak" else f"{v:,.4g}"
            cells.append("" if v is None else str(v))
        print("| " + " | ".join(cells) + " |")
