"""Training: the loop (:func:`fit`), checkpoints, evaluation, plots and torchrun support.

The public face that the CLI and transfer learning build on::

    from convzoo import create_model
    from convzoo.data import build_datasets
    from convzoo.train import TrainConfig, fit

    model = create_model("lenet5", num_classes=10)
    data = build_datasets("digits", model.card, seed=0)
    result = fit(model, data, None, TrainConfig(epochs=30), "runs/lenet5-digits")
"""

from convzoo.train.checkpoint import Checkpoint, find_checkpoint, save_checkpoint
from convzoo.train.config import TrainConfig
from convzoo.train.distributed import DistInfo, dist_info, init_distributed
from convzoo.train.evaluate import EvalResult, evaluate
from convzoo.train.loop import (
    Callback,
    FitResult,
    Trainer,
    TrainingDiverged,
    bundle_meta,
    classification_loss,
    fit,
    freeze_batchnorm_of_frozen,
)
from convzoo.train.run_dir import prepare_run_dir

__all__ = [
    "Callback",
    "Checkpoint",
    "DistInfo",
    "EvalResult",
    "FitResult",
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
    "save_checkpoint",
]
