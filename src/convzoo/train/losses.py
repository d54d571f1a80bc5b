"""The training loss: cross-entropy on hard labels or on soft targets (mixup, CutMix)."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor


def classification_loss(
    output: Any, target: Tensor, *, label_smoothing: float = 0.0, aux_weight: float = 0.3
) -> tuple[Tensor, Tensor]:
    """Cross-entropy on the main logits, plus ``aux_weight`` x the auxiliary classifiers' losses
    when the output is GoogLeNet's namedtuple (Szegedy et al. 2015: "weighted by 0.3").

    ``target`` is a vector of class indices, or an ``N x classes`` matrix of probabilities (what
    torchvision's ``MixUp`` and ``CutMix`` give), which ``F.cross_entropy`` takes as it is.
    Returns ``(loss, logits)``."""
    if isinstance(output, tuple):
        logits, *aux = output
        loss = F.cross_entropy(logits, target, label_smoothing=label_smoothing)
        for a in aux:
            if a is not None:
                loss = loss + aux_weight * F.cross_entropy(
                    a, target, label_smoothing=label_smoothing
                )
        return loss, logits
    return F.cross_entropy(output, target, label_smoothing=label_smoothing), output


def hard_labels(target: Tensor) -> Tensor:
    """Class indices of ``target``: itself, or the most probable class of soft targets."""
    return target.argmax(1) if target.dim() == 2 else target
