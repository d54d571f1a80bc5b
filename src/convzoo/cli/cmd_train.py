"""`convzoo train`: train a network of the zoo from scratch; `convzoo train lenet5` is the main job.

Under ``torchrun --nproc-per-node N`` the same command trains with DistributedDataParallel.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from convzoo.errors import ConvzooError

# Options that may change when a run is resumed: how it runs, not what it computes.
RESUMABLE = ("epochs", "workers", "device", "threads")


def _model_arg(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value.lower() if value.lower() in ("true", "false") else value)
    except json.JSONDecodeError:
        return key, value


def add_training_options(p: argparse.ArgumentParser, defaults: Any = None) -> None:
    """The options of :class:`convzoo.train.TrainConfig` (shared with `convzoo finetune`).

    Every default is None here so that a resumed run can tell what the user gave.
    """
    d = defaults or __import__("convzoo.train.config", fromlist=["TrainConfig"]).TrainConfig()
    g = p.add_argument_group("data")
    g.add_argument(
        "--data",
        help=f"digits (default), fashion-mnist, mnist, cifar10, or a folder "
        f"of class sub-folders (default {d.data})",
    )
    g.add_argument("--data-dir", help="where data sets are read from / downloaded to")
    g.add_argument(
        "--val-fraction",
        type=float,
        help=f"held-out share when the data has no validation split ({d.val_fraction})",
    )
    g.add_argument("--input-size", type=int, help="image size fed to the network (card's default)")
    g.add_argument(
        "--no-augment",
        dest="augment",
        action="store_const",
        const=False,
        help="no training augmentation",
    )
    g.add_argument(
        "--strict",
        action="store_const",
        const=True,
        help="refuse unreadable files in a folder instead of skipping them",
    )
    g.add_argument(
        "--no-download",
        dest="download",
        action="store_const",
        const=False,
        help="never download a data set",
    )
    g.add_argument("--workers", type=int, help=f"data-loading processes ({d.workers})")
    g.add_argument(
        "--threads",
        type=int,
        help="CPU threads (default: 1 for networks under 1M parameters, else torch's)",
    )
    o = p.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, help=f"({d.epochs})")
    o.add_argument("--batch-size", type=int, help=f"per process ({d.batch_size})")
    o.add_argument("--optimizer", choices=("sgd", "adamw"), help=f"({d.optimizer})")
    o.add_argument("--lr", type=float, help=f"peak learning rate ({d.lr})")
    o.add_argument("--momentum", type=float, help=f"({d.momentum})")
    o.add_argument("--no-nesterov", dest="nesterov", action="store_const", const=False)
    o.add_argument("--weight-decay", type=float, help=f"({d.weight_decay})")
    o.add_argument(
        "--schedule", choices=("cosine", "step", "onecycle", "constant"), help=f"({d.schedule})"
    )
    o.add_argument("--warmup-epochs", type=float, help=f"linear warm-up ({d.warmup_epochs})")
    o.add_argument("--step-size", type=int, help=f"step schedule: epochs per decay ({d.step_size})")
    o.add_argument("--gamma", type=float, help=f"step schedule: decay factor ({d.gamma})")
    o.add_argument("--label-smoothing", type=float, help=f"({d.label_smoothing})")
    o.add_argument("--clip-grad", type=float, help="clip the global gradient norm to this")
    o.add_argument("--aux-weight", type=float, help=f"GoogLeNet auxiliary losses ({d.aux_weight})")
    o.add_argument(
        "--amp",
        action=argparse.BooleanOptionalAction,
        help="mixed precision (default: on with a GPU)",
    )
    o.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        help="channels-last memory format (default: on with a GPU)",
    )
    r = p.add_argument_group("run")
    r.add_argument("--seed", type=int, help=f"({d.seed})")
    r.add_argument(
        "--deterministic",
        action="store_const",
        const=True,
        help="deterministic algorithms (slower on GPU)",
    )
    r.add_argument("--device", help="auto (default), cpu, cuda, cuda:1")
    r.add_argument("--out", help="output folder (default: runs/MODEL-DATA-N, a new N each run)")
    r.add_argument("--quiet", action="store_true", help="no progress bar or epoch lines")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a network from scratch (`convzoo train lenet5`: LeNet-5 on the digits)",
        description="Train a network of the zoo. With no option: the digits data set, offline. "
        "Run under `torchrun --nproc-per-node N` for data-parallel training.",
    )
    p.add_argument("model", nargs="?", help="network name (`convzoo list`)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run exactly where it stopped")
    p.add_argument(
        "--model-arg",
        action="append",
        type=_model_arg,
        default=[],
        metavar="KEY=VALUE",
        help="builder argument, e.g. aux_logits=false",
    )
    p.add_argument("--in-chans", type=int, help="input channels of the network (card's default)")
    add_training_options(p)
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace, base: Any) -> Any:
    """``base`` (a TrainConfig) with every option the user gave."""
    fields = {f.name for f in dataclasses.fields(base)}
    given = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    return base.replace(**given)


def build_model_and_data(cfg: Any) -> tuple[Any, Any]:
    """The data bundle (transforms from the card) and the network sized to its classes."""
    from convzoo.registry import create_model
    from convzoo.train.config import build_data, card_and_builder_kwargs

    card, kwargs = card_and_builder_kwargs(cfg.model, cfg.model_kwargs)
    data = build_data(cfg, card)
    model = create_model(
        cfg.model, num_classes=len(data.classes), in_chans=card.input_size[0], **kwargs
    )
    return model, data


def run(args: argparse.Namespace) -> int:
    from convzoo.registry import model_card
    from convzoo.train import TrainConfig, find_checkpoint, fit, init_distributed, prepare_run_dir
    from convzoo.train.config import seed_everything
    from convzoo.train.distributed import cleanup_distributed

    info = init_distributed(args.device or "auto")
    try:
        resume_from = None
        if args.resume:
            ckpt = find_checkpoint(args.resume, prefer="last")
            run_dir = (
                ckpt.path.parent if ckpt.path.name in ("last", "best", ".last.old") else ckpt.path
            )
            saved = ckpt.meta.get("config") or {}
            cfg = TrainConfig.from_dict(saved)
            if args.model and args.model != cfg.model:
                raise ConvzooError(
                    f"{run_dir} is a run of {cfg.model}, not {args.model}; drop the model name "
                    "to resume it"
                )
            changed = {
                k
                for k, v in vars(args).items()
                if v is not None and k in saved and k not in RESUMABLE and v != saved[k]
            }
            if changed or args.model_arg or args.in_chans is not None:
                raise ConvzooError(
                    f"a resumed run keeps its configuration; only {', '.join(RESUMABLE)} may "
                    f"change (got {', '.join(sorted(changed)) or 'model arguments'})"
                )
            cfg = config_from_args(
                argparse.Namespace(**{k: getattr(args, k) for k in RESUMABLE}), cfg
            )
            out = run_dir if info.is_main else None
            resume_from = ckpt.path
        else:
            if not args.model:
                raise ConvzooError(
                    "name the network to train, e.g. `convzoo train lenet5`, or "
                    "give --resume RUN_DIR"
                )
            model_card(args.model)  # unknown names fail before anything is written
            kwargs = dict(args.model_arg)
            if args.in_chans is not None:
                kwargs["in_chans"] = args.in_chans
            cfg = config_from_args(args, TrainConfig(model=args.model, model_kwargs=kwargs))
            cfg.validate()
            out = None
        seed_everything(cfg.seed)
        model, data = build_model_and_data(cfg)
        if not args.resume and info.is_main:
            out = prepare_run_dir(args.out, model=cfg.model, data=str(cfg.data))
        if info.is_main and not args.quiet:
            print(f"run folder: {out}")
            print(data.describe())
            if data.info.get("warning"):
                print(f"warning: {data.info['warning']}")
        result = fit(model, data, None, cfg, out, resume=resume_from, quiet=args.quiet)
        if info.is_main:
            print(
                f"{result.status}: {result.epochs_done}/{cfg.epochs} epochs, best val acc "
                f"{100 * result.best_val_acc:.2f}% (epoch {result.best_epoch}), "
                f"{result.seconds:.1f}s; outputs in {Path(out)}"
            )
        return 130 if result.status == "interrupted" else 0
    finally:
        cleanup_distributed()
