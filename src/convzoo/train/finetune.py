"""Transfer learning: a pretrained network, a new classifier, your images.

Three modes, run by the training loop (:func:`convzoo.train.fit`: its outputs, checkpoints,
resume and torchrun support):

``head``
    Only the new classifier trains; everything else is frozen. PyTorch's transfer-learning
    tutorial calls this "ConvNet as fixed feature extractor".
``full``
    Every parameter trains, at one learning rate (the tutorial's "finetuning the ConvNet").
``staged``
    fastai's ``fine_tune`` (Howard and Gugger 2020, after ULMFiT, Howard and Ruder 2018): the
    head alone for ``head_epochs``, then everything, with discriminative learning rates: the
    earliest layers get ``lr / lr_mult``, the head ``lr``, the layers between geometric steps
    (fastai's ``slice(lr / 100, lr)``). Unlike fastai (a one-cycle per stage, and ``lr`` halved
    for the second) one schedule (``--schedule``) spans both stages.

In ``head`` mode the frozen backbone computes the same features every epoch, so they are computed
once (:func:`compute_features`) and the loop trains the head alone on them (:class:`HeadOnly`):
an epoch then costs a pass through the classifier instead of the whole network. With
augmentation on, the features are those of one augmented view of each image (``cache_features=
False``, ``--no-cache-features``, augments anew every epoch, as the tutorial's loop does).

A frozen BatchNorm stays in eval mode (the loop's :func:`freeze_batchnorm_of_frozen`), so its
running statistics remain the pretrained network's: a handful of new images would otherwise
overwrite them (fastai instead trains BatchNorm by default, ``train_bn=True``; the issue asks for
frozen statistics).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset
from tqdm.auto import tqdm

from convzoo.data import DataBundle
from convzoo.errors import ConvzooError
from convzoo.io import write_json
from convzoo.io.checkpoint import Checkpoint
from convzoo.registry import create_model
from convzoo.train.checkpoint import unwrap
from convzoo.train.config import (
    TrainConfig,
    build_data,
    card_and_builder_kwargs,
    seed_everything,
)
from convzoo.train.device import run_device
from convzoo.train.log import logger
from convzoo.train.loop import Callback, FitResult, Trainer, bundle_meta, fit
from convzoo.weights import (
    WeightsWarning,
    _classifier_modules,
    entry_settings,
    load_state_dict_into,
)

MODES = ("head", "full", "staged")
FINETUNE_JSON = "finetune.json"

# The defaults of PyTorch's transfer-learning tutorial: SGD, lr 0.001, momentum 0.9, no weight
# decay; we keep the loop's cosine schedule (the tutorial steps by 0.1 every 7 epochs).
FINETUNE_DEFAULTS: dict[str, Any] = {
    "epochs": 10,
    "batch_size": 16,
    "lr": 0.001,
    "momentum": 0.9,
    "weight_decay": 0.0,
    "warmup_epochs": 0.0,
}


@dataclass(frozen=True)
class FinetuneSpec:
    """What makes a fine-tuning run, besides the :class:`TrainConfig`; saved as finetune.json."""

    weights: str | None
    mode: str = "staged"
    head_epochs: int = 1
    lr_mult: float = 100.0
    groups: int = 3
    cache_features: bool = True  # head mode: the backbone's features computed once

    def validate(self, epochs: int) -> FinetuneSpec:
        if self.mode not in MODES:
            raise ConvzooError(f"--mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.mode == "staged" and not 0 < self.head_epochs < epochs:
            raise ConvzooError(
                f"staged mode trains the head for --head-epochs ({self.head_epochs}) and then "
                f"everything; it needs 0 < head epochs < --epochs ({epochs})"
            )
        if not self.lr_mult >= 1 or self.groups < 1:
            raise ConvzooError("--lr-mult must be >= 1 and --groups >= 1")
        return self


# The type of each field of a saved FinetuneSpec (what read_spec accepts from finetune.json).
SPEC_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "weights": (str, type(None)),
    "mode": (str,),
    "head_epochs": (int,),
    "lr_mult": (int, float),
    "groups": (int,),
    "cache_features": (bool,),
}


def head_parameter_names(model: nn.Module) -> set[str]:
    """The parameters of the head: the block that holds the final classifier (everything after
    :meth:`forward_features`: ``fc`` of ResNet and GoogLeNet, the ``classifier`` block of
    AlexNet, VGG and LeNet-5), and the last layers of GoogLeNet's auxiliary classifiers (any
    Linear with ``num_classes`` outputs).

    fastai's head is likewise all that follows the convolutional body. For ResNet this is the
    tutorial's fixed feature extractor exactly (only ``fc`` trains); for VGG and AlexNet the
    pretrained fully connected layers train too, the new last layer from scratch.
    """
    heads = _classifier_modules(model)
    block = getattr(model, "classifier_name", "").split(".", 1)[0]
    if block:
        heads.add(block)
    return {
        n
        for n, _ in model.named_parameters()
        if any(n == h or n.startswith(h + ".") for h in heads)
    }


def parameter_groups(model: nn.Module, spec: FinetuneSpec, lr: float) -> list[dict[str, Any]]:
    """Optimizer groups: the backbone in ``spec.groups`` contiguous blocks (in the order the
    network defines its parameters, input first), then the head.

    ``staged``: block ``i`` of ``k`` gets ``lr / lr_mult ** (1 - i / k)``, from ``lr / lr_mult``
    for the first to just under ``lr``; the head ``lr``. ``head`` and ``full``: ``lr`` for all.
    Every parameter is in a group (frozen ones too) so that unfreezing needs no new optimizer.
    """
    heads = head_parameter_names(model)
    named = list(model.named_parameters())
    backbone = [(n, p) for n, p in named if n not in heads]
    head = [p for n, p in named if n in heads]
    if not head:
        raise ConvzooError(f"{type(model).__name__}: no classifier found to fine-tune")
    k = max(1, min(spec.groups, len(backbone)))
    groups: list[dict[str, Any]] = []
    size = math.ceil(len(backbone) / k) if backbone else 0
    for i in range(k if backbone else 0):
        block = backbone[i * size : (i + 1) * size]
        if not block:
            continue
        scale = spec.lr_mult ** -(1 - i / k) if spec.mode == "staged" else 1.0
        groups.append(
            {
                "params": [p for _, p in block],
                "lr": lr * scale,
                "name": f"backbone{i}",
                "first": block[0][0],
            }
        )
    groups.append({"params": head, "lr": lr, "name": "head", "first": "head"})
    return groups


def set_trainable(model: nn.Module, backbone: bool) -> None:
    """Head always trainable; the backbone as asked."""
    heads = head_parameter_names(model)
    for n, p in model.named_parameters():
        p.requires_grad_(backbone or n in heads)


class StagedUnfreeze(Callback):
    """Freeze the backbone before ``head_epochs``, unfreeze it from then on.

    Decided from the epoch number alone, so a resumed run lands in the right stage. (Under
    torchrun the loop wraps the network in DistributedDataParallel anew when the set of
    trainable parameters changes; this callback only sets ``requires_grad``.)
    """

    def __init__(self, spec: FinetuneSpec):
        self.spec = spec
        self._state: bool | None = None

    def _apply(self, trainer: Trainer, epoch: int) -> None:
        if self.spec.mode == "full":
            unfreeze = True
        elif self.spec.mode == "head":
            unfreeze = False
        else:
            unfreeze = epoch >= self.spec.head_epochs
            trainer.unfreeze_epoch = self.spec.head_epochs + 1  # marked on the learning curves
        if unfreeze == self._state:
            return
        set_trainable(unwrap(trainer.model), unfreeze)
        if self._state is not None and unfreeze and not trainer.quiet:
            logger.info(
                f"epoch {epoch + 1}: unfreezing the backbone (discriminative learning rates: "
                + ", ".join(f"{g['name']} {g['lr']:.2g}" for g in trainer.optimizer.param_groups)
                + ")"
            )
        self._state = unfreeze

    def on_fit_start(self, trainer: Trainer) -> None:
        self._apply(trainer, trainer.epoch)

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        self._apply(trainer, epoch)


class HeadOnly(nn.Module):
    """The head of a network (all that follows :meth:`forward_features`) as a module of its own,
    trained on features computed once.

    The whole network is its ``module``, so that :func:`convzoo.train.checkpoint.unwrap` (and
    with it every checkpoint) sees the whole network, as it would in DDP.
    """

    def __init__(self, network: nn.Module):
        super().__init__()
        self.module = network
        self.num_classes = getattr(network, "num_classes", None)

    def forward(self, features: torch.Tensor) -> Any:
        return self.module.forward_head(features)  # type: ignore[operator]


@torch.no_grad()
def compute_features(
    network: nn.Module,
    dataset: Dataset,
    *,
    batch_size: int,
    device: torch.device,
    workers: int = 0,
    progress: bool = False,
) -> TensorDataset:
    """``(forward_features(image), label)`` for every image of ``dataset``, in order, on the CPU.
    The network runs in eval mode (a frozen backbone computes what it computed when trained)."""
    was_training = network.training
    network.eval()
    network.to(device)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    feats, labels = [], []
    batches = tqdm(loader, desc="features", unit="batch", leave=False, disable=not progress)
    for x, y in batches:
        feats.append(network.forward_features(x.to(device)).float().cpu())  # type: ignore[operator]
        labels.append(torch.as_tensor(y))
    network.train(was_training)
    return TensorDataset(torch.cat(feats), torch.cat(labels))


def can_cache_features(model: nn.Module, spec: FinetuneSpec, bundle: Any) -> bool:
    """Head mode, a network with ``forward_features``/``forward_head``, no auxiliary classifier
    (it would need the intermediate maps) and no batch-level mixing of images."""
    return (
        spec.mode == "head"
        and spec.cache_features
        and hasattr(model, "forward_features")
        and hasattr(model, "forward_head")
        and not getattr(model, "aux_logits", False)
        and getattr(bundle, "batch_transform", None) is None
    )


def prepare(
    model_name: str,
    data: Any,
    spec: FinetuneSpec,
    cfg: TrainConfig,
    *,
    model_kwargs: dict[str, Any] | None = None,
    quiet: bool = True,
    resume: Checkpoint | None = None,
) -> tuple[nn.Module, Any, list[dict[str, Any]]]:
    """The data, the pretrained network with a new classifier, and its optimizer groups.

    Everything a user can get wrong (data, weights of another network, mode) fails here, before
    a run folder is made.

    ``resume`` (the checkpoint a resumed run continues from) builds the network with no weights
    and loads the checkpoint's (strict): it holds every weight the run has, and
    ``spec.weights``, read back from ``finetune.json``, is data, never a source to fetch. Only
    the attributes an entry of our own table sets when loaded (:func:`entry_settings`) are set
    again. The weights are loaded here, not only by the loop, so that head mode computes its
    cached features with the checkpoint's backbone.
    """
    spec.validate(cfg.epochs)
    cfg.validate()
    card, kwargs = card_and_builder_kwargs(model_name, model_kwargs)
    # build_data refuses a class folder without images (the data layer's rule for every command).
    bundle = data if isinstance(data, DataBundle) else build_data(cfg, card, data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", WeightsWarning)
        model = create_model(
            model_name,
            num_classes=len(bundle.classes),
            in_chans=card.input_size[0],
            weights=spec.weights if resume is None else None,
            **kwargs,
        )
    if resume is not None:
        for key, value in entry_settings(model_name, spec.weights).items():
            if hasattr(model, key):
                setattr(model, key, value)
        load_state_dict_into(
            model, resume.load_weights(), str(resume.path), model_name, strict=True
        )
    for w in caught:
        if not issubclass(w.category, WeightsWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        elif not quiet:
            # The warning's advice ("train it, e.g. with convzoo finetune") is what this run does.
            text = str(w.message).replace(
                ": train it (e.g. `convzoo finetune`).", ", and this run trains it."
            )
            logger.info(f"new classifier for {len(bundle.classes)} classes: {text}")
    if resume is not None and not quiet:
        logger.info(f"resuming: the network's weights come from {resume.path}")
    elif spec.weights is None and not quiet:
        logger.info("no --weights: every layer starts from random initialisation (from scratch)")
    set_trainable(model, spec.mode == "full")
    return model, bundle, parameter_groups(model, spec, cfg.lr)


def finetune(
    model_name: str,
    data: Any,
    *,
    weights: str | None,
    mode: str = "staged",
    config: TrainConfig | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    head_epochs: int = 1,
    lr_mult: float = 100.0,
    groups: int = 3,
    cache_features: bool = True,
    model_kwargs: dict[str, Any] | None = None,
    quiet: bool = False,
) -> FitResult:
    """Fine-tune ``model_name`` from ``weights`` (an entry name such as ``"imagenet"``, a file,
    a URL or a ``convzoo train`` checkpoint) on ``data`` (a folder of class sub-folders, a
    built-in data set name, or a :class:`convzoo.data.DataBundle`).

    ``config`` defaults to :data:`FINETUNE_DEFAULTS` (the tutorial's optimiser). ``out_dir``
    receives the loop's outputs plus ``finetune.json``; None writes nothing.
    """
    cfg = config or TrainConfig(model=model_name, data=str(data), **FINETUNE_DEFAULTS)
    spec = FinetuneSpec(weights, mode, head_epochs, lr_mult, groups, cache_features)
    # The new classifier's initialisation and the augmentation draw from the global generators.
    seed_everything(cfg.seed)
    model, bundle, param_groups = prepare(
        model_name, data, spec, cfg, model_kwargs=model_kwargs, quiet=quiet
    )
    return run_prepared(model, bundle, param_groups, spec, cfg, out_dir, quiet=quiet)


def run_prepared(
    model: nn.Module,
    bundle: Any,
    param_groups: list[dict[str, Any]],
    spec: FinetuneSpec,
    cfg: TrainConfig,
    out_dir: str | os.PathLike[str] | None,
    *,
    resume: str | os.PathLike[str] | None = None,
    quiet: bool = False,
    allow_data_change: bool = False,
) -> FitResult:
    """Run :func:`convzoo.train.fit` on what :func:`prepare` made; ``finetune.json`` first.

    In head mode (see :func:`can_cache_features`) the backbone's features are computed here,
    once, and the loop trains :class:`HeadOnly` on them."""
    if out_dir is not None and resume is None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        write_json(Path(out_dir) / FINETUNE_JSON, dataclasses.asdict(spec))
    common: dict[str, Any] = dict(
        param_groups=param_groups,
        callbacks=[StagedUnfreeze(spec)],
        resume=resume,
        resume_hint="convzoo finetune --resume {out}",
        quiet=quiet,
        allow_data_change=allow_data_change,
    )
    if not can_cache_features(model, spec, bundle):
        return fit(model, bundle, None, cfg, out_dir, **common)
    # The features are computed on the run's device with the run's CPU threads (the loop's
    # rule, convzoo.threads): torch's default of every core collapses on a busy machine.
    run = run_device(cfg)
    test = getattr(bundle, "test", None)
    if not quiet:
        logger.info(
            f"head mode: computing the frozen backbone's features once ({len(bundle.train)} "
            f"train, {len(bundle.val)} val images)"
        )

    def features(ds: Dataset) -> TensorDataset:
        with run.flags:
            return compute_features(
                model,
                ds,
                batch_size=2 * cfg.batch_size,
                device=run.device,
                workers=cfg.workers,
                progress=not quiet,
            )

    return fit(
        HeadOnly(model),
        features(bundle.train),
        features(bundle.val),
        cfg,
        out_dir,
        classes=bundle.classes,
        data_meta=bundle_meta(bundle, cfg) if isinstance(bundle, DataBundle) else None,
        test_data=features(test) if test is not None else None,
        run_on=run,  # the threads measured once: the features and the head run alike
        **common,
    )


def read_spec(run_dir: str | os.PathLike[str]) -> FinetuneSpec:
    """The :class:`FinetuneSpec` a fine-tuning run folder was started with."""
    path = Path(run_dir) / FINETUNE_JSON
    if not path.is_file():
        raise ConvzooError(
            f"{run_dir} is not a fine-tuning run (no {FINETUNE_JSON}); resume a `convzoo "
            f"train` run with `convzoo train --resume`"
        )
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConvzooError(f"{path}: not valid JSON, damaged? ({err})") from None
    # Data, never instructions: only the fields a spec has, each of its own type.
    kinds = SPEC_FIELD_TYPES
    if not isinstance(saved, dict) or "weights" not in saved:
        raise ConvzooError(f"{path}: not a fine-tuning spec (a JSON object with `weights`)")
    bad = sorted(
        k
        for k, v in saved.items()
        if k not in kinds
        or not isinstance(v, kinds[k])
        or (isinstance(v, bool) and bool not in kinds[k])
    )
    if bad:
        raise ConvzooError(
            f"{path}: unexpected or ill-typed field(s): {', '.join(bad)}; was it edited?"
        )
    return FinetuneSpec(**saved)
