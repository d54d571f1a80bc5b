"""In-memory image sets (digits, the MNIST family, CIFAR-10) with the card's transforms."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.utils.data import Dataset

from convzoo.data.geometry import Geometry
from convzoo.data.transforms import ArrayTransform

# Above this many bytes the deterministic part of the transforms is applied per image instead of
# once for the whole array (a 3x224x224 float copy of Fashion-MNIST would take 36 GB).
_CACHE_LIMIT_BYTES = 512 * 2**20
_CHUNK = 4096


class ArrayDataset(Dataset):
    """In-memory images (``N x C x H x W`` uint8 or [0,1] float) with labels and card transforms.

    The deterministic transforms are applied once for the whole array when the result is small
    (digits, Fashion-MNIST at 32x32), per image otherwise. ``augment`` works on normalised
    images (shifts, flips); ``image_augment`` (RandAugment, TrivialAugment) on uint8 images at
    the network's size, before normalisation, since their colour operations assume 0..255.
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        geometry: Geometry,
        augment: Callable[[Tensor], Tensor] | None = None,
        image_augment: Callable[[Tensor], Tensor] | None = None,
        fit: str = "resize",
    ):
        if images.dim() == 3:
            images = images.unsqueeze(1)
        self.labels = labels.long()
        self.base = ArrayTransform(geometry, fit)
        self.augment = augment
        self.image_augment = image_augment
        self._uint8 = images.dtype == torch.uint8
        n = images.shape[0]
        bytes_per_value = 1 if image_augment is not None else 4
        out_bytes = n * geometry.channels * geometry.height * geometry.width * bytes_per_value
        self.cached: Tensor | None = None
        self.images: Tensor | None = None
        if out_bytes <= _CACHE_LIMIT_BYTES:
            chunks = [self._prepare(images[i : i + _CHUNK]) for i in range(0, n, _CHUNK)]
            self.cached = torch.cat(chunks) if chunks else images.float()
        else:
            self.images = images

    def _to_float(self, x: Tensor) -> Tensor:
        return x.float() / 255.0 if self._uint8 else x.float()

    def _prepare(self, x: Tensor) -> Tensor:
        # What can be computed once: normalised floats, or uint8 at the network's size when a
        # policy must still see 0..255 pixels.
        if self.image_augment is None:
            return self.base(self._to_float(x))
        fitted = self.base.fit(self._to_float(x))
        return (fitted * 255.0).round_().clamp_(0, 255).to(torch.uint8)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        if self.cached is not None:
            x = self.cached[i]
        else:
            assert self.images is not None
            x = self._prepare(self.images[i])
        if self.image_augment is not None:
            x = self.base.normalize(self.image_augment(x).float() / 255.0)
        if self.augment is not None:
            x = self.augment(x)
        return x, int(self.labels[i])
