"""`convzoo predict CHECKPOINT_or_NAME IMAGE_or_FOLDER... [--topk 5] [--json]`."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict", help="classify images with pretrained weights or a checkpoint of yours"
    )
    p.add_argument("source", help="a model name (with --weights) or a checkpoint file")
    p.add_argument("images", nargs="+", help="image files or folders (searched recursively)")
    p.add_argument(
        "--weights", help="weight entry, file or URL for a model name (default imagenet)"
    )
    p.add_argument("--model", help="the network, for a checkpoint that does not name it")
    p.add_argument("--topk", type=int, default=5, help="classes shown per image (default 5)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--fast", action="store_true", help="the fastest runtime measured here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from convzoo.predict import load_predictor, predict

    predictor = load_predictor(
        args.source, weights=args.weights, model_name=args.model, device=args.device
    )
    if args.fast:
        import torch  # for the example input only

        from convzoo.optimize import fast_copy

        size = (1, predictor.in_chans, predictor.crop_size, predictor.crop_size)
        predictor.model = fast_copy(predictor.model, torch.randn(size))
        print(f"fast: {predictor.model.report.summary()}", file=sys.stderr)
    results = predict(predictor, args.images, topk=args.topk)
    if args.json:
        print(
            json.dumps(
                {"model": predictor.name, "source": predictor.source, "results": results}, indent=2
            )
        )
        return 0
    for r in results:
        for note in r["notes"]:
            print(f"note: {note}", file=sys.stderr)
        print(r["image"])
        for t in r["top"]:
            print(f"  {t['prob']:7.2%}  {t['class']}")
    return 0
