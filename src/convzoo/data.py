"""Datasets and transforms for training and evaluation, built from a network's card.

One entry point, :func:`build_datasets`, turns a data *spec* into a training set, a validation set
and the class names:

- ``digits``: scikit-learn's handwritten digits (1,797 real 8x8 images shipped inside
  scikit-learn, so it works offline), split 80/20 by a seeded stratified split. The default.
- ``fashion-mnist``: Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017) read from the original idx
  files: from ``--data-dir``, from Debian's ``dataset-fashion-mnist`` package
  (``/usr/share/datasets/fashion-mnist/``), or downloaded by torchvision where there is a network.
  Validation is the 10,000-image test set.
- ``mnist``, ``cifar10``: through torchvision's datasets (downloaded where there is a network);
  validation is the test set.
- a folder path: one sub-folder per class (torchvision's ``ImageFolder`` layout); with ``train/``
  and ``val/`` sub-folders those are used as given, else a seeded stratified split.

Every image goes through the transforms that the network's card asks for: resized to the card's
input size, converted to the card's number of channels (grayscale repeated to 3 channels, or RGB
reduced to luminance), normalised with the card's mean and std. Training adds light augmentation
(``augment=False`` turns it off): random shifts for digits and the MNIST family (a flip would turn
a 2 into something else), crop and horizontal flip for natural images.
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from convzoo.errors import ConvzooError

BUILTIN_DATASETS = ("digits", "fashion-mnist", "mnist", "cifar10")

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# Where Debian's `dataset-fashion-mnist` package puts the original files.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

# Above this many bytes the deterministic part of the transforms is applied per image instead of
# once for the whole array (a 3x224x224 float copy of Fashion-MNIST would take 36 GB).
_CACHE_LIMIT_BYTES = 512 * 2**20


def default_data_root() -> Path:
    """Where torchvision downloads go: ``$CONVZOO_DATA`` or ``~/.cache/convzoo/data``."""
    return Path(os.environ.get("CONVZOO_DATA", Path.home() / ".cache" / "convzoo" / "data"))


@dataclass
class DataBundle:
    """A training set, a validation set and what a checkpoint must remember about them."""

    train: Dataset
    val: Dataset
    classes: list[str]
    name: str
    val_split: str
    input_size: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    info: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        c, h, w = self.input_size
        return (
            f"{self.name}: {len(self.train)} train / {len(self.val)} val images "
            f"({self.val_split}), {len(self.classes)} classes, fed as {c}x{h}x{w}"
        )


# --------------------------------------------------------------------------- geometry / transforms


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
    """``(..., C, H, W)`` float images to ``channels``: gray repeated, or RGB to luminance."""
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


class ArrayTransform:
    """Deterministic part of the transforms for in-memory images: ``(C,H,W)`` [0,1] floats in.

    Resize (bilinear, antialiased) to the geometry, convert channels, normalise.
    """

    def __init__(self, geometry: Geometry):
        self.g = geometry
        self.mean = torch.tensor(geometry.mean).view(-1, 1, 1)
        self.std = torch.tensor(geometry.std).view(-1, 1, 1)

    def __call__(self, x: Tensor) -> Tensor:
        batched = x.dim() == 4
        xb = x if batched else x.unsqueeze(0)
        if tuple(xb.shape[-2:]) != (self.g.height, self.g.width):
            xb = F.interpolate(
                xb,
                size=(self.g.height, self.g.width),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )
        xb = convert_channels(xb, self.g.channels)
        xb = (xb - self.mean) / self.std
        return xb if batched else xb[0]


class RandomShift:
    """Random translation by up to ``fraction`` of the size, filled with the background value.

    The augmentation of LeCun et al.'s and Simard et al.'s digit experiments, kept cheap: one pad
    and one slice per image. Draws from torch's global generator, so a resumed run replays it.
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
    """Random crop with 12.5% padding and a horizontal flip: the CIFAR recipe of He et al. 2016."""

    def __init__(self, fill: Sequence[float] = (0.0,)):
        self.shift = RandomShift(0.125, fill)

    def __call__(self, x: Tensor) -> Tensor:
        x = self.shift(x)
        if torch.rand(1).item() < 0.5:
            x = x.flip(-1)
        return x


