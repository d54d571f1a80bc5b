"""`convzoo show-batch MODEL`: a grid of training inputs as the network sees them (resized,
channel-converted, augmented), de-normalised for display (fastai's ``show_batch``)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import convzoo.weights  # noqa: F401  (registers the networks and the weights loader)
from convzoo.course import show_batch
from convzoo.registry import model_card
from convzoo.train.config import TrainConfig, build_data, card_and_builder_kwargs

EPILOG = """\
The images come from the training split that `convzoo train MODEL --data DATA --seed S` trains
on, through the same transforms (the card's input size, channels and normalisation, and the
training augmentation unless --no-augment); they are drawn de-normalised, captioned with their
class. The same --seed shows the same images and the same augmentation.

examples:
  convzoo show-batch lenet5
  convzoo show-batch lenet5 --data fashion-mnist --count 16 --out batch.png
  convzoo show-batch resnet18 --data ./pets --no-augment
"""


def register(sub: argparse._SubParsersAction) -> None:
    d = TrainConfig()
    p = sub.add_parser(
        "show-batch",
        help="draw training inputs as the network sees them after augmentation",
        description="Draw a grid of training inputs, as the network is fed them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="network name: its card decides size, channels, mean/std")
    p.add_argument("--data", default=d.data, help=f"data set or folder (default {d.data})")
    p.add_argument("--data-dir", help="where data sets are read from")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=d.val_fraction,
        help=f"held-out share, as in training (default {d.val_fraction})",
    )
    p.add_argument("--input-size", type=int, help="image size fed to the network (card's)")
    p.add_argument("--no-augment", dest="augment", action="store_false", help="no augmentation")
    p.add_argument("--count", "-n", type=int, default=32, help="images (default 32)")
    p.add_argument("--seed", type=int, default=d.seed, help=f"(default {d.seed})")
    p.add_argument("--out", help="PNG or SVG file (default: show-batch-MODEL-DATA.png)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    model_card(args.model)  # an unknown name fails before any data is read
    cfg = TrainConfig(
        model=args.model,
        data=args.data,
        data_dir=args.data_dir,
        val_fraction=args.val_fraction,
        input_size=args.input_size,
        augment=args.augment,
        seed=args.seed,
    )
    card, _ = card_and_builder_kwargs(cfg.model, cfg.model_kwargs)
    data = build_data(cfg, card)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(str(cfg.data)).name).strip("-") or "data"
    out = Path(args.out or f"show-batch-{cfg.model}-{slug}.png")
    if out.parent != Path():
        out.parent.mkdir(parents=True, exist_ok=True)
    augmented = "after augmentation" if args.augment else "without augmentation"
    c, h, w = data.input_size
    path = show_batch(
        data,
        out,
        n=args.count,
        seed=args.seed,
        title=f"{cfg.model} on {data.name}: training inputs {augmented}, fed as {c}x{h}x{w}, "
        "shown de-normalised",
    )
    print(data.describe())
    print(f"wrote {path}")
    return 0
