"""The checkpoint folder format: weights, metadata and resume state, swapped in whole.

Layout of a checkpoint folder (``RUN/last/``, ``RUN/best/``)::

    weights.safetensors   the model's state dict, loadable with safetensors alone
    meta.json             network name and builder arguments, class names, the transforms
                          (input size, mean, std), epoch, metrics, seed, versions
    state.pt              optimizer, scheduler, AMP scaler and RNG states (resume only; read
                          with torch.load(weights_only=True))

Every file is written through :mod:`convzoo.io` (temporary file, fsync, the umask's mode) into a
hidden folder ``.NAME.tmp-PID``, ``meta.json`` last. The folder is then swapped with the old one
in a single step (Linux's ``renameat2(RENAME_EXCHANGE)``), so ``NAME`` always holds a complete
checkpoint, the old or the new, whatever instant the process dies. Where the file system cannot
exchange, two renames are used (``NAME`` -> ``.NAME.old``, then the new folder -> ``NAME``); a
death between them leaves the previous checkpoint in ``.NAME.old``, which the finder reads.
Leftover ``.NAME.tmp-PID`` folders of a process that is gone (a crash, a full disk) and a
leftover ``.NAME.old`` are removed by the next save.

This module is the ground floor: it knows the format, not the networks; building a network from
``meta.json`` (with its builder arguments checked) is :func:`convzoo.weights.model_from_checkpoint`.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import platform
import random
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
from torch import nn

from convzoo.errors import ConvzooError
from convzoo.io import TEMP_MARK, atomic_write, fsync_dir, write_bytes, write_json
from convzoo.version import __version__

WEIGHTS = "weights.safetensors"
META = "meta.json"
STATE = "state.pt"
FAMILIES = ("best", "last")

# Called with the name of each step of a save and the checkpoint's path (tests stop the process
# there and kill it).
_step_hook: Callable[[str, Path], None] | None = None
# False forces the two-rename swap (what file systems without RENAME_EXCHANGE get); for tests.
USE_EXCHANGE = True


class CheckpointError(ConvzooError):
    """A checkpoint that is missing, incomplete or unreadable; the message names the file."""


def _step(name: str, path: Path) -> None:
    if _step_hook is not None:
        _step_hook(name, path)


def versions() -> dict[str, str]:
    """Versions recorded next to every checkpoint and result."""
    # Lazy: torchvision's package imports all its networks and torchvision.ops, which imports
    # torch._dynamo (seconds); `import convzoo.weights` and `convzoo list` need none of it.
    import torchvision

    return {
        "convzoo": __version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside DistributedDataParallel / DataParallel / torch.compile wrappers."""
    while True:
        inner = getattr(model, "module", None)
        if not isinstance(inner, nn.Module):
            inner = getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def rng_state() -> dict[str, Any]:
    """All RNG states that training draws from, in a form ``torch.load(weights_only=True)``
    accepts (numpy's array becomes a tensor)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(np.asarray(keys).astype(np.int64)), pos, has_gauss, gauss],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` recorded."""
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ------------------------------------------------------------------------------ writing


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_saves(path: Path) -> list[Path]:
    """Remove the ``.NAME.tmp-PID`` folders of ``path`` whose process is gone (or is this one:
    an earlier save of ours that failed). Returns what was removed."""
    removed = []
    prefix = f".{path.name}{TEMP_MARK}"
    with contextlib.suppress(OSError):
        for entry in path.parent.iterdir():
            if not entry.name.startswith(prefix):
                continue
            pid_text = entry.name[len(prefix) :]
            pid = int(pid_text) if pid_text.isdigit() else None
            if pid is not None and pid != os.getpid() and _pid_alive(pid):
                continue  # another live process is writing it
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step (Linux ``renameat2``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap_in(tmp: Path, path: Path, *, exchange: bool = True) -> None:
    old = path.with_name(f".{path.name}.old")
    if path.exists() and exchange and _exchange(tmp, path):
        _step("exchanged", path)
        shutil.rmtree(tmp)  # now the old checkpoint
        return
    if path.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(path, old)
        _step("moved-old", path)
    elif old.exists():
        _step("old-only", path)  # an earlier swap died here: .old stays the newest until we land
    os.replace(tmp, path)
    _step("renamed-new", path)
    if old.exists():
        shutil.rmtree(old)


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module | Mapping[str, torch.Tensor],
    meta: dict[str, Any],
    state: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint folder (see the module docstring) and return its path.

    ``model`` is a network (wrappers are unwrapped) or a state dict; ``meta`` must be JSON
    (other values are written as ``str``); ``state`` (resume only) is saved with ``torch.save``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_saves(path)
    tmp = path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}")
    tmp.mkdir()
    try:
        source = unwrap(model).state_dict() if isinstance(model, nn.Module) else model
        # clone(): safetensors refuses tensors that share storage (tied weights, views).
        tensors = {k: v.detach().cpu().contiguous().clone() for k, v in source.items()}
        write_bytes(tmp / WEIGHTS, safetensors.torch.save(tensors, metadata={"format": "pt"}))
        del tensors
        _step("weights", path)
        if state is not None:
            with atomic_write(tmp / STATE, "wb") as f:
                torch.save(state, f)
            _step("state", path)
        write_json(tmp / META, meta)  # last: a folder with meta.json is complete
        _step("meta", path)
        fsync_dir(tmp)
        _swap_in(tmp, path, exchange=USE_EXCHANGE)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(path.parent)
    _step("done", path)
    return path


