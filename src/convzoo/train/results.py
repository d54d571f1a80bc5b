"""What :func:`convzoo.train.fit` returns."""

from __future__ import annotations

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
