"""`convzoo draw NAME -o FILE.svg|FILE.png`: the architecture figure alone, for slides."""

from __future__ import annotations

import argparse
import sys

from convzoo.errors import ConvzooError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "draw",
        help="the architecture figure as SVG or PNG (LeNet, AlexNet's towers, VGG's blocks...)",
        description="Draw a network as the lecture does: feature maps left to right for "
        "LeNet-5, AlexNet (its two towers) and VGG (its blocks); a block diagram for GoogLeNet "
        "and ResNet. `convzoo draw inception --naive|--reduced` draws the inception module "
        "figure, (a) naive or (b) with dimension reductions.",
    )
    p.add_argument(
        "source",
        metavar="NAME",
        help="a network (as for `convzoo report`), or 'inception' for the module figure",
    )
    p.add_argument("--input", metavar="CxHxW", help="input size (default: the network's)")
    p.add_argument("--look", default="auto", choices=("auto", "layered", "blocks"))
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--naive", action="store_true", help="inception: the naive module (a)")
    kind.add_argument(
        "--reduced", action="store_true", help="inception: with dimension reductions (b)"
    )
    p.add_argument("-o", "--output", required=True, metavar="FILE.svg|FILE.png")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from convzoo.report import draw, draw_inception

    if args.source == "inception":
        path = draw_inception(args.output, naive=args.naive)
    else:
        if args.naive or args.reduced:
            raise ConvzooError("--naive and --reduced go with `convzoo draw inception`")
        path = draw(args.source, args.output, args.input, look=args.look)
    print(f"wrote {path}", file=sys.stderr)
    return 0
