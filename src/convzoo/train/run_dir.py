"""The output folder of a run: a fresh auto-numbered one, or a user's folder that is checked first,
and locked for the life of the run.

Nothing already written is ever overwritten: a folder that holds a run (its ``config.json``) or
anything else is refused with a message that says how to continue it or where to write instead.

One run, one folder: the run holds an OS lock (``fcntl.flock``) on ``RUN/.lock`` from the moment
the folder is claimed until the process ends, so a second `convzoo train --out RUN` (or a
``--resume RUN``) started meanwhile is refused in one line instead of mixing two runs' files. The
kernel drops the lock when the process dies, however it dies (a ``kill -9`` included), so a stale
lock never blocks a resume; the empty ``.lock`` file stays (removing it would let a third process
lock a file that a second one is about to open).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from convzoo.errors import ConvzooError

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are not locked there
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lock"


class RunFolderBusy(ConvzooError):
    """Another process is running in this run folder."""


class _Held:
    def __init__(self, file: IO[str]):
        self.file, self.count = file, 1


# Run folders this process created (a failed start removes them; a user's empty folder stays).
_CREATED: set[str] = set()

# Locks this process holds, by real path: flock conflicts between two open() of the same file
# even within one process, so a nested claim (the CLI, then fit) counts instead of locking again.
_HELD: dict[str, _Held] = {}


def _key(path: Path) -> str:
    return os.path.realpath(path)


def _busy_message(path: Path, holder: str) -> str:
    return (
        f"{path} is in use by a run still in progress ({holder or 'another process'}); nothing "
        "was written. Wait for it to finish (then --resume it if it was stopped), or choose "
        "another --out"
    )


def check_not_busy(path: str | os.PathLike[str]) -> None:
    """Raise :class:`RunFolderBusy` if another process holds ``path``'s lock; reads only (a
    shared lock tried and given back at once), so a refused command changes nothing."""
    path = Path(path)
    lock = path / LOCK_NAME
    if fcntl is None or _key(path) in _HELD or not lock.is_file():
        return
    with open(lock, encoding="utf-8") as file:
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunFolderBusy(_busy_message(path, file.read().strip())) from None
        fcntl.flock(file.fileno(), fcntl.LOCK_UN)


def acquire_run_lock(path: str | os.PathLike[str]) -> None:
    """Lock the run folder ``path`` (which must exist) for this process, or raise
    :class:`RunFolderBusy` naming the process that holds it."""
    path = Path(path)
    key = _key(path)
    if key in _HELD:
        _HELD[key].count += 1
        return
    file = open(path / LOCK_NAME, "a+", encoding="utf-8")  # noqa: SIM115 (held for the run)
    if fcntl is not None:
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip()
            file.close()
            raise RunFolderBusy(_busy_message(path, holder)) from None
    file.seek(0)
    file.truncate()
    file.write(f"pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    file.flush()
    _HELD[key] = _Held(file)


def release_run_lock(path: str | os.PathLike[str]) -> None:
    """Give back one claim on ``path``'s lock (the lock itself goes with the last one)."""
    key = _key(Path(path))
    held = _HELD.get(key)
    if held is None:
        return
    held.count -= 1
    if held.count == 0:
        del _HELD[key]
        held.file.close()  # closing the file releases the flock


@contextlib.contextmanager
def run_lock(path: str | os.PathLike[str] | None) -> Iterator[None]:
    """Hold the run folder's lock for the ``with`` block (nothing when ``path`` is None)."""
    if path is None:
        yield
        return
    acquire_run_lock(path)
    try:
        yield
    finally:
        release_run_lock(path)


def _slug(text: str) -> str:
    base = os.path.basename(os.path.normpath(str(text))) or str(text)
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", base).strip("-") or "data"


