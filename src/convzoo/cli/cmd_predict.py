"""`convzoo predict CHECKPOINT_or_NAME IMAGE_or_FOLDER... [--topk 5] [--json]`."""

from __future__ import annotations

import argparse
import json
import sys

from convzoo.cli._args import THREADS_HELP, device, positive_int, threads
from convzoo.predict import iter_predictions, load_predictor
from convzoo.threads import set_threads_for


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="classify images with pretrained weights or a checkpoint of yours",
        description="Classify images, one batch at a time. A file that cannot be read is "
        "reported on stderr and the others are still predicted; the exit status is then 2. "
        "Example: convzoo predict lenet5 digit.png; convzoo predict runs/resnet18-ants/ photos/",
    )
    p.add_argument("source", help="a model name (with --weights), a checkpoint or a run folder")
    p.add_argument("images", nargs="+", help="image files or folders (searched recursively)")
    p.add_argument(
        "--weights", help="weight entry, file or URL for a model name (default: its first entry)"
    )
    p.add_argument("--model", help="the network, for a checkpoint that does not name it")
    p.add_argument(
        "--topk", type=positive_int, default=5, help="classes shown per image (default 5)"
    )
    p.add_argument(
        "--batch-size", type=positive_int, default=16, help="images per batch (default 16)"
    )
    p.add_argument("--device", type=device, default="cpu", help="cpu (default), cuda, cuda:1, ...")
    p.add_argument(
        "--threads",
        type=threads,
        help=THREADS_HELP,
    )
    p.add_argument(
        "--no-invert",
        action="store_true",
        help="never invert a dark-on-light image for a network trained on dark backgrounds",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--fast", action="store_true", help="the fastest runtime measured here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    predictor = load_predictor(
        args.source, weights=args.weights, model_name=args.model, device=args.device
    )
    model_device = next(predictor.model.parameters()).device
    threads_note = set_threads_for(args.threads, device=model_device)
    if threads_note:
        print(f"note: {threads_note}", file=sys.stderr)
    if args.fast:
        import torch  # for the example input only

        from convzoo.optimize import fast_copy

        size = (1, predictor.in_chans, predictor.crop_size, predictor.crop_size)
        predictor.model = fast_copy(predictor.model, torch.randn(size))
        print(f"fast: {predictor.model.report.summary()}", file=sys.stderr)
    results = iter_predictions(
        predictor,
        args.images,
        topk=args.topk,
        batch_size=args.batch_size,
        errors="report",
        invert=not args.no_invert,
    )
    for note in predictor.notes:
        print(f"note: {note}", file=sys.stderr)
    failed = 0
    if args.json:
        collected = list(results)
        failed = sum("error" in r for r in collected)
        doc = {"model": predictor.name, "source": predictor.source, "results": collected}
        print(json.dumps(doc, indent=2))
    else:
        for r in results:
            if "error" in r:
                failed += 1
                print(f"convzoo predict: skipped {r['error']}", file=sys.stderr)
                continue
            for note in r["notes"]:
                print(f"note: {note}", file=sys.stderr)
            print(r["image"], flush=True)
            for t in r["top"]:
                print(f"  {t['prob']:7.2%}  {t['class']}")
    if failed:
        print(f"convzoo predict: {failed} image(s) could not be read", file=sys.stderr)
        return 2
    return 0
