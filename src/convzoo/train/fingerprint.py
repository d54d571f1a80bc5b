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
    where it has one (recorded as given and compared as a whole)."""
    fp: dict[str, Any] = {"name": name, "classes": list(classes)}
    for split, ds in splits.items():
        if ds is None:
            continue
        fp[f"{split}_images"] = len(ds)  # type: ignore[arg-type]
        samples = _samples(ds)
        if samples is not None:
            fp[f"{split}_files"] = files_digest(samples)
    if extra is not None:
        fp["bundle"] = extra
    return fp


def data_changes(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs between the fingerprint a run recorded and the data given now, in words."""
    changes = []
    for key in sorted(set(saved) | set(now)):
        a, b = saved.get(key), now.get(key)
        if a == b:
            continue
        what = key.replace("_", " ")
        if key.endswith("_images"):
            changes.append(f"{what}: {a} then, {b} now")
        elif key.endswith("_files"):
            changes.append(f"{key.split('_')[0]} files: their list or sizes changed")
        elif key == "classes":
            changes.append(f"classes: {', '.join(a or [])} then, {', '.join(b or [])} now")
        else:
            changes.append(f"{what}: {a!r} then, {b!r} now")
    return changes
