"""The `convzoo` command. Each sub-command lives in its own module with ``register(subparsers)``.

A user's mistake (a ``ConvzooError``, ``ValueError`` or missing file) is printed in one line and
exits with status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Sub-command modules, in the order `convzoo --help` lists them.
COMMANDS = (
    "list",
    "summary",
    "audit",
    "train",
    "evaluate",
    "lr_find",  # the module cmd_lr_find registers the command `lr-find`
    "show_batch",  # cmd_show_batch: `show-batch`
    "finetune",
    "predict",
    "weights",
    "bench",
    "plot",
    "export",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convzoo",
        description="The classic ConvNets: list, summarise, audit, train, fine-tune, benchmark.",
    )
    from convzoo import __version__

    parser.add_argument("--version", action="version", version=f"convzoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"convzoo.cli.cmd_{name}")
        except ModuleNotFoundError as err:
            if err.name == f"convzoo.cli.cmd_{name}":
                continue  # not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except (ValueError, FileNotFoundError, NotADirectoryError, FileExistsError) as err:
        print(f"convzoo {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"convzoo {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
