"""`convzoo train`: train a network of the zoo from scratch; `convzoo train lenet5` is the main job.

Under ``torchrun --nproc-per-node N`` the same command trains with DistributedDataParallel.
The training flags are generated from :class:`convzoo.train.TrainConfig`'s fields (their help,
choices and examples live in the fields' metadata), so the CLI and the library share one
vocabulary.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from collections.abc import Collection
from pathlib import Path
from typing import Any

import convzoo.weights  # noqa: F401  (registers the networks and the weights loader)
from convzoo.cli._args import device_or_auto, non_negative_int, positive_int, threads
from convzoo.errors import ConvzooError
from convzoo.inspect.memory import check_fits_in_memory
from convzoo.registry import create_model, model_card
from convzoo.train import (
    TrainConfig,
    find_checkpoint,
    fit,
    init_distributed,
    prepare_run_dir,
    resolve_device,
)
from convzoo.train.config import RECIPES, build_data, card_and_builder_kwargs, seed_everything
from convzoo.train.distributed import cleanup_distributed
from convzoo.train.fingerprint import ALLOW_FLAG
from convzoo.train.loop import FitResult
from convzoo.train.run_dir import discard_run_dir

# Options that may change when a run is resumed: how it runs, not what it computes.
RESUMABLE = ("epochs", "workers", "device", "threads", "tensorboard", "early_stop")
GROUP_TITLES = {"data": "data", "optimisation": "optimisation", "run": "run"}


def _model_arg(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value.lower() if value.lower() in ("true", "false") else value)
    except json.JSONDecodeError:
        return key, value


# Options whose values argparse checks with the CLI's shared types (one line, exit 2, before
# anything runs); the others get their field's type, and TrainConfig.validate checks the rest.
ARG_TYPES: dict[str, Any] = {
    "epochs": positive_int,
    "batch_size": positive_int,
    "step_size": positive_int,
    "plateau_patience": positive_int,
    "early_stop": positive_int,
    "input_size": positive_int,
    "workers": non_negative_int,
    "threads": threads,
    "device": device_or_auto,
}


def _scalar_type(hint: Any) -> Any:
    """``int`` for ``int | None`` and the like."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def _help(meta: dict[str, Any], default: Any, note: str = "", prefix: str = "") -> str:
    text = prefix + meta["help"]
    shown = "none" if default is None else default
    if "default:" not in text:
        text += f" (default: {shown}{note})"
    if meta.get("example"):
        text += f"; e.g. {meta['example']}"
    return text.replace("%", "%%")


def _shown(value: Any) -> str:
    return (
        {True: "on", False: "off"}.get(value, str(value)) if isinstance(value, bool) else str(value)
    )


def _recipe_note(name: str) -> str:
    notes = [f"{data}: {_shown(r[name])}" for data, r in RECIPES.items() if name in r]
    return f"; {', '.join(notes)}" if notes else ""


#: The data options of `convzoo train` that the course tools (lr-find, show-batch) share, so that
#: they read the same training split through the same transforms.
DATA_OPTIONS = ("data", "data_dir", "val_fraction", "input_size", "augment")


