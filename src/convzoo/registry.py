"""The model registry: one factory for every network of the zoo, and a card for each.

Builders are registered with :func:`register_model`, which refuses duplicate names. A card holds
what a user needs to feed a network and to fine-tune it (paper, default input size, mean/std, the
names of the first conv and of the classifier) without building the network.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from convzoo.errors import ConvzooError, UnknownModelError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelCard:
    """What is known about a registered network before it is built."""

    name: str
    family: str
    paper: str
    year: int
    input_size: tuple[int, int, int]
    min_input_size: int
    first_conv: str
    classifier: str
    num_classes: int = 1000
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    torchvision_twin: str | None = None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def in_chans(self) -> int:
        return self.input_size[0]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class _Entry:
    builder: Callable[..., nn.Module]
    card: ModelCard


_REGISTRY: dict[str, _Entry] = {}


def register_model(
    *,
    family: str,
    paper: str,
    year: int,
    input_size: tuple[int, int, int],
    min_input_size: int,
    first_conv: str,
    classifier: str,
    num_classes: int = 1000,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
    torchvision_twin: str | None = None,
    notes: str = "",
    name: str | None = None,
    **extra: Any,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a model builder under its function name (or ``name``) with its card."""

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        model_name = name or builder.__name__
        if model_name in _REGISTRY:
            raise ValueError(f"a model named {model_name!r} is already registered")
        card = ModelCard(
            name=model_name,
            family=family,
            paper=paper,
            year=year,
            input_size=tuple(input_size),
            min_input_size=min_input_size,
            first_conv=first_conv,
            classifier=classifier,
            num_classes=num_classes,
            mean=tuple(mean),
            std=tuple(std),
            torchvision_twin=torchvision_twin,
            notes=notes,
            extra=dict(extra),
        )
        _REGISTRY[model_name] = _Entry(builder, card)
        return builder

    return decorate


def _ensure_models_imported() -> None:
    # The model modules register themselves on import.
    import convzoo.models  # noqa: F401


def list_models(pattern: str | None = None) -> list[str]:
    """Names of the registered networks, in registration order; ``pattern`` is a glob."""
    _ensure_models_imported()
    names = list(_REGISTRY)
    if pattern:
        names = [n for n in names if fnmatch.fnmatch(n, pattern)]
    return names


def _entry(name: str) -> _Entry:
    _ensure_models_imported()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownModelError(
            f"unknown model {name!r}.{hint} `convzoo list` shows every model."
        ) from None


def model_card(name: str) -> ModelCard:
    """The card of a registered network."""
    return _entry(name).card


def create_model(
    name: str,
    *,
    num_classes: int | None = None,
    in_chans: int | None = None,
    weights: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered network.

    ``num_classes`` and ``in_chans`` override the card's; other keyword arguments go to the
    builder (e.g. ``aux_logits=False`` for GoogLeNet). ``weights`` is a weight entry name such
    as ``"imagenet"``, a local file (safetensors, or a ``.pth``/``.pt`` state dict read with
    ``weights_only=True``) or a URL.
    """
    entry = _entry(name)
    card = entry.card
    if num_classes is None:  # the card's: 10 for the LeNets, 1000 for the ImageNet networks
        num_classes = card.num_classes
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ConvzooError(f"num_classes must be a positive integer, got {num_classes!r}")
    if in_chans is None:
        in_chans = card.in_chans
    if not isinstance(in_chans, int) or in_chans < 1:
        raise ConvzooError(f"in_chans must be a positive integer, got {in_chans!r}")
    try:
        model = entry.builder(num_classes=num_classes, in_chans=in_chans, **kwargs)
    except TypeError as err:
        raise ConvzooError(f"{name}: bad argument: {err}") from None
    model.card = dataclasses.replace(
        card,
        num_classes=num_classes,
        input_size=(in_chans, *card.input_size[1:]),
        extra={**card.extra, "kwargs": dict(kwargs)},
    )
    if weights is not None:
        from convzoo.weights import load_weights

        load_weights(model, weights, model_name=name)
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters, tied parameters counted once."""
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total


def parameter_count(name: str, **kwargs: Any) -> int:
    """Parameters of a registered network, counted on the meta device (no memory, no init)."""
    with torch.device("meta"):
        model = create_model(name, **kwargs)
    return count_parameters(model)