class ArrayDataset(Dataset):
    """In-memory images (``N x C x H x W`` uint8 or [0,1] float) with labels and card transforms.

    The deterministic transforms are applied once for the whole array when the result is small
    (digits, Fashion-MNIST at 32x32), per image otherwise.
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        geometry: Geometry,
        augment: Callable[[Tensor], Tensor] | None = None,
    ):
        if images.dim() == 3:
            images = images.unsqueeze(1)
        self.labels = labels.long()
        self.base = ArrayTransform(geometry)
        self.augment = augment
        n = images.shape[0]
        out_bytes = n * geometry.channels * geometry.height * geometry.width * 4
        self._to_float = (
            (lambda t: t.float() / 255.0) if images.dtype == torch.uint8 else (lambda t: t.float())
        )
        if out_bytes <= _CACHE_LIMIT_BYTES:
            chunks = [self.base(self._to_float(images[i : i + 4096])) for i in range(0, n, 4096)]
            self.cached: Tensor | None = torch.cat(chunks) if chunks else images.float()
            self.images = None
        else:
            self.cached = None
            self.images = images

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        cached = self.cached
        x = cached[i] if cached is not None else self.base(self._to_float(self.images[i]))
        if self.augment is not None:
            x = self.augment(x)
        return x, int(self.labels[i])


def _background(geometry: Geometry) -> list[float]:
    # The value a black pixel has after normalisation: what shifted-in borders are filled with.
    return [(0.0 - m) / s for m, s in zip(geometry.mean, geometry.std, strict=True)]


def _array_augment(kind: str, geometry: Geometry, augment: bool) -> Callable | None:
    if not augment:
        return None
    fill = _background(geometry)
    return RandomShift(0.1, fill) if kind == "shift" else RandomCropFlip(fill)


def pil_transforms(geometry: Geometry, train: bool, augment: bool) -> Callable:
    """torchvision transforms for image files: the ImageNet recipe sized by the card.

    Training: ``RandomResizedCrop`` and horizontal flip (Szegedy et al. 2015; He et al. 2016).
    Validation: resize to size/0.875 and center crop, as torchvision's reference scripts.
    """
    from torchvision import transforms as T

    size = (geometry.height, geometry.width)
    mode = "L" if geometry.channels == 1 else "RGB"
    steps: list[Callable] = [lambda im: im.convert(mode)]
    if train and augment:
        steps += [
            T.RandomResizedCrop(size, scale=(0.35, 1.0), antialias=True),
            T.RandomHorizontalFlip(),
        ]
    else:
        resize = tuple(round(s / 0.875) for s in size)
        steps += [T.Resize(resize, antialias=True), T.CenterCrop(size)]
    steps += [T.ToTensor(), T.Normalize(geometry.mean, geometry.std)]
    return T.Compose(steps)


# --------------------------------------------------------------------------------- idx files


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an idx file (LeCun's MNIST format, also Fashion-MNIST's), plain or gzip-compressed.

    Format (yann.lecun.com/exdb/mnist): two zero bytes, a type code (0x08 = uint8), the number of
    dimensions, then each dimension as a big-endian int32, then the data in C order.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:
        raise ConvzooError(f"{path}: cannot read ({err})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ConvzooError(f"{path}: not an idx file (bad magic number)")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    code, ndim = data[2], data[3]
    if code not in dtypes:
        raise ConvzooError(f"{path}: unknown idx data type 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ConvzooError(f"{path}: truncated idx header")
    shape = struct.unpack(f">{ndim}i", data[4:header])
    dtype = np.dtype(dtypes[code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise ConvzooError(
            f"{path}: idx file holds {len(data) - header} data bytes, its header says {expected}"
        )
    return (
        np.frombuffer(data, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def _find_idx(dirs: Sequence[Path], stem: str) -> Path | None:
    for d in dirs:
        for name in (stem, stem + ".gz"):
            if (d / name).is_file():
                return d / name
    return None


def load_idx_pair(dirs: Sequence[Path], split: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Images and labels of ``split`` ("train"/"test") from the first folder that has both."""
    img_stem, lab_stem = IDX_FILES[split]
    for d in dirs:
        img, lab = _find_idx([d], img_stem), _find_idx([d], lab_stem)
        if img and lab:
            images, labels = read_idx(img), read_idx(lab)
            if images.shape[0] != labels.shape[0]:
                raise ConvzooError(
                    f"{img} holds {images.shape[0]} images but {lab} {labels.shape[0]} labels"
                )
            return images, labels
    return None


