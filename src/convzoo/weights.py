"""Loading weights into a network. (Weight entries and downloads: see the weights issue.)"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from convzoo.errors import ConvzooError


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A state dict from safetensors or a ``.pth``/``.pt`` file (read with ``weights_only``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {str(path)!r} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as err:  # safetensors raises its own error types
            raise ConvzooError(f"{path}: not a readable safetensors file ({err})") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ConvzooError(
            f"{path}: refused or unreadable: only plain state dicts are loaded "
            f"(weights_only=True), never a pickle that could run code ({type(err).__name__})"
        ) from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ConvzooError(f"{path}: does not hold a state dict of tensors")
    return obj


def load_weights(model: nn.Module, source: str | os.PathLike[str], model_name: str) -> None:
    """Load a local state-dict file into ``model`` (strict)."""
    state = read_state_dict(source)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ConvzooError(
            f"{source} does not fit {model_name}: missing keys {missing[:8]}, "
            f"unexpected keys {unexpected[:8]}"
        )
