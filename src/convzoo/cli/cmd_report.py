"""`convzoo report NAME|RUN|FILE -o FILE.html`: one self-contained HTML page about a network."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="a self-contained HTML report: diagram, table, per-layer charts, audit, run",
        description="Write one HTML file (nothing loaded from the network when opened): the "
        "architecture diagram drawn from the trace, the structural table, per-layer charts "
        "(parameters, MACs, activation memory, receptive field), the audit's findings where a "
        "published table exists, and for a training run its curves, confusion matrix and top "
        "losses; for a bench results folder, its charts.",
    )
    p.add_argument(
        "source",
        metavar="NAME|RUN|FILE",
        help="a network of the zoo, torchvision:NAME, package.module:attr, a run or checkpoint "
        "folder, or a bench results folder",
    )
    p.add_argument("--input", metavar="CxHxW", help="input size (default: the network's)")
    p.add_argument("--no-audit", action="store_true", help="leave the audit section out")
    p.add_argument("-o", "--output", required=True, metavar="FILE.html", help="where to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from convzoo.report import write_report

    path = write_report(args.source, args.output, args.input, audit=not args.no_audit)
    print(f"wrote {path}", file=sys.stderr)
    return 0
