"""One entry point, :func:`build_datasets`: a data *spec* to a :class:`DataBundle`.

A spec is a name of the built-in table (:data:`convzoo.data.builtin.DATASETS`) or a folder:

- built-in sets hold out a seeded stratified share of their *training* set for validation
  (``val_fraction``, by default the row's: 10% for the MNIST family and CIFAR-10, 20% for the
  1,797 digits); their test set, where they have one, becomes ``bundle.test``;
- a folder with ``train/`` and ``val/`` (or ``valid/``, ``validation/``) sub-folders uses them as
  given, and ``test/`` as the test set; with ``train/`` (and maybe ``test/``) only, or with the
  class folders directly under it, a seeded stratified 20% split of the training images.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from convzoo.data.arrays import ArrayDataset
from convzoo.data.builtin import BuiltinDataset, create_dataset, find_dataset
from convzoo.data.bundle import DataBundle, digest
from convzoo.data.folders import (
    FileListDataset,
    FolderScan,
    ScanState,
    list_class_folders,
    relative_to,
    scan_image_folder,
)
from convzoo.data.geometry import Geometry, geometry_from_card
from convzoo.data.splits import stratified_split
from convzoo.data.transforms import (
    ImageAsArray,
    _array_augment,
    auto_augment_transform,
    batch_transform,
    pil_transforms,
)
from convzoo.errors import ConvzooError

FOLDER_VAL_FRACTION = 0.2
VAL_FOLDERS = ("val", "valid", "validation")


def build_datasets(
    spec: str | os.PathLike[str],
    card: Any,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    augment: bool = True,
    val_fraction: float | None = None,
    seed: int = 0,
    strict: bool = False,
    download: bool = True,
    input_size: int | Sequence[int] | None = None,
    auto_augment: str | None = None,
    mixup: float = 0.0,
    cutmix: float = 0.0,
    image_fit: str | None = None,
) -> DataBundle:
    """Training, validation and test sets for ``spec``, transformed as the network's ``card``
    asks (see the module's docstring for the splits).

    ``card`` is a :class:`convzoo.registry.ModelCard` (``model.card``) or anything with
    ``input_size``, ``min_input_size``, ``mean`` and ``std``. ``val_fraction`` None takes the
    data set's default. ``strict`` refuses files that are not readable images (decoding each
    one at start-up); else they are skipped and reported. Augmentation (``augment``) adds, for
    training only: ``auto_augment`` ("randaugment" or "trivialaugment") per image, and
    ``mixup``/``cutmix`` (Beta alphas, 0 = off) per batch as ``bundle.batch_transform``.
    ``image_fit`` ("pad" or "resize"): a folder's validation and test images go the way a
    built-in set's images go (:class:`ImageAsArray` with that fit) instead of the photo recipe,
    for evaluating a network trained on a built-in set on image files of it.
    """
    geometry = geometry_from_card(card, input_size)
    if not augment and (auto_augment or mixup or cutmix):
        raise ConvzooError(
            "auto-augment, mixup and cutmix are augmentations: they need augmentation on "
            "(drop --no-augment, or drop them)"
        )
    policy = auto_augment_transform(auto_augment)  # an unknown name fails before any loading
    batch_transform(2, mixup, cutmix)  # so do negative alphas
    row = find_dataset(spec)
    if row is not None:
        bundle = _builtin_bundle(
            row, geometry, augment, policy, val_fraction, seed, data_dir, download
        )
    else:
        bundle = _folder_bundle(
            Path(spec).expanduser(),
            geometry,
            augment,
            auto_augment,
            val_fraction,
            seed,
            strict,
            image_fit,
        )
    bundle.batch_transform = batch_transform(len(bundle.classes), mixup, cutmix)
    return bundle


def _split_how(val_fraction: float, seed: int) -> str:
    return f"seeded {val_fraction:.0%} split, seed {seed}"


def _builtin_bundle(
    row: BuiltinDataset,
    geometry: Geometry,
    augment: bool,
    policy: Any,
    val_fraction: float | None,
    seed: int,
    data_dir: str | os.PathLike[str] | None,
    download: bool,
) -> DataBundle:
    src = create_dataset(row.name, data_dir=data_dir, download=download)
    fraction = row.val_fraction if val_fraction is None else val_fraction
    labels = src.train_labels.long()
    train_idx, val_idx = stratified_split(labels.tolist(), fraction, seed)
    tr, va = torch.tensor(train_idx, dtype=torch.long), torch.tensor(val_idx, dtype=torch.long)
    shift = _array_augment(row.augment, geometry, augment)
    fit = row.fit
    train = ArrayDataset(src.train_images[tr], labels[tr], geometry, shift, policy, fit)
    val = ArrayDataset(src.train_images[va], labels[va], geometry, fit=fit)
    test = None
    if src.test_images is not None and src.test_labels is not None:
        test = ArrayDataset(src.test_images, src.test_labels, geometry, fit=fit)
    source = f"{row.name} {tuple(src.train_images.shape)}"

    def split_print(name: str, idx: list[int], lab: torch.Tensor) -> dict[str, Any]:
        # A split is its source and which training images, with their labels, it holds.
        lines = [source, *(f"{i}\t{int(y)}" for i, y in zip(idx, lab.tolist(), strict=True))]
        return {"count": len(idx), "sha256": digest(lines)}

    splits = {
        "train": split_print("train", train_idx, labels[tr]),
        "val": split_print("val", val_idx, labels[va]),
    }
    if test is not None:
        test_source = f"{row.name} test {tuple(src.test_images.shape)}"  # type: ignore[union-attr]
        splits["test"] = {
            "count": len(test),
            "sha256": digest([test_source, *(str(int(y)) for y in test.labels.tolist())]),
        }
    return DataBundle(
        train,
        val,
        list(src.classes),
        row.name,
        _split_how(fraction, seed),
        geometry.input_size,
        geometry.mean,
        geometry.std,
        test=test,
        fingerprint={"name": row.name, "kind": "builtin", "splits": splits},
    )


# --------------------------------------------------------------------------------- folders


def _check_classes(classes: Sequence[str], where: str) -> None:
    if len(classes) < 2:
        raise ConvzooError(
            f"{where} has {len(classes)} class ({', '.join(classes) or 'none'}): a classifier "
            "needs at least 2 class sub-folders"
        )


def _check_no_extra_classes(folder: Path, classes: Sequence[str]) -> None:
    extra = sorted(set(list_class_folders(folder)) - set(classes))
    if extra:
        raise ConvzooError(f"{folder} has classes that train/ lacks: {', '.join(extra)}")


def _check_every_class_has_images(
    root: Path, classes: Sequence[str], samples: list[tuple[str, int]]
) -> None:
    counts = [0] * len(classes)
    for _, label in samples:
        counts[label] += 1
    empty = [c for c, n in zip(classes, counts, strict=True) if n == 0]
    if empty:
        raise ConvzooError(
            f"{root}: class folder(s) with no readable training images: {', '.join(empty)}. "
            "Put images in them or remove them; nothing was written."
        )


def _shown(items: Sequence[str]) -> str:
    return ", ".join(items[:5]) + (", ..." if len(items) > 5 else "")


def _report(
    scans: dict[str, FolderScan], root: Path, strict: bool
) -> tuple[dict[str, Any], list[str]]:
    """``info`` for the bundle: what was skipped (refused under ``strict``) and left out."""
    skipped, ignored = [], []
    for prefix, scan in scans.items():
        skipped += [f"{prefix}{rel} ({scan.reasons[rel]})" for rel in scan.skipped]
        ignored += [f"{prefix}{what}" for what in scan.ignored]
    if skipped and strict:
        raise ConvzooError(
            f"{root}: {len(skipped)} file(s) are not readable images ({_shown(skipped)}); "
            "remove them, or drop --strict to skip them"
        )
    info: dict[str, Any] = {}
    warnings = []
    if skipped:
        info.update(skipped=len(skipped), skipped_first=skipped[:5])
        warnings.append(
            f"skipped {len(skipped)} unreadable or non-image file(s): {_shown(skipped)}"
        )
    if ignored:
        info.update(ignored=len(ignored), ignored_first=ignored[:5])
        warnings.append(
            f"left out {len(ignored)} link(s) so that no file counts twice or for another "
            f"class: {_shown(ignored)}"
        )
    if warnings:
        info["warning"] = "; ".join(warnings)
    return info, skipped


def _folder_fingerprint(root: Path, name: str, splits: dict[str, tuple[list, list]]) -> dict:
    out: dict[str, Any] = {}
    for split, (samples, sizes) in splits.items():
        lines = [
            f"{relative_to(path, root)}\t{size}\t{label}"
            for (path, label), size in zip(samples, sizes, strict=True)
        ]
        out[split] = {"count": len(samples), "sha256": digest(lines)}
    return {"name": name, "kind": "folder", "splits": out}


def _held_out(
    scan: FolderScan, fraction: float, seed: int
) -> tuple[tuple[list, list], tuple[list, list]]:
    tr, va = stratified_split([label for _, label in scan.samples], fraction, seed)

    def pick(idx: list[int]) -> tuple[list, list]:
        return [scan.samples[i] for i in idx], [scan.sizes[i] for i in idx]

    return pick(tr), pick(va)


def _folder_bundle(
    root: Path,
    geometry: Geometry,
    augment: bool,
    auto_augment: str | None,
    val_fraction: float | None,
    seed: int,
    strict: bool,
    image_fit: str | None,
) -> DataBundle:
    if not root.exists():
        raise FileNotFoundError(
            f"data folder {str(root)!r} does not exist; --data takes digits, fashion-mnist, "
            "mnist, cifar10 or a folder of class sub-folders"
        )
    fraction = FOLDER_VAL_FRACTION if val_fraction is None else val_fraction
    state = ScanState()
    val_dir = next((root / n for n in VAL_FOLDERS if (root / n).is_dir()), None)
    test_dir = root / "test" if (root / "test").is_dir() else None
    top = set(list_class_folders(root)) if root.is_dir() else set()
    split_layout = (root / "train").is_dir() and (
        val_dir is not None or test_dir is not None or top == {"train"}
    )
    scans: dict[str, FolderScan] = {}
    test_part = None
    if split_layout:
        tr = scan_image_folder(root / "train", strict=strict, state=state)
        _check_classes(tr.classes, str(root / "train"))
        scans["train/"] = tr
        classes = tr.classes
        if val_dir is not None:
            _check_no_extra_classes(val_dir, classes)
            va = scan_image_folder(val_dir, classes=classes, strict=strict, state=state)
            scans[f"{val_dir.name}/"] = va
            train_part, val_part = (tr.samples, tr.sizes), (va.samples, va.sizes)
            how = f"{val_dir.name}/ folder"
        else:
            train_part, val_part = _held_out(tr, fraction, seed)
            how = f"{_split_how(fraction, seed)} of train/"
        if test_dir is not None:
            _check_no_extra_classes(test_dir, classes)
            te = scan_image_folder(test_dir, classes=classes, strict=strict, state=state)
            scans["test/"] = te
            test_part = (te.samples, te.sizes)
    else:
        scan = scan_image_folder(root, strict=strict, state=state)
        _check_classes(scan.classes, str(root))
        scans[""] = scan
        classes = scan.classes
        train_part, val_part = _held_out(scan, fraction, seed)
        how = _split_how(fraction, seed)
    info, _ = _report(scans, root, strict)
    _check_every_class_has_images(root, classes, train_part[0])
    if not val_part[0]:
        raise ConvzooError(f"{root}: no readable validation images found")
    parts = {"train": train_part, "val": val_part}
    if test_part is not None:
        if not test_part[0]:
            raise ConvzooError(f"{root}: test/ holds no readable images")
        parts["test"] = test_part
    val_t: Any = (
        pil_transforms(geometry, train=False, augment=False)
        if image_fit is None
        else ImageAsArray(geometry, image_fit)
    )
    return DataBundle(
        FileListDataset(train_part[0], pil_transforms(geometry, True, augment, auto_augment)),
        FileListDataset(val_part[0], val_t),
        list(classes),
        str(root),
        how,
        geometry.input_size,
        geometry.mean,
        geometry.std,
        info,
        test=None if test_part is None else FileListDataset(test_part[0], val_t),
        test_split="test/ folder",
        fingerprint=_folder_fingerprint(root, str(root), parts),
    )


def decode_failures(bundle: DataBundle) -> dict[str, str]:
    """Files of ``bundle`` that could not be decoded so far (path -> reason), in this process.

    (With ``DataLoader`` workers each worker keeps its own record; its log line still shows.)
    """
    found: dict[str, str] = {}
    for ds in (bundle.train, bundle.val, bundle.test):
        found.update(getattr(ds, "failures", None) or {})
    return found
