"""The images a trained network gets most wrong, and the classes it confuses.

After fastai's ``ClassificationInterpretation``: ``top_losses`` sorts the images by their
cross-entropy, ``plot_top_losses`` shows the worst with their true class, the predicted class and
its probability, and ``most_confused`` lists the off-diagonal cells of the confusion matrix,
largest first.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from convzoo.course.figures import displayable, image_grid, save_figure
from convzoo.errors import ConvzooError
from convzoo.outputs import main_logits


@dataclass
class Predictions:
    """One pass over a data set, image by image (in the data set's order).

    ``losses[i]``: cross-entropy of image ``i``; ``probs[i]``: its softmax over the classes;
    ``preds[i]``: the predicted class.
    """

    losses: Tensor
    targets: Tensor
    probs: Tensor
    preds: Tensor = field(init=False)

    def __post_init__(self) -> None:
        self.preds = self.probs.argmax(1)

    def __len__(self) -> int:
        return int(self.targets.shape[0])


@torch.no_grad()
def collect_predictions(
    model: nn.Module,
    dataset: Dataset,
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    workers: int = 0,
    progress: bool = False,
) -> Predictions:
    """Per-image losses and class probabilities of ``model`` (in eval mode) on ``dataset``."""
    if device is None:
        device = next(model.parameters()).device
    device = torch.device(device)
    was_training = model.training
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    losses, targets, probs = [], [], []
    for x, y in tqdm(loader, desc="predicting", leave=False, disable=not progress):
        logits = main_logits(model(x.to(device))).float().cpu()
        losses.append(F.cross_entropy(logits, y, reduction="none"))
        targets.append(y)
        probs.append(logits.softmax(1))
    model.train(was_training)
    if not targets:
        raise ConvzooError("the data set is empty: there is nothing to predict")
    return Predictions(torch.cat(losses), torch.cat(targets), torch.cat(probs))


def top_losses(predictions: Predictions, k: int) -> list[int]:
    """Indices of the ``k`` images with the largest loss, worst first."""
    k = min(k, len(predictions))
    return predictions.losses.topk(k).indices.tolist()


def most_confused(
    confusion: Any, classes: Sequence[str], min_count: int = 1
) -> list[tuple[str, str, int]]:
    """``(true class, predicted class, count)`` of the off-diagonal cells holding at least
    ``min_count`` images, most frequent first (fastai's ``most_confused``)."""
    cm = torch.as_tensor(confusion)
    pairs = [
        (classes[i], classes[j], int(cm[i, j]))
        for i in range(cm.shape[0])
        for j in range(cm.shape[1])
        if i != j and int(cm[i, j]) >= min_count
    ]
    return sorted(pairs, key=lambda p: (-p[2], p[0], p[1]))


def _short(name: str, width: int = 14) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def plot_top_losses(
    dataset: Dataset,
    predictions: Predictions,
    classes: Sequence[str],
    k: int,
    path: str | os.PathLike[str],
    *,
    mean: Sequence[float],
    std: Sequence[float],
    title: str = "",
) -> Path:
    """A grid of the ``k`` worst images (as the network saw them, de-normalised with ``mean``
    and ``std``), each captioned with its true class, the predicted class with its probability,
    and its loss; the captions of misclassified images are red."""
    if k < 1:
        raise ConvzooError(f"--top-losses takes a positive number of images, got {k}")
    worst = top_losses(predictions, k)
    images, captions, colors = [], [], []
    for i in worst:
        x, _ = dataset[i]
        images.append(displayable(x, mean, std))
        t, p = int(predictions.targets[i]), int(predictions.preds[i])
        captions.append(
            f"true {_short(classes[t])}\n"
            f"pred {_short(classes[p])} {100 * float(predictions.probs[i, p]):.0f}%\n"
            f"loss {float(predictions.losses[i]):.2f}"
        )
        colors.append("tab:red" if p != t else "black")
    fig = image_grid(
        images,
        captions,
        colors=colors,
        title=(title or f"the {len(worst)} largest losses") + " (red: misclassified)",
    )
    return save_figure(fig, path)