def _offline_message(name: str, files: Sequence[str], where: Path, extra: str = "") -> str:
    return (
        f"{name} is not available here and could not be downloaded (no network?). Put "
        f"{', '.join(files)} in {where} (or pass --data-dir DIR holding them){extra}"
    )


def _fashion_mnist(data_dir: Path | None, download: bool) -> tuple[np.ndarray, ...]:
    root = data_dir or default_data_root()
    dirs = [root, root / "FashionMNIST" / "raw", DEBIAN_FASHION_MNIST]
    train, test = load_idx_pair(dirs, "train"), load_idx_pair(dirs, "test")
    if train is None or test is None:
        if download:
            try:
                from torchvision.datasets import FashionMNIST

                FashionMNIST(str(root), train=True, download=True)
                FashionMNIST(str(root), train=False, download=True)
            except Exception:  # torchvision raises URLError, RuntimeError, OSError offline
                pass
            train, test = load_idx_pair(dirs, "train"), load_idx_pair(dirs, "test")
        if train is None or test is None:
            files = [s + ".gz" for pair in IDX_FILES.values() for s in pair]
            raise ConvzooError(
                _offline_message(
                    "Fashion-MNIST",
                    files,
                    root,
                    "; on Debian/Ubuntu `apt-get install dataset-fashion-mnist` installs them in "
                    f"{DEBIAN_FASHION_MNIST}",
                )
            )
    return (*train, *test)


