"""Shape and cost of every layer of any ``nn.Module``, traced on the meta device.

The tracer runs one forward pass on a ``meta`` input: tensors carry shapes and dtypes but no
storage, so no weight is allocated and no arithmetic is done (VGG-19 or ResNet-152 trace in a
fraction of a second). A model given with real weights is called through
``torch.func.functional_call`` with meta stand-ins for its parameters and buffers, so the user's
model is neither copied nor changed.

Two hooks see every operator:

* forward hooks on the modules record one row per call of a *known* leaf module (conv, linear,
  pooling, batch norm, LRN, activations, dropout; see :func:`convzoo.inspect.costs.module_kind`);
* a ``TorchFunctionMode`` records the functional operators called outside those modules: the
  ``out += identity`` of a residual block, the ``torch.cat`` of an inception module, an
  ``F.relu`` in a ``forward``, or a user's ``F.conv2d`` with their own parameter.

The costs of both come from :mod:`convzoo.inspect.costs`, the one place that states the rules.

Each row also says where its data came from: every tensor value gets a number when a row makes
it (the network's input is value 0; a view, a flatten or a ``chunk`` passes its input's number
on), and a row lists the numbers it read (``inputs``) and the one it made (``output``). That is
the data-flow graph the diagrams of :mod:`convzoo.report` are drawn from: the four branches of
an inception module meet at their ``cat``, a residual block's shortcut at its ``add``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call
from torch.overrides import TorchFunctionMode

from convzoo.errors import ConvzooError
from convzoo.inspect import costs, shapes


class TraceError(ConvzooError):
    """The forward pass failed under tracing; the message names the layer that failed."""


@dataclass
class LayerRecord:
    """One row of a structural table: one call of a layer or of a functional operator.

    Shapes include the batch dimension (``N x C x H x W``). ``params`` counts each parameter
    tensor once over the whole table (a layer called twice shows its parameters on its first
    row). ``receptive_field`` is the side of the input region that one output element sees
    (``(h, w)``), known for layers after the input through convolutions and pooling.
    """

    name: str
    type: str
    kind: str
    depth: int
    input_shape: tuple[int, ...] = ()
    output_shape: tuple[int, ...] = ()
    kernel: tuple[int, ...] | None = None
    stride: tuple[int, ...] | None = None
    padding: tuple[int, ...] | None = None
    in_channels: int | None = None
    out_channels: int | None = None
    params: int = 0
    trainable_params: int = 0
    param_bytes: int = 0
    macs: int = 0
    output_bytes: int = 0
    inplace: bool = False
    has_bias: bool = True
    groups: int = 1
    shortcut: bool = False
    receptive_field: tuple[int, ...] | None = None
    index: int | None = None
    inputs: tuple[int, ...] = ()
    output: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def activations(self) -> int:
        """Output elements of this row (0 for an in-place operator, which writes its input)."""
        return 0 if self.inplace else costs.numel(self.output_shape)


@dataclass
class TraceResult:
    records: list[LayerRecord]
    # Parameters that the traced forward never used (e.g. GoogLeNet's auxiliary classifiers,
    # which run only in training): counted in the totals, listed by name.
    unused_params: dict[str, int]
    unused_trainable: int
    buffer_bytes: int
    input_shape: tuple[int, ...]
    output_shapes: list[tuple[int, ...]]


# --- functional operators -------------------------------------------------------------------


_arg = shapes.arg


def _first_tensor(obj: Any) -> Tensor | None:
    if isinstance(obj, Tensor):
        return obj
    if isinstance(obj, (list, tuple)):
        for o in obj:
            t = _first_tensor(o)
            if t is not None:
                return t
    return None


def _tensors(args: Sequence[Any]) -> list[Tensor]:
    out: list[Tensor] = []
    for a in args:
        if isinstance(a, Tensor):
            out.append(a)
        elif isinstance(a, (list, tuple)):
            out.extend(t for t in a if isinstance(t, Tensor))
    return out


@dataclass
class _Op:
    kind: str
    type: str
    macs: int
    kernel: tuple[int, ...] | None = None
    stride: tuple[int, ...] | None = None
    padding: tuple[int, ...] | None = None
    dilation: int = 1
    params: tuple[Tensor, ...] = ()
    has_bias: bool = True
    groups: int = 1


def _conv(args, kwargs, out):
    x, w = args[0], args[1]
    bias = _arg(args, kwargs, 2, "bias", None)
    n = w.dim() - 2
    stride = costs._pair(_arg(args, kwargs, 3, "stride", 1), n)
    pad = _arg(args, kwargs, 4, "padding", 0)
    if isinstance(pad, str):
        pad = tuple((k - 1) // 2 if pad == "same" else 0 for k in w.shape[2:])
    dil = costs._pair(_arg(args, kwargs, 5, "dilation", 1), n)[0]
    groups = int(_arg(args, kwargs, 6, "groups", 1))
    macs = costs.conv_macs(out.shape, x.shape[1], groups, w.shape[2:])
    params = (w,) if bias is None else (w, bias)
    return _Op(
        "conv",
        f"conv{n}d",
        macs,
        tuple(w.shape[2:]),
        stride,
        costs._pair(pad, n),
        dil,
        params,
        bias is not None,
        groups,
    )


def _linear(args, kwargs, out):
    x, w = args[0], args[1]
    bias = _arg(args, kwargs, 2, "bias", None)
    macs = costs.linear_macs(x.shape[:-1], w.shape[0]) * w.shape[1]
    return _Op(
        "linear",
        "linear",
        macs,
        params=(w,) if bias is None else (w, bias),
        has_bias=bias is not None,
    )


def _pool(kind: str) -> Callable:
    def handler(args, kwargs, out):
        x = args[0]
        n = x.dim() - 2
        k = costs._pair(_arg(args, kwargs, 1, "kernel_size", 1), n)
        s = _arg(args, kwargs, 2, "stride", None)
        s = costs._pair(s if s not in (None, [], ()) else k, n)
        p = costs._pair(_arg(args, kwargs, 3, "padding", 0), n)
        return _Op(kind, f"{kind}{n}d", costs.pool_macs(out.shape, k), k, s, p)

    return handler


def _adaptive(kind: str) -> Callable:
    def handler(args, kwargs, out):
        x = args[0]
        k = costs.adaptive_kernel(x.shape[2:], out.shape[2:])
        s = tuple(max(1, i // max(1, o)) for i, o in zip(x.shape[2:], out.shape[2:], strict=False))
        return _Op(kind, f"adaptive_{kind}", costs.pool_macs(out.shape, k), k, s, (0,) * len(k))

    return handler


def _batchnorm(args, kwargs, out):
    w = _arg(args, kwargs, 3, "weight", None)
    b = _arg(args, kwargs, 4, "bias", None)
    params = tuple(t for t in (w, b) if isinstance(t, Tensor))
    return _Op("batchnorm", "batch_norm", costs.elementwise_macs(out.shape), params=params)


def _lrn(args, kwargs, out):
    size = int(_arg(args, kwargs, 1, "size", 5))
    return _Op("lrn", "local_response_norm", costs.lrn_macs(out.shape, size))


def _elementwise(kind: str, type_name: str) -> Callable:
    def handler(args, kwargs, out):
        return _Op(kind, type_name, costs.elementwise_macs(out.shape))

    return handler


def _zero(kind: str, type_name: str) -> Callable:
    def handler(args, kwargs, out):
        return _Op(kind, type_name, 0)

    return handler


def _mean(args, kwargs, out):
    return _Op("avgpool", "mean", costs.numel(args[0].shape))


def _reduce_sum(args, kwargs, out):
    return _Op("add", "sum", costs.numel(args[0].shape))


def _handlers() -> dict[Any, Callable]:
    table: dict[Any, Callable] = {}
    f: Any  # the loops below run over torch functions of many signatures
    for f in (torch.conv1d, torch.conv2d, torch.conv3d):
        table[f] = _conv
    table[F.linear] = _linear
    for f in (F.max_pool1d, F.max_pool2d, F.max_pool3d, F.max_pool2d_with_indices):
        table[f] = _pool("maxpool")
    for f in (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d):
        table[f] = _pool("avgpool")
    for f in (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d):
        table[f] = _adaptive("avgpool")
    for f in (F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d):
        table[f] = _adaptive("maxpool")
    table[F.batch_norm] = _batchnorm
    table[F.local_response_norm] = _lrn
    acts = (
        F.relu,
        F.relu_,
        torch.relu,
        torch.relu_,
        Tensor.relu,
        Tensor.relu_,
        F.relu6,
        F.leaky_relu,
        F.gelu,
        F.silu,
        F.elu,
        F.hardtanh,
        torch.sigmoid,
        torch.tanh,
        Tensor.sigmoid,
        Tensor.tanh,
        F.softmax,
        F.log_softmax,
        torch.softmax,
    )
    for f in acts:
        table[f] = _elementwise("act", getattr(f, "__name__", "act").rstrip("_"))
    for f in (
        torch.add,
        Tensor.add,
        Tensor.add_,
        Tensor.__add__,
        Tensor.__iadd__,
        Tensor.__radd__,
        torch.sub,
        Tensor.sub,
        Tensor.sub_,
        Tensor.__sub__,
        Tensor.__isub__,
    ):
        table[f] = _elementwise("add", "add")
    for f in (torch.mul, Tensor.mul, Tensor.mul_, Tensor.__mul__, Tensor.__imul__, Tensor.__rmul__):
        table[f] = _elementwise("mul", "mul")
    for f in (torch.cat, torch.concat, torch.concatenate):
        table[f] = _zero("concat", "cat")
    for f in (F.dropout, F.dropout1d, F.dropout2d, F.dropout3d):
        table[f] = _zero("dropout", "dropout")
    table[torch.mean] = _mean
    table[Tensor.mean] = _mean
    for f in (torch.sum, Tensor.sum):
        table[f] = _reduce_sum
    for f in (torch.pow, Tensor.pow, Tensor.__pow__, torch.square, Tensor.square):
        table[f] = _elementwise("mul", "pow")
    return table


_FUNCTIONS: dict[Any, Callable] | None = None

# Which operator names a custom module's row (the first present in this order).
_KIND_ORDER = {
    k: i
    for i, k in enumerate(
        (
            "conv",
            "linear",
            "maxpool",
            "avgpool",
            "lrn",
            "batchnorm",
            "act",
            "add",
            "mul",
            "concat",
            "dropout",
        )
    )
}


# --- receptive field ------------------------------------------------------------------------


def _rf_step(
    rf: tuple[tuple[int, ...], tuple[int, ...]] | None,
    kernel: Sequence[int] | None,
    stride: Sequence[int] | None,
    dilation: int = 1,
) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """``r_out = r_in + (k_eff - 1) x j_in``, ``j_out = j_in x s`` (Araujo et al., Distill 2019)."""
    if rf is None or kernel is None or stride is None:
        return rf
    r, j = rf
    n = len(kernel)
    if len(r) != n:
        return None
    k_eff = [dilation * (k - 1) + 1 for k in kernel]
    return (
        tuple(r[i] + (k_eff[i] - 1) * j[i] for i in range(n)),
        tuple(j[i] * stride[i] for i in range(n)),
    )


# --- the tracer -----------------------------------------------------------------------------


@dataclass
class _Frame:
    """A module call in progress. ``kind`` is a costs kind for a known leaf, "custom" for a leaf
    module of unknown type (its functional ops are summed into one row), None for a container."""

    name: str
    module: nn.Module
    kind: str | None
    x: Tensor | None
    ops: list[_Op] | None
    inputs: tuple[int, ...]


class _Tracer(TorchFunctionMode):
    def __init__(self, param_names: dict[int, str], param_info: dict[str, tuple[int, bool, int]]):
        super().__init__()
        self.param_names = param_names  # id(tensor as seen in forward) -> canonical name
        self.param_info = param_info  # name -> (numel, requires_grad, nbytes)
        self.seen: set[str] = set()
        self.stack: list[_Frame] = []
        self.records: list[LayerRecord] = []
        self.rf: dict[int, tuple[Tensor, tuple[tuple[int, ...], tuple[int, ...]]]] = {}
        self.current_op: str | None = None
        # id(tensor) -> (tensor, value number); the tensor is kept so that its id is not reused
        self.values: dict[int, tuple[Tensor, int]] = {}
        self.next_value = 0

    # data flow: a number for every value a row makes
    def value_of(self, t: Tensor) -> int | None:
        hit = self.values.get(id(t))
        return hit[1] if hit is not None and hit[0] is t else None

    def values_of(self, tensors: Sequence[Tensor]) -> tuple[int, ...]:
        found = (self.value_of(t) for t in tensors)
        return tuple(dict.fromkeys(v for v in found if v is not None))

    def new_value(self, t: Tensor) -> int:
        v = self.next_value
        self.next_value += 1
        self.values[id(t)] = (t, v)
        return v

    def pass_value(self, result: Any, inputs: Sequence[Tensor]) -> None:
        """A shape-only operator (view, flatten, getitem, chunk): its outputs carry its input's
        value number on."""
        v = next((v for v in (self.value_of(t) for t in inputs) if v is not None), None)
        if v is None:
            return
        for t in _tensors([result]):
            if self.value_of(t) is None:
                self.values[id(t)] = (t, v)

    # receptive-field bookkeeping; the tensor is kept so that its id is not reused
    def rf_of(self, t: Tensor | None):
        if t is None:
            return None
        hit = self.rf.get(id(t))
        return hit[1] if hit is not None and hit[0] is t else None

    def set_rf(self, t: Any, rf) -> None:
        if isinstance(t, Tensor) and rf is not None:
            self.rf[id(t)] = (t, rf)

    def take_params(self, tensors: Sequence[Tensor]) -> tuple[int, int, int]:
        total = trainable = nbytes = 0
        for t in tensors:
            name = self.param_names.get(id(t))
            if name is None or name in self.seen:
                continue
            self.seen.add(name)
            n, grad, b = self.param_info[name]
            total += n
            trainable += n if grad else 0
            nbytes += b
        return total, trainable, nbytes

    # module hooks
    def pre_hook(self, name: str, kind: str | None) -> Callable:
        def hook(module: nn.Module, args: tuple) -> None:
            ops: list[_Op] | None = [] if kind == "custom" else None
            inputs = self.values_of(_tensors(args))
            self.stack.append(_Frame(name, module, kind, _first_tensor(args), ops, inputs))

        return hook

    def post_hook(self, name: str) -> Callable:
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            frame = self.stack.pop()
            kind, x = frame.kind, frame.x
            if kind is None:
                return
            out = _first_tensor(output)
            if x is None or out is None:
                return
            if kind == "custom":
                self.custom_row(name, module, x, out, frame.ops or [], frame.inputs)
                return
            in_shape, out_shape = tuple(x.shape), tuple(out.shape)
            kernel, stride, padding, dil = costs.module_geometry(module, in_shape, out_shape)
            params, trainable, nbytes = self.take_params(list(module.parameters()))
            rf_in = self.rf_of(x)
            rf_out = _rf_step(rf_in, kernel, stride, dil) if kernel else rf_in
            if kind == "linear":
                rf_out = None
            self.set_rf(out, rf_out)
            in_ch: int | None = None
            out_ch: int | None = None
            groups = 1
            if kind == "conv":
                conv: nn.modules.conv._ConvNd = module  # type: ignore[assignment]
                in_ch, out_ch, groups = conv.in_channels, conv.out_channels, conv.groups
            elif kind == "linear":
                linear: nn.Linear = module  # type: ignore[assignment]
                in_ch, out_ch = linear.in_features, linear.out_features
            elif len(in_shape) > 1:
                in_ch, out_ch = in_shape[1], out_shape[1] if len(out_shape) > 1 else None
            self.records.append(
                LayerRecord(
                    name=name,
                    type=type(module).__name__,
                    kind=kind,
                    depth=name.count(".") + 1,
                    input_shape=in_shape,
                    output_shape=out_shape,
                    kernel=kernel,
                    stride=stride,
                    padding=padding,
                    in_channels=in_ch,
                    out_channels=out_ch,
                    params=params,
                    trainable_params=trainable,
                    param_bytes=nbytes,
                    macs=costs.module_macs(module, kind, in_shape, out_shape),
                    output_bytes=costs.numel(out_shape) * out.element_size(),
                    # an in-place operator writes its input, a view shares its storage
                    inplace=out is x or kind == "view",
                    has_bias=getattr(module, "bias", None) is not None,
                    groups=groups,
                    shortcut=kind in costs.WEIGHTED_KINDS + ("batchnorm",)
                    and costs.is_shortcut(name),
                    receptive_field=rf_out[0]
                    if rf_out and kind in ("conv",) + costs.POOL_KINDS
                    else None,
                    inputs=frame.inputs,
                    output=self.new_value(out),
                    extra={"module": module},
                )
            )

        return hook

    def custom_row(
        self,
        name: str,
        module: nn.Module,
        x: Tensor,
        out: Tensor,
        ops: list[_Op],
        inputs: tuple[int, ...],
    ) -> None:
        """One row for a leaf module of unknown type: the sum of its functional operators.

        Its own parameters are counted here even when the forward only uses them through a
        view or an index (as LeNet-5's partial C3 builds its dense kernel).
        """
        params, trainable, nbytes = self.take_params(list(module.parameters()))
        if not ops and not params:
            self.pass_value(out, [x])
            return
        main = min(ops, key=lambda o: _KIND_ORDER.get(o.kind, 99)) if ops else _Op("other", "", 0)
        in_shape, out_shape = tuple(x.shape), tuple(out.shape)
        in_ch = in_shape[1] if len(in_shape) > 1 else None
        out_ch = out_shape[1] if len(out_shape) > 1 else None
        rf = self.rf_of(out)
        self.records.append(
            LayerRecord(
                name=name,
                type=type(module).__name__,
                kind=main.kind,
                depth=name.count(".") + 1,
                input_shape=in_shape,
                output_shape=out_shape,
                kernel=main.kernel,
                stride=main.stride,
                padding=main.padding,
                in_channels=in_ch,
                out_channels=out_ch,
                params=params,
                trainable_params=trainable,
                param_bytes=nbytes,
                macs=sum(o.macs for o in ops),
                output_bytes=costs.numel(out_shape) * out.element_size(),
                inplace=out is x,
                has_bias=getattr(module, "bias", None) is not None,
                groups=main.groups,
                shortcut=main.kind in costs.WEIGHTED_KINDS and costs.is_shortcut(name),
                receptive_field=rf[0] if rf and main.kind in ("conv",) + costs.POOL_KINDS else None,
                inputs=inputs,
                output=self.new_value(out),
            )
        )

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        frame = self.stack[-1] if self.stack else None
        out = _shortcut(func, args, kwargs)
        if out is None and frame is not None and frame.kind == "act" and func in _ACTIVATIONS:
            x = args[0] if args else None
            if isinstance(x, Tensor) and x.is_meta:
                # an activation keeps its input's shape (its meta kernel can be as slow as
                # batch norm's); an in-place one gives its input back
                out = x if getattr(frame.module, "inplace", False) else shapes.like(x)
        if out is not None:
            if self.stack and self.stack[-1].kind not in (None, "custom"):
                return out
            return self._record(func, args, kwargs, out)
        if self.stack and self.stack[-1].kind not in (None, "custom"):
            # inside a known leaf module: its forward hook counts it as one row
            return func(*args, **kwargs)
        return self._record(func, args, kwargs, None)

    def _record(self, func: Any, args: tuple, kwargs: dict, made: Tensor | None) -> Any:
        """Run (or take the ``made`` result of) a functional operator and record its row."""
        global _FUNCTIONS
        if _FUNCTIONS is None:
            _FUNCTIONS = _handlers()
        handler = _FUNCTIONS.get(func)
        self.current_op = getattr(func, "__name__", repr(func))
        result = made if made is not None else func(*args, **kwargs)
        out = _first_tensor(result)
        if out is None or not args:
            return result
        ins = _tensors(args)
        if handler is None:
            # shape-only operators (view, flatten, getitem...): the receptive field passes on
            rfs = [r for r in (self.rf_of(t) for t in ins) if r is not None]
            if rfs and out is not ins[0]:
                self.set_rf(out, _rf_max(rfs))
            self.pass_value(result, ins)
            return result
        op = handler(args, kwargs, out)
        x = ins[0] if ins else None
        rfs = [r for r in (self.rf_of(t) for t in ins) if r is not None]
        rf_in = _rf_max(rfs) if rfs else None
        rf_out = _rf_step(rf_in, op.kernel, op.stride, op.dilation) if op.kernel else rf_in
        self.set_rf(out, None if op.kind == "linear" else rf_out)
        frame = self.stack[-1] if self.stack else None
        if frame is not None and frame.kind == "custom" and frame.ops is not None:
            frame.ops.append(op)  # summed into the custom module's row
            return result
        parent = frame.name if frame is not None else ""
        inputs = self.values_of(ins)
        params, trainable, nbytes = self.take_params(op.params)
        in_shape = tuple(x.shape) if x is not None else ()
        out_shape = tuple(out.shape)
        in_ch: int | None = None
        out_ch: int | None = None
        if op.kind == "conv":
            in_ch, out_ch = in_shape[1], out_shape[1]
        elif op.kind == "linear":
            in_ch, out_ch = in_shape[-1], out_shape[-1]
        elif len(out_shape) > 1:
            in_ch = sum(t.shape[1] for t in ins) if op.kind == "concat" else in_shape[1]
            out_ch = out_shape[1]
        self.records.append(
            LayerRecord(
                name=f"{parent}.{op.type}" if parent else op.type,
                type=op.type,
                kind=op.kind,
                depth=(parent.count(".") + 2) if parent else 1,
                input_shape=in_shape,
                output_shape=out_shape,
                kernel=op.kernel,
                stride=op.stride,
                padding=op.padding,
                in_channels=in_ch,
                out_channels=out_ch,
                params=params,
                trainable_params=trainable,
                param_bytes=nbytes,
                macs=op.macs,
                output_bytes=costs.numel(out_shape) * out.element_size(),
                inplace=any(out is t for t in ins),
                has_bias=op.has_bias,
                groups=op.groups,
                shortcut=op.kind in costs.WEIGHTED_KINDS and costs.is_shortcut(parent),
                receptive_field=rf_out[0]
                if rf_out and op.kind in ("conv",) + costs.POOL_KINDS
                else None,
                inputs=inputs,
                output=self.new_value(out),
                extra={"inputs": [tuple(t.shape) for t in ins]} if op.kind == "concat" else {},
            )
        )
        return result


# what the forward of an activation module calls (shape kept; given back when in place)
_ACTIVATIONS = {
    *shapes.UNARY,
    F.relu,
    F.relu6,
    F.leaky_relu,
    F.hardtanh,
    F.hardswish,
    F.hardsigmoid,
    F.prelu,
    F.softmax,
    F.log_softmax,
    torch.relu,
    torch.relu_,
}


def _shortcut(func: Any, args: tuple, kwargs: dict) -> Tensor | None:
    """The output of ``func`` made from the shapes (:data:`convzoo.inspect.shapes.FORMULAS`),
    or None: torch's meta kernel runs."""
    formula = shapes.FORMULAS.get(func)
    return formula(args, kwargs) if formula is not None else None


class _NoInitOnMeta(TorchFunctionMode):
    """In-place operators on meta tensors (``normal_``, ``uniform_``, ``zero_``...) return
    their tensor untouched: a meta tensor has no data to fill, and the meta kernels of the
    random initialisers are Python decompositions whose first call imports torch._dynamo
    (about a second; five under load), the largest cost of building a network on meta."""

    _KEEP_SHAPE_EXCEPT = (
        "resize_",
        "resize_as_",
        "set_",
        "as_strided_",
        "squeeze_",
        "unsqueeze_",
        "transpose_",
        "t_",
        "swapdims_",
        "swapaxes_",
    )

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        # torch.nn.init's functions pass their tensor by keyword
        target = args[0] if args else kwargs.get("tensor")
        if (
            name.endswith("_")
            and not name.startswith("_")
            and name not in self._KEEP_SHAPE_EXCEPT
            and isinstance(target, Tensor)
            and target.is_meta
        ):
            return target
        return func(*args, **kwargs)


@contextlib.contextmanager
def meta_build() -> Iterator[None]:
    """Build a network inside this block: on the meta device, its initialisers skipped."""
    with torch.device("meta"), _NoInitOnMeta():
        yield


def _rf_max(rfs: list) -> tuple[tuple[int, ...], tuple[int, ...]]:
    n = min(len(r[0]) for r in rfs)
    return (
        tuple(max(r[0][i] for r in rfs) for i in range(n)),
        tuple(max(r[1][i] for r in rfs) for i in range(n)),
    )


def _is_size_error(err: BaseException) -> bool:
    text = str(err).lower()
    return any(
        s in text
        for s in (
            "too small",
            "can't be greater than actual input size",
            "output size is",
            "non-positive",
            "shapes cannot be multiplied",
            "mat1 and mat2",
        )
    )


def trace(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    dtype: torch.dtype = torch.float32,
    model_name: str | None = None,
) -> TraceResult:
    """Trace ``model`` on a meta input of ``input_shape`` (with the batch dimension).

    The model runs in eval mode (batch norm on its running statistics, GoogLeNet without its
    auxiliary heads) and is put back in its own mode afterwards. Raises :class:`TraceError`
    naming the layer whose forward failed.
    """
    label = model_name or type(model).__name__
    # Canonical parameter names, one per tensor (tied parameters share one entry).
    param_info: dict[str, tuple[int, bool, int]] = {}
    canonical: dict[int, str] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) not in canonical:
            canonical[id(p)] = name
            param_info[name] = (p.numel(), p.requires_grad, p.numel() * p.element_size())
    buffer_bytes = sum(b.numel() * b.element_size() for b in model.buffers())

    all_meta = all(t.is_meta for t in model.parameters()) and all(
        t.is_meta for t in model.buffers()
    )
    param_names: dict[int, str] = {}
    substitutes: dict[str, Tensor] = {}
    if all_meta:
        param_names = {i: n for i, n in canonical.items()}
    else:
        made: dict[int, Tensor] = {}
        for name, t in [
            *model.named_parameters(remove_duplicate=False),
            *model.named_buffers(remove_duplicate=False),
        ]:
            if id(t) not in made:
                made[id(t)] = torch.empty_like(t, device="meta")
                if id(t) in canonical:
                    param_names[id(made[id(t)])] = canonical[id(t)]
            substitutes[name] = made[id(t)]

    tracer = _Tracer(param_names, param_info)
    handles = []
    for name, module in model.named_modules():
        if module is model:
            continue
        kind = costs.module_kind(module)
        if kind is None and next(module.children(), None) is None:
            kind = "custom"
        handles.append(module.register_forward_pre_hook(tracer.pre_hook(name, kind)))
        handles.append(module.register_forward_hook(tracer.post_hook(name)))
    modes = {m: m.training for m in model.modules()}
    x = torch.empty(tuple(input_shape), dtype=dtype, device="meta")
    n_spatial = max(0, len(input_shape) - 2)
    tracer.set_rf(x, ((1,) * n_spatial, (1,) * n_spatial))
    tracer.new_value(x)  # value 0: the network's input
    model.eval()
    try:
        with torch.no_grad(), tracer:
            # a model with real weights runs on meta stand-ins: no copy, no change
            call = model if all_meta else partial(functional_call, model, substitutes)
            out = call(x)
    except ConvzooError:
        raise
    except Exception as err:
        if tracer.stack:
            where, module = tracer.stack[-1].name, tracer.stack[-1].module
            layer = f"layer '{where}' ({type(module).__name__})"
        else:
            layer = f"the top-level forward of {type(model).__name__}"
        op = f", operator {tracer.current_op}" if tracer.current_op else ""
        hint = (
            f" The input {'x'.join(map(str, input_shape[1:]))} is probably too small for this "
            f"network: try a larger --input / input_size."
            if _is_size_error(err)
            else " The model must run on shapes alone (no .item(), no data-dependent control "
            "flow) to be traced on the meta device."
        )
        raise TraceError(
            f"{label}: the forward pass failed under tracing in {layer}{op}: "
            f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}.{hint}"
        ) from err
    finally:
        for h in handles:
            h.remove()
        for m, training in modes.items():
            m.training = training

    outs = out if isinstance(out, (list, tuple)) else (out,)
    unused = {n: info[0] for n, info in param_info.items() if n not in tracer.seen}
    unused_trainable = sum(param_info[n][0] for n in unused if param_info[n][1])
    return TraceResult(
        records=tracer.records,
        unused_params=unused,
        unused_trainable=unused_trainable,
        buffer_bytes=buffer_bytes,
        input_shape=tuple(input_shape),
        output_shapes=[tuple(o.shape) for o in outs if isinstance(o, Tensor)],
    )


def input_elements(shape: Sequence[int]) -> int:
    return math.prod(shape)
