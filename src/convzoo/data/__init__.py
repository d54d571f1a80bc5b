"""Data sets and transforms for training and evaluation, built from a network's card.

One entry point, :func:`build_datasets`, turns a data *spec* into a :class:`DataBundle`: a
training set, a validation set (what ``best/`` is chosen on), a test set where the data has one
(evaluated once, at the end), the class names, the split counts and a fingerprint of the data.

- ``digits``: scikit-learn's handwritten digits (1,797 real 8x8 images shipped inside
  scikit-learn, so it works offline), split 80/20 by a seeded stratified split. The default.
- ``fashion-mnist``: Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017) read from the original idx
  files: from ``--data-dir``, from Debian's ``dataset-fashion-mnist`` package
  (``/usr/share/datasets/fashion-mnist/``), or downloaded by torchvision where there is a network.
- ``mnist``, ``cifar10``: through torchvision's datasets (downloaded where there is a network).
  These three validate on a seeded stratified 10% of their training set; their 10,000-image test
  set is ``bundle.test``.
- a folder path: one sub-folder per class (torchvision's ``ImageFolder`` layout); with ``train/``
  and ``val/`` (and ``test/``) sub-folders those are used as given, else a seeded stratified
  split. Files that are not images, or do not decode, are skipped and reported; links never make
  a file count twice or for another class.

Every image goes through the transforms that the network's card asks for: resized to the card's
input size, converted to the card's number of channels (grayscale repeated to 3 channels, or RGB
reduced to luminance), normalised with the card's mean and std. Training adds light augmentation
(``augment=False`` turns it off): random shifts for digits and the MNIST family (a flip would turn
a 2 into something else), crop and horizontal flip for natural images; optionally RandAugment or
TrivialAugment, and MixUp or CutMix on batches.

The modules: :mod:`~convzoo.data.builtin` (the table of sets), :mod:`~convzoo.data.folders`
(image folders), :mod:`~convzoo.data.transforms`, :mod:`~convzoo.data.splits`,
:mod:`~convzoo.data.bundle`, :mod:`~convzoo.data.build` (the entry point).
"""

from convzoo.data.arrays import ArrayDataset
from convzoo.data.build import build_datasets, decode_failures
from convzoo.data.builtin import (
    BUILTIN_DATASETS,
    DATASETS,
    DEBIAN_FASHION_MNIST,
    FASHION_MNIST_CLASSES,
    BuiltinDataset,
    SourceArrays,
    create_dataset,
    default_data_root,
    find_dataset,
    trained_on_builtin,
)
from convzoo.data.bundle import DataBundle, fingerprint_changes
from convzoo.data.folders import (
    FileListDataset,
    FolderScan,
    ScanState,
    image_problem,
    scan_image_folder,
)
from convzoo.data.geometry import Geometry, convert_channels, geometry_from_card
from convzoo.data.geometry import _fit_stats as _fit_stats
from convzoo.data.idx import IDX_FILES, load_idx_pair, read_idx
from convzoo.data.splits import stratified_split
from convzoo.data.transforms import (
    AUTO_AUGMENTS,
    ArrayTransform,
    BatchMix,
    ImageAsArray,
    RandomCropFlip,
    RandomShift,
    auto_augment_transform,
    batch_transform,
    pil_transforms,
)

# Private names kept importable for the tests that used them from the single module.
from convzoo.data.transforms import _array_augment as _array_augment
from convzoo.data.transforms import _background as _background

__all__ = [
    "AUTO_AUGMENTS",
    "BUILTIN_DATASETS",
    "DATASETS",
    "DEBIAN_FASHION_MNIST",
    "FASHION_MNIST_CLASSES",
    "IDX_FILES",
    "ArrayDataset",
    "ArrayTransform",
    "BatchMix",
    "BuiltinDataset",
    "DataBundle",
    "FileListDataset",
    "FolderScan",
    "Geometry",
    "ImageAsArray",
    "RandomCropFlip",
    "RandomShift",
    "ScanState",
    "SourceArrays",
    "auto_augment_transform",
    "batch_transform",
    "build_datasets",
    "convert_channels",
    "create_dataset",
    "decode_failures",
    "default_data_root",
    "find_dataset",
    "fingerprint_changes",
    "geometry_from_card",
    "image_problem",
    "load_idx_pair",
    "pil_transforms",
    "read_idx",
    "scan_image_folder",
    "stratified_split",
    "trained_on_builtin",
]
