"""What a network takes: channels, height, width and its card's normalisation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from convzoo.errors import ConvzooError


@dataclass(frozen=True)
class Geometry:
    """What the network takes: channels, height, width, and the normalisation of its card."""

    channels: int
    height: int
    width: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def input_size(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)


def _fit_stats(stats: Sequence[float], channels: int) -> tuple[float, ...]:
    # A card with 3-channel statistics fed a 1-channel network (or the reverse) gets averaged or
    # repeated statistics, which is what converting the image itself does.
    stats = tuple(float(s) for s in stats)
    if len(stats) == channels:
        return stats
    if channels == 1:
        return (sum(stats) / len(stats),)
    if len(stats) == 1:
        return stats * channels
    raise ConvzooError(f"cannot adapt normalisation {stats} to {channels} channels")


def geometry_from_card(card: Any, input_size: int | Sequence[int] | None = None) -> Geometry:
    """The network's input geometry from its card, with an optional size override.

    ``input_size`` is an int (square) or ``(H, W)``; it must be at least the card's
    ``min_input_size``, else a :class:`ConvzooError` says what the network accepts.
    """
    c, h, w = (int(v) for v in card.input_size)
    if input_size is not None:
        if isinstance(input_size, int):
            h = w = input_size
        else:
            h, w = (int(v) for v in input_size)
    name = getattr(card, "name", "the network")
    min_size = int(getattr(card, "min_input_size", 1))
    if min(h, w) < min_size:
        raise ConvzooError(
            f"{name} cannot take {h}x{w} images: its layers need at least "
            f"{min_size}x{min_size} (default {card.input_size[1]}x{card.input_size[2]}); "
            f"choose --input-size {min_size} or more"
        )
    if c not in (1, 3):
        raise ConvzooError(
            f"{name} takes {c}-channel images; the data sets here have 1 (grayscale) or 3 (RGB) "
            "channels. Build the network with in_chans=1 or 3"
        )
    return Geometry(c, h, w, _fit_stats(card.mean, c), _fit_stats(card.std, c))


def convert_channels(x: Tensor, channels: int) -> Tensor:
    """``(..., C, H, W)`` float images to ``channels``: gray repeated, or RGB to luminance.

    torchvision's ``v2.Grayscale``/``v2.RGB`` do the same on one image; this one also takes any
    leading batch shape and never changes the dtype.
    """
    have = x.shape[-3]
    if have == channels:
        return x
    if have == 1:
        return x.expand(*x.shape[:-3], channels, *x.shape[-2:]).contiguous()
    if have == 3 and channels == 1:
        # ITU-R 601-2 luma, the weights PIL and torchvision's Grayscale use.
        weights = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype).view(3, 1, 1)
        return (x * weights).sum(dim=-3, keepdim=True)
    raise ConvzooError(f"cannot convert {have}-channel images to {channels} channels")