# ------------------------------------------------------------------------------ reading


@dataclass
class Checkpoint:
    """A checkpoint folder that was found and read: its path and metadata."""

    path: Path
    meta: dict[str, Any]

    @property
    def weights_path(self) -> Path:
        return self.path / WEIGHTS

    @property
    def has_state(self) -> bool:
        return (self.path / STATE).is_file()

    @property
    def family(self) -> str | None:
        """``"last"`` or ``"best"`` (also for ``.last.old``), None for a lone folder."""
        name = self.path.name
        for fam in FAMILIES:
            if name in (fam, f".{fam}.old"):
                return fam
        return None

    @property
    def run_dir(self) -> Path:
        """The run folder that holds this checkpoint (the folder itself for a lone one)."""
        return self.path.parent if self.family else self.path

    def load_state(self) -> dict[str, Any]:
        try:
            return torch.load(self.path / STATE, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise CheckpointError(f"{self.path} has no resume state ({STATE})") from None
        except Exception as err:  # torch raises many kinds for a damaged file
            raise CheckpointError(
                f"{self.path / STATE}: unreadable resume state, truncated or damaged? "
                f"({type(err).__name__}: {str(err)[:160]})"
            ) from None

    def load_weights(self) -> dict[str, torch.Tensor]:
        try:
            return safetensors.torch.load_file(str(self.weights_path))
        except FileNotFoundError:
            raise CheckpointError(f"{self.path} has no {WEIGHTS}") from None
        except Exception as err:  # safetensors raises its own error types
            raise CheckpointError(
                f"{self.weights_path}: not a readable safetensors file, truncated or damaged? "
                f"({str(err)[:160]})"
            ) from None


def read_checkpoint_dir(path: Path) -> Checkpoint | None:
    """The checkpoint in ``path`` if it is complete (weights and meta.json), else None."""
    if not ((path / WEIGHTS).is_file() and (path / META).is_file()):
        return None
    try:
        meta = json.loads((path / META).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path / META}: not valid JSON ({err})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path / META}: not a JSON object")
    return Checkpoint(path, meta)


def find_checkpoint(path: str | os.PathLike[str], prefer: str = "best") -> Checkpoint:
    """The one checkpoint finder: a checkpoint folder, its ``weights.safetensors`` or
    ``meta.json``, or a run folder (the ``prefer`` family, "best" or "last", first).

    In a run folder each family is tried whole: ``NAME/``, then ``.NAME.old`` (a swap cut
    short). ``prefer="last"`` (resume, ``evaluate --last``) never falls back to ``best/``: a run
    folder without a last checkpoint is an error. ``prefer="best"`` falls back to the last
    checkpoint (a run stopped before its first best). Nothing is written.
    """
    if prefer not in FAMILIES:
        raise ValueError(f"prefer must be 'best' or 'last', not {prefer!r}")
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{str(p)!r} does not exist: give a run folder or a checkpoint")
    if p.is_file():
        p = p.parent
    order = [prefer] if prefer == "last" else list(FAMILIES)
    candidates = [p] + [c for fam in order for c in (p / fam, p / f".{fam}.old")]
    for c in candidates:
        ckpt = read_checkpoint_dir(c)
        if ckpt is not None:
            return ckpt
    if prefer == "last" and read_checkpoint_dir(p / "best") is not None:
        raise CheckpointError(
            f"{p} has no last checkpoint (last/ is missing or incomplete), only best/; give "
            f"{p / 'best'} to use that one"
        )
    raise CheckpointError(
        f"{p} holds no checkpoint ({WEIGHTS} + {META}, or last/ and best/ sub-folders)"
    )