def add_training_options(
    p: argparse.ArgumentParser,
    defaults: TrainConfig | None = None,
    *,
    only: Collection[str] | None = None,
) -> None:
    """One flag per :class:`TrainConfig` field (shared with `convzoo finetune`); with ``only``,
    the flags of those fields alone (the course tools), without the run folder's flags.

    Every argparse default is None, so that a resumed run can tell what the user gave; the help
    shows the real default (``defaults``) and a data set's recipe where it differs. Read the
    options back with :func:`config_from_options`.
    """
    d = defaults or TrainConfig()
    hints = typing.get_type_hints(TrainConfig)
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in dataclasses.fields(TrainConfig):
        meta = dict(f.metadata)
        if not meta.get("cli", False) or (only is not None and f.name not in only):
            continue
        if meta["group"] not in groups:
            groups[meta["group"]] = p.add_argument_group(GROUP_TITLES[meta["group"]])
        g = groups[meta["group"]]
        flag = "--" + f.name.replace("_", "-")
        default = getattr(d, f.name)
        note = "" if defaults is not None else _recipe_note(f.name)
        kind = _scalar_type(hints[f.name])
        # A switch that a recipe turns the other way needs both spellings (the Fashion-MNIST
        # recipe turns augmentation off; --augment turns it back on).
        recipe_sets_it = any(f.name in r for r in RECIPES.values())
        if hints[f.name] == bool | None or (kind is bool and recipe_sets_it):
            shown = _shown(default) if isinstance(default, bool) else default
            g.add_argument(
                flag, action=argparse.BooleanOptionalAction, help=_help(meta, shown, note)
            )
        elif kind is bool:
            name = flag if default is False else "--no-" + f.name.replace("_", "-")
            g.add_argument(
                name,
                dest=f.name,
                action="store_const",
                const=not default,
                help=_help(meta, _shown(default), note, "" if default is False else "turn off: "),
            )
        else:
            g.add_argument(
                flag,
                type=ARG_TYPES.get(f.name, kind),
                choices=meta.get("choices"),
                metavar=None if meta.get("choices") else f.name.upper(),
                help=_help(meta, default, note),
            )
    if only is not None:
        return
    r = groups["run"]
    r.add_argument(
        "--out",
        help="output folder (default: runs/MODEL-DATA-N, a new N each run); e.g. --out runs/a",
    )
    r.add_argument("--quiet", action="store_true", help="no progress bar or epoch lines")
    r.add_argument(
        ALLOW_FLAG,
        dest="allow_data_change",
        action="store_true",
        help="with --resume: go on although the data changed since the run started",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a network from scratch (`convzoo train lenet5`: LeNet-5 on the digits)",
        description="Train a network of the zoo. With no option: the digits data set, offline. "
        "Run under `torchrun --nproc-per-node N` for data-parallel training. Examples: "
        "`convzoo train lenet5`, `convzoo train lenet5 --data fashion-mnist`, "
        "`convzoo train resnet18 --data cifar10 --epochs 30 --early-stop 5`, "
        "`convzoo train --resume runs/lenet5-digits-1`.",
    )
    p.add_argument("model", nargs="?", help="network name (`convzoo list`), e.g. lenet5")
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue a run exactly where it stopped; e.g. --resume runs/lenet5-digits-1",
    )
    p.add_argument(
        "--model-arg",
        action="append",
        type=_model_arg,
        default=[],
        metavar="KEY=VALUE",
        help="builder argument; e.g. --model-arg aux_logits=false",
    )
    p.add_argument(
        "--in-chans", type=int, help="input channels of the network (default: the card's)"
    )
    add_training_options(p)
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace, base: TrainConfig) -> TrainConfig:
    """``base`` with every option the user gave."""
    fields = {f.name for f in dataclasses.fields(base)}
    given = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    return base.replace(**given)


def config_from_options(args: argparse.Namespace, **changes: Any) -> TrainConfig:
    """The configuration `convzoo train` makes of these options: the defaults, the data set's
    recipe (:data:`RECIPES`), ``changes``, then every option the user gave."""
    base = TrainConfig.for_data(args.data or TrainConfig().data, **changes)
    return config_from_args(args, base)


def build_model_and_data(cfg: TrainConfig) -> tuple[Any, Any]:
    """The data bundle (transforms from the card) and the network sized to its classes."""
    card, kwargs = card_and_builder_kwargs(cfg.model, cfg.model_kwargs)
    data = build_data(cfg, card)
    model = create_model(
        cfg.model, num_classes=len(data.classes), in_chans=card.input_size[0], **kwargs
    )
    return model, data


