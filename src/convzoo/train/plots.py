"""Learning curves and confusion matrices as PNG files (matplotlib, no display needed)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must come before pyplot
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    # Temporary file, then rename: a reader never sees half a PNG.
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)


def plot_learning_curves(history: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Loss and accuracy per epoch, training and validation, side by side."""
    plt = _pyplot()
    path = Path(path)
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label, style in (("train_loss", "train", "-o"), ("val_loss", "val", "-s")):
        ax_loss.plot(epochs, [h[key] for h in history], style, label=label, markersize=3)
    for key, label, style in (("train_acc", "train", "-o"), ("val_acc", "val", "-s")):
        ax_acc.plot(epochs, [100 * h[key] for h in history], style, label=label, markersize=3)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="top-1 accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path


def plot_confusion_matrix(
    confusion: Any, classes: Sequence[str], path: str | os.PathLike[str], title: str = ""
) -> Path:
    """Row-normalised confusion matrix (rows: true class, columns: predicted) with counts."""
    import numpy as np

    plt = _pyplot()
    path = Path(path)
    cm = np.asarray(confusion, dtype=float)
    rows = cm.sum(1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    n = len(classes)
    size = min(4 + 0.45 * n, 24)
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    if n <= 30:
        ax.set_xticks(range(n), classes, rotation=90)
        ax.set_yticks(range(n), classes)
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(
                        j,
                        i,
                        int(cm[i, j]),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black",
                    )
    ax.set(xlabel="predicted", ylabel="true", title=title or "confusion matrix")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path
