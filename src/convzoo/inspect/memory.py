"""Will one step fit in memory? An estimate from the meta-device trace, checked before a command
allocates anything, so that an absurd ``--input-size`` is refused in one line with the figure
instead of ending in the allocator's traceback.

The estimate is a lower bound of what a step needs, from the structural table
(:func:`convzoo.inspect.summarize`, no weights allocated): the input batch, every layer's output
(kept for the backward pass when training, and their gradients), the weights (and, training,
their gradients and the optimizer's state). A command is refused only when even this bound
exceeds the memory the machine has available, so a sound run is never refused by a guess.
"""

from __future__ import annotations

import os
from typing import Any

from convzoo.errors import ConvzooError
from convzoo.inspect import summarize


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def memory_needed(
    name: str,
    input_size: int,
    batch_size: int,
    *,
    training: bool,
    model_kwargs: dict[str, Any] | None = None,
) -> int:
    """Bytes one step of ``name`` at ``input_size`` x ``input_size`` needs at least (float32)."""
    kwargs = dict(model_kwargs or {})
    totals = summarize(name, input_size, batch_size, **kwargs).totals
    if training:  # outputs kept and their gradients; weights, gradients and momentum
        return totals.input_bytes + 2 * totals.activation_bytes + 3 * totals.weight_bytes
    return totals.input_bytes + totals.activation_bytes + totals.weight_bytes


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def check_fits_in_memory(
    name: str,
    input_size: int | None,
    batch_size: int,
    *,
    training: bool,
    model_kwargs: dict[str, Any] | None = None,
    available: int | None = None,
) -> None:
    """Refuse (:class:`ConvzooError`, with the figures) an input size whose step cannot fit in
    the available memory. Nothing is checked for the card's own size (``input_size`` None)."""
    if input_size is None:
        return
    have = available_memory() if available is None else available
    if have is None:
        return
    try:
        need = memory_needed(
            name, input_size, batch_size, training=training, model_kwargs=model_kwargs
        )
    except ConvzooError:
        # A size or an argument the network refuses: the command's own checks say so, in its
        # own words; this guard is only about memory.
        return
    if need > have:
        what = "a training step" if training else "one forward pass"
        raise ConvzooError(
            f"--input-size {input_size} is too large: {what} of {name} on a batch of "
            f"{batch_size} at {input_size}x{input_size} needs at least {human(need)}, and this "
            f"machine has {human(have)} available; nothing was written. Use a smaller "
            f"--input-size (the card's is the default) or --batch-size"
        )
