"""Checkpoints: a folder with the weights (safetensors), the metadata (JSON) and the resume state.

Layout of a checkpoint folder (``RUN/last/``, ``RUN/best/``)::

    weights.safetensors   the model's state dict, loadable with safetensors alone
    meta.json             network name and create_model arguments, class names, the card's
                          transforms (input size, mean, std), epoch, metrics, seed, versions
    state.pt              optimizer, scheduler, AMP scaler and RNG states (resume only; read
                          with torch.load(weights_only=True))

A checkpoint is written into a hidden temporary folder and swapped in with ``os.replace``, so an
interruption (Ctrl-C, a crash, a full disk) leaves either the old or the new checkpoint, never a
mixture; if it strikes between the two renames, the old one is found under ``.NAME.old``.
"""

from __future__ import annotations

import json
import os
import platform
import random
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from convzoo.errors import ConvzooError

WEIGHTS = "weights.safetensors"
META = "meta.json"
STATE = "state.pt"


def versions() -> dict[str, str]:
    """Versions recorded next to every checkpoint and result."""
    import torchvision

    from convzoo import __version__

    return {
        "convzoo": __version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write a text file through a temporary file and ``os.replace``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside DistributedDataParallel / DataParallel / torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def rng_state() -> dict[str, Any]:
    """All RNG states that training draws from, in a form ``torch.load(weights_only=True)``
    accepts (numpy's array becomes a tensor)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    meta: dict[str, Any],
    state: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint folder atomically (see the module docstring). Returns its path."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    old = path.with_name(f".{path.name}.old")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    # clone(): safetensors refuses tensors that share storage (tied weights, views).
    weights = {
        k: v.detach().cpu().contiguous().clone() for k, v in unwrap(model).state_dict().items()
    }
    save_file(weights, str(tmp / WEIGHTS), metadata={"format": "pt"})
    with open(tmp / META, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2, default=str)
        f.write("\n")
    if state is not None:
        torch.save(state, tmp / STATE)
    for p in tmp.iterdir():
        with open(p, "rb") as f:
            os.fsync(f.fileno())
    if old.exists():
        shutil.rmtree(old)
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    if old.exists():
        shutil.rmtree(old)
    return path


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

    def load_state(self) -> dict[str, Any]:
        return torch.load(self.path / STATE, map_location="cpu", weights_only=True)

    def load_weights(self) -> dict[str, torch.Tensor]:
        from safetensors.torch import load_file

        return load_file(str(self.weights_path))

    def build_model(self, device: str | torch.device = "cpu") -> nn.Module:
        """The network the checkpoint was trained as, with its weights (strict)."""
        from convzoo.registry import create_model

        m = self.meta.get("model") or {}
        if not m.get("name"):
            raise ConvzooError(f"{self.path}: the metadata does not name a registered network")
        model = create_model(m["name"], **m.get("kwargs", {}))
        model.load_state_dict(self.load_weights(), strict=True)
        return model.to(device).eval()


def _read_checkpoint_dir(path: Path) -> Checkpoint | None:
    if (path / WEIGHTS).is_file() and (path / META).is_file():
        try:
            meta = json.loads((path / META).read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ConvzooError(f"{path / META}: not valid JSON ({err})") from None
        return Checkpoint(path, meta)
    return None


def find_checkpoint(path: str | os.PathLike[str], prefer: str = "best") -> Checkpoint:
    """A checkpoint from a run folder (``prefer`` "best" or "last" first), a checkpoint folder,
    or its ``weights.safetensors``. A swap cut short is recovered from ``.NAME.old``."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{str(p)!r} does not exist: give a run folder or a checkpoint")
    if p.is_file():
        p = p.parent
    order = [prefer, "last" if prefer == "best" else "best"]
    candidates = [p] + [p / n for n in order] + [p / f".{n}.old" for n in order]
    for c in candidates:
        ckpt = _read_checkpoint_dir(c)
        if ckpt is not None:
            return ckpt
    raise ConvzooError(
        f"{p} holds no checkpoint ({WEIGHTS} + {META}, or last/ and best/ sub-folders)"
    )
