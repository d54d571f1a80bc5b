"""Training: the loop (:func:`fit`), its callbacks, checkpoints, evaluation, plots and torchrun.

The public face that the CLI and transfer learning build on::

    from convzoo import create_model
    from convzoo.data import build_datasets
    from convzoo.train import TrainConfig, fit

    model = create_model("lenet5", num_classes=10)
    data = build_datasets("digits", model.card, seed=0)
    result = fit(model, data, None, TrainConfig(epochs=30), "runs/lenet5-digits")

Modules: ``loop`` (the core: steps, epochs, resume), ``callbacks`` (checkpoints, metrics files,
curves, progress, Ctrl-C, NaN guard, early stopping, TensorBoard, summary), ``config``
(:class:`TrainConfig`, whose fields also make the CLI's flags), ``optim`` (optimiser and
schedules), ``losses``, ``device`` (device and global torch flags), ``distributed`` (torchrun),
``fingerprint`` (what a resume checks), ``run_dir`` (the run folder and its lock), ``finetune``.
"""

from convzoo.train.callbacks import (
    Callback,
    CheckpointSaver,
    EarlyStopping,
    MetricsLogger,
    ProgressBar,
    RunSummary,
    TrainingDiverged,
)
from convzoo.train.checkpoint import Checkpoint, find_checkpoint, save_checkpoint
from convzoo.train.config import RECIPES, TrainConfig
from convzoo.train.device import resolve_device
from convzoo.train.distributed import DistInfo, dist_info, init_distributed
from convzoo.train.evaluate import EvalResult, evaluate
from convzoo.train.loop import (
    FitResult,
    Trainer,
    bundle_meta,
    fit,
    freeze_batchnorm_of_frozen,
)
from convzoo.train.losses import classification_loss
from convzoo.train.run_dir import prepare_run_dir, release_run_lock

__all__ = [
    "RECIPES",
    "Callback",
    "Checkpoint",
    "CheckpointSaver",
    "DistInfo",
    "EarlyStopping",
    "EvalResult",
    "FitResult",
    "MetricsLogger",
    "ProgressBar",
    "RunSummary",
    "TrainConfig",
    "Trainer",
    "TrainingDiverged",
    "bundle_meta",
    "classification_loss",
    "dist_info",
    "evaluate",
    "find_checkpoint",
    "fit",
    "freeze_batchnorm_of_frozen",
    "init_distributed",
    "prepare_run_dir",
    "release_run_lock",
    "resolve_device",
    "save_checkpoint",
]
