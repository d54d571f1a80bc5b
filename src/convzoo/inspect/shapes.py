"""Output tensors of the common operators made from their shape formulas, for the tracer.

Why our own formulas and not torch's meta kernels: most of those kernels are Python (in
``torch._meta_registrations`` and ``torch._refs``) and every one of them calls ``torch._check``,
whose first call imports ``torch.fx.experimental.symbolic_shapes`` and with it sympy: 0.9 s on
this project's 2-core Xeon when quiet and 1.4 s when loaded, paid by every `convzoo report`,
`draw`, `summary` and `audit` for a trace that takes a fraction of that. The formulas are the
ones torch documents (``nn.Conv2d``, ``nn.MaxPool2d``, ``nn.AvgPool2d``); each function answers
only the plain, valid case and returns ``None`` otherwise (bad channels, a too small input, a
``padding="same"`` with a stride, strided inputs, mixed dtypes, integer promotion), so that torch's
own kernel runs there and raises its own error. ``tests/test_trace_shapes.py`` checks every
formula against torch's kernels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import zip_longest
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from convzoo.inspect import costs

Made = Tensor | None


def arg(args: Sequence[Any], kwargs: dict[str, Any], i: int, name: str, default: Any) -> Any:
    """An operator's argument ``i`` (or ``name`` given by keyword), else ``default``."""
    return args[i] if len(args) > i else kwargs.get(name, default)


def _ints(v: Any, n: int) -> tuple[int, ...] | None:
    """``v`` as ``n`` ints (one int repeated), or None if it is not that."""
    if isinstance(v, int) and not isinstance(v, bool):
        return (v,) * n
    if isinstance(v, (tuple, list)) and all(isinstance(x, int) for x in v):
        if len(v) == n:
            return tuple(v)
        if len(v) == 1:
            return (v[0],) * n
    return None


def _plain(*tensors: Any) -> bool:
    """Meta tensors, contiguous, of one dtype: what the formulas below answer for."""
    return (
        all(isinstance(t, Tensor) and t.is_meta and t.is_contiguous() for t in tensors)
        and len({t.dtype for t in tensors}) == 1
    )


def like(x: Tensor) -> Tensor:
    """A tensor of ``x``'s shape and dtype (``torch.empty_like`` is one of the Python kernels)."""
    return x.new_empty(x.shape) if x.is_contiguous() else torch.empty_like(x)


def conv(args: tuple, kwargs: dict) -> Made:
    """``F.conv1d/2d/3d``: ``out = (in + 2·pad - dilation·(k - 1) - 1) // stride + 1``."""
    x, w = (args + (None, None))[:2]
    if not _plain(x, w) or x.dim() != w.dim() or x.dim() < 3:
        return None
    n = x.dim() - 2
    stride = _ints(arg(args, kwargs, 3, "stride", 1), n)
    padding = arg(args, kwargs, 4, "padding", 0)
    dilation = _ints(arg(args, kwargs, 5, "dilation", 1), n)
    groups = arg(args, kwargs, 6, "groups", 1)
    bias = arg(args, kwargs, 2, "bias", None)
    if stride is None or dilation is None or not isinstance(groups, int) or groups < 1:
        return None
    if bias is not None and not (_plain(x, bias) and tuple(bias.shape) == (w.shape[0],)):
        return None
    if x.shape[1] != w.shape[1] * groups or w.shape[0] % groups:
        return None
    kernel = tuple(w.shape[2:])
    if padding == "valid":
        pad: tuple[int, ...] | None = (0,) * n
    elif padding == "same":
        if any(s != 1 for s in stride):
            return None
        return x.new_empty((x.shape[0], w.shape[0], *x.shape[2:]))
    else:
        pad = _ints(padding, n)
    if pad is None:
        return None
    side = [
        (i + 2 * p - d * (k - 1) - 1) // s + 1
        for i, p, d, k, s in zip(x.shape[2:], pad, dilation, kernel, stride, strict=True)
    ]
    if any(o < 1 for o in side):
        return None
    return x.new_empty((x.shape[0], w.shape[0], *side))


def _pool_side(size: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    """``nn.MaxPool2d``'s formula; with ``ceil_mode`` the last window must start inside the
    input or its left padding."""
    out = math.floor((size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)) / s) + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return out


