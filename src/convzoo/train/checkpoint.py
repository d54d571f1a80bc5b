"""Checkpoints of training runs, as the training code imports them.

The folder format (weights.safetensors + meta.json + state.pt, swapped in whole) and the one
finder live on the ground floor, :mod:`convzoo.io.checkpoint`; building the network a checkpoint
names (its builder arguments checked against an allow-list) is
:func:`convzoo.weights.model_from_checkpoint`. This module keeps the names the training code
has always imported from here, and adds the one check every entry point that reads a run
needs: :func:`find_checkpoint` refuses a checkpoint whose metadata asks for builder arguments
the network does not take, ``weights`` or a URL, before anything is built or fetched.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convzoo import io
from convzoo.io import checkpoint as _format
from convzoo.io.checkpoint import (
    META,
    STATE,
    WEIGHTS,
    CheckpointError,
    remove_stale_saves,
    rng_state,
    save_checkpoint,
    set_rng_state,
    unwrap,
    versions,
)
from convzoo.registry import checked_builder_kwargs
from convzoo.weights import model_from_checkpoint

__all__ = [
    "META",
    "STATE",
    "WEIGHTS",
    "Checkpoint",
    "CheckpointError",
    "atomic_write_json",
    "atomic_write_text",
    "find_checkpoint",
    "remove_stale_saves",
    "rng_state",
    "save_checkpoint",
    "set_rng_state",
    "unwrap",
    "versions",
]


class Checkpoint(_format.Checkpoint):
    """A checkpoint folder found by :func:`find_checkpoint`, able to rebuild its network."""

    def build_model(self, device: str | torch.device = "cpu") -> nn.Module:
        """The network the checkpoint was trained as, with its weights (strict), in eval mode."""
        return model_from_checkpoint(self, device)


def find_checkpoint(path: str | os.PathLike[str], prefer: str = "best") -> Checkpoint:
    """:func:`convzoo.io.checkpoint.find_checkpoint`, with the metadata's builder arguments
    (``model.kwargs`` and the run's ``config.model_kwargs``) checked before anyone uses them."""
    found = _format.find_checkpoint(path, prefer)
    meta = found.meta
    source = str(found.path / META)
    model = meta.get("model")
    if isinstance(model, dict) and model.get("name"):
        checked_builder_kwargs(str(model["name"]), model.get("kwargs"), source)
    config = meta.get("config")
    if isinstance(config, dict) and config.get("model"):
        checked_builder_kwargs(str(config["model"]), config.get("model_kwargs"), source)
    return Checkpoint(found.path, meta)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """:func:`convzoo.io.write_text` under its former name."""
    io.write_text(Path(path), text)


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """:func:`convzoo.io.write_json` under its former name."""
    io.write_json(Path(path), obj)
