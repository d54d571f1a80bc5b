"""The model registry: one factory for every network of the zoo, and a card for each.

Builders are registered with :func:`register_model`, which refuses duplicate names. A card holds
what a user needs to feed a network and to fine-tune it (paper, default input size, mean/std, the
names of the first conv and of the classifier) without building the network.

The shape is torchvision's ``models/_api.py``: this module imports no network and no weights.
Registration happens when the package imports its model modules (``convzoo.models``); the
weights are applied by the loader that :mod:`convzoo.weights` registers with
:func:`set_weights_loader` when it is imported, so ``create_model(name, weights=...)`` works
wherever the package face (``convzoo``) is imported.

Builder arguments that come from a file (a checkpoint's metadata) are data, not instructions:
:func:`checked_builder_kwargs` lets through only the arguments the builder's own signature
names, never ``weights``, and only plain values that are not URLs.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import inspect
import os
import typing
from collections.abc import Callable, Mapping
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
            input_size=(int(input_size[0]), int(input_size[1]), int(input_size[2])),
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


WeightsLoader = Callable[[nn.Module, str | os.PathLike[str], str], Any]
_weights_loader: WeightsLoader | None = None


def set_weights_loader(loader: WeightsLoader) -> None:
    """Register the function that applies ``weights=`` (``convzoo.weights`` does, on import)."""
    global _weights_loader
    _weights_loader = loader


def list_models(pattern: str | None = None) -> list[str]:
    """Names of the registered networks, in registration order; ``pattern`` is a glob."""
    names = list(_REGISTRY)
    if pattern:
        names = [n for n in names if fnmatch.fnmatch(n, pattern)]
    return names


def _entry(name: str) -> _Entry:
    if not isinstance(name, str):
        raise UnknownModelError(
            f"a model name must be a string such as 'resnet18', not {name!r}; "
            f"`convzoo list` shows every model."
        )
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


def card_of(model: nn.Module) -> ModelCard:
    """The card :func:`create_model` attached to a built network (typed for mypy, which sees
    ``nn.Module`` attributes as tensors or modules)."""
    card = model.__dict__.get("card")
    if not isinstance(card, ModelCard):
        raise ConvzooError(f"{type(model).__name__} was not built by create_model (no card)")
    return card


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
    model.card = dataclasses.replace(  # type: ignore[assignment]
        card,
        num_classes=num_classes,
        input_size=(in_chans, *card.input_size[1:]),
        extra={**card.extra, "kwargs": dict(kwargs)},
    )
    if weights is not None:
        if _weights_loader is None:  # a bug: the package face imports convzoo.weights
            raise RuntimeError("weights= needs convzoo.weights, which is not imported")
        _weights_loader(model, weights, name)
    return model


# Arguments a file may never set: where weights come from is the user's decision alone.
FORBIDDEN_FROM_FILES = frozenset({"weights", "pretrained", "url", "weights_url"})
_PLAIN = (bool, int, float, str, type(None))


def builder_arguments(name: str) -> frozenset[str]:
    """The keyword arguments ``create_model(name, ...)`` accepts, from the builder's own
    signature, following ``**kwargs`` into the class it returns (its return annotation) and up
    that class's ``__init__`` chain while they pass ``**kwargs`` on."""
    builder = _entry(name).builder
    names = {"num_classes", "in_chans"}
    signatures = [inspect.signature(builder)]
    if any(p.kind is p.VAR_KEYWORD for p in signatures[0].parameters.values()):
        try:
            returned = typing.get_type_hints(builder).get("return")
        except (NameError, TypeError):
            returned = None
        for cls in getattr(returned, "__mro__", ()):
            if cls in (nn.Module, object) or "__init__" not in vars(cls):
                continue
            sig = inspect.signature(vars(cls)["__init__"])
            signatures.append(sig)
            if not any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
                break
    for sig in signatures:
        names.update(
            p.name
            for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"
        )
    return frozenset(names - FORBIDDEN_FROM_FILES)


def _is_plain(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(isinstance(v, _PLAIN) and not isinstance(v, (list, tuple)) for v in value)
    return isinstance(value, _PLAIN)


def checked_builder_kwargs(name: str, kwargs: Any, source: str) -> dict[str, Any]:
    """Builder arguments read from a file (``source``), let through an allow-list: only names
    the builder's signature has (:func:`builder_arguments`), never ``weights``, only plain
    values (numbers, booleans, short strings that are not URLs, lists of those).

    Anything else is refused with a :class:`ConvzooError` naming the argument: a checkpoint
    never chooses its own weights, never triggers a download.
    """
    if kwargs is None:
        return {}
    if not isinstance(kwargs, Mapping):
        raise ConvzooError(f"{source}: builder arguments must be a JSON object, not {kwargs!r}")
    allowed = builder_arguments(name)
    checked: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in FORBIDDEN_FROM_FILES:
            raise ConvzooError(
                f"refused: {source} asks for {key}={value!r}; a checkpoint's metadata never "
                f"chooses weights or triggers a download. Give weights yourself (--weights)."
            )
        if key not in allowed:
            raise ConvzooError(
                f"refused: {source} sets {key!r}, which {name} does not take (its arguments: "
                f"{', '.join(sorted(allowed))})"
            )
        texts = value if isinstance(value, (list, tuple)) else [value]
        if not _is_plain(value) or any(
            isinstance(t, str) and ("://" in t or len(t) > 200) for t in texts
        ):
            raise ConvzooError(
                f"refused: {source} sets {key} to {value!r}; builder arguments from a file are "
                f"plain values (numbers, booleans, short names), never URLs or objects"
            )
        checked[key] = value
    return checked


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
