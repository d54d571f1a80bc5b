"""What a run trained on, recorded so that ``--resume`` can refuse data that changed.

After images were added to or removed from a folder, a resumed run would go on silently on
another split and another schedule length. The fingerprint records the data set's identity, the
size of each split and the class names, and for file-backed data sets a digest of the file list
with the files' sizes (one ``stat`` a file, no decoding). :func:`data_changes` says in words what
differs between two fingerprints.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

from torch.utils.data import Dataset, Subset

from convzoo.data import fingerprint_changes
from convzoo.errors import ConvzooError
from convzoo.io.checkpoint import unwrap

ALLOW_FLAG = "--allow-data-change"


def _samples(ds: Any) -> list[tuple[str, int]] | None:
    """The ``(path, label)`` list of a file-backed data set (ImageFolder's ``samples``),
    through ``Subset`` wrappers; None for in-memory data."""
    indices: Sequence[int] | None = None
    while isinstance(ds, Subset):
        indices = [ds.indices[i] for i in indices] if indices is not None else list(ds.indices)
        ds = ds.dataset
    samples = getattr(ds, "samples", None)
    if not isinstance(samples, list):
        return None
    return [samples[i] for i in indices] if indices is not None else samples


def files_digest(samples: list[tuple[str, int]]) -> str:
    """SHA-256 of every file's path (relative to the common folder), label and size."""
    paths = [str(p) for p, _ in samples]
    root = os.path.commonpath(paths) if paths else ""
    h = hashlib.sha256()
    for (path, label), p in zip(samples, paths, strict=True):
        try:
            size = os.stat(path).st_size
        except OSError:
            size = -1
        h.update(f"{os.path.relpath(p, root) if root else p}\0{label}\0{size}\n".encode())
    return h.hexdigest()[:16]


def data_fingerprint(
    splits: dict[str, Dataset | None], classes: Sequence[str], name: str | None, extra: Any = None
) -> dict[str, Any]:
    """The fingerprint of a run's data: ``name``, ``classes``, each split's size and, for image
    files, the digest of their list and sizes. ``extra`` is the data bundle's own fingerprint
    where it has one (``convzoo.data``'s, with the count and digest of each split): then it is
    recorded instead of ours, with the class names."""
    if extra:
        return {"bundle": extra, "classes": list(classes)}
    fp: dict[str, Any] = {"name": name, "classes": list(classes)}
    for split, ds in splits.items():
        if ds is None:
            continue
        fp[f"{split}_images"] = len(ds)  # type: ignore[arg-type]
        samples = _samples(ds)
        if samples is not None:
            fp[f"{split}_files"] = files_digest(samples)
    return fp


def describe_data(
    model: Any,
    splits: dict[str, Dataset | None],
    classes: Sequence[str] | None,
    data_meta: dict[str, Any] | None,
) -> tuple[list[str], int, dict[str, Any]]:
    """A run's class names (``classes``, else the model's class indices as strings), its class
    count, and its data metadata with the fingerprint added where the caller gave none."""
    if classes is None:
        classes = [str(i) for i in range(int(getattr(model, "num_classes", 0)) or 0)]
    names = list(classes)
    count = len(names) or int(getattr(unwrap(model), "num_classes", 0))
    meta = dict(data_meta or {})
    meta.setdefault("fingerprint", data_fingerprint(splits, names, meta.get("name")))
    return names, count, meta


def data_changes(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs between the fingerprint a run recorded and the data given now, in words."""
    changes = []
    if "bundle" in saved and "bundle" in now:
        # convzoo.data says in words what differs between two of its fingerprints.
        changes += fingerprint_changes(saved["bundle"], now["bundle"])
        saved = {k: v for k, v in saved.items() if k != "bundle"}
        now = {k: v for k, v in now.items() if k != "bundle"}
    for key in sorted(set(saved) | set(now)):
        a, b = saved.get(key), now.get(key)
        if a == b:
            continue
        what = key.replace("_", " ")
        if key.endswith("_images"):
            changes.append(f"{what}: {a} then, {b} now")
        elif key.endswith("_files"):
            changes.append(f"{key.split('_')[0]} files: their list or sizes changed")
        elif key == "bundle":
            changes.append("the data set's fingerprint differs")
        elif key == "classes":
            changes.append(f"classes: {', '.join(a or [])} then, {', '.join(b or [])} now")
        else:
            changes.append(f"{what}: {a!r} then, {b!r} now")
    return changes


def check_same_data(meta: dict[str, Any], now: dict[str, Any], run: Any) -> None:
    """Refuse to resume the run whose checkpoint ``meta`` recorded another fingerprint than
    ``now`` (checkpoints from before fingerprints pass)."""
    saved = (meta.get("data") or {}).get("fingerprint")
    changes = data_changes(saved, now) if saved else []
    if changes:
        raise ConvzooError(
            f"{run} was trained on other data ({'; '.join(changes)}); resuming would go on "
            f"with another split and schedule. Restore the data, or give {ALLOW_FLAG} to go on "
            "with the data as it is now"
        )


def bundle_meta(bundle: Any, config: Any = None) -> dict[str, Any]:
    """What a checkpoint records about its data: name, split, classes, the card's transforms,
    the splits' sizes and the data's fingerprint (see :mod:`convzoo.train.fingerprint`)."""
    test = getattr(bundle, "test", None)
    meta = {
        "name": bundle.name,
        "val_split": bundle.val_split,
        "input_size": list(bundle.input_size),
        "mean": list(bundle.mean),
        "std": list(bundle.std),
        "train_images": len(bundle.train),
        "val_images": len(bundle.val),
        "fingerprint": data_fingerprint(
            {"train": bundle.train, "val": bundle.val, "test": test},
            bundle.classes,
            bundle.name,
            getattr(bundle, "fingerprint", None),
        ),
    }
    if test is not None:
        meta["test_images"] = len(test)
    if config is not None:
        meta.update(val_fraction=config.val_fraction, data_dir=config.data_dir)
    return meta
