"""`convzoo finetune NAME --weights W --data PATH --mode head|full|staged`.

PyTorch's transfer-learning tutorial as one command, for every network of the zoo: the
pretrained network, a new classifier for the classes of ``--data`` (one sub-folder per class),
trained by the same loop as `convzoo train` (outputs, checkpoints, ``--resume``, torchrun).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from convzoo.errors import ConvzooError


def register(sub: argparse._SubParsersAction) -> None:
    from convzoo.cli.cmd_train import _model_arg, add_training_options
    from convzoo.train.config import TrainConfig
    from convzoo.train.finetune import FINETUNE_DEFAULTS, MODES

    p = sub.add_parser(
        "finetune",
        help="transfer learning: a pretrained network, a new classifier, your images",
        description="Fine-tune a pretrained network of the zoo on a folder of class "
        "sub-folders (with train/ and val/ sub-folders, those are used). Modes: head (only "
        "the new classifier trains, frozen features), full (everything trains), staged (the "
        "head first, then everything with lower learning rates for earlier layers, like "
        "fastai's fine_tune). Run under `torchrun --nproc-per-node N` for data-parallel "
        "training.",
    )
    p.add_argument("model", nargs="?", help="network name (`convzoo list`)")
    p.add_argument(
        "--weights",
        default="imagenet",
        help="weight entry (`convzoo weights list NAME`), file, URL or `convzoo train` run; "
        "'none' trains from scratch (default imagenet)",
    )
    p.add_argument("--mode", choices=MODES, default=None, help="(default staged)")
    p.add_argument("--head-epochs", type=int, help="staged: epochs of the head alone (1)")
    p.add_argument("--lr-mult", type=float, help="staged: the first layers get lr / lr-mult (100)")
    p.add_argument("--groups", type=int, help="staged: backbone blocks with their own lr (3)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a fine-tuning run")
    p.add_argument(
        "--model-arg",
        action="append",
        type=_model_arg,
        default=[],
        metavar="KEY=VALUE",
        help="builder argument, e.g. aux_logits=false",
    )
    add_training_options(p, TrainConfig(**FINETUNE_DEFAULTS))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from convzoo.cli.cmd_train import RESUMABLE, config_from_args
    from convzoo.train import TrainConfig, find_checkpoint, init_distributed, prepare_run_dir
    from convzoo.train.config import seed_everything
    from convzoo.train.distributed import cleanup_distributed
    from convzoo.train.finetune import (
        FINETUNE_DEFAULTS,
        FinetuneSpec,
        prepare,
        read_spec,
        run_prepared,
    )

    info = init_distributed(args.device or "auto")
    try:
        resume_from = None
        if args.resume:
            ckpt = find_checkpoint(args.resume, prefer="last")
            run_dir = ckpt.path.parent if ckpt.path.name in ("last", "best") else ckpt.path
            spec = read_spec(run_dir)
            cfg = TrainConfig.from_dict(ckpt.meta.get("config") or {})
            if args.model and args.model != cfg.model:
                raise ConvzooError(f"{run_dir} fine-tunes {cfg.model}, not {args.model}")
            cfg = config_from_args(
                argparse.Namespace(**{k: getattr(args, k) for k in RESUMABLE}), cfg
            )
            out = run_dir if info.is_main else None
            resume_from = ckpt.path
        else:
            if not args.model or not args.data:
                raise ConvzooError(
                    "name the network and the data, e.g. `convzoo finetune resnet18 --weights "
                    "imagenet --data hymenoptera_data --mode head`, or give --resume RUN_DIR"
                )
            weights = None if str(args.weights).lower() == "none" else args.weights
            spec = FinetuneSpec(
                weights,
                args.mode or "staged",
                args.head_epochs if args.head_epochs is not None else 1,
                args.lr_mult if args.lr_mult is not None else 100.0,
                args.groups if args.groups is not None else 3,
            )
            base = TrainConfig(
                model=args.model,
                data=args.data,
                model_kwargs=dict(args.model_arg),
                **FINETUNE_DEFAULTS,
            )
            cfg = config_from_args(args, base).replace(model=args.model)
            out = None
        seed_everything(cfg.seed)
        # Data, weights and mode are checked here, before a run folder exists.
        model, bundle, groups = prepare(
            cfg.model,
            cfg.data,
            spec,
            cfg,
            model_kwargs=cfg.model_kwargs,
            quiet=args.quiet or not info.is_main,
        )
        if resume_from is None and info.is_main:
            out = prepare_run_dir(
                args.out,
                model=cfg.model,
                data=f"{cfg.data}-{spec.mode}",
                resume_command="convzoo finetune --resume",
            )
        if info.is_main and not args.quiet:
            print(bundle.describe())
            if bundle.info.get("warning"):
                print(f"warning: {bundle.info['warning']}")
            trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
            print(
                f"mode {spec.mode}: {trainable:,} of "
                f"{sum(p.numel() for p in model.parameters()):,} parameters train at first"
            )
        result = run_prepared(
            model, bundle, groups, spec, cfg, out, resume=resume_from, quiet=args.quiet
        )
        if info.is_main:
            print(
                f"{result.status}: {result.epochs_done}/{cfg.epochs} epochs, best val acc "
                f"{100 * result.best_val_acc:.2f}% (epoch {result.best_epoch}), "
                f"{result.seconds:.1f}s; outputs in {Path(out)}. Predict with: convzoo predict "
                f"{Path(out) / 'best'} IMAGE..."
            )
        return 130 if result.status == "interrupted" else 0
    finally:
        cleanup_distributed()
