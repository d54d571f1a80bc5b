"""What one layer costs: parameters and multiply-adds, by one rule per operator, stated here only.

The rule (also in ``docs/structural-tables.md``). We count multiply-accumulates (MACs) of one
forward pass in inference mode; a column that says FLOPs shows ``2 x MACs``. ``N`` is the batch,
``out`` the number of output elements (N x C x H x W), ``in`` the number of input elements.

=====================  ==========================================================================
operator               MACs
=====================  ==========================================================================
convolution            ``out x (C_in / groups) x k_h x k_w``. The bias add is not counted, as
                       ``torch.utils.flop_counter.FlopCounterMode`` does not count it: our conv
                       MACs equal its FLOPs / 2 exactly (a test checks every network).
linear                 ``N x in_features x out_features`` (bias not counted, as above).
max / average pool     ``out x k_h x k_w``: every window element is read and compared or added
                       once; the average's division is folded into the last add.
adaptive pool          as a pool whose window is ``ceil(in_size / out_size)`` on each side
                       (global pooling: ``in``).
batch norm             ``out``: in inference it is one multiply-add per element (scale, shift).
local response norm    ``out x (size + 2)``: ``size`` squares summed across channels, then a
                       multiply-add for ``k + alpha/n x sum`` and one for the power and division.
activation (ReLU...)   ``out``: one comparison (or one elementary function) per element.
addition, product      ``out``: residual additions, the ``+`` of ``out += identity``.
concatenation          0: a copy, no arithmetic (its output still counts as activation memory).
dropout, flatten, view 0 (inference).
=====================  ==========================================================================

Parameters are counted per tensor once, even when a layer is called twice or tied to another.
The ``lecture`` convention counts as the lecture's tables do: every conv has a bias (``+ C_out``)
whether the network has one or not, batch norm and projection shortcuts are not layers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

# A conv or linear layer whose dotted name has one of these parts is a projection shortcut
# (torchvision's ResNet calls it ``downsample``): not numbered, dropped by the lecture convention.
SHORTCUT_NAMES = ("downsample", "shortcut", "projection", "proj_shortcut")

# Kinds (the ``kind`` of a row) by family, used for numbering and the conventions.
WEIGHTED_KINDS = ("conv", "linear")
POOL_KINDS = ("maxpool", "avgpool")

ACTIVATIONS = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardtanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Softmax,
    nn.LogSoftmax,
)
ZERO_COST = (nn.Dropout, nn.Dropout2d, nn.Dropout1d, nn.AlphaDropout, nn.Flatten, nn.Identity)


def _pair(v: int | Sequence[int], n: int = 2) -> tuple[int, ...]:
    if isinstance(v, Sequence):
        return tuple(int(x) for x in v)
    return (int(v),) * n


def numel(shape: Sequence[int]) -> int:
    return math.prod(int(s) for s in shape)


def conv_macs(
    out_shape: Sequence[int], in_channels: int, groups: int, kernel: Sequence[int]
) -> int:
    """``out x (C_in / groups) x prod(kernel)``: the MACs of a convolution, bias excluded."""
    return numel(out_shape) * (in_channels // groups) * math.prod(kernel)


def linear_macs(in_shape: Sequence[int], out_features: int) -> int:
    """``rows x in_features x out_features`` (rows = all leading dimensions), bias excluded."""
    return numel(in_shape) * out_features


def pool_macs(out_shape: Sequence[int], kernel: Sequence[int]) -> int:
    return numel(out_shape) * math.prod(kernel)


def adaptive_kernel(in_hw: Sequence[int], out_hw: Sequence[int]) -> tuple[int, ...]:
    """The window of an adaptive pool, ``ceil(in / out)`` per side (exact when it divides)."""
    return tuple(-(-int(i) // max(1, int(o))) for i, o in zip(in_hw, out_hw, strict=False))


def lrn_macs(out_shape: Sequence[int], size: int) -> int:
    return numel(out_shape) * (int(size) + 2)


def elementwise_macs(out_shape: Sequence[int]) -> int:
    return numel(out_shape)


def module_kind(module: nn.Module) -> str | None:
    """The kind of a leaf module that the tracer counts as one row, or None if it is not known."""
    if isinstance(module, nn.modules.conv._ConvNd):
        return "conv"
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
        return "maxpool"
    if isinstance(module, (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
        return "avgpool"
    if isinstance(module, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)):
        return "avgpool"
    if isinstance(module, (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)):
        return "maxpool"
    if isinstance(module, nn.modules.batchnorm._NormBase):
        return "batchnorm"
    if isinstance(module, (nn.LocalResponseNorm, nn.CrossMapLRN2d)):
        return "lrn"
    if isinstance(module, ACTIVATIONS):
        return "act"
    if isinstance(module, ZERO_COST):
        return "dropout" if "Dropout" in type(module).__name__ else "view"
    return None


def module_geometry(
    module: nn.Module, in_shape: Sequence[int], out_shape: Sequence[int]
) -> tuple[tuple[int, ...] | None, tuple[int, ...] | None, tuple[int, ...] | None, int]:
    """``(kernel, stride, padding, dilation)`` of a spatial layer; ``(None, None, None, 1)``."""
    if isinstance(module, nn.modules.conv._ConvNd):
        n = len(module.kernel_size)
        pad = module.padding
        if isinstance(pad, str):  # 'same' / 'valid': report the padding it amounts to
            pad = tuple((k - 1) // 2 if pad == "same" else 0 for k in module.kernel_size)
        return (
            tuple(module.kernel_size),
            _pair(module.stride, n),
            _pair(pad, n),
            _pair(module.dilation, n)[0],
        )
    if isinstance(
        module, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
    ):
        n = len(in_shape) - 2
        k = _pair(module.kernel_size, n)
        s = _pair(module.stride if module.stride is not None else module.kernel_size, n)
        dil = _pair(getattr(module, "dilation", 1), n)[0]
        return k, s, _pair(module.padding, n), dil
    if isinstance(
        module,
        (
            nn.AdaptiveAvgPool1d,
            nn.AdaptiveAvgPool2d,
            nn.AdaptiveAvgPool3d,
            nn.AdaptiveMaxPool1d,
            nn.AdaptiveMaxPool2d,
            nn.AdaptiveMaxPool3d,
        ),
    ):
        k = adaptive_kernel(in_shape[2:], out_shape[2:])
        s = tuple(
            max(1, int(i) // max(1, int(o)))
            for i, o in zip(in_shape[2:], out_shape[2:], strict=False)
        )
        return k, s, (0,) * len(k), 1
    return None, None, None, 1


def module_macs(
    module: nn.Module, kind: str, in_shape: Sequence[int], out_shape: Sequence[int]
) -> int:
    """The MACs of one call of a known leaf module (see the table in this module's docstring)."""
    if kind == "conv":
        conv: nn.modules.conv._ConvNd = module  # type: ignore[assignment]  # module_kind said so
        return conv_macs(out_shape, conv.in_channels, conv.groups, conv.kernel_size)
    if kind == "linear":
        return linear_macs(in_shape, int(getattr(module, "out_features")))  # noqa: B009
    if kind in POOL_KINDS:
        kernel, _, _, _ = module_geometry(module, in_shape, out_shape)
        return pool_macs(out_shape, kernel or ())
    if kind == "lrn":
        return lrn_macs(out_shape, int(getattr(module, "size")))  # noqa: B009
    if kind in ("batchnorm", "act"):
        return elementwise_macs(out_shape)
    return 0


def lecture_params(kind: str, module: nn.Module | None, params: int) -> int:
    """Parameters as the lecture counts them: a conv always has a bias (``+ C_out``)."""
    if kind == "conv" and module is not None and getattr(module, "bias", None) is None:
        return params + int(getattr(module, "out_channels"))  # noqa: B009
    return params


def is_shortcut(name: str) -> bool:
    """Whether the dotted layer name lies in a projection shortcut (see ``SHORTCUT_NAMES``)."""
    return any(part in SHORTCUT_NAMES for part in name.split("."))
