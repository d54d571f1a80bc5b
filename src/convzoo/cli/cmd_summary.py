"""`convzoo summary NAME`: the structural-details table of a network, layer by layer."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from convzoo.cli._args import non_negative_int, positive_int
from convzoo.io import write_text


def register(sub: argparse._SubParsersAction) -> None:
    from convzoo.inspect.table import COLUMNS, CONVENTIONS, FORMATS

    p = sub.add_parser(
        "summary",
        help="the structural-details table of a network (shapes, params, MACs per layer)",
        description="Trace a network on the meta device and print its structural-details "
        "table: input and output HxWxC, kernel, stride, pad, channels, parameters, "
        "multiply-adds (MACs; FLOPs = 2 x MACs), receptive field.",
    )
    p.add_argument("name", help="a registered network (see `convzoo list`)")
    p.add_argument(
        "--input",
        metavar="CxHxW",
        help="input size, default the model card's; one number (224) is a square image with "
        "the network's channels",
    )
    p.add_argument(
        "--batch-size", type=positive_int, default=1, help="batch size (activation memory)"
    )
    p.add_argument("--format", default="text", choices=FORMATS, help="output format")
    p.add_argument(
        "--depth", type=non_negative_int, help="merge layers deeper than N into their block"
    )
    p.add_argument(
        "--columns",
        help=f"comma-separated columns, from: {','.join(COLUMNS)}",
    )
    p.add_argument(
        "--convention",
        default="real",
        choices=CONVENTIONS,
        help="'lecture': conv layers with biases, no batch norm, no projection shortcuts",
    )
    p.add_argument(
        "--num-classes", type=positive_int, help="classes of the classifier (default: card's)"
    )
    p.add_argument(
        "--width",
        type=positive_int,
        help="width for --format text (default: the terminal's; 100 in a pipe or a file)",
    )
    p.add_argument(
        "--lecture-names",
        action="store_true",
        help="show the lecture's layer names (C1, conv3-64, 3a #3x3 reduce, conv2-1) beside "
        "the module paths",
    )
    p.add_argument("-o", "--output", help="write to this file instead of printing")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from convzoo.inspect import summarize
    from convzoo.inspect.table import check_columns

    columns = check_columns([args.columns]) if args.columns else None
    kwargs = {} if args.num_classes is None else {"num_classes": args.num_classes}
    table = summarize(
        args.name,
        input_size=args.input,
        batch_size=args.batch_size,
        convention=args.convention,
        depth=args.depth,
        **kwargs,
    )
    # the table follows the terminal's width, narrower or wider; a pipe or a file gets 100
    tty = not args.output and sys.stdout.isatty()
    width = args.width or (shutil.get_terminal_size().columns if tty else 100)
    text = table.render(
        args.format, columns=columns, width=max(40, width), lecture_names=args.lecture_names
    )
    if args.output:
        path = Path(args.output)
        if not path.parent.is_dir():
            raise FileNotFoundError(f"no directory {path.parent} to write {path.name} into")
        write_text(path, text)  # atomic: a half-written table never replaces a good one
        print(f"wrote {path} ({args.format})", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
