"""Figures of the course tools: image grids, the confusion matrix, and how they are saved.

matplotlib is imported inside the functions that draw: it costs about half a second to import
and most convzoo commands draw nothing. Only the object API is used (``Figure()``, no pyplot, no
``matplotlib.use``), so nothing global changes for a program that has its own backend.
"""

from __future__ import annotations

import io
import math
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from convzoo.io import write_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches, laid out by matplotlib's constrained layout."""
    from matplotlib.figure import Figure  # lazy: see the module docstring

    return Figure(figsize=(width, height), layout="constrained")


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: int = 110) -> Path:
    """Render ``fig`` (format from the suffix: png, svg, pdf) and write it atomically.

    ``bbox_inches="tight"`` grows the canvas to hold every label and title, so none is clipped.
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    write_bytes(path, buf.getvalue())
    return path


def denormalize(x: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """Undo ``Normalize(mean, std)`` on ``(..., C, H, W)`` images; values clipped to [0, 1]."""
    m = torch.tensor(list(mean), dtype=x.dtype).view(-1, 1, 1)
    s = torch.tensor(list(std), dtype=x.dtype).view(-1, 1, 1)
    return (x.detach().cpu() * s + m).clamp(0.0, 1.0)


def displayable(x: Tensor, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """A normalised ``C x H x W`` input as an image array: ``H x W`` (gray) or ``H x W x 3``."""
    img = denormalize(x, mean, std)
    if img.shape[0] == 1:
        return img[0].numpy()
    return img.permute(1, 2, 0).numpy()


def image_grid(
    images: Sequence[np.ndarray],
    captions: Sequence[str],
    *,
    title: str = "",
    cell: float = 1.9,
    ncols: int | None = None,
    colors: Sequence[str] | None = None,
) -> Figure:
    """A grid of images, each with its caption above it (in ``colors[i]``, default black);
    gray images are drawn with 0 black and 1 white."""
    n = len(images)
    ncols = ncols or max(1, min(n, math.ceil(math.sqrt(n))))
    nrows = max(1, math.ceil(n / ncols))
    lines = max((c.count("\n") + 1 for c in captions), default=1)
    fig = new_figure(cell * ncols, (cell + 0.16 * lines) * nrows + (0.4 if title else 0))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= n:
            continue
        img = images[i]
        if img.ndim == 2:
            ax.imshow(img, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        else:
            ax.imshow(img, interpolation="nearest")
        ax.set_title(captions[i], fontsize=8, color=colors[i] if colors else "black")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def wrap_title(text: str, width_inches: float, fontsize: float = 10) -> str:
    """``text`` broken into lines that fit ``width_inches`` at ``fontsize`` points."""
    chars = max(20, int(width_inches * 72 / (0.55 * fontsize)))
    return "\n".join(textwrap.wrap(text, chars)) if text else text


def confusion_figure(confusion: Any, classes: Sequence[str], *, title: str = "") -> Figure:
    """Row-normalised confusion matrix (rows: true class, columns: predicted) with the counts.

    The figure is at least 5.5 inches wide and the title is wrapped to its width, so a 2-class
    matrix keeps its whole title (at 4.9 inches its title was clipped).
    """
    cm = np.asarray(confusion, dtype=float)
    rows = cm.sum(1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    n = len(classes)
    size = min(max(5.5, 3 + 0.45 * n), 24)
    fig = new_figure(size, size)
    ax = fig.add_subplot()
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    if n <= 30:
        ax.set_xticks(range(n), list(classes), rotation=90)
        ax.set_yticks(range(n), list(classes))
        fontsize = 9 if n <= 10 else 7
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(
                        j,
                        i,
                        str(int(cm[i, j])),
                        ha="center",
                        va="center",
                        fontsize=fontsize,
                        color="white" if norm[i, j] > 0.5 else "black",
                    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(wrap_title(title or "confusion matrix", size), fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    return fig


def plot_confusion_matrix(
    confusion: Any,
    classes: Sequence[str],
    path: str | os.PathLike[str],
    *,
    title: str = "",
) -> Path:
    """:func:`confusion_figure` written to ``path`` (PNG or SVG)."""
    return save_figure(confusion_figure(confusion, classes, title=title), path)
