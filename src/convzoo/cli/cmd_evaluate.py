"""`convzoo evaluate RUN_DIR|CHECKPOINT`: top-1, top-5, per-class precision and recall, and a
confusion-matrix PNG, on the validation split of the data the run was trained on (or ``--data``).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from types import SimpleNamespace

from convzoo.errors import ConvzooError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained run or checkpoint")
    p.add_argument("checkpoint", help="run folder (its best checkpoint) or checkpoint folder")
    p.add_argument("--data", help="data set or folder (default: the one the run was trained on)")
    p.add_argument("--data-dir", help="where data sets are read from")
    p.add_argument("--last", action="store_true", help="the last checkpoint, not the best")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--strict", action="store_true", help="refuse unreadable image files")
    p.add_argument("--out", help="folder for eval.json and confusion.png (default: the run's)")
    p.add_argument("--fast", action="store_true", help="the fastest runtime measured here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from convzoo.data import build_datasets
    from convzoo.train import evaluate, find_checkpoint
    from convzoo.train.checkpoint import atomic_write_json, versions
    from convzoo.train.loop import resolve_device
    from convzoo.train.plots import plot_confusion_matrix

    ckpt = find_checkpoint(args.checkpoint, prefer="last" if args.last else "best")
    meta = ckpt.meta
    device = resolve_device(args.device)
    model = ckpt.build_model(device)
    classes = list(meta.get("classes") or [])
    cfg = meta.get("config") or {}
    data_meta = meta.get("data") or {}
    spec = args.data or data_meta.get("name") or cfg.get("data")
    if not spec:
        raise ConvzooError(f"{ckpt.path} does not say what it was trained on; give --data")
    t = meta.get("transforms") or {}
    card = model.card
    # The transforms the network was trained with, from the checkpoint (not today's card).
    feed = SimpleNamespace(
        name=card.name,
        input_size=tuple(t.get("input_size") or card.input_size),
        min_input_size=card.min_input_size,
        mean=tuple(t.get("mean") or card.mean),
        std=tuple(t.get("std") or card.std),
    )
    data = build_datasets(
        spec,
        feed,
        data_dir=args.data_dir or cfg.get("data_dir"),
        augment=False,
        val_fraction=cfg.get("val_fraction", 0.2),
        seed=cfg.get("seed", 0),
        strict=args.strict,
    )
    if classes and data.classes != classes:
        raise ConvzooError(
            f"{spec} has the classes {data.classes[:10]}, the checkpoint was trained on "
            f"{classes[:10]}: evaluate on data with the same classes"
        )
    if args.fast:
        from convzoo.optimize import fast_copy

        model = fast_copy(model, data.val[0][0][None].to(device))
        print(f"fast: {model.report.summary()}", file=sys.stderr)
    result = evaluate(
        model,
        data.val,
        classes=data.classes,
        batch_size=args.batch_size,
        device=device,
        workers=args.workers,
    )
    run_dir = ckpt.path.parent if ckpt.path.name in ("best", "last") else ckpt.path
    out = Path(args.out) if args.out else run_dir
    out.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(str(spec)).name or str(spec)).strip("-")
    report = {
        "checkpoint": str(ckpt.path),
        "epoch": meta.get("epoch"),
        "data": str(spec),
        "split": data.val_split,
        **result.to_dict(),
        "versions": versions(),
    }
    json_path = out / f"eval-{slug}.json"
    png_path = out / f"eval-{slug}-confusion.png"
    atomic_write_json(json_path, report)
    plot_confusion_matrix(
        result.confusion,
        data.classes,
        png_path,
        title=f"{model.card.name} on {spec} ({data.val_split}): top-1 {100 * result.top1:.2f}%",
    )
    print(
        f"{model.card.name} ({ckpt.path}, epoch {meta.get('epoch')}) on {spec}, "
        f"{data.val_split}: {result.count} images"
    )
    print(f"top-1 {100 * result.top1:.2f}%  top-5 {100 * result.top5:.2f}%  loss {result.loss:.4f}")
    width = max(5, *(len(c) for c in data.classes))
    print(f"{'class':<{width}}  precision  recall  support")
    support = result.confusion.sum(1).tolist()
    for c, p, r, s in zip(data.classes, result.precision, result.recall, support, strict=True):
        print(f"{c:<{width}}  {100 * p:8.2f}%  {100 * r:5.2f}%  {s:7d}")
    print(f"wrote {json_path} and {png_path}")
    return 0
