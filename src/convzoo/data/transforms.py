"""Transforms sized by the network's card: torchvision ``transforms.v2`` where it does the job.

- Image files (PIL) go through :func:`pil_transforms`, a ``v2.Compose`` of the ImageNet recipe.
- In-memory arrays (digits, the MNIST family, CIFAR-10) go through :class:`ArrayTransform`
  (``v2.functional`` resize and normalise, applied once to the whole array where it fits) and a
  light augmentation, :class:`RandomShift` or :class:`RandomCropFlip`.
- Optional policies: RandAugment or TrivialAugment per image (:func:`auto_augment_transform`),
  MixUp and/or CutMix per batch (:func:`batch_transform`), all from ``transforms.v2``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2 import functional as TF

from convzoo.data.geometry import Geometry, convert_channels
from convzoo.errors import ConvzooError

# The per-image policies ``auto_augment`` accepts (Cubuk et al. 2020; Müller and Hutter 2021).
AUTO_AUGMENTS = ("randaugment", "trivialaugment")


# How in-memory images are brought to the network's size: "resize" (bilinear), or "pad": an
# image a little smaller than the network's input is centred on a black canvas, as LeCun et al.
# (1998, section III-A) put MNIST's 28x28 digits in LeNet-5's 32x32 field, so that strokes keep
# their pixels (and, on Fashion-MNIST, 12 epochs of LeNet-5 reached 90.1% test accuracy padded
# against 89.8% resized). A larger gap (28 to 224) is resized either way.
FITS = ("resize", "pad")


def _small_border(size: int, target: int) -> bool:
    # At most an eighth of the image on each side: 28 -> 32 pads, 28 -> 224 resizes.
    return size <= target <= size + 2 * max(1, size // 8)


class ArrayTransform:
    """Deterministic part of the transforms for in-memory images: ``(C,H,W)`` [0,1] floats in.

    Resize (bilinear, antialiased) to the geometry, convert channels, normalise. Takes one image
    or a batch ``(N,C,H,W)``: the data sets apply it once to the whole array.
    """

    def __init__(self, geometry: Geometry, fit: str = "resize"):
        if fit not in FITS:
            raise ValueError(f"fit is one of {FITS}, not {fit!r}")
        self.g = geometry
        self.mode = fit

    def pads(self, height: int, width: int) -> bool:
        """Whether an image of this size is padded (not resized) to the network's input."""
        return (
            self.mode == "pad"
            and _small_border(height, self.g.height)
            and _small_border(width, self.g.width)
        )

    def fit(self, x: Tensor) -> Tensor:
        """Resize (or, with ``fit="pad"``, pad) and convert channels, still in [0, 1]."""
        h, w = x.shape[-2:]
        if self.pads(h, w):
            top, left = (self.g.height - h) // 2, (self.g.width - w) // 2
            bottom, right = self.g.height - h - top, self.g.width - w - left
            x = torch.nn.functional.pad(x, (left, right, top, bottom))  # black, as LeCun's
        if tuple(x.shape[-2:]) != (self.g.height, self.g.width):
            x = TF.resize(
                x, [self.g.height, self.g.width], InterpolationMode.BILINEAR, antialias=True
            )
        return convert_channels(x, self.g.channels)

    def normalize(self, x: Tensor) -> Tensor:
        return TF.normalize(x, list(self.g.mean), list(self.g.std))

    def __call__(self, x: Tensor) -> Tensor:
        return self.normalize(self.fit(x))


class ImageAsArray:
    """An image file (PIL) through the in-memory data sets' evaluation path: to ``[0, 1]``
    floats, then :class:`ArrayTransform` with the data set's fit. What ``convzoo predict`` uses
    for a network trained on a built-in set: a 28x28 digit is padded into LeNet-5's 32x32 as
    in training, not resized by 256/224 and centre-cropped like a photo."""

    def __init__(self, geometry: Geometry, fit: str = "resize"):
        self.array = ArrayTransform(geometry, fit)

    def pads(self, height: int, width: int) -> bool:
        return self.array.pads(height, width)

    def __call__(self, img: Any) -> Tensor:
        x = TF.to_dtype(TF.to_image(img), torch.float32, scale=True)
        return self.array(x).as_subclass(Tensor)


class RandomShift:
    """Random translation by up to ``fraction`` of the size, filled with the background value.

    The augmentation of LeCun et al.'s and Simard et al.'s digit experiments. It is
    ``v2.RandomCrop(size, padding, fill)``, kept as our own because it runs once per image per
    epoch on tiny images, where dispatch dominates: 17 us against v2's 52 us on a 1x32x32 tensor
    (measured on a loaded 2-core machine), about 2 s an epoch of Fashion-MNIST. Draws from
    torch's global generator, so a resumed run replays it.
    """

    def __init__(self, fraction: float = 0.1, fill: Sequence[float] = (0.0,)):
        self.fraction = fraction
        self.fill = torch.tensor(list(fill)).view(-1, 1, 1)

    def __call__(self, x: Tensor) -> Tensor:
        c, h, w = x.shape
        ph, pw = max(1, round(h * self.fraction)), max(1, round(w * self.fraction))
        canvas = self.fill.expand(c, h + 2 * ph, w + 2 * pw).clone()
        canvas[:, ph : ph + h, pw : pw + w] = x
        dy = int(torch.randint(0, 2 * ph + 1, (1,)))
        dx = int(torch.randint(0, 2 * pw + 1, (1,)))
        return canvas[:, dy : dy + h, dx : dx + w]


