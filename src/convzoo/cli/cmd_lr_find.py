"""`convzoo lr-find MODEL`: the learning-rate range test (fastai's ``lr_find``), a plot and a
suggested rate, with the optimizer and loss that `convzoo train` uses."""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

import convzoo.weights  # noqa: F401  (registers the networks and the weights loader)
from convzoo.cli._args import (
    positive_int,
)
from convzoo.cli.cmd_train import DATA_OPTIONS, add_training_options, config_from_options
from convzoo.course import lr_find, plot_lr_find
from convzoo.course.lr_find import METHODS
from convzoo.inspect.memory import check_fits_in_memory
from convzoo.io import write_json
from convzoo.registry import create_model, model_card
from convzoo.train.config import (
    build_data,
    card_and_builder_kwargs,
    seed_everything,
)
from convzoo.train.loop import resolve_device

# The options of `convzoo train` that decide the data and the optimiser of the test.
LR_FIND_OPTIONS = (
    *DATA_OPTIONS,
    "batch_size",
    "optimizer",
    "momentum",
    "weight_decay",
    "label_smoothing",
    "seed",
    "device",
    "workers",
    "threads",
)

EPILOG = """\
The network is built and initialised as `convzoo train MODEL --seed S` builds it and trained on
the same training split (the validation split is never read), one mini-batch a step, the rate
growing exponentially from --start-lr to --end-lr; the test stops when the smoothed loss passes
4 x its minimum. Written into --out DIR: lr-find.png (the curve, both suggestions marked) and
lr-find.json (rates, losses, smoothed losses, suggestions).

suggestions:
  valley    (default) halfway down the longest stretch over which the loss keeps falling:
            robust to a noisy step, and well below the rate where the loss is lowest
  steepest  where the smoothed loss falls fastest per decade of rate; one finite difference
            decides it, so noise can move it

examples:
  convzoo lr-find lenet5 --out runs/lr-lenet5
  convzoo lr-find lenet5 --data fashion-mnist --optimizer adamw --out runs/lr-fm
  convzoo lr-find resnet18 --data ./pets --input-size 128 --batch-size 64 --out runs/lr-pets
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lr-find",
        help="learning-rate range test: plot and suggested rate",
        description="Run the learning-rate range test (Smith 2017, fastai's lr_find) and "
        "suggest a learning rate for `convzoo train MODEL --lr RATE`.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="network name (`convzoo list`)")
    add_training_options(p, only=LR_FIND_OPTIONS)
    p.add_argument("--start-lr", type=float, default=1e-7, help="first rate (default 1e-7)")
    p.add_argument("--end-lr", type=float, default=10.0, help="last rate (default 10)")
    p.add_argument("--num-iter", type=positive_int, default=100, help="steps at most (default 100)")
    p.add_argument("--method", choices=METHODS, default="valley", help="suggestion (valley)")
    p.add_argument("--out", help="output folder (default: lr-find-MODEL-DATA)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    model_card(args.model)  # an unknown name fails before any data is read
    cfg = config_from_options(args, model=args.model).validate()
    check_fits_in_memory(
        cfg.model, cfg.input_size, cfg.batch_size, training=True, model_kwargs=cfg.model_kwargs
    )
    seed_everything(cfg.seed)
    card, kwargs = card_and_builder_kwargs(cfg.model, cfg.model_kwargs)
    data = build_data(cfg, card)
    model = create_model(
        cfg.model, num_classes=len(data.classes), in_chans=card.input_size[0], **kwargs
    )
    device = resolve_device(cfg.device)
    result = lr_find(
        model,
        data.train,
        cfg,
        start_lr=args.start_lr,
        end_lr=args.end_lr,
        num_iter=args.num_iter,
        method=args.method,
        device=device,
        progress=not args.quiet,
    )
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(str(cfg.data)).name).strip("-") or "data"
    out = Path(args.out or f"lr-find-{cfg.model}-{slug}")
    out.mkdir(parents=True, exist_ok=True)
    png, js = out / "lr-find.png", out / "lr-find.json"
    plot_lr_find(
        result,
        png,
        title=f"{cfg.model} on {data.name}, {cfg.optimizer} batch {cfg.batch_size}: "
        "learning-rate range test",
    )
    write_json(
        js,
        {
            "model": cfg.model,
            "data": str(cfg.data),
            "config": dataclasses.asdict(cfg),
            **result.to_dict(),
        },
    )
    end = "stopped when the loss diverged" if result.diverged else "ran to the end"
    print(f"{len(result.lrs)} steps from {args.start_lr:g} to {result.lrs[-1]:.3g} ({end})")
    other = next(m for m in METHODS if m != result.method)
    print(
        f"suggested learning rate: {result.suggestion:.3g} ({result.method}); "
        f"{other}: {result.suggestions[other]:.3g}"
    )
    print(
        f"train with: convzoo train {cfg.model} --data {cfg.data} --optimizer {cfg.optimizer} "
        f"--lr {result.suggestion:.2g}"
    )
    print(f"wrote {png} and {js}")
    return 0
