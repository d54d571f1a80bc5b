"""The built-in data sets, as a table: one :class:`BuiltinDataset` row a set.

:func:`create_dataset` routes a name to its row's loader (timm's ``create_dataset`` is the
shape); every loader returns the same thing, :class:`SourceArrays`: the training images and
labels, the test images and labels (or None) and the class names. Adding a data set is adding a
row. Nothing here downloads unless the caller passes ``download=True``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchvision import datasets

from convzoo.data.idx import IDX_FILES, load_idx_pair
from convzoo.errors import ConvzooError

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
# Where Debian's `dataset-fashion-mnist` package puts the original files.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def default_data_root() -> Path:
    """Where torchvision downloads go: ``$CONVZOO_DATA`` or ``~/.cache/convzoo/data``."""
    return Path(os.environ.get("CONVZOO_DATA", Path.home() / ".cache" / "convzoo" / "data"))


@dataclass
class SourceArrays:
    """A built-in set as loaded: images ``N x H x W`` or ``N x C x H x W`` (uint8, or floats in
    [0, 1]), integer labels, the test split where the set has one, and the class names."""

    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor | None
    test_labels: Tensor | None
    classes: list[str]


Loader = Callable[[Path | None, bool], SourceArrays]


@dataclass(frozen=True)
class BuiltinDataset:
    """One row of the table: how to load a set and how to train on it."""

    name: str
    load: Loader  # (data_dir, download) -> SourceArrays
    augment: str  # "shift" (a flip would turn a 2 into something else) or "cropflip"
    val_fraction: float  # the share of the training set held out for validation by default
    summary: str
    aliases: tuple[str, ...] = ()
    fit: str = "resize"  # "pad": centred on a black canvas when a little smaller (transforms.FITS)


def _source(train: tuple[Any, Any], test: tuple[Any, Any], classes: list[str]) -> SourceArrays:
    x, y, xt, yt = (torch.as_tensor(np.ascontiguousarray(a)) for a in (*train, *test))
    return SourceArrays(x, y, xt, yt, classes)


def _load_digits(data_dir: Path | None, download: bool) -> SourceArrays:
    # scikit-learn costs about 0.4 s to import; only digits runs pay it.
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.from_numpy(digits.images).float() / 16.0  # pixel values 0..16
    labels = torch.from_numpy(digits.target)
    return SourceArrays(images, labels, None, None, [str(i) for i in range(10)])


def _offline_message(name: str, files: Sequence[str], where: Path, extra: str = "") -> str:
    return (
        f"{name} is not available here and could not be downloaded (no network?). Put "
        f"{', '.join(files)} in {where} (or pass --data-dir DIR holding them){extra}"
    )


def _load_fashion_mnist(data_dir: Path | None, download: bool) -> SourceArrays:
    root = data_dir or default_data_root()
    dirs = [root, root / "FashionMNIST" / "raw", DEBIAN_FASHION_MNIST]
    train, test = load_idx_pair(dirs, "train"), load_idx_pair(dirs, "test")
    if (train is None or test is None) and download:
        # torchvision's dataset class does the download (and its checksums) into `root`.
        try:
            datasets.FashionMNIST(str(root), train=True, download=True)
            datasets.FashionMNIST(str(root), train=False, download=True)
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
    return _source(train, test, list(FASHION_MNIST_CLASSES))


def _torchvision_loader(name: str) -> Loader:
    def load(data_dir: Path | None, download: bool) -> SourceArrays:
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
                _offline_message("MNIST" if name == "mnist" else "CIFAR-10", files, root, hint)
                + f" [{type(err).__name__}]"
            ) from None

        def arrays(ds: Any) -> tuple[np.ndarray, np.ndarray]:
            data = np.asarray(ds.data)
            if data.ndim == 4:  # CIFAR: N x H x W x C
                data = data.transpose(0, 3, 1, 2)
            return data, np.asarray(ds.targets)

        return _source(arrays(train), arrays(test), list(train.classes))

    return load


DATASETS: dict[str, BuiltinDataset] = {
    row.name: row
    for row in (
        BuiltinDataset(
            "digits",
            _load_digits,
            "shift",
            0.2,
            "scikit-learn's 1,797 handwritten 8x8 digits (offline); no test split",
        ),
        BuiltinDataset(
            "fashion-mnist",
            _load_fashion_mnist,
            "shift",
            0.1,
            "Fashion-MNIST (Xiao et al. 2017): 60,000 training and 10,000 test 28x28 images",
            aliases=("fashionmnist",),
            fit="pad",
        ),
        BuiltinDataset(
            "mnist",
            _torchvision_loader("mnist"),
            "shift",
            0.1,
            "MNIST (LeCun et al. 1998) through torchvision: 60,000 + 10,000 28x28 digits",
            fit="pad",
        ),
        BuiltinDataset(
            "cifar10",
            _torchvision_loader("cifar10"),
            "cropflip",
            0.1,
            "CIFAR-10 (Krizhevsky 2009) through torchvision: 50,000 + 10,000 32x32 images",
            aliases=("cifar-10",),
        ),
    )
}
BUILTIN_DATASETS = tuple(DATASETS)


def find_dataset(spec: str | os.PathLike[str]) -> BuiltinDataset | None:
    """The table's row for ``spec`` (case, ``_``/``-`` and aliases forgiven), else None."""
    key = str(spec).lower().replace("_", "-")
    for row in DATASETS.values():
        if key == row.name or key in row.aliases:
            return row
    return None


def trained_on_builtin(meta: dict[str, Any]) -> BuiltinDataset | None:
    """The built-in data set a checkpoint was trained on, read from its recorded data
    fingerprint's kind (not its data name: a folder may be called "mnist"); None for a folder
    or a checkpoint that records no fingerprint. ``meta`` is the checkpoint's ``meta.json``."""
    data = meta.get("data")
    if not isinstance(data, dict):
        return None
    fingerprint = data.get("fingerprint")
    # the data bundle's own fingerprint, as the checkpoint records it (convzoo.train.fingerprint)
    bundle = fingerprint.get("bundle") if isinstance(fingerprint, dict) else None
    if not isinstance(bundle, dict) or bundle.get("kind") != "builtin":
        return None
    return find_dataset(str(bundle.get("name")))


def create_dataset(
    name: str, *, data_dir: str | os.PathLike[str] | None = None, download: bool = True
) -> SourceArrays:
    """Load the built-in set ``name`` through its row of :data:`DATASETS`."""
    row = find_dataset(name)
    if row is None:
        raise ConvzooError(
            f"unknown data set {name!r}: choose one of {', '.join(DATASETS)} or give a folder"
        )
    arrays = row.load(Path(data_dir) if data_dir is not None else None, download)
    for images, labels in (
        (arrays.train_images, arrays.train_labels),
        (arrays.test_images, arrays.test_labels),
    ):
        if images is not None and labels is not None and images.shape[0] != labels.shape[0]:
            raise ConvzooError(f"{row.name}: {images.shape[0]} images but {labels.shape[0]} labels")
    return arrays
