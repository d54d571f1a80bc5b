"""Image folders: one sub-folder per class (torchvision's ``ImageFolder`` layout), scanned safely.

Class folders are found by torchvision's ``find_classes`` (hidden ones dropped). The walk inside
them is our own, not ``make_dataset``'s: that one walks with ``os.walk(followlinks=True)`` and no
guard, so a link ``ants/up -> ..`` turned 20 files into 820 samples, mislabelled, the same files
in train and val. Ours enters each real folder once, counts each file (device and inode) once
across every split of a bundle, and gives a file only to the class whose folder really holds it;
what it leaves out is listed in :attr:`FolderScan.ignored`.

Start-up reads each file's header only (``PIL.Image.open``, a few hundred bytes): a file that is
no image is skipped and reported. A file whose header is good but whose data is not (a truncated
JPEG, a PNG with corrupt data) is found when it is first decoded: :class:`FileListDataset` then
uses the next readable file of the same class in its place and logs the bad one once, with the
reason. That choice is deterministic (the same file always fails, and the failed attempt draws no
random number), so a resumed run replays exactly. ``strict=True`` decodes every file at start-up
instead and refuses them all before anything is written.
"""

from __future__ import annotations

import bisect
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image
from torch.utils.data import Dataset
from torchvision.datasets.folder import default_loader, find_classes

from convzoo.errors import ConvzooError

log = logging.getLogger(__name__)


@dataclass
class FolderScan:
    """What a scan found: ``samples`` as ``(path, label)`` (``ImageFolder.samples``), class
    names, files that are not readable images (``skipped``, relative paths, with ``reasons``),
    entries left out so that no file counts twice or for another class (``ignored``: "path
    (why)") and the size in bytes of each sample (for the data fingerprint)."""

    samples: list[tuple[str, int]]
    classes: list[str]
    skipped: list[str]
    reasons: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)


@dataclass
class ScanState:
    """What the scans of one bundle share: files (device, inode) already counted and real
    folders already entered, so a file in ``val/`` linked from ``train/`` counts once."""

    files: dict[tuple[int, int], str] = field(default_factory=dict)  # -> the path counted
    folders: set[str] = field(default_factory=set)


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def image_problem(path: str | os.PathLike[str], decode: bool = False) -> str | None:
    """Why ``path`` is not a readable image (None when it is): its header, or with ``decode``
    all its pixels."""
    try:
        with Image.open(path) as im:
            if decode:
                im.load()
    except Exception as err:  # PIL raises OSError, SyntaxError, ValueError, zlib.error, ...
        return _reason(err)
    return None


def list_class_folders(root: Path) -> list[str]:
    """The class folder names under ``root``: torchvision's ``find_classes`` less hidden ones."""
    try:
        classes, _ = find_classes(root)
    except FileNotFoundError:  # find_classes' way of saying "no class folder"
        return []
    return [c for c in classes if not c.startswith(".")]


def _owner(real: str, owners: list[tuple[str, int]]) -> int | None:
    # The class whose real folder holds `real` (the deepest one, should class folders nest).
    best: tuple[int, int] | None = None
    for folder, label in owners:
        if (real == folder or real.startswith(folder + os.sep)) and (
            best is None or len(folder) > best[0]
        ):
            best = (len(folder), label)
    return None if best is None else best[1]


class _Walk:
    """The walk of one split folder's classes (see the module's docstring for the rules)."""

    def __init__(self, root: Path, classes: list[str], state: ScanState, decode: bool):
        self.root, self.classes, self.state, self.decode = root, classes, state, decode
        self.scan = FolderScan([], list(classes), [])
        self.owners: list[tuple[str, int]] = []
        for label, name in enumerate(classes):
            real = os.path.realpath(root / name)
            clash = [classes[other] for f, other in self.owners if f == real]
            if clash:
                raise ConvzooError(
                    f"{root}: the class folders {clash[0]!r} and {name!r} are the same folder "
                    "(a link): give each class its own folder"
                )
            self.owners.append((real, label))

    def rel(self, path: str) -> str:
        return relative_to(path, self.root)

    def ignore(self, path: str, why: str) -> None:
        self.scan.ignored.append(f"{self.rel(path)} ({why})")

    def run(self) -> FolderScan:
        for label, name in enumerate(self.classes):
            folder = self.root / name
            if not folder.is_dir():
                raise ConvzooError(
                    f"{self.root} lacks the class folder {name!r} that the other split has"
                )
            real = self.owners[label][0]
            if real in self.state.folders:
                self.ignore(str(folder), "a folder already scanned")
                continue
            self.state.folders.add(real)
            self.walk_class(str(folder), real, label)
        return self.scan

    def walk_class(self, folder: str, real: str, label: int) -> None:
        # Real paths are carried along, so only links cost a realpath() (10,000 of them took
        # 0.5 s on a loaded machine).
        pending = [(folder, real)]
        while pending:
            subfolders: list[tuple[str, str]] = []
            here, here_real = pending.pop()
            for entry in self.entries(here):
                link = entry.is_symlink()
                real = os.path.realpath(entry.path) if link else here_real + os.sep + entry.name
                if entry.is_dir():
                    if self.enter(entry.path, real, label):
                        subfolders.append((entry.path, real))
                elif entry.is_file():
                    self.add_file(entry, real if link else None, label)
                else:  # a dangling link, a FIFO, a socket: never opened
                    self.scan.skipped.append(self.rel(entry.path))
                    self.scan.reasons[self.rel(entry.path)] = "not a regular file (dangling link?)"
            pending.extend(reversed(subfolders))  # depth first, in name order, like os.walk

    @staticmethod
    def entries(folder: str) -> Iterator[os.DirEntry[str]]:
        with os.scandir(folder) as it:
            found = [e for e in it if not e.name.startswith(".")]  # .DS_Store is not data
        yield from sorted(found, key=lambda e: e.name)

    def enter(self, path: str, real: str, label: int) -> bool:
        if real in self.state.folders:
            self.ignore(path, "a link to a folder already scanned")
            return False
        if any(f.startswith(real + os.sep) for f, _ in self.owners):
            self.ignore(path, "a link to a folder that holds the class folders")
            return False
        owner = _owner(real, self.owners)
        if owner is not None and owner != label:
            self.ignore(path, f"a link into class {self.classes[owner]!r}")
            return False
        self.state.folders.add(real)
        return True

    def add_file(self, entry: os.DirEntry[str], link_target: str | None, label: int) -> None:
        st = entry.stat()  # follows a link: the file itself
        key = (st.st_dev, st.st_ino)
        if key in self.state.files:
            first = relative_to(self.state.files[key], self.root)
            self.ignore(entry.path, f"the same file as {first}")
            return
        # A plain file belongs to its folder's class, checked on entering the folder; a link
        # belongs to the class whose folder holds its target.
        owner = None if link_target is None else _owner(link_target, self.owners)
        if owner is not None and owner != label:
            self.ignore(entry.path, f"a link to a file of class {self.classes[owner]!r}")
            return
        self.state.files[key] = entry.path
        problem = image_problem(entry.path, decode=self.decode)
        if problem is not None:
            rel = self.rel(entry.path)
            self.scan.skipped.append(rel)
            self.scan.reasons[rel] = problem
            return
        self.scan.samples.append((entry.path, label))
        self.scan.sizes.append(st.st_size)