def _torchvision_arrays(
    name: str, data_dir: Path | None, download: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    from torchvision import datasets

    root = data_dir or default_data_root()
    cls = {"mnist": datasets.MNIST, "cifar10": datasets.CIFAR10}[name]
    try:
        train = cls(str(root), train=True, download=download)
        test = cls(str(root), train=False, download=download)
    except Exception as err:  # RuntimeError "Dataset not found", URLError offline, ...
        if name == "mnist":
            files = [f"MNIST/raw/{s}.gz" for pair in IDX_FILES.values() for s in pair]
        else:
            files = ["cifar-10-python.tar.gz (extracted: cifar-10-batches-py/)"]
        hint = "" if download else "; or allow the download"
        raise ConvzooError(
            _offline_message(name.upper() if name == "mnist" else "CIFAR-10", files, root, hint)
            + f" [{type(err).__name__}]"
        ) from None

    def arrays(ds: Any) -> tuple[np.ndarray, np.ndarray]:
        data = np.asarray(ds.data)
        if data.ndim == 4:  # CIFAR: N x H x W x C
            data = data.transpose(0, 3, 1, 2)
        return data, np.asarray(ds.targets)

    return (*arrays(train), *arrays(test), list(train.classes))


# --------------------------------------------------------------------------------- image folders


@dataclass
class FolderScan:
    samples: list[tuple[str, int]]
    classes: list[str]
    skipped: list[str]


def _image_ok(path: str) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()
        return True
    except Exception:  # PIL raises many types for a bad file
        return False


def scan_image_folder(root: Path, classes: list[str] | None = None) -> FolderScan:
    """One sub-folder per class; every file is opened once and the unreadable ones listed."""
    if not root.exists():
        raise FileNotFoundError(f"data folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"{str(root)!r} is not a folder of images")
    found = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if classes is None:
        classes = found
    if not classes:
        raise ConvzooError(
            f"{root} holds no class sub-folders: put the images of each class in their own "
            f"folder, e.g. {root}/cat/1.jpg, {root}/dog/2.jpg"
        )
    samples: list[tuple[str, int]] = []
    skipped: list[str] = []
    for idx, cls in enumerate(classes):
        folder = root / cls
        if not folder.is_dir():
            raise ConvzooError(f"{root} lacks the class folder {cls!r} that the other split has")
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for fname in sorted(filenames):
                if fname.startswith("."):
                    continue  # .DS_Store and friends are not data
                p = os.path.join(dirpath, fname)
                if _image_ok(p):
                    samples.append((p, idx))
                else:
                    skipped.append(os.path.relpath(p, root))
    return FolderScan(samples, list(classes), skipped)


class FileListDataset(Dataset):
    """Image files with labels (torchvision's ImageFolder samples) and a transform."""

    def __init__(self, samples: list[tuple[str, int]], transform: Callable):
        self.samples = samples
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        from torchvision.datasets.folder import default_loader

        path, label = self.samples[i]
        return self.transform(default_loader(path)), label


def _check_classes(classes: Sequence[str], where: str) -> None:
    if len(classes) < 2:
        raise ConvzooError(
            f"{where} has {len(classes)} class ({', '.join(classes) or 'none'}): a classifier "
            "needs at least 2 class sub-folders"
        )


def _report_skipped(skipped: list[str], root: Path, strict: bool) -> dict[str, Any]:
    if not skipped:
        return {}
    shown = ", ".join(skipped[:5]) + (", ..." if len(skipped) > 5 else "")
    if strict:
        raise ConvzooError(
            f"{root}: {len(skipped)} file(s) are not readable images ({shown}); remove them, "
            "or drop --strict to skip them"
        )
    return {
        "skipped": len(skipped),
        "skipped_first": skipped[:5],
        "warning": f"skipped {len(skipped)} unreadable or non-image file(s): {shown}",
    }


def stratified_split(
    labels: Sequence[int], val_fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Indices of a seeded split that keeps every class's share (at least 1 val image a class
    that has 2 or more)."""
    if not 0.0 < val_fraction < 1.0:
        raise ConvzooError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    g = torch.Generator().manual_seed(seed)
    labels_t = torch.as_tensor(list(labels))
    train_idx: list[int] = []
    val_idx: list[int] = []
    for c in torch.unique(labels_t).tolist():
        idx = torch.nonzero(labels_t == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)].tolist()
        n_val = 0 if len(idx) < 2 else max(1, round(len(idx) * val_fraction))
        val_idx += idx[:n_val]
        train_idx += idx[n_val:]
    return sorted(train_idx), sorted(val_idx)


def _folder_bundle(
    root: Path, geometry: Geometry, augment: bool, val_fraction: float, seed: int, strict: bool
) -> DataBundle:
    if not root.exists():
        raise FileNotFoundError(
            f"data folder {str(root)!r} does not exist; --data takes digits, fashion-mnist, "
            "mnist, cifar10 or a folder of class sub-folders"
        )
    train_t = pil_transforms(geometry, train=True, augment=augment)
    val_t = pil_transforms(geometry, train=False, augment=False)
    val_dir = next((root / n for n in ("val", "valid", "validation") if (root / n).is_dir()), None)
    if (root / "train").is_dir() and val_dir is not None:
        tr = scan_image_folder(root / "train")
        _check_classes(tr.classes, str(root / "train"))
        va = scan_image_folder(val_dir, classes=tr.classes)
        extra = sorted(
            {d.name for d in val_dir.iterdir() if d.is_dir() and not d.name.startswith(".")}
            - set(tr.classes)
        )
        if extra:
            raise ConvzooError(f"{val_dir} has classes that train/ lacks: {', '.join(extra)}")
        info = _report_skipped(tr.skipped + va.skipped, root, strict)
        train_s, val_s, classes, how = tr.samples, va.samples, tr.classes, f"{val_dir.name}/ folder"
    else:
        scan = scan_image_folder(root)
        _check_classes(scan.classes, str(root))
        info = _report_skipped(scan.skipped, root, strict)
        tr_i, va_i = stratified_split([s[1] for s in scan.samples], val_fraction, seed)
        train_s = [scan.samples[i] for i in tr_i]
        val_s = [scan.samples[i] for i in va_i]
        classes, how = scan.classes, f"seeded {val_fraction:.0%} split, seed {seed}"
    for what, s in (("training", train_s), ("validation", val_s)):
        if not s:
            raise ConvzooError(f"{root}: no readable {what} images found")
    return DataBundle(
        FileListDataset(train_s, train_t),
        FileListDataset(val_s, val_t),
        list(classes),
        str(root),
        how,
        geometry.input_size,
        geometry.mean,
        geometry.std,
        info,
    )


# --------------------------------------------------------------------------------- entry point


def build_datasets(
    spec: str | os.PathLike[str],
    card: Any,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    augment: bool = True,
    val_fraction: float = 0.2,
    seed: int = 0,
    strict: bool = False,
    download: bool = True,
    input_size: int | Sequence[int] | None = None,
) -> DataBundle:
    """Training and validation sets for ``spec``, transformed as the network's ``card`` asks.

    ``card`` is a :class:`convzoo.registry.ModelCard` (``model.card``) or anything with
    ``input_size``, ``min_input_size``, ``mean`` and ``std``. ``spec`` is one of
    :data:`BUILTIN_DATASETS` or a folder path. Returns a :class:`DataBundle`.
    """
    geometry = geometry_from_card(card, input_size)
    root = Path(data_dir) if data_dir is not None else None
    spec_s = str(spec)
    key = spec_s.lower().replace("_", "-")
    if key == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = torch.from_numpy(digits.images).float() / 16.0  # pixel values 0..16
        labels = torch.from_numpy(digits.target)
        tr, va = stratified_split(labels.tolist(), val_fraction, seed)
        aug = _array_augment("shift", geometry, augment)
        return DataBundle(
            ArrayDataset(images[tr], labels[tr], geometry, aug),
            ArrayDataset(images[va], labels[va], geometry, None),
            [str(i) for i in range(10)],
            "digits",
            f"seeded {val_fraction:.0%} split, seed {seed}",
            geometry.input_size,
            geometry.mean,
            geometry.std,
        )
    if key in ("fashion-mnist", "fashionmnist"):
        xtr, ytr, xte, yte = _fashion_mnist(root, download)
        return _arrays_bundle(
            xtr,
            ytr,
            xte,
            yte,
            list(FASHION_MNIST_CLASSES),
            "fashion-mnist",
            geometry,
            augment,
            "shift",
        )
    if key in ("mnist", "cifar10", "cifar-10"):
        name = "cifar10" if key.startswith("cifar") else "mnist"
        xtr, ytr, xte, yte, classes = _torchvision_arrays(name, root, download)
        return _arrays_bundle(
            xtr,
            ytr,
            xte,
            yte,
            classes,
            name,
            geometry,
            augment,
            "shift" if name == "mnist" else "cropflip",
        )
    return _folder_bundle(Path(spec_s).expanduser(), geometry, augment, val_fraction, seed, strict)


def _arrays_bundle(
    xtr: Any,
    ytr: Any,
    xte: Any,
    yte: Any,
    classes: list[str],
    name: str,
    geometry: Geometry,
    augment: bool,
    aug_kind: str,
) -> DataBundle:
    aug = _array_augment(aug_kind, geometry, augment)
    t = torch.as_tensor
    return DataBundle(
        ArrayDataset(t(np.ascontiguousarray(xtr)), t(np.asarray(ytr)), geometry, aug),
        ArrayDataset(t(np.ascontiguousarray(xte)), t(np.asarray(yte)), geometry, None),
        classes,
        name,
        "test set",
        geometry.input_size,
        geometry.mean,
        geometry.std,
    )
