"""Where training runs, and the global torch settings a run changes and gives back.

:func:`resolve_device` turns the ``--device`` text into a ``torch.device`` (or one line saying
what to pass). :class:`TorchFlags` applies what a run asks for (CPU threads, deterministic
algorithms, cuDNN autotuning) and restores the caller's settings afterwards: a library must not
leave the process changed (``torch.backends.cudnn.flags`` does the same for cuDNN alone).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch

from convzoo.errors import ConvzooError
from convzoo.threads import choose_threads

DEVICE_HELP = "auto (a GPU when there is one), cpu, cuda or cuda:N"


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: the GPU of this process (``LOCAL_RANK`` under torchrun) when torch sees one,
    else the CPU. A device torch does not know, or a GPU that is not there, is a one-line
    :class:`ConvzooError`."""
    text = str(name).strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise ConvzooError(f"--device {name!r} is not a device; use {DEVICE_HELP}") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise ConvzooError(f"--device {name!r}: training runs on {DEVICE_HELP}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConvzooError(
                f"device {name!r} asked for, but torch sees no GPU; use --device cpu"
            )
        if device.index is None:
            # Under torchrun each process takes its own GPU.
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if device.index >= torch.cuda.device_count():
            raise ConvzooError(
                f"--device {name!r}: torch sees {torch.cuda.device_count()} GPU(s), "
                f"cuda:0 to cuda:{torch.cuda.device_count() - 1}"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConvzooError(f"device {name!r} asked for, but torch sees no MPS device")
    return device


class TorchFlags:
    """A context that sets a run's global torch settings and restores the caller's on exit."""

    def __init__(
        self,
        device: torch.device,
        *,
        threads: int | None,
        deterministic: bool,
        threads_why: str = "",
    ):
        self.device, self.threads, self.deterministic = device, threads, deterministic
        self.threads_why = threads_why
        self._saved: dict[str, Any] = {}

    def __enter__(self) -> TorchFlags:
        self._saved = {
            "threads": torch.get_num_threads(),
            "deterministic": torch.are_deterministic_algorithms_enabled(),
            "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
        }
        if self.device.type == "cpu" and self.threads is not None:
            torch.set_num_threads(self.threads)
        if self.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        elif self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        return self

    def __exit__(self, *exc: object) -> None:
        s = self._saved
        torch.set_num_threads(s["threads"])
        torch.use_deterministic_algorithms(s["deterministic"], warn_only=s["warn_only"])
        torch.backends.cudnn.benchmark = s["cudnn_benchmark"]
        torch.backends.cudnn.deterministic = s["cudnn_deterministic"]


@dataclass
class RunDevice:
    """Where and how a run computes: the device, mixed precision, memory format, and the torch
    flags to apply for the run's duration."""

    device: torch.device
    amp: bool
    channels_last: bool
    flags: TorchFlags


def run_device(cfg: Any) -> RunDevice:
    """``cfg``'s device; AMP and channels-last on by default with a GPU; on a CPU, the thread
    count of :func:`convzoo.threads.choose_threads` (``cfg.threads``, the environment, else the
    cores that other work leaves free; all usable cores for a deterministic run)."""
    device = resolve_device(cfg.device)
    on_gpu = device.type == "cuda"
    threads, why = cfg.threads, ""
    if device.type == "cpu":
        threads, why = choose_threads(cfg.threads, steady=bool(cfg.deterministic))
    return RunDevice(
        device,
        amp=on_gpu if cfg.amp is None else bool(cfg.amp and on_gpu),
        channels_last=on_gpu if cfg.channels_last is None else bool(cfg.channels_last),
        flags=TorchFlags(device, threads=threads, deterministic=cfg.deterministic, threads_why=why),
    )
