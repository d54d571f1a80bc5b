"""`convzoo evaluate RUN|CHECKPOINT`: top-1, top-5, per-class precision and recall, the confusion
matrix and the most-confused classes on the validation (or test) split of the data the run was
trained on; with ``--top-losses K``, a grid of the K images with the largest loss.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from torch.utils.data import Dataset

from convzoo.cli._args import THREADS_HELP, device_or_auto, non_negative_int, positive_int, threads
from convzoo.course import (
    collect_predictions,
    most_confused,
    plot_confusion_matrix,
    plot_top_losses,
    top_losses,
)
from convzoo.data import build_datasets, decode_failures, trained_on_builtin
from convzoo.errors import ConvzooError
from convzoo.io import write_json
from convzoo.optimize import fast_copy
from convzoo.registry import ModelCard
from convzoo.threads import set_threads_for
from convzoo.train import evaluate, find_checkpoint
from convzoo.train.checkpoint import Checkpoint, versions
from convzoo.train.evaluate import EvalResult
from convzoo.train.loop import resolve_device

DESCRIPTION = """\
Evaluate a trained run (its best checkpoint, or --last) or a checkpoint folder on the data it
was trained on, with the transforms it was trained with.

Files written into the run folder (or --out DIR), STEM being eval-DATA for the validation
split and eval-DATA-test for --split test (DATA: the data set's name, e.g. eval-digits):
  STEM.json             model, checkpoint, split, loss, top1, top5 (null under 6 classes),
                        per-class precision/recall/support, confusion matrix, most-confused
                        pairs, versions; `convzoo plot BENCH_DIR --accuracy STEM.json` reads it
  STEM-confusion.png    the row-normalised confusion matrix with counts
  STEM-top-losses.png   with --top-losses K: the K images with the largest loss, each with its
                        true class, predicted class and probability, and loss
"""

EPILOG = """\
examples:
  convzoo evaluate runs/lenet5-digits-1
  convzoo evaluate runs/lenet5-digits-1 --top-losses 16
  convzoo evaluate runs/lenet5-fashion-mnist-1 --split test
  convzoo evaluate runs/lenet5-digits-1 --last --out /tmp/eval
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate a trained run or checkpoint (metrics, confusion matrix, top losses)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", help="run folder (its best/ checkpoint) or checkpoint folder")
    p.add_argument("--data", help="data set or folder (default: the one the run was trained on)")
    p.add_argument("--data-dir", help="where data sets are read from (default: the run's)")
    p.add_argument(
        "--split",
        choices=("val", "test"),
        default="val",
        help="the held-out validation split (default), or the test set where the data has one",
    )
    p.add_argument("--last", action="store_true", help="the last/ checkpoint, not best/")
    p.add_argument(
        "--top-losses",
        type=positive_int,
        metavar="K",
        help="also draw the K images with the largest loss (STEM-top-losses.png)",
    )
    p.add_argument("--batch-size", type=positive_int, default=256, help="(default 256)")
    p.add_argument(
        "--workers", type=non_negative_int, default=0, help="data-loading processes (default 0)"
    )
    p.add_argument(
        "--device", type=device_or_auto, default="auto", help="auto (default), cpu, cuda, cuda:1"
    )
    p.add_argument(
        "--threads",
        type=threads,
        help=THREADS_HELP,
    )
    p.add_argument("--strict", action="store_true", help="refuse unreadable image files")
    p.add_argument("--out", help="folder for the files above (default: the run folder)")
    p.add_argument("--fast", action="store_true", help="the fastest runtime measured here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _card(model: Any, where: Path) -> ModelCard:
    card = getattr(model, "card", None)
    if not isinstance(card, ModelCard):
        raise ConvzooError(f"{where}: the network it holds has no model card")
    return card


def _checkpoint(args: argparse.Namespace) -> Checkpoint:
    ckpt = find_checkpoint(args.checkpoint, prefer="last" if args.last else "best")
    if args.last and ckpt.path.name in ("best", ".best.old"):
        # A safety net: --last must evaluate the last weights or say that there are none.
        raise ConvzooError(
            f"{ckpt.path.parent} has no last/ checkpoint; drop --last to evaluate best/"
        )
    return ckpt


def _split(data: Any, split: str, spec: str) -> tuple[Dataset, str]:
    """The data set of ``split`` and how it was made. The bundle's ``val`` is the held-out
    validation split and ``test`` (where there is one) the test set."""
    if split == "val":
        return data.val, str(getattr(data, "val_split", "validation"))
    test = getattr(data, "test", None)
    if test is None and getattr(data, "val_split", "") == "test set":
        test = data.val  # data bundles that still validate on the test set
    if test is None:
        raise ConvzooError(
            f"{spec} has no test set (only training and validation images); evaluate "
            "--split val, or give a folder with a test/ sub-folder"
        )
    return test, str(getattr(data, "test_split", "test set"))


def _print_report(
    result: EvalResult, header: str, confused: list[tuple[str, str, int]], classes: list[str]
) -> None:
    print(header)
    top5 = f"  top-5 {100 * result.top5:.2f}%" if result.has_top5 else ""
    print(f"top-1 {100 * result.top1:.2f}%{top5}  loss {result.loss:.4f}")
    width = max(5, *(len(c) for c in classes))
    print(f"{'class':<{width}}  precision  recall  support")
    support = result.confusion.sum(1).tolist()
    for c, p, r, s in zip(classes, result.precision, result.recall, support, strict=True):
        print(f"{c:<{width}}  {100 * p:8.2f}%  {100 * r:5.2f}%  {s:7d}")
    if confused:
        print("most confused (true -> predicted: images):")
        for true, pred, count in confused[:10]:
            print(f"  {true} -> {pred}: {count}")


def run(args: argparse.Namespace) -> int:
    ckpt = _checkpoint(args)
    meta = ckpt.meta
    device = resolve_device(args.device)
    model = ckpt.build_model(device)
    threads_note = set_threads_for(args.threads, device=device)
    if threads_note and not args.quiet:
        print(f"note: {threads_note}", file=sys.stderr)
    card = _card(model, ckpt.path)
    classes = list(meta.get("classes") or [])
    cfg = meta.get("config") or {}
    data_meta = meta.get("data") or {}
    spec = str(args.data or data_meta.get("name") or cfg.get("data") or "")
    if not spec:
        raise ConvzooError(f"{ckpt.path} does not say what it was trained on; give --data")
    if args.top_losses is not None and args.top_losses < 1:
        raise ConvzooError(f"--top-losses takes a positive number, got {args.top_losses}")
    t = meta.get("transforms") or {}
    # The transforms the network was trained with, from the checkpoint (not today's card).
    feed = SimpleNamespace(
        name=card.name,
        input_size=tuple(t.get("input_size") or card.input_size),
        min_input_size=card.min_input_size,
        mean=tuple(t.get("mean") or card.mean),
        std=tuple(t.get("std") or card.std),
    )
    # A network trained on a built-in set, evaluated on a folder of image files: the files go
    # the way the set's images went in training (a 28x28 digit padded into 32x32), not the
    # photo recipe (resized by 256/224 and centre-cropped), as convzoo predict does.
    # (build_datasets applies it to a folder only; a built-in spec keeps its own path.)
    builtin = trained_on_builtin(meta)
    image_fit = builtin.fit if builtin is not None else None
    data = build_datasets(
        spec,
        feed,
        data_dir=args.data_dir or cfg.get("data_dir"),
        augment=False,
        val_fraction=cfg.get("val_fraction", 0.2),
        seed=cfg.get("seed", 0),
        strict=args.strict,
        image_fit=image_fit,
    )
    if classes and data.classes != classes:
        raise ConvzooError(
            f"{spec} has the classes {data.classes[:10]}, the checkpoint was trained on "
            f"{classes[:10]}: evaluate on data with the same classes"
        )
    dataset, how = _split(data, args.split, spec)
    if args.fast:
        model = fast_copy(model, dataset[0][0][None].to(device))
        print(f"fast: {model.report.summary()}", file=sys.stderr)
    result = evaluate(
        model,
        dataset,
        classes=data.classes,
        batch_size=args.batch_size,
        device=device,
        workers=args.workers,
        progress=not args.quiet,
    )
    run_dir = ckpt.path.parent if ckpt.path.name in ("best", "last") else ckpt.path
    out = Path(args.out) if args.out else run_dir
    out.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(spec).name or spec).strip("-") or "data"
    stem = f"eval-{slug}" + ("" if args.split == "val" else f"-{args.split}")
    confused = most_confused(result.confusion, data.classes)
    where = f"{card.name} on {spec}, {args.split} split ({how})"
    report: dict[str, Any] = {
        "model": card.name,
        "checkpoint": str(ckpt.path),
        "epoch": meta.get("epoch"),
        "data": spec,
        "split": args.split,
        "split_description": how,
        **result.to_dict(),
        "most_confused": [{"true": a, "predicted": b, "count": n} for a, b, n in confused],
        "versions": versions(),
    }
    failures = decode_failures(data)
    if failures:
        # Each undecodable file's place was taken by the next readable image of its class (the
        # dataset's rule, which keeps labels right): say so beside the numbers.
        report["undecodable"] = failures
        shown = "; ".join(f"{path} ({why})" for path, why in list(failures.items())[:5])
        more = f" and {len(failures) - 5} more" if len(failures) > 5 else ""
        print(
            f"convzoo evaluate: {len(failures)} image(s) could not be decoded, each replaced by "
            f"the next readable image of its class: {shown}{more}",
            file=sys.stderr,
        )
    written = [out / f"{stem}.json", out / f"{stem}-confusion.png"]
    plot_confusion_matrix(
        result.confusion,
        data.classes,
        written[1],
        title=f"{where}: top-1 {100 * result.top1:.2f}% of {result.count} images",
    )
    if args.top_losses:
        preds = collect_predictions(
            model, dataset, batch_size=args.batch_size, device=device, progress=not args.quiet
        )
        report["top_losses"] = [
            {
                "index": i,
                "true": data.classes[int(preds.targets[i])],
                "predicted": data.classes[int(preds.preds[i])],
                "probability": float(preds.probs[i].max()),
                "loss": float(preds.losses[i]),
            }
            for i in top_losses(preds, args.top_losses)
        ]
        written.append(out / f"{stem}-top-losses.png")
        plot_top_losses(
            dataset,
            preds,
            data.classes,
            args.top_losses,
            written[-1],
            mean=data.mean,
            std=data.std,
            title=f"{where}: the {min(args.top_losses, len(preds))} largest losses",
        )
    write_json(written[0], report)
    _print_report(
        result,
        f"{card.name} ({ckpt.path}, epoch {meta.get('epoch')}) on {spec}, {args.split} split "
        f"({how}): {result.count} images",
        confused,
        data.classes,
    )
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
