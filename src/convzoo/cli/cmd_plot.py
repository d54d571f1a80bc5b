"""`convzoo plot DIR`: the benchmark charts (PNG and SVG) from a `convzoo bench` results folder."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="draw the benchmark charts from a bench results folder")
    p.add_argument("results", metavar="DIR", help="folder written by `convzoo bench --out DIR`")
    p.add_argument("--out", default=None, help="folder for the charts (default: DIR)")
    p.add_argument(
        "--accuracy",
        nargs="*",
        default=[],
        metavar="FILE",
        help="`convzoo evaluate` results (JSON) to use instead of the published accuracies",
    )
    p.add_argument("--batch-size", type=int, default=16, help="batch of the bar charts")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from convzoo.bench.charts import plot_results

    paths = plot_results(
        args.results, args.out, accuracy_files=args.accuracy, batch_size=args.batch_size
    )
    for path in paths:
        print(path)
    return 0