def resumed_config(args: argparse.Namespace, saved: dict[str, Any]) -> TrainConfig:
    """The saved configuration with the options a resume may change; others refused."""
    changed = {
        k
        for k, v in vars(args).items()
        if v is not None and k in saved and k not in RESUMABLE and v != saved[k]
    }
    if changed or getattr(args, "model_arg", None) or getattr(args, "in_chans", None):
        raise ConvzooError(
            f"a resumed run keeps its configuration; only {', '.join(RESUMABLE)} may "
            f"change (got {', '.join(sorted(changed)) or 'model arguments'})"
        )
    cfg = TrainConfig.from_dict(saved)
    return config_from_args(argparse.Namespace(**{k: getattr(args, k) for k in RESUMABLE}), cfg)


def run_dir_of(ckpt_path: Path) -> Path:
    return ckpt_path.parent if ckpt_path.name in ("last", "best", ".last.old") else ckpt_path


def resumed_run(
    args: argparse.Namespace, verb: str = "is a run of"
) -> tuple[Path, Path, TrainConfig]:
    """(checkpoint, run folder, configuration) of ``--resume RUN_DIR`` (`convzoo train` and
    `convzoo finetune`): its last checkpoint, its saved configuration with the options a
    resume may change; a model name that is not the run's is refused."""
    ckpt = find_checkpoint(args.resume, prefer="last")
    run_dir = run_dir_of(ckpt.path)
    saved = ckpt.meta.get("config") or {}
    if args.model and args.model != saved.get("model"):
        raise ConvzooError(
            f"{run_dir} {verb} {saved.get('model')}, not {args.model}; drop the model name to "
            "resume it"
        )
    return ckpt.path, run_dir, resumed_config(args, saved)


def report(result: FitResult, epochs: int, out: Path | None, extra: str = "") -> None:
    """The closing line of `convzoo train` and `convzoo finetune`."""
    if result.best_val_acc is None:
        best = "no epoch finished"
    else:
        best = f"best val acc {100 * result.best_val_acc:.2f}% (epoch {result.best_epoch})"
    test = (result.extra.get("summary") or {}).get("test")
    if test:
        best += f", test acc {100 * test['top1']:.2f}% with those weights"
    print(
        f"{result.status}: {result.epochs_done}/{epochs} epochs, {best}, {result.seconds:.1f}s; "
        f"outputs in {out}{extra}"
    )


def run(args: argparse.Namespace) -> int:
    info = init_distributed(args.device or "auto")
    out: Path | None = None
    failed = True  # until the run returns: an error removes a run that saved nothing
    try:
        resume_from = None
        if args.resume:
            resume_from, run_dir, cfg = resumed_run(args)
            out = run_dir if info.is_main else None
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
            cfg = config_from_options(args, model=args.model, model_kwargs=kwargs).validate()
        resolve_device(cfg.device)  # a bad --device fails before a run folder exists
        # An absurd --input-size is refused with the figure, before anything is allocated.
        check_fits_in_memory(
            cfg.model, cfg.input_size, cfg.batch_size, training=True, model_kwargs=cfg.model_kwargs
        )
        seed_everything(cfg.seed)
        model, data = build_model_and_data(cfg)
        if not args.resume and info.is_main:
            out = prepare_run_dir(args.out, model=cfg.model, data=str(cfg.data))
        if info.is_main and not args.quiet:
            print(f"run folder: {out}")
            print(data.describe())
            if data.info.get("warning"):
                print(f"warning: {data.info['warning']}", file=sys.stderr)
        result = fit(
            model,
            data,
            None,
            cfg,
            out,
            resume=resume_from,
            quiet=args.quiet,
            allow_data_change=args.allow_data_change,
        )
        if info.is_main:
            report(result, cfg.epochs, out)
        failed = False
        return 130 if result.status == "interrupted" else 0
    finally:
        if out is not None and not args.resume:
            discard_run_dir(out, failed=failed)  # the lock; a failed start's files
        cleanup_distributed()
