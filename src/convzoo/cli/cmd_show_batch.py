"""`convzoo show-batch MODEL`: a grid of training inputs as the network sees them (resized,
channel-converted, augmented), de-normalised for display (fastai's ``show_batch``)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import convzoo.weights  # noqa: F401  (registers the networks and the weights loader)
from convzoo.cli._args import positive_int
from convzoo.cli.cmd_train import DATA_OPTIONS, add_training_options, config_from_options
from convzoo.course import show_batch
from convzoo.registry import model_card
from convzoo.train.config import build_data, card_and_builder_kwargs

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
    p = sub.add_parser(
        "show-batch",
        help="draw training inputs as the network sees them after augmentation",
        description="Draw a grid of training inputs, as the network is fed them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="network name: its card decides size, channels, mean/std")
    add_training_options(p, only=(*DATA_OPTIONS, "seed"))
    p.add_argument("--count", "-n", type=positive_int, default=32, help="images (default 32)")
    p.add_argument("--out", help="PNG or SVG file (default: show-batch-MODEL-DATA.png)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    model_card(args.model)  # an unknown name fails before any data is read
    cfg = config_from_options(args, model=args.model)
    card, _ = card_and_builder_kwargs(cfg.model, cfg.model_kwargs)
    data = build_data(cfg, card)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(str(cfg.data)).name).strip("-") or "data"
    out = Path(args.out or f"show-batch-{cfg.model}-{slug}.png")
    if out.parent != Path():
        out.parent.mkdir(parents=True, exist_ok=True)
    augmented = "after augmentation" if cfg.augment else "without augmentation"
    c, h, w = data.input_size
    path = show_batch(
        data,
        out,
        n=args.count,
        seed=cfg.seed,
        title=f"{cfg.model} on {data.name}: training inputs {augmented}, fed as {c}x{h}x{w}, "
        "shown de-normalised",
    )
    print(data.describe())
    print(f"wrote {path}")
    return 0
