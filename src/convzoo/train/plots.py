"""Learning curves and confusion matrices as PNG files.

matplotlib's object API (``matplotlib.figure.Figure`` renders without pyplot and without a
display), so that nothing here switches the caller's global backend; the PNG goes through the
atomic writer (:mod:`convzoo.io`), so a reader never sees half a picture. matplotlib is imported
inside the functions: it costs about half a second, which a run pays once at its end.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from convzoo.io import write_bytes


def _figure(**kwargs: Any) -> Any:
    from matplotlib.figure import Figure  # ~0.5 s import: only when a plot is drawn

    return Figure(layout="constrained", **kwargs)


def _save(fig: Any, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    write_bytes(path, buf.getvalue())
    return path


def plot_learning_curves(
    history: Sequence[dict[str, Any]],
    path: str | os.PathLike[str],
    *,
    title: str = "",
    best_epoch: int | None = None,
    unfreeze_epoch: int | None = None,
) -> Path:
    """:func:`learning_curves_figure` saved as a PNG at ``path``."""
    fig = learning_curves_figure(
        history, title=title, best_epoch=best_epoch, unfreeze_epoch=unfreeze_epoch
    )
    return _save(fig, Path(path))


def learning_curves_figure(
    history: Sequence[dict[str, Any]],
    *,
    title: str = "",
    best_epoch: int | None = None,
    unfreeze_epoch: int | None = None,
) -> Any:
    """Loss and accuracy per epoch, training and validation, side by side (a ``Figure``).

    Epochs are whole numbers on the axis; ``best_epoch`` (the one ``best/`` holds) is marked on
    both panels, and ``unfreeze_epoch`` (staged fine-tuning: the first epoch that trains the
    whole network) by a dashed line.
    """
    from matplotlib.ticker import MaxNLocator

    epochs = [h["epoch"] for h in history]
    fig = _figure(figsize=(10, 4.2))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for key, label, style in (("train_loss", "train", "-o"), ("val_loss", "val", "-s")):
        ax_loss.plot(epochs, [h[key] for h in history], style, label=label, markersize=3)
    for key, label, style in (("train_acc", "train", "-o"), ("val_acc", "val", "-s")):
        ax_acc.plot(epochs, [100 * h[key] for h in history], style, label=label, markersize=3)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="top-1 accuracy (%)", title="accuracy")
    best = next((h for h in history if h["epoch"] == best_epoch), None)
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if unfreeze_epoch is not None:
            ax.axvline(unfreeze_epoch - 0.5, color="0.4", ls="--", lw=1, label="backbone unfrozen")
        if best is not None:
            ax.axvline(best_epoch, color="tab:green", ls=":", lw=1.2)
        ax.grid(alpha=0.3)
    if best is not None:
        ax_acc.plot(
            [best_epoch],
            [100 * best["val_acc"]],
            "*",
            color="tab:green",
            markersize=12,
            label=f"best: epoch {best_epoch}, {100 * best['val_acc']:.2f}%",
        )
        ax_loss.plot(
            [best_epoch],
            [best["val_loss"]],
            "*",
            color="tab:green",
            markersize=12,
            label=f"best epoch ({best_epoch})",
        )
    for ax in (ax_loss, ax_acc):
        ax.legend()
    fig.suptitle(title or "learning curves")
    return fig


def plot_confusion_matrix(
    confusion: Any, classes: Sequence[str], path: str | os.PathLike[str], title: str = ""
) -> Path:
    """Row-normalised confusion matrix (rows: true class, columns: predicted) with counts."""
    import numpy as np

    path = Path(path)
    cm = np.asarray(confusion, dtype=float)
    rows = cm.sum(1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    n = len(classes)
    size = min(5 + 0.45 * n, 24)  # constrained layout keeps a long title inside small figures
    fig = _figure(figsize=(size, size))
    ax = fig.subplots()
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    if n <= 30:
        ax.set_xticks(range(n), classes, rotation=90 if n > 5 else 0)
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
                        fontsize=7 if n > 5 else 12,
                        color="white" if norm[i, j] > 0.5 else "black",
                    )
    ax.set(xlabel="predicted", ylabel="true")
    ax.set_title(title or "confusion matrix", wrap=True)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return _save(fig, path)
