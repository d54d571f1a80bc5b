"""The data bundle: the splits, the class names, and what a run must remember about them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor
from torch.utils.data import Dataset

SPLITS = ("train", "val", "test")


@dataclass
class DataBundle:
    """A training set, a validation set, an optional test set and their description.

    ``val`` is what a run selects ``best/`` on; ``test`` (a Dataset or None) is for one
    evaluation at the end, never for a decision. ``fingerprint`` is JSON-able and identifies the
    data of each split (see :func:`fingerprint_changes`); ``batch_transform`` is None or a
    callable ``(x, y) -> (x, y_soft)`` for training batches (MixUp, CutMix).
    """

    train: Dataset
    val: Dataset
    classes: list[str]
    name: str
    val_split: str
    input_size: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    info: dict[str, Any] = field(default_factory=dict)
    test: Dataset | None = None
    test_split: str = "test set"  # how the test set was made, as ``val_split`` says for val
    fingerprint: dict[str, Any] = field(default_factory=dict)
    batch_transform: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]] | None = None

    def __post_init__(self) -> None:
        if not self.fingerprint:  # a bundle made by hand: at least its name and counts
            self.fingerprint = {
                "name": self.name,
                "splits": {k: {"count": n} for k, n in self.splits.items() if n is not None},
            }

    @property
    def splits(self) -> dict[str, int | None]:
        """Image counts of each split; ``test`` is None where there is no test set."""
        return {
            "train": _count(self.train),
            "val": _count(self.val),
            "test": None if self.test is None else _count(self.test),
        }

    def describe(self) -> str:
        c, h, w = self.input_size
        n = self.splits
        test = "" if n["test"] is None else f" / {n['test']} test"
        return (
            f"{self.name}: {n['train']} train / {n['val']} val{test} images "
            f"({self.val_split}), {len(self.classes)} classes, fed as {c}x{h}x{w}"
        )


def _count(dataset: Any) -> int:
    return len(dataset)


def digest(lines: Iterable[str]) -> str:
    """SHA-256 of ``lines``, one a line: the identity of a split in a fingerprint."""
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode("utf-8", "surrogateescape"))
        h.update(b"\n")
    return h.hexdigest()


def fingerprint_changes(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between two bundles' fingerprints, in words (empty when nothing does).

    A resume compares the fingerprint its run recorded with today's data and refuses on any
    change; these sentences are what the refusal says.
    """
    changes = []
    if recorded.get("name") != current.get("name"):
        changes.append(f"the data was {recorded.get('name')!r}, now {current.get('name')!r}")
    old, new = recorded.get("splits") or {}, current.get("splits") or {}
    names = [s for s in SPLITS if s in old or s in new]
    for split in names + sorted(set(old) | set(new) - set(SPLITS)):
        a, b = old.get(split), new.get(split)
        if a is None or b is None:
            changes.append(f"the {split} split {'appeared' if a is None else 'is gone'}")
        elif a.get("count") != b.get("count"):
            changes.append(f"{split}: {a.get('count')} images then, {b.get('count')} now")
        elif a.get("sha256") != b.get("sha256"):
            changes.append(
                f"{split}: the same number of images ({a.get('count')}) but other files, sizes "
                "or labels"
            )
    return changes