def _pool(args: tuple, kwargs: dict, n: int, ceil_at: int, has_dilation: bool) -> Made:
    x = args[0] if args else None
    if not isinstance(x, Tensor) or not _plain(x) or x.dim() != n + 2:
        return None
    kernel = _ints(arg(args, kwargs, 1, "kernel_size", None), n)
    stride_arg = arg(args, kwargs, 2, "stride", None)
    stride = kernel if stride_arg is None or stride_arg == [] else _ints(stride_arg, n)
    pad = _ints(arg(args, kwargs, 3, "padding", 0), n)
    dilation = _ints(arg(args, kwargs, 4, "dilation", 1), n) if has_dilation else (1,) * n
    ceil = arg(args, kwargs, ceil_at, "ceil_mode", False)
    if kernel is None or stride is None or pad is None or dilation is None:
        return None
    if not isinstance(ceil, bool) or any(p > k // 2 for p, k in zip(pad, kernel, strict=True)):
        return None
    side = [
        _pool_side(i, k, s, p, d, ceil)
        for i, k, s, p, d in zip(x.shape[2:], kernel, stride, pad, dilation, strict=True)
    ]
    if any(o < 1 for o in side) or min(stride) < 1:
        return None
    return x.new_empty((*x.shape[:2], *side))


def max_pool(n: int) -> Callable[[tuple, dict], Made]:
    def made(args: tuple, kwargs: dict) -> Made:
        if arg(args, kwargs, 6, "return_indices", False):
            return None
        return _pool(args, kwargs, n, ceil_at=5, has_dilation=True)

    return made


def avg_pool(n: int) -> Callable[[tuple, dict], Made]:
    return lambda args, kwargs: _pool(args, kwargs, n, ceil_at=4, has_dilation=False)


def broadcast(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...] | None:
    """The broadcast shape of ``a`` and ``b`` (trailing dimensions equal or 1), or None."""
    out = []
    for x, y in zip_longest(reversed(a), reversed(b), fillvalue=1):
        if x != y and 1 not in (x, y):
            return None
        out.append(y if x == 1 else x)
    return tuple(reversed(out))


def elementwise(inplace: bool) -> Callable[[tuple, dict], Made]:
    """``a + b``, ``2 * a``, ``a / b`` (and in place) of floating tensors of one dtype
    (broadcast) or of one and a Python number; type promotion goes to torch."""

    def made(args: tuple, kwargs: dict) -> Made:
        if len(args) < 2 or kwargs.get("out") is not None:
            return None
        a, b = args[0], args[1]
        shape: tuple[int, ...] | None
        if isinstance(a, Tensor) and isinstance(b, Tensor):
            shape = broadcast(a.shape, b.shape) if _plain(a, b) else None
            if shape is None:
                return None
            tensor = a
        else:
            tensor, number = (a, b) if isinstance(a, Tensor) else (b, a)
            if not isinstance(tensor, Tensor) or not _plain(tensor):
                return None
            if isinstance(number, bool) or not isinstance(number, (int, float)):
                return None
            shape = tuple(tensor.shape)
        if not tensor.is_floating_point():
            return None  # integer division and promotion: torch's rules
        if inplace:
            return a if a is tensor and shape == tuple(a.shape) else None
        return tensor.new_empty(shape)

    return made


_ARITHMETIC = ("add", "sub", "mul", "div", "true_divide", "pow")
_OUT_OF_PLACE = [
    *(getattr(torch, f) for f in _ARITHMETIC),
    *(getattr(Tensor, f) for f in _ARITHMETIC),
    *(getattr(Tensor, f"__{f}__") for f in ("add", "sub", "mul", "truediv", "pow")),
    *(getattr(Tensor, f"__r{f}__") for f in ("add", "sub", "mul", "truediv")),
]
_IN_PLACE = [
    *(getattr(Tensor, f"{f}_") for f in _ARITHMETIC),
    *(getattr(Tensor, f"__i{f}__") for f in ("add", "sub", "mul", "truediv")),
]


def cat(args: tuple, kwargs: dict) -> Made:
    """``torch.cat``: the sizes along ``dim`` add up; every other dimension must agree."""
    tensors = args[0] if args else kwargs.get("tensors")
    dim = arg(args, kwargs, 1, "dim", 0)
    if not isinstance(tensors, (list, tuple)) or not tensors or not _plain(*tensors):
        return None
    first = tensors[0]
    if not isinstance(dim, int) or not -first.dim() <= dim < first.dim():
        return None
    dim %= first.dim()
    rest = [s for i, s in enumerate(first.shape) if i != dim]
    for t in tensors:
        if t.dim() != first.dim() or [s for i, s in enumerate(t.shape) if i != dim] != rest:
            return None
    shape = list(first.shape)
    shape[dim] = sum(t.shape[dim] for t in tensors)
    return first.new_empty(shape)


def same_shape(args: tuple, kwargs: dict) -> Made:
    """Operators whose output has their input's shape (batch norm, LRN, negation, the unary
    functions)."""
    x = args[0] if args else None
    return like(x) if isinstance(x, Tensor) and x.is_meta else None


def linear(args: tuple, kwargs: dict) -> Made:
    """``F.linear``: the last dimension becomes the weight's rows."""
    x = args[0] if args else None
    if not isinstance(x, Tensor) or not x.is_meta or len(args) < 2:
        return None
    if not isinstance(args[1], Tensor):
        return None
    return x.new_empty((*x.shape[:-1], args[1].shape[0]))


def adaptive_avg_pool(n: int) -> Callable[[tuple, dict], Made]:
    """``F.adaptive_avg_pool1d/2d/3d``: the size asked for (None keeps the input's)."""

    def made(args: tuple, kwargs: dict) -> Made:
        x = args[0] if args else None
        if not isinstance(x, Tensor) or not x.is_meta:
            return None
        size = arg(args, kwargs, 1, "output_size", None)
        size = costs._pair(size, n) if not isinstance(size, (list, tuple)) else size
        lead = tuple(x.shape[: x.dim() - n])
        spatial = tuple(
            x.shape[x.dim() - n + i] if s is None else int(s) for i, s in enumerate(size)
        )
        return x.new_empty(lead + spatial)

    return made


def reduction(args: tuple, kwargs: dict) -> Made:
    """``x.sum(dim)``, ``x.mean(dim, keepdim)`` of a floating tensor over the given dims."""
    x = args[0] if args else None
    dim = arg(args, kwargs, 1, "dim", None)
    keepdim = arg(args, kwargs, 2, "keepdim", False)
    if not isinstance(x, Tensor) or not _plain(x) or not x.is_floating_point():
        return None
    if kwargs.get("dtype") is not None:
        return None
    dims = _ints(dim, 1) if isinstance(dim, int) else _ints(dim, len(dim or ()))
    if not dims or not isinstance(keepdim, bool) or not all(-x.dim() <= d < x.dim() for d in dims):
        return None
    gone = {d % x.dim() for d in dims}
    shape = [1 if i in gone else s for i, s in enumerate(x.shape) if keepdim or i not in gone]
    return x.new_empty(shape)


#: elementwise functions (not in place) whose meta kernels are Python references
UNARY = {torch.tanh, Tensor.tanh, torch.sigmoid, Tensor.sigmoid, F.gelu, F.silu, F.elu}

#: operator -> the function that makes its output from the shapes (None: run torch's kernel).
#: Batch norm, the unary functions, linear and the adaptive average pools are Python
#: decompositions whose first call imports torch._dynamo (about a second), each call costing
#: as much as a conv's.
FORMULAS: dict[Any, Callable[[tuple, dict], Made]] = {
    F.batch_norm: same_shape,
    **{f: same_shape for f in UNARY},
    F.linear: linear,
    F.adaptive_avg_pool1d: adaptive_avg_pool(1),
    F.adaptive_avg_pool2d: adaptive_avg_pool(2),
    F.adaptive_avg_pool3d: adaptive_avg_pool(3),
    torch.conv1d: conv,
    torch.conv2d: conv,
    torch.conv3d: conv,
    F.max_pool1d: max_pool(1),
    F.max_pool2d: max_pool(2),
    F.max_pool3d: max_pool(3),
    F.avg_pool1d: avg_pool(1),
    F.avg_pool2d: avg_pool(2),
    F.avg_pool3d: avg_pool(3),
    F.local_response_norm: same_shape,
    **{f: same_shape for f in (torch.neg, Tensor.neg, Tensor.__neg__)},
    **{f: reduction for f in (torch.sum, Tensor.sum, torch.mean, Tensor.mean)},
    torch.cat: cat,
    torch.concat: cat,
    torch.concatenate: cat,
    **{f: elementwise(False) for f in _OUT_OF_PLACE},
    **{f: elementwise(True) for f in _IN_PLACE},
}