def relative_to(path: str, root: Path | str) -> str:
    """``os.path.relpath`` for a path known to lie under ``root``, without its syscalls."""
    prefix = str(root).rstrip(os.sep) + os.sep
    return path[len(prefix) :] if path.startswith(prefix) else os.path.relpath(path, root)


def scan_image_folder(
    root: Path,
    classes: list[str] | None = None,
    *,
    strict: bool = False,
    state: ScanState | None = None,
) -> FolderScan:
    """One sub-folder per class, walked as the module's docstring says.

    ``classes`` fixes the class list (a val/ or test/ folder takes train/'s); ``strict``
    decodes every file instead of reading its header; ``state`` is shared by the scans of one
    bundle so that no file counts twice across its splits.
    """
    if not root.exists():
        raise FileNotFoundError(f"data folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"{str(root)!r} is not a folder of images")
    if classes is None:
        classes = list_class_folders(root)
    if not classes:
        raise ConvzooError(
            f"{root} holds no class sub-folders: put the images of each class in their own "
            f"folder, e.g. {root}/cat/1.jpg, {root}/dog/2.jpg"
        )
    return _Walk(root, list(classes), state or ScanState(), strict).run()


class FileListDataset(Dataset):
    """Image files with labels (torchvision's ``ImageFolder.samples``) and a transform.

    A file that cannot be decoded is replaced by the next readable file of the same class (the
    label stays right, the batch keeps its size) and recorded in :attr:`failures` (path ->
    reason), logged once. With ``DataLoader`` workers each worker keeps its own record.
    """

    def __init__(
        self,
        samples: list[tuple[str, int]],
        transform: Callable,
        loader: Callable[[str], Any] = default_loader,
    ):
        self.samples = samples
        self.transform = transform
        self.loader = loader
        self.failures: dict[str, str] = {}
        self._by_class: dict[int, list[int]] | None = None

    def __len__(self) -> int:
        return len(self.samples)

    def _same_class_after(self, i: int) -> list[int]:
        # The other files of i's class, in order, starting after i and wrapping round.
        if self._by_class is None:
            by_class: dict[int, list[int]] = {}
            for j, (_, label) in enumerate(self.samples):
                by_class.setdefault(label, []).append(j)
            self._by_class = by_class
        members = self._by_class[self.samples[i][1]]
        k = bisect.bisect_right(members, i)
        return [j for j in members[k:] + members[:k] if j != i]

    def _try(self, path: str) -> Any | None:
        if path in self.failures:
            return None
        try:
            return self.loader(path)
        except Exception as err:  # PIL raises OSError, SyntaxError, zlib.error, ...
            self.failures[path] = _reason(err)
            log.warning(
                "%s cannot be decoded (%s): skipped, the next readable image of its class "
                "stands in",
                path,
                self.failures[path],
            )
            return None

    def _load(self, i: int) -> Any:
        image = self._try(self.samples[i][0])
        if image is not None:
            return image
        for j in self._same_class_after(i):
            image = self._try(self.samples[j][0])
            if image is not None:
                return image
        raise ConvzooError(
            f"no image of class {self.samples[i][1]} can be decoded (first: "
            f"{self.samples[i][0]}); replace the damaged files or remove the class"
        )

    def __getitem__(self, i: int) -> tuple[Any, int]:
        image = self._load(i)
        return self.transform(image), self.samples[i][1]
