"""`convzoo finetune NAME --weights W --data PATH --mode head|full|staged`.

PyTorch's transfer-learning tutorial as one command, for every network of the zoo: the
pretrained network, a new classifier for the classes of ``--data`` (one sub-folder per class),
trained by the same loop as `convzoo train` (outputs, checkpoints, ``--resume``, torchrun).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from convzoo.cli._args import positive_int
from convzoo.cli.cmd_train import (
    _model_arg,
    add_training_options,
    config_from_args,
    report,
    resumed_run,
)
from convzoo.errors import ConvzooError
from convzoo.inspect.memory import check_fits_in_memory
from convzoo.train import (
    Checkpoint,
    TrainConfig,
    find_checkpoint,
    init_distributed,
    prepare_run_dir,
    resolve_device,
)
from convzoo.train.config import seed_everything
from convzoo.train.distributed import cleanup_distributed
from convzoo.train.finetune import (
    FINETUNE_DEFAULTS,
    MODES,
    FinetuneSpec,
    prepare,
    read_spec,
    run_prepared,
)
from convzoo.train.run_dir import discard_run_dir

SPEC_DEFAULTS = FinetuneSpec(None)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "finetune",
        help="transfer learning: a pretrained network, a new classifier, your images",
        description="Fine-tune a pretrained network of the zoo on a folder of class "
        "sub-folders (with train/ and val/ sub-folders, those are used). Modes: head (only "
        "the new classifier trains on frozen features, computed once), full (everything "
        "trains), staged (the head first, then everything with lower learning rates for "
        "earlier layers, like fastai's fine_tune). Run under `torchrun --nproc-per-node N` for "
        "data-parallel training. Examples: `convzoo finetune resnet18 --weights imagenet "
        "--data hymenoptera_data --mode head`, `convzoo finetune --resume runs/ft-1`.",
    )
    p.add_argument("model", nargs="?", help="network name (`convzoo list`), e.g. resnet18")
    p.add_argument(
        "--weights",
        default="imagenet",
        help="weight entry (`convzoo weights list NAME`), file, URL or `convzoo train` run; "
        "'none' trains from scratch (default: imagenet); e.g. --weights runs/lenet5-digits-1",
    )
    p.add_argument(
        "--mode",
        choices=MODES,
        default=None,
        help=f"what trains (default: {SPEC_DEFAULTS.mode}); e.g. --mode head",
    )
    p.add_argument(
        "--head-epochs",
        type=positive_int,
        help=f"staged: epochs of the head alone (default: {SPEC_DEFAULTS.head_epochs}); "
        "e.g. --head-epochs 2",
    )
    p.add_argument(
        "--lr-mult",
        type=float,
        help=f"staged: the first layers get lr / lr-mult (default: {SPEC_DEFAULTS.lr_mult:g}); "
        "e.g. --lr-mult 10",
    )
    p.add_argument(
        "--groups",
        type=positive_int,
        help=f"staged: backbone blocks with their own lr (default: {SPEC_DEFAULTS.groups}); "
        "e.g. --groups 4",
    )
    p.add_argument(
        "--no-cache-features",
        dest="cache_features",
        action="store_false",
        help="head mode: run the frozen backbone every epoch (augmenting anew) instead of "
        "computing its features once (default: computed once)",
    )
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue a fine-tuning run; e.g. --resume runs/resnet18-ants-head-1",
    )
    p.add_argument(
        "--model-arg",
        action="append",
        type=_model_arg,
        default=[],
        metavar="KEY=VALUE",
        help="builder argument; e.g. --model-arg aux_logits=false",
    )
    add_training_options(p, TrainConfig(**FINETUNE_DEFAULTS))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    info = init_distributed(args.device or "auto")
    out: Path | None = None
    failed = True  # until the run returns: an error removes a run that saved nothing
    try:
        resume_from = None
        ckpt: Checkpoint | None = None
        if args.resume:
            resume_from, run_dir, cfg = resumed_run(args, "fine-tunes")
            ckpt = find_checkpoint(resume_from, prefer="last")
            spec = read_spec(run_dir)
            out = run_dir if info.is_main else None
        else:
            if not args.model or not args.data:
                raise ConvzooError(
                    "name the network and the data, e.g. `convzoo finetune resnet18 --weights "
                    "imagenet --data hymenoptera_data --mode head`, or give --resume RUN_DIR"
                )
            weights = None if str(args.weights).lower() == "none" else args.weights
            d = SPEC_DEFAULTS
            spec = FinetuneSpec(
                weights,
                args.mode or d.mode,
                args.head_epochs if args.head_epochs is not None else d.head_epochs,
                args.lr_mult if args.lr_mult is not None else d.lr_mult,
                args.groups if args.groups is not None else d.groups,
                args.cache_features,
            )
            base = TrainConfig(
                model=args.model,
                data=args.data,
                model_kwargs=dict(args.model_arg),
                **FINETUNE_DEFAULTS,
            )
            cfg = config_from_args(args, base).replace(model=args.model)
        resolve_device(cfg.device)  # a bad --device fails before a run folder exists
        # An absurd --input-size is refused with the figure, before anything is allocated.
        check_fits_in_memory(
            cfg.model, cfg.input_size, cfg.batch_size, training=True, model_kwargs=cfg.model_kwargs
        )
        seed_everything(cfg.seed)
        # Data, weights and mode are checked here, before a run folder exists.
        model, bundle, groups = prepare(
            cfg.model,
            cfg.data,
            spec,
            cfg,
            model_kwargs=cfg.model_kwargs,
            quiet=args.quiet or not info.is_main,
            resume=ckpt,  # a resumed run's weights are the checkpoint's, never fetched again
        )
        if resume_from is None and info.is_main:
            out = prepare_run_dir(
                args.out,
                model=cfg.model,
                data=f"{cfg.data}-{spec.mode}",
                resume_command="convzoo finetune --resume",
            )
        if info.is_main and not args.quiet:
            print(f"run folder: {out}")
            print(bundle.describe())
            if bundle.info.get("warning"):
                print(f"warning: {bundle.info['warning']}", file=sys.stderr)
            trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
            print(
                f"mode {spec.mode}: {trainable:,} of "
                f"{sum(p.numel() for p in model.parameters()):,} parameters train at first"
            )
        result = run_prepared(
            model,
            bundle,
            groups,
            spec,
            cfg,
            out,
            resume=resume_from,
            quiet=args.quiet,
            allow_data_change=args.allow_data_change,
        )
        if info.is_main:
            best = f". Predict with: convzoo predict {Path(str(out)) / 'best'} IMAGE..."
            report(result, cfg.epochs, out, best if result.best_val_acc is not None else "")
        failed = False
        return 130 if result.status == "interrupted" else 0
    finally:
        if out is not None and not args.resume:
            discard_run_dir(out, failed=failed)
        cleanup_distributed()
