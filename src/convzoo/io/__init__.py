"""The ground floor: the one way convzoo writes a file that must not be lost or half-written.

Every output of the library (checkpoints, metrics, plots, exports, downloads, bench results,
summaries) goes through :func:`atomic_write` or one of its thin wrappers:

* the bytes go to a temporary file in the destination's own folder (so the final rename never
  crosses a file system), named ``.NAME.tmp-XXXXXXXX`` so that a crash leaves only a hidden file
  that :func:`remove_stale_temps` recognises and removes;
* the file is flushed and ``fsync``-ed, given the mode the user's umask asks for (``mkstemp``
  alone would leave it 0600), and moved into place with :func:`os.replace`;
* on any error, including ``KeyboardInterrupt``, the temporary file is removed and the old file,
  if any, is untouched.

We keep our own writer rather than a package (``atomicwrites`` is unmaintained) because it is
twenty lines and every other module depends on its exact guarantees.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal, overload

TEMP_MARK = ".tmp-"


def current_umask() -> int:
    """The process's umask, read without changing it where the OS allows (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # not thread-safe, hence the /proc read first
    os.umask(mask)
    return mask


def temp_name_for(path: Path) -> str:
    """The prefix of the temporary files that :func:`atomic_write` makes for ``path``."""
    return f".{path.name}{TEMP_MARK}"


@overload
@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str], mode: Literal["wb"] = "wb"
) -> Iterator[IO[bytes]]: ...
@overload
@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: Literal["w"]) -> Iterator[IO[str]]: ...
@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open ``path`` for writing so that it appears whole or not at all.

    ``mode`` is ``"wb"`` (bytes) or ``"w"`` (UTF-8 text). The file gets ``0o666 & ~umask``, as
    ``open()`` would give it."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write mode must be 'wb' or 'w', not {mode!r}")
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=temp_name_for(path), dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Make a rename inside ``folder`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path, "wb") as f:
        f.write(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_write(path, "w") as f:
        f.write(text)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON (non-JSON values as ``str``) to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


def remove_stale_temps(folder: str | os.PathLike[str], name: str | None = None) -> list[Path]:
    """Remove the temporary files and folders that an interrupted write left in ``folder``
    (all of them, or those for ``name`` only). Returns what was removed."""
    import shutil

    folder = Path(folder)
    prefix = temp_name_for(Path(name)) if name else "."
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if entry.name.startswith(prefix) and TEMP_MARK in entry.name:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    entry.unlink()
            removed.append(entry)
    return removed
