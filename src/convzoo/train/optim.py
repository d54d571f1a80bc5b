"""The optimiser and the learning-rate schedule that a :class:`TrainConfig` names."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from convzoo.train.config import TrainConfig


def build_optimizer(
    params: Iterable[nn.Parameter] | Sequence[dict[str, Any]], cfg: TrainConfig
) -> torch.optim.Optimizer:
    """SGD with (Nesterov) momentum, or AdamW (Loshchilov and Hutter 2019); ``params`` may be
    parameter groups with their own ``lr`` / ``weight_decay``."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=cfg.lr,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
            nesterov=cfg.nesterov and cfg.momentum > 0,
        )
    return torch.optim.AdamW(
        params, lr=cfg.lr, betas=(cfg.betas[0], cfg.betas[1]), weight_decay=cfg.weight_decay
    )


class PlateauSchedule:
    """torch's ``ReduceLROnPlateau`` on the validation loss, after a linear warm-up.

    The warm-up is a per-step ``LambdaLR`` that is no longer stepped once it reaches the full
    rate: stepping it again would recompute the rate from the base and undo the plateau's
    reductions. :meth:`step` is called after every training step, :meth:`step_epoch` with each
    epoch's validation loss.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: TrainConfig, warmup_steps: int):
        self.warmup_steps = warmup_steps
        self.warmup = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: (s + 1) / (warmup_steps + 1) if s < warmup_steps else 1.0
        )
        self.plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=cfg.gamma, patience=cfg.plateau_patience
        )

    def step(self) -> None:
        if self.warmup.last_epoch < self.warmup_steps:
            self.warmup.step()

    def step_epoch(self, val_loss: float) -> None:
        if self.warmup.last_epoch >= self.warmup_steps:
            self.plateau.step(val_loss)

    def state_dict(self) -> dict[str, Any]:
        return {"warmup": self.warmup.state_dict(), "plateau": self.plateau.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.warmup.load_state_dict(state["warmup"])
        self.plateau.load_state_dict(state["plateau"])


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler | PlateauSchedule:
    """A per-step schedule: linear warm-up, then cosine, step or constant; one-cycle (Smith and
    Topin 2018, torch's OneCycleLR, whose warm-up is ``warmup_epochs``); or reduce-on-plateau."""
    total = max(1, cfg.epochs * steps_per_epoch)
    warmup = min(int(round(cfg.warmup_epochs * steps_per_epoch)), total - 1)
    if cfg.schedule == "plateau":
        return PlateauSchedule(optimizer, cfg, warmup)
    if cfg.schedule == "onecycle":
        max_lrs = [g["lr"] for g in optimizer.param_groups]
        # OneCycleLR divides by (pct_start x total - 1): at least two warm-up steps.
        pct = max(warmup, 2) / total if cfg.warmup_epochs else 0.3
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=max_lrs,
            total_steps=total,
            pct_start=min(pct, 0.99),
            cycle_momentum=cfg.optimizer == "sgd" and cfg.momentum > 0,
        )

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if cfg.schedule == "cosine":
            t = (step - warmup) / max(1, total - warmup)
            return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))
        if cfg.schedule == "step":
            return cfg.gamma ** ((step // steps_per_epoch) // max(1, cfg.step_size))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
