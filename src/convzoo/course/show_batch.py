"""A grid of training inputs as the network sees them: resized, channel-converted and augmented
by the data set's own transforms, then de-normalised for display (fastai's ``show_batch``)."""

from __future__ import annotations

import os
from collections.abc import Sized
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from convzoo.course.figures import displayable, image_grid, save_figure
from convzoo.errors import ConvzooError


def sample_batch(dataset: Dataset, n: int, *, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``n`` images drawn at random (seeded) from ``dataset`` with their labels.

    The augmentation draws from torch's global generator; it is seeded with ``seed`` inside a
    forked RNG state, so the same seed shows the same batch and the caller's generator is left
    as it was."""
    if not isinstance(dataset, Sized) or len(dataset) == 0:
        raise ConvzooError("the training set is empty: there is nothing to show")
    if n < 1:
        raise ConvzooError(f"show-batch takes a positive number of images, got {n}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        order = torch.randperm(len(dataset))[:n].tolist()
        items = [dataset[i] for i in order]
    images = torch.stack([x for x, _ in items])
    labels = torch.tensor([int(y) for _, y in items])
    return images, labels


def _soft_caption(shares: Tensor, classes: list[str]) -> str:
    top = shares.topk(min(2, shares.numel()))
    parts = [
        f"{classes[int(i)]} {100 * float(v):.0f}%"
        for v, i in zip(top.values, top.indices, strict=True)
        if float(v) > 0.005
    ]
    return "\n".join(parts)


def show_batch(
    bundle: Any,
    path: str | os.PathLike[str],
    *,
    n: int = 32,
    seed: int = 0,
    title: str = "",
) -> Path:
    """Draw ``n`` training inputs of ``bundle`` (a :class:`convzoo.data.DataBundle`) with their
    class names into ``path`` (PNG or SVG).

    Where the bundle mixes its training batches (``bundle.batch_transform``: MixUp, CutMix),
    the batch is mixed as training mixes it, and each image is captioned with its two largest
    soft-label shares."""
    images, labels = sample_batch(bundle.train, n, seed=seed)
    mix = getattr(bundle, "batch_transform", None)
    captions = [str(bundle.classes[int(y)]) for y in labels]
    if mix is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            images, soft = mix(images, labels)
        captions = [_soft_caption(row, bundle.classes) for row in soft]
    c, h, w = images.shape[1:]
    lo, hi = float(images.min()), float(images.max())
    pictures = [displayable(x, bundle.mean, bundle.std) for x in images]
    title = title or (
        f"{bundle.name}: {len(pictures)} training inputs as fed ({c}x{h}x{w}, values "
        f"{lo:.2f} to {hi:.2f} after normalisation), shown de-normalised"
    )
    fig = image_grid(pictures, captions, title=title, cell=1.5, ncols=min(8, len(pictures)))
    return save_figure(fig, path)