class RandomCropFlip:
    """Random crop with 12.5% padding and a horizontal flip: the CIFAR recipe of He et al. 2016.

    Our own for the speed reason :class:`RandomShift` gives.
    """

    def __init__(self, fill: Sequence[float] = (0.0,)):
        self.shift = RandomShift(0.125, fill)

    def __call__(self, x: Tensor) -> Tensor:
        x = self.shift(x)
        if torch.rand(1).item() < 0.5:
            x = x.flip(-1)
        return x


def _background(geometry: Geometry) -> list[float]:
    # The value a black pixel has after normalisation: what shifted-in borders are filled with.
    return [(0.0 - m) / s for m, s in zip(geometry.mean, geometry.std, strict=True)]


def _array_augment(kind: str, geometry: Geometry, augment: bool) -> Callable | None:
    if not augment:
        return None
    fill = _background(geometry)
    return RandomShift(0.1, fill) if kind == "shift" else RandomCropFlip(fill)


def auto_augment_transform(name: str | None) -> Callable | None:
    """RandAugment (Cubuk et al. 2020, torchvision's defaults: 2 ops at magnitude 9) or
    TrivialAugment (Müller and Hutter 2021, the "wide" ranges), from ``transforms.v2``.

    Works on PIL images and on uint8 tensors (their colour operations assume 0..255).
    """
    if name is None:
        return None
    key = name.lower().replace("-", "").replace("_", "")
    if key in ("randaugment", "rand"):
        return v2.RandAugment()
    if key in ("trivialaugment", "trivialaugmentwide", "trivial"):
        return v2.TrivialAugmentWide()
    raise ConvzooError(
        f"unknown auto-augment policy {name!r}: choose one of {', '.join(AUTO_AUGMENTS)}"
    )


def pil_transforms(
    geometry: Geometry, train: bool, augment: bool, auto_augment: str | None = None
) -> Callable:
    """``transforms.v2`` pipeline for image files: the ImageNet recipe sized by the card.

    Training: ``RandomResizedCrop`` and horizontal flip (Szegedy et al. 2015; He et al. 2016),
    then the ``auto_augment`` policy if one is named. Validation: resize to size/0.875 and center
    crop, as torchvision's reference scripts. The output is a plain float tensor.
    """
    size = [geometry.height, geometry.width]
    steps: list[Callable] = [v2.Grayscale(1) if geometry.channels == 1 else v2.RGB()]
    if train and augment:
        steps += [
            v2.RandomResizedCrop(size, scale=(0.35, 1.0), antialias=True),
            v2.RandomHorizontalFlip(),
        ]
        policy = auto_augment_transform(auto_augment)
        if policy is not None:
            steps.append(policy)
    else:
        resize = [round(s / 0.875) for s in size]
        steps += [v2.Resize(resize, antialias=True), v2.CenterCrop(size)]
    steps += [
        v2.ToImage(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(list(geometry.mean), list(geometry.std)),
        v2.ToPureTensor(),
    ]
    return v2.Compose(steps)


class BatchMix:
    """MixUp (Zhang et al. 2018) and/or CutMix (Yun et al. 2019) on a training batch, from
    ``transforms.v2``: ``(x, y) -> (x, y_soft)``, ``y_soft`` of shape ``(N, num_classes)``.

    With both, each batch gets one of the two at random (torchvision's reference recipe). Draws
    from torch's global generator, so a resumed run replays it.
    """

    def __init__(self, num_classes: int, mixup: float = 0.0, cutmix: float = 0.0):
        self.num_classes, self.mixup, self.cutmix = num_classes, mixup, cutmix
        mixes: list[Callable] = []
        if mixup > 0:
            mixes.append(v2.MixUp(alpha=mixup, num_classes=num_classes))
        if cutmix > 0:
            mixes.append(v2.CutMix(alpha=cutmix, num_classes=num_classes))
        self.transform = mixes[0] if len(mixes) == 1 else v2.RandomChoice(mixes)

    def __call__(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        out_x, out_y = self.transform(x, y)
        return torch.as_tensor(out_x), torch.as_tensor(out_y)

    def __repr__(self) -> str:
        return f"BatchMix(num_classes={self.num_classes}, mixup={self.mixup}, cutmix={self.cutmix})"


def batch_transform(num_classes: int, mixup: float = 0.0, cutmix: float = 0.0) -> BatchMix | None:
    """The batch-level mix for ``mixup``/``cutmix`` alphas (0 = off), or None when both are off."""
    for name, alpha in (("mixup", mixup), ("cutmix", cutmix)):
        if not alpha >= 0:
            raise ConvzooError(f"{name} alpha must be >= 0 (0 turns it off), got {alpha}")
    if mixup == 0 and cutmix == 0:
        return None
    return BatchMix(num_classes, mixup, cutmix)
