"""`convzoo audit NAME --against lecture|paper`: a network checked against its published tables."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from convzoo.errors import ConvzooError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "audit",
        help="compare a network with the lecture's or the paper's published tables",
        description="Compare the live network with its published structural tables, cell by "
        "cell and in total, and explain every disagreement (typo, counting convention, "
        "variant, inconsistency inside the table) only when a computation reproduces the "
        "printed value. Each table's rounding rule (K = 1024...) is applied exactly.",
    )
    p.add_argument("name", nargs="?", help="a registered network, e.g. vgg16")
    p.add_argument(
        "--against",
        default="lecture",
        choices=("lecture", "paper"),
        help="which published tables (default: lecture)",
    )
    p.add_argument("--table", help="run one of the audits by its id (see --list)")
    p.add_argument("--list", action="store_true", help="list the audits and their tables")
    p.add_argument("--all", action="store_true", help="run every audit (docs/audit.md's reports)")
    p.add_argument("--format", default="text", choices=("text", "md", "json"))
    p.add_argument("-v", "--verbose", action="store_true", help="show agreeing cells too")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # The audit traces networks, so it imports torch (over a second); imported here so that
    # `convzoo --help` and the other commands do not pay for it.
    from convzoo.inspect.audit import (
        TABLE_MODELS,
        TITLES,
        audit,
        audit_all,
        audit_table,
        sources,
    )

    if args.list:
        tables = sources()
        for audit_id, (model, against) in TABLE_MODELS.items():
            title = TITLES.get(audit_id) or tables[audit_id]["title"]
            print(f"{audit_id:24s} {model:13s} --against {against:8s} {title}")
        return 0
    if args.all:
        reports = audit_all()
    elif args.table:
        reports = [audit_table(args.table, args.name)]
    elif args.name:
        reports = [audit(args.name, args.against)]
    else:
        raise ConvzooError(
            "give a network name (e.g. `convzoo audit vgg16`), or --table ID, --all or --list"
        )
    if args.format == "json":
        doc = [{k: v for k, v in asdict(r).items() if k != "current_table"} for r in reports]
        print(json.dumps(doc if args.all else doc[0], indent=2, default=str))
    else:
        sys.stdout.write("\n".join(r.render(args.format, verbose=args.verbose) for r in reports))
    return 0
