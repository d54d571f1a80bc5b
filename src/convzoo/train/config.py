"""The training configuration: one flat dataclass, saved with every run as ``config.json``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from convzoo.errors import ConvzooError

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "step", "onecycle", "constant")


@dataclass
class TrainConfig:
    """Everything that decides what a training run computes.

    The defaults train LeNet-5 on the digits past 98% validation accuracy in seconds. The
    optimiser follows the classic recipe: SGD with Nesterov momentum 0.9 (Sutskever et al. 2013),
    weight decay, a cosine schedule (Loshchilov and Hutter 2017) after a linear warm-up (Goyal et
    al. 2017); ``label_smoothing`` is Szegedy et al. 2016's; GoogLeNet's auxiliary classifiers are
    weighted ``aux_weight`` = 0.3 (Szegedy et al. 2015, section 5).
    """

    model: str = "lenet5"
    data: str = "digits"
    data_dir: str | None = None
    epochs: int = 30
    batch_size: int = 32  # per process; the global batch is batch_size x world size
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.999)  # AdamW
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    step_size: int = 10  # step schedule: epochs between decays
    gamma: float = 0.1  # step schedule: decay factor
    min_lr_ratio: float = 0.0  # cosine floor as a fraction of lr
    label_smoothing: float = 0.0
    clip_grad: float | None = None  # max global gradient norm
    aux_weight: float = 0.3
    amp: bool | None = None  # None: on where there is a GPU
    channels_last: bool | None = None  # None: on where there is a GPU
    augment: bool = True
    val_fraction: float = 0.2
    input_size: int | None = None
    strict: bool = False
    download: bool = True
    workers: int = 0
    # CPU threads; None: 1 for networks under a million parameters (a LeNet-5 step is too small
    # to split: measured on a busy 2-core machine, 2 threads took 94 ms a step, 1 thread 9 ms),
    # torch's default otherwise.
    threads: int | None = None
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    model_kwargs: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> TrainConfig:
        """Refuse values that would fail later, with a message that says what to pass."""
        if self.optimizer not in OPTIMIZERS:
            raise ConvzooError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ConvzooError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ConvzooError(f"{name} must be a positive integer, got {v!r}")
        if not self.lr > 0:
            raise ConvzooError(f"lr must be positive, got {self.lr}")
        if self.weight_decay < 0 or not 0 <= self.label_smoothing < 1:
            raise ConvzooError("weight_decay must be >= 0 and label_smoothing in [0, 1)")
        if self.warmup_epochs < 0 or self.warmup_epochs >= self.epochs and self.epochs > 1:
            raise ConvzooError(
                f"warmup_epochs ({self.warmup_epochs}) must be >= 0 and below epochs "
                f"({self.epochs})"
            )
        if self.clip_grad is not None and not self.clip_grad > 0:
            raise ConvzooError(f"clip_grad must be positive, got {self.clip_grad}")
        if self.workers < 0:
            raise ConvzooError(f"workers must be >= 0, got {self.workers}")
        return self

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        if "betas" in kw:
            kw["betas"] = tuple(kw["betas"])
        return cls(**kw)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    # The fields that make two runs "the same run" (a resume may change how, not what).
    IDENTITY = ("model", "data", "seed", "model_kwargs", "input_size", "val_fraction")


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (initialisation, augmentation)."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def card_and_builder_kwargs(
    model_name: str, model_kwargs: dict[str, Any] | None
) -> tuple[Any, dict[str, Any]]:
    """The network's card with an ``in_chans`` override applied, and the builder arguments left
    for :func:`convzoo.create_model` (``in_chans`` and ``num_classes`` come from card and data)."""
    from convzoo.registry import model_card

    kwargs = dict(model_kwargs or {})
    kwargs.pop("num_classes", None)
    card = model_card(model_name)
    in_chans = kwargs.pop("in_chans", None)
    if in_chans is not None:
        card = dataclasses.replace(card, input_size=(int(in_chans), *card.input_size[1:]))
    return card, kwargs


def build_data(cfg: TrainConfig, card: Any, data: Any = None) -> Any:
    """The data bundle that ``cfg`` describes (``data`` overrides ``cfg.data``), with the
    transforms of ``card``."""
    from convzoo.data import build_datasets

    return build_datasets(
        cfg.data if data is None else data,
        card,
        data_dir=cfg.data_dir,
        augment=cfg.augment,
        val_fraction=cfg.val_fraction,
        seed=cfg.seed,
        strict=cfg.strict,
        download=cfg.download,
        input_size=cfg.input_size,
    )
