"""`convzoo plot DIR`: the benchmark charts (PNG and SVG) from a `convzoo bench` results folder,
with the accuracy chart drawn from `convzoo evaluate` results when ``--accuracy`` gives them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from convzoo.bench.charts import load_results, plot_results, read_accuracy_files
from convzoo.cli._args import positive_int
from convzoo.errors import ConvzooError

EPILOG = """\
charts written into --out (default DIR), each as PNG and SVG:
  accuracy_vs_gmacs   top-1 against multiply-adds, bubble area = parameters: ImageNet top-1 of
                      the torchvision twins' published weights, or, with --accuracy, the
                      top-1 of your `convzoo evaluate` files (on their data set and split)
  latency_vs_batch    inference time per batch against batch size (log-log)
  throughput          images/s per network at --batch-size
  forward_backward    forward and backward ms per minibatch (training mode)

examples:
  convzoo bench lenet5 alexnet --out bench && convzoo plot bench
  convzoo plot bench --accuracy runs/lenet5-digits-1/eval-digits.json
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot",
        help="draw the benchmark charts from a bench results folder",
        description="Draw the benchmark charts of the lecture's slides from a results folder.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("results", metavar="DIR", help="folder written by `convzoo bench --out DIR`")
    p.add_argument("--out", default=None, help="folder for the charts (default: DIR)")
    p.add_argument(
        "--accuracy",
        nargs="*",
        default=[],
        metavar="FILE",
        help="`convzoo evaluate` results (eval-*.json) to draw instead of the published "
        "ImageNet accuracies",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=16,
        help="batch of the bar charts (default 16)",
    )
    p.set_defaults(func=run)


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"accuracy file {str(path)!r} does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ConvzooError(f"{path}: not valid JSON ({err})") from None


def accuracy_label(files: list[str], networks: set[str]) -> str:
    """The y-axis label of the accuracy chart for ``convzoo evaluate`` files.

    Refuses what would draw a wrong or empty chart: a file that names no network, files from
    different data sets or splits (one axis, one data set), or no file naming a network of the
    bench results (the chart would silently be left out)."""
    seen: set[tuple[str, str]] = set()
    for f in files:
        data = _read_json(Path(f))
        if not read_accuracy_files([f]):
            raise ConvzooError(
                f"{f} names no network with a top-1 accuracy (a file from an older "
                "`convzoo evaluate`? evaluate the run again)"
            )
        if isinstance(data, dict) and "data" in data:
            seen.add((str(data["data"]), str(data.get("split", "val"))))
    if len(seen) > 1:
        listed = ", ".join(f"{d} ({s})" for d, s in sorted(seen))
        raise ConvzooError(
            f"the accuracy files come from different data sets or splits ({listed}); one "
            "chart compares networks on one of them: plot them separately"
        )
    named = set(read_accuracy_files(list(files)))
    if not named & networks:
        raise ConvzooError(
            f"the accuracy files name {', '.join(sorted(named))}, the bench results hold "
            f"{', '.join(sorted(networks)) or 'no network'}: run `convzoo bench "
            f"{' '.join(sorted(named))} --out DIR` first"
        )
    if not seen:
        return "top-1 accuracy (%)"
    (name, split), *_ = seen
    return f"top-1 accuracy on {name}, {split} split (%)"


def run(args: argparse.Namespace) -> int:
    label = None
    if args.accuracy:
        rows = load_results(args.results)["results"]
        networks = {r["network"] for r in rows if r.get("gmacs_per_image") and r.get("params")}
        label = accuracy_label(args.accuracy, networks)
    paths = plot_results(
        args.results,
        args.out,
        accuracy_files=args.accuracy,
        batch_size=args.batch_size,
        accuracy_label=label,
    )
    for path in paths:
        print(path)
    return 0
