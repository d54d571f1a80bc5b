"""`convzoo audit NAME --against lecture|paper`: a network checked against its published table."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "audit",
        help="compare a network with the lecture's or the paper's published table",
        description="Compare the live network with a published structural table, row by row "
        "and in total, and explain every disagreement (typo, counting convention, variant, "
        "inconsistency inside the table). Rounding conventions (K = 1024...) are honoured.",
    )
    p.add_argument("name", nargs="?", help="a registered network, e.g. vgg16")
    p.add_argument(
        "--against",
        default="lecture",
        choices=("lecture", "paper"),
        help="which published table (default: lecture)",
    )
    p.add_argument("--table", help="audit one of the nine tables by its id (see --list)")
    p.add_argument("--list", action="store_true", help="list the published tables")
    p.add_argument("--format", default="text", choices=("text", "md", "json"))
    p.add_argument("-v", "--verbose", action="store_true", help="show agreeing cells too")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from convzoo.inspect.references.audit import TABLE_MODELS, audit, audit_table, sources

    if args.list:
        for table, row in sources().items():
            model, against = TABLE_MODELS[table]
            print(f"{table:24s} {model:13s} --against {against:8s} {row['title']}")
        return 0
    if args.table:
        report = audit_table(args.table, args.name)
    elif args.name:
        report = audit(args.name, args.against)
    else:
        raise ValueError("give a network name (e.g. `convzoo audit vgg16`) or --table / --list")
    if args.format == "json":
        doc = {k: v for k, v in asdict(report).items()}
        print(json.dumps(doc, indent=2, default=str))
    else:
        sys.stdout.write(report.render(args.format, verbose=args.verbose))
    return 0
