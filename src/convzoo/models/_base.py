"""The face every network of the zoo offers: input checks and the transfer-learning methods."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.fx
from torch import Tensor, nn

from convzoo.errors import ConvzooError


def is_tracing(x: object) -> bool:
    """Whether ``forward`` runs under a tracer rather than on data: ``torch.fx`` (and so
    torchvision's ``create_feature_extractor``), ``torch.export``, ``torch.compile`` or
    ``torch.jit.trace``. The input checks then step aside: a tracer's proxy is no tensor, and
    a check on a symbolic size would become a guard in the graph."""
    return (
        isinstance(x, torch.fx.Proxy)
        or torch.jit.is_tracing()
        or torch.compiler.is_compiling()
        or torch.compiler.is_exporting()
    )


class ClassicNet(nn.Module):
    """Base class of the zoo's networks.

    Subclasses set ``in_chans`` and ``num_classes`` (per network), and as class attributes
    ``min_input_size`` (the smallest height and width the layers accept), ``first_conv`` and
    ``classifier_name`` (dotted module paths); they implement :meth:`forward_features` and
    :meth:`forward_head`. The registered cards take these three facts from the class
    (:meth:`card_facts`), so card and network cannot disagree.
    """

    in_chans: int
    num_classes: int
    min_input_size: int
    first_conv: str = "features.0"
    classifier_name: str = "fc"

    @classmethod
    def card_facts(cls) -> dict[str, Any]:
        """The fields of a :class:`~convzoo.registry.ModelCard` that the class defines:
        ``min_input_size``, ``first_conv`` and ``classifier``, for ``register_model(**...)``."""
        return {
            "min_input_size": cls.min_input_size,
            "first_conv": cls.first_conv,
            "classifier": cls.classifier_name,
        }

    def check_input(self, x: Tensor) -> None:
        """Refuse an input that the layers would fail on deep inside, with a message that helps.

        Nothing is checked under a tracer (see :func:`is_tracing`)."""
        if is_tracing(x):
            return
        name = getattr(getattr(self, "card", None), "name", type(self).__name__)
        accepted = f"(N, {self.in_chans}, H, W) with H and W at least {self.min_input_size}"
        if not isinstance(x, Tensor):
            raise ConvzooError(f"{name} expects a tensor of shape {accepted}, got {type(x)}")
        shape = tuple(x.shape)
        if x.dim() != 4:
            hint = " (add a batch dimension with x.unsqueeze(0))" if x.dim() == 3 else ""
            raise ConvzooError(
                f"{name} expects a 4-D input of shape {accepted}; got shape {shape}{hint}"
            )
        if shape[1] != self.in_chans:
            raise ConvzooError(
                f"{name} expects {self.in_chans} input channel(s), shape {accepted}; got shape "
                f"{shape}. Build it with create_model(..., in_chans={shape[1]}) to take "
                f"{shape[1]} channel(s)."
            )
        if min(shape[2], shape[3]) < self.min_input_size:
            raise ConvzooError(
                f"{name}: input of {shape[2]}x{shape[3]} is too small; it accepts {accepted}, "
                f"default {self._default_size()}; got shape {shape}"
            )

    def _default_size(self) -> str:
        card = getattr(self, "card", None)
        if card is None:
            return "see the model card"
        c, h, w = card.input_size
        return f"{c}x{h}x{w}"

    def forward_features(self, x: Tensor) -> Tensor:
        """The feature maps before the global pooling and the classifier."""
        raise NotImplementedError

    def forward_head(self, x: Tensor) -> Tensor:
        """Pooling and classifier on the output of :meth:`forward_features`."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        """The final classification layer (the one :meth:`reset_classifier` replaces)."""
        module: nn.Module = self
        for part in self.classifier_name.split("."):
            module = getattr(module, part)
        return module

    def _set_classifier(self, layer: nn.Module) -> None:
        parent: nn.Module = self
        *path, last = self.classifier_name.split(".")
        for part in path:
            parent = getattr(parent, part)
        setattr(parent, last, layer)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the final layer by a freshly initialised one with ``num_classes`` outputs."""
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ConvzooError(f"num_classes must be a positive integer, got {num_classes!r}")
        old = self.get_classifier()
        if not isinstance(old, nn.Linear):
            raise TypeError(f"{type(self).__name__}: reset_classifier expects an nn.Linear head")
        new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
        new = new.to(device=old.weight.device, dtype=old.weight.dtype)
        self._set_classifier(new)
        self.num_classes = num_classes
        card = getattr(self, "card", None)
        if card is not None:
            self.card = dataclasses.replace(card, num_classes=num_classes)
