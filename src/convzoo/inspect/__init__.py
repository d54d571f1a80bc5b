"""Structural-details tables for any network: shapes, parameters and costs of every layer.

``summarize(model_or_name, input_size=...)`` traces the network on the meta device
(:mod:`convzoo.inspect.trace`), counts each operator by the rules of
:mod:`convzoo.inspect.costs` and returns a :class:`~convzoo.inspect.table.SummaryTable` whose
``total_params`` and ``total_macs`` are the headline numbers. ``audit`` compares a network with
the lecture's and the papers' published tables (:mod:`convzoo.inspect.audit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

import convzoo.weights  # noqa: F401  (registers the networks and the weights loader)
from convzoo.errors import ConvzooError
from convzoo.inspect.table import FORMATS, SummaryTable, Totals, build_table, lecture_names
from convzoo.inspect.trace import LayerRecord, TraceError, meta_build, trace
from convzoo.registry import create_model, model_card

__all__ = [
    "FORMATS",
    "LayerRecord",
    "SummaryTable",
    "TraceError",
    "Totals",
    "summarize",
]


def _input_shape(
    input_size: Sequence[int] | str | int | None,
    default: Sequence[int],
    batch_size: int,
    *,
    in_chans: int | None = None,
) -> tuple[int, ...]:
    """``(N, C, H, W)`` from ``CxHxW``, ``HxW`` or one side (``224``: the card's channels, or
    the default's, at 224x224)."""
    if input_size is None:
        input_size = default
    # "224" or 224 on its own is one side (a tuple of one number is a 1-D input, as given)
    text = input_size if isinstance(input_size, str) else None
    side_only = isinstance(input_size, int) or (
        isinstance(input_size, str) and input_size.strip().isdigit()
    )
    if isinstance(input_size, str):
        try:
            input_size = tuple(int(p) for p in input_size.lower().replace("×", "x").split("x"))
        except ValueError:
            raise ConvzooError(
                f"bad input size {input_size!r}; write it as CxHxW, e.g. 3x224x224, or give "
                "one side, e.g. 224"
            ) from None
    if isinstance(input_size, int):
        input_size = (input_size,)
    size = tuple(int(s) for s in input_size)
    chans = in_chans if in_chans is not None else (int(default[0]) if len(default) == 3 else 3)
    if side_only and len(default) == 3:  # a square image with the network's channels
        size = (chans, size[0], size[0])
    elif text is not None and len(size) != len(default):
        raise ConvzooError(
            f"input size {text!r} has {len(size)} dimension(s), the network takes "
            f"{len(default)} ({'x'.join(map(str, default))}): write all of them, e.g. "
            f"{'x'.join(map(str, default))}, or one side, e.g. {default[-1]}"
        )
    if not size or any(s < 1 for s in size):
        raise ConvzooError(f"bad input size {input_size!r}: every dimension must be positive")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConvzooError(f"batch_size must be a positive integer, got {batch_size!r}")
    return (batch_size, *size)


def summarize(
    model_or_name: nn.Module | str,
    input_size: Sequence[int] | str | int | None = None,
    batch_size: int = 1,
    *,
    convention: str = "real",
    depth: int | None = None,
    columns: Sequence[str] | None = None,
    dtype: torch.dtype = torch.float32,
    **model_kwargs: Any,
) -> SummaryTable:
    """The structural-details table of a network, for one input size.

    ``model_or_name`` is a registered name (built on the meta device: no weights allocated) or
    any ``nn.Module`` (ours, torchvision's, a user's; its weights are left untouched).
    ``input_size`` is ``(C, H, W)``, ``"CxHxW"`` or one side (``224`` is the network's
    channels at 224x224); by default the card's size for a registered
    name and ``(3, 224, 224)`` for a module. ``convention="lecture"`` counts as the lecture's
    tables do (conv layers with biases, no batch norm, no projection shortcuts).
    ``model_kwargs`` go to :func:`convzoo.create_model` (e.g. ``num_classes=10``).

    The result has ``.rows`` (one :class:`LayerRecord` per layer call), ``.totals``,
    ``.total_params``, ``.total_macs`` (multiply-adds; FLOPs = 2 x MACs) and
    ``.render(fmt)`` for ``text``, ``md``, ``csv``, ``json``, ``latex`` and ``html``.
    """
    card: Any  # a ModelCard, or whatever a user's module carries
    if isinstance(model_or_name, str):
        card = model_card(model_or_name)
        name = model_or_name
        default = card.input_size
        card_chans = card.in_chans
        if input_size is not None and "in_chans" not in model_kwargs:
            c = _input_shape(input_size, default, 1, in_chans=card.in_chans)[1]
            if c != card.in_chans:
                model_kwargs["in_chans"] = c
        # the card's class count (LeNet-5: 10), not create_model's default of 1000
        model_kwargs.setdefault("num_classes", card.num_classes)
        with meta_build():
            model = create_model(model_or_name, **model_kwargs)
    elif isinstance(model_or_name, nn.Module):
        if model_kwargs:
            raise ConvzooError(
                f"model keyword arguments {sorted(model_kwargs)} only apply to a registered name"
            )
        model = model_or_name
        card = getattr(model, "card", None)
        name = getattr(card, "name", None) or type(model).__name__
        default = getattr(card, "input_size", None) or (3, 224, 224)
        card_chans = int(default[0])
    else:
        raise ConvzooError(
            f"summarize expects a model name or an nn.Module, got {type(model_or_name).__name__}"
        )
    shape = _input_shape(input_size, default, batch_size, in_chans=card_chans)
    result = trace(model, shape, dtype=dtype, model_name=name)
    table = build_table(
        result,
        model_name=name,
        batch_size=batch_size,
        convention=convention,
        depth=depth,
        columns=columns,
    )
    family = getattr(card, "family", "") or ""
    table.lecture = lecture_names([r for r in result.records], family)
    table.trace = result
    return table
