"""The loop's BatchNorm policy for transfer learning: a frozen BatchNorm stays in eval mode."""

from __future__ import annotations

from torch import nn


def freeze_batchnorm_of_frozen(model: nn.Module) -> int:
    """Put in eval mode every BatchNorm whose parameters are all frozen. Returns how many.

    A frozen layer should compute what it computed when it was trained: in train mode BatchNorm
    would normalise with the new batch's statistics and overwrite its running averages.
    """
    n = 0
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            params = list(m.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                m.eval()
                n += 1
    return n
