"""What :func:`convzoo.train.fit` returns, and the metrics row of one epoch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class FitResult:
    """What :func:`fit` returns. ``status``: "finished", "early-stopped", "interrupted" or
    "diverged"; ``best_val_acc`` is None when no epoch finished."""

    status: str
    out_dir: Path | None
    history: list[dict[str, Any]]
    best_val_acc: float | None
    best_epoch: int
    epochs_done: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def last(self) -> dict[str, Any]:
        return self.history[-1] if self.history else {}


def epoch_metrics(
    epoch: int,
    totals: Sequence[float],
    val: Any,
    lr: float,
    seconds: float,
    images_per_s: float,
) -> dict[str, Any]:
    """One epoch's row of ``metrics.csv`` (:data:`convzoo.train.callbacks.METRIC_FIELDS`):
    ``totals`` are the summed training loss, correct count and image count of every process,
    ``val`` the validation result (``loss``, ``top1``, ``top5``), ``epoch`` counted from 1."""
    count = max(totals[2], 1)
    return {
        "epoch": epoch,
        "train_loss": totals[0] / count,
        "train_acc": totals[1] / count,
        "val_loss": val.loss,
        "val_acc": val.top1,
        "val_top5": val.top5,
        "lr": lr,
        "seconds": round(seconds, 3),
        "images_per_s": round(images_per_s, 1),
    }
