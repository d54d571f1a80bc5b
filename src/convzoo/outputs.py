"""What a network's output means, in one place: the main logits.

Every network of the zoo returns its logits, except GoogLeNet in training mode with auxiliary
heads, which returns ``GoogLeNetOutputs(logits, aux_logits2, aux_logits1)`` (torchvision's
namedtuple and order). Training, evaluation, prediction, export and benchmarks all take the
main logits with :func:`main_logits`.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor


def main_logits(output: Any) -> Tensor:
    """The main logits of a model output: the first field of GoogLeNet's namedtuple (or of any
    tuple or list), the ``logits`` attribute of an output object (a network from outside the
    zoo, which ``convzoo explain`` accepts), else the output itself."""
    if isinstance(output, tuple | list):
        return output[0]
    return getattr(output, "logits", output)
