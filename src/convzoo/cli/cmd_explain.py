"""`convzoo explain MODEL|RUN IMAGE|FOLDER --method M --out DIR`: where the network looks."""

from __future__ import annotations

import argparse

from convzoo.cli._args import non_negative_int
from convzoo.explain.methods import METHODS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "explain",
        help="heatmaps of where a network looks (Grad-CAM, Grad-CAM++, saliency, IG)",
        description="For every image write DIR/<stem>-<method>.png (the heatmap over the "
        "image) and DIR/<stem>-<method>.npy (the heatmap as float32 in [0, 1] at the image's "
        "own height and width); with several images also DIR/grid-<method>.png.",
    )
    p.add_argument("source", metavar="MODEL|RUN", help="a network with weights, or a run")
    p.add_argument("images", nargs="+", metavar="IMAGE|FOLDER")
    p.add_argument("--method", default="gradcam", choices=METHODS)
    p.add_argument(
        "--layer",
        help="conv layer of the CAM methods (default: the last conv whose output is larger "
        "than 1x1)",
    )
    p.add_argument(
        "--class", dest="target", type=non_negative_int, help="class index (default: predicted)"
    )
    p.add_argument("--weights", help="weight entry or file for a network name (default: first)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from convzoo.explain import explain

    results = explain(
        args.source,
        args.images,
        args.out,
        method=args.method,
        layer=args.layer,
        target=args.target,
        weights=args.weights,
    )
    for r in results:
        where = f" at {r.layer}" if r.layer else ""
        print(f"{r.image}: class {r.target} ({100 * r.probability:.1f}%){where} -> {r.png}")
    return 0
