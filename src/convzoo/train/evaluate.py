"""Evaluation: loss, top-1, top-5, per-class precision and recall, and the confusion matrix."""

from __future__ import annotations

from collections.abc import Sized
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from convzoo.errors import ConvzooError
from convzoo.outputs import main_logits
from convzoo.train.distributed import ShardSampler, all_reduce_sum, dist_info


@dataclass
class EvalResult:
    """Metrics of one pass over a data set. ``confusion[i, j]``: images of class i predicted j."""

    loss: float
    top1: float
    top5: float
    count: int
    confusion: Tensor
    classes: list[str]

    @property
    def precision(self) -> list[float]:
        predicted = self.confusion.sum(0).clamp(min=1)
        return (self.confusion.diag() / predicted).tolist()

    @property
    def recall(self) -> list[float]:
        actual = self.confusion.sum(1).clamp(min=1)
        return (self.confusion.diag() / actual).tolist()

    @property
    def has_top5(self) -> bool:
        """Top-5 says something only with 6 classes or more (with 5 or fewer it is 100%)."""
        return self.confusion.shape[0] > 5

    def to_dict(self) -> dict[str, Any]:
        support = self.confusion.sum(1).tolist()
        return {
            "loss": self.loss,
            "top1": self.top1,
            "top5": self.top5 if self.has_top5 else None,
            "count": self.count,
            "per_class": [
                {"class": c, "precision": p, "recall": r, "support": int(s)}
                for c, p, r, s in zip(
                    self.classes, self.precision, self.recall, support, strict=True
                )
            ],
            "confusion": self.confusion.tolist(),
        }


@torch.no_grad()
def evaluate_loader(
    model: nn.Module,
    loader: DataLoader,
    num_classes: int,
    device: torch.device,
    *,
    classes: list[str] | None = None,
    amp: bool = False,
    channels_last: bool = False,
    progress: bool = False,
) -> EvalResult:
    """One pass in eval mode; sums are reduced over processes under torchrun. ``progress``
    shows a progress bar (tqdm, on stderr)."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    top5 = torch.zeros((), dtype=torch.long, device=device)
    confusion = torch.zeros(num_classes * num_classes, dtype=torch.long, device=device)
    k = min(5, num_classes)
    for x, y in tqdm(loader, desc="evaluating", leave=False, disable=not progress):
        x = x.to(device, non_blocking=True)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            logits = main_logits(model(x)).float()
        loss_sum += F.cross_entropy(logits, y, reduction="sum").double()
        pred = logits.argmax(1)
        confusion += torch.bincount(y * num_classes + pred, minlength=num_classes**2)
        top5 += (logits.topk(k, dim=1).indices == y[:, None]).any(1).sum()
    model.train(was_training)
    stats = all_reduce_sum(torch.cat([loss_sum.view(1), top5.double().view(1), confusion.double()]))
    stats = stats.cpu()
    cm = stats[2:].round().long().view(num_classes, num_classes)
    count = int(cm.sum())
    n = max(count, 1)
    return EvalResult(
        loss=float(stats[0]) / n,
        top1=float(cm.diag().sum()) / n,
        top5=float(stats[1]) / n,
        count=count,
        confusion=cm,
        classes=list(classes) if classes else [str(i) for i in range(num_classes)],
    )


def evaluate(
    model: nn.Module,
    dataset: Dataset,
    *,
    classes: list[str] | None = None,
    num_classes: int | None = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    workers: int = 0,
    progress: bool = False,
) -> EvalResult:
    """Evaluate ``model`` on ``dataset`` of ``(image, label)`` pairs (a sized data set)."""
    if device is None:
        device = next(model.parameters()).device
    device = torch.device(device)
    if num_classes is None:
        num_classes = len(classes) if classes else int(getattr(model, "num_classes", 0))
    if not num_classes:
        raise ConvzooError("evaluate needs the class names or num_classes of the model")
    if not isinstance(dataset, Sized):
        raise TypeError(f"evaluate needs a data set with a length, got {type(dataset).__name__}")
    info = dist_info()
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=ShardSampler(len(dataset), info.rank, info.world_size),
        num_workers=workers,
        pin_memory=device.type == "cuda",
    )
    return evaluate_loader(
        model, loader, num_classes, device, classes=classes, progress=progress and info.is_main
    )
