"""`convzoo filters NAME|RUN [--layer L] [--feature-maps IMAGE] -o FILE.png`."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "filters",
        help="a conv layer's filters as a grid, or its feature maps for an image",
        description="Draw the kernels of a conv layer (default: the first, as AlexNet's "
        "conv1 figure) as a grid of small images; with --feature-maps IMAGE, the layer's "
        "activations for that image instead.",
    )
    p.add_argument("source", metavar="NAME|RUN", help="a network with weights, or a run")
    p.add_argument("--layer", help="the conv layer (default: the network's first conv)")
    p.add_argument("--feature-maps", metavar="IMAGE", help="show activations for this image")
    p.add_argument("--weights", help="weight entry or file for a network name (default: first)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.png")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from convzoo.explain import feature_maps, filter_grid
    from convzoo.io import write_bytes
    from convzoo.predict import load_predictor

    pred = load_predictor(args.source, weights=args.weights, progress=False)
    if args.feature_maps:
        png, layer = feature_maps(pred, args.feature_maps, args.layer)
    else:
        png, layer = filter_grid(pred.model, args.layer)
    write_bytes(args.output, png)
    print(f"wrote {args.output} ({layer})", file=sys.stderr)
    return 0