def _check_unused(path: Path, model: str, data: str, resume_command: str) -> None:
    if not any(p.name != LOCK_NAME for p in path.iterdir()):
        return
    cfg_path = path / "config.json"
    if cfg_path.is_file():
        try:
            cfg: dict[str, Any] = json.loads(cfg_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            cfg = {}
        same = cfg.get("model") == model and str(cfg.get("data")) == str(data)
        what = f"a run of {cfg.get('model', '?')} on {cfg.get('data', '?')}"
        raise ConvzooError(
            f"--out {path} already holds {what}"
            + ("" if same else f", a different run from {model} on {data}")
            + f"; nothing was written. Continue it with `{resume_command} {path}`, or "
            "choose another --out (or leave --out out for a fresh runs/ folder)"
        )
    raise ConvzooError(
        f"--out {path} is not empty and holds no run; nothing was written. Choose an empty "
        "or new folder"
    )


def prepare_run_dir(
    out: str | os.PathLike[str] | None,
    *,
    model: str,
    data: str,
    root: str | os.PathLike[str] = "runs",
    resume_command: str = "convzoo train --resume",
) -> Path:
    """Create, lock and return the run folder.

    ``out`` None: ``ROOT/MODEL-DATA-N`` with the first free N (so the same command run twice
    gives two runs). ``out`` given: created if missing; refused if it already holds files or
    another process runs in it. The lock is held until :func:`release_run_lock` (or the end of
    the process); a refused folder that this call created is removed again.
    """
    if out is None:
        base = Path(root) / f"{_slug(model)}-{_slug(data)}"
        base.parent.mkdir(parents=True, exist_ok=True)
        n = 1
        while True:
            path = base.with_name(f"{base.name}-{n}")
            try:
                path.mkdir()  # atomic: two runs started together never share a folder
                break
            except FileExistsError:
                n += 1
        _CREATED.add(_key(path))
        acquire_run_lock(path)
        return path
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ConvzooError(f"--out {str(path)!r} is a file, not a folder; choose another --out")
    created = not path.exists()
    if not created:
        # Read-only checks first: a refused folder is left exactly as it was.
        check_not_busy(path)
        _check_unused(path, model, data, resume_command)
    path.mkdir(parents=True, exist_ok=True)
    if created:
        _CREATED.add(_key(path))
    try:
        acquire_run_lock(path)
    except RunFolderBusy:
        raise
    except BaseException:
        if created:
            _remove_if_unused(path)
        _CREATED.discard(_key(path))
        raise
    try:
        _check_unused(path, model, data, resume_command)  # again: another run may have begun
    except BaseException:
        release_run_lock(path)
        if created:
            _remove_if_unused(path)
        _CREATED.discard(_key(path))
        raise
    return path


def _remove_if_unused(path: Path, *, folder: bool = True) -> None:
    """Remove a run folder that holds nothing but its lock file (a run that failed to start);
    ``folder=False`` (a folder the user made) removes the lock file only, leaving it empty."""
    with contextlib.suppress(OSError):
        if all(p.name == LOCK_NAME for p in path.iterdir()):
            with contextlib.suppress(FileNotFoundError):
                (path / LOCK_NAME).unlink()
            if folder:
                path.rmdir()


# A run folder holding one of these (whole or cut short by a swap) has something to resume.
_CHECKPOINT_NAMES = ("last", "best", ".last.old", ".best.old")


def has_checkpoint(path: str | os.PathLike[str]) -> bool:
    """Whether the run folder holds a checkpoint folder (complete or not: never guessed away)."""
    return any((Path(path) / name).is_dir() for name in _CHECKPOINT_NAMES)


def _remove_run_files(path: Path) -> None:
    """Remove what a run wrote into its folder, the lock file aside (held until released)."""
    import shutil

    with contextlib.suppress(OSError):
        for entry in path.iterdir():
            if entry.name == LOCK_NAME:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()


def discard_run_dir(path: str | os.PathLike[str], *, failed: bool = False) -> None:
    """Release the run folder; remove it if nothing but its lock is in it (a failed start), so
    the same ``--out`` can be used again.

    ``failed``: the run ended in an error (a full disk, a permission, a bug). If it saved no
    checkpoint, what it wrote (``config.json``, the first metrics) can neither be resumed nor
    let the same ``--out`` be used again (it "holds a run"), so it is removed: the folder is
    left as the run found it (a new folder: gone; a given empty one: empty). A run that saved
    a checkpoint keeps everything, to be resumed."""
    path = Path(path)
    if failed and _key(path) in _HELD and _HELD[_key(path)].count == 1 and not has_checkpoint(path):
        _remove_run_files(path)
    release_run_lock(path)
    if _key(path) not in _HELD:
        _remove_if_unused(path, folder=_key(path) in _CREATED)
        _CREATED.discard(_key(path))
