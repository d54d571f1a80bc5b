"""Fast inference: one call, every precision, the runtime that is fastest on this machine.

:func:`optimize` returns an inference-only copy of a network, checked against the original:

- ``precision="fp32"`` (default), ``"bf16"`` (AVX-512 BF16/AMX on CPU, tensor cores on GPU) or
  ``"int8"`` (post-training static quantization from ``calibration``, a few batches of real
  inputs); ``dtype=torch.bfloat16`` is the older spelling and still works.
- ``runtime="inductor"`` (default): :func:`fold_batchnorm` folds every eval-mode BN into its
  conv (Ioffe & Szegedy 2015 define BN as an affine map at inference; Jacob et al. 2018,
  "Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only
  Inference", sec. 3.2, fold it the same way), channels-last (NHWC lets oneDNN and cuDNN pick
  their fastest kernels without reorders), and ``torch.compile`` with inductor and ``freezing``
  (weights become constants that inductor pre-packs for oneDNN), with a clean fallback to the
  eager copy. int8 here is PyTorch's PT2E flow with the X86 inductor quantizer (torchao).
- ``runtime="onnxruntime"`` / ``"openvino"``: the same network exported and run by ONNX Runtime
  or OpenVINO (int8 through ONNX Runtime's static quantizer or NNCF).
- ``runtime="auto"``: every runtime available here for that precision is built, checked, then
  timed interleaved on ``example_input``; the fastest wins. The result's ``report`` says which
  runtime and precision ran, why (the medians), and how close the outputs are.

We keep our own glue rather than one runtime because which one is fastest depends on the CPU,
the precision and the batch (issue 13 measured all three winning somewhere on one Xeon).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import importlib.util
import io
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from convzoo.errors import ConvzooError
from convzoo.outputs import main_logits

# Tolerances stated once. Outputs agree when max|a - b| <= ATOL + RTOL * max|reference|: fp32
# re-association (folded weights, other conv algorithms, NHWC, fused kernels) changes the last
# bits of every layer, so the error grows with the size of the activations, and a deep randomly
# initialised network (ResNet-152) can have logits in the hundreds. Relative to the largest
# logit rather than element-wise, because logits near zero carry the same absolute error.
OPTIMIZE_ATOL = 1e-4
OPTIMIZE_RTOL = 1e-4
# bf16 keeps 8 bits of mantissa (relative step 2^-8 = 0.4%), so a bf16 network agrees with fp32
# to about 1% of the largest logit only; opt-in, for the throughput of AMX/tensor cores.
OPTIMIZE_BF16_RTOL = 3e-2
# int8 rounds every activation to 1/255 of its calibrated range, layer after layer: the logits
# move by a few % of the largest one (LeNet-5 on digits: 2-4% on a Xeon with AMX; 18% with ONNX
# Runtime 1.32's kernels on an AMD EPYC, where its top-1 agreement was still 99.72%). What int8
# must keep is the decision, so its report also gives the top-1 agreement with fp32; this bound
# only catches a broken conversion.
OPTIMIZE_INT8_RTOL = 0.3
TOLERANCES: dict[str, tuple[float, float]] = {
    "fp32": (OPTIMIZE_ATOL, OPTIMIZE_RTOL),
    "bf16": (OPTIMIZE_ATOL, OPTIMIZE_BF16_RTOL),
    "fp16": (OPTIMIZE_ATOL, OPTIMIZE_BF16_RTOL),
    "int8": (OPTIMIZE_ATOL, OPTIMIZE_INT8_RTOL),
}
PRECISIONS = ("fp32", "bf16", "int8")
RUNTIMES = ("inductor", "eager", "onnxruntime", "openvino")
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
_NAMES_OF_DTYPES = {v: k for k, v in _DTYPES.items()}


def outputs_close(got: Tensor, ref: Tensor, atol: float, rtol: float) -> tuple[bool, float]:
    """Whether ``max|got - ref| <= atol + rtol * max|ref|``, and that max difference."""
    got, ref = got.detach().float(), ref.detach().float()
    if got.shape != ref.shape:
        return False, float("inf")
    diff = float((got - ref).abs().max()) if got.numel() else 0.0
    scale = float(ref.abs().max()) if ref.numel() else 0.0
    return diff <= atol + rtol * scale, diff


# --------------------------------------------------------------------------------------------
# Batch-norm folding
# --------------------------------------------------------------------------------------------


def _conv_bn_pairs(model: nn.Module, example_input: Tensor) -> list[tuple[str, str]]:
    """Find (conv, bn) module names where the BN consumes exactly the conv's output tensor.

    Found by running the model once with hooks rather than by names or by ``torch.fx`` tracing:
    the zoo's ``forward`` checks its input in Python (fx cannot trace that), and the module order
    in ``__init__`` need not be the order of use. Each module must be called once, so a shared
    conv or BN is never folded (it would change the other use).
    """
    conv_out: dict[int, str] = {}
    keep: list[Tensor] = []  # keep outputs alive so that no id() is reused during the pass
    calls: dict[str, int] = {}
    pairs: list[tuple[str, str]] = []
    handles = []

    def conv_hook(name: str):
        def hook(_m: nn.Module, _inp: Any, out: Any) -> None:
            calls[name] = calls.get(name, 0) + 1
            if isinstance(out, Tensor):
                conv_out[id(out)] = name
                keep.append(out)

        return hook

    def bn_hook(name: str):
        def hook(_m: nn.Module, inp: Any) -> None:
            calls[name] = calls.get(name, 0) + 1
            src = conv_out.get(id(inp[0])) if inp and isinstance(inp[0], Tensor) else None
            if src is not None:
                pairs.append((src, name))

        return hook

    for name, m in model.named_modules():
        if type(m) is nn.Conv2d:
            handles.append(m.register_forward_hook(conv_hook(name)))
        elif type(m) is nn.BatchNorm2d:
            handles.append(m.register_forward_pre_hook(bn_hook(name)))
    try:
        with torch.no_grad():
            model(example_input)
    finally:
        for h in handles:
            h.remove()
    used = [c for c, _ in pairs]
    return [
        (c, b) for c, b in pairs if calls.get(c) == 1 and calls.get(b) == 1 and used.count(c) == 1
    ]


def _set_submodule(root: nn.Module, dotted: str, new: nn.Module) -> None:
    *path, last = dotted.split(".")
    parent = root
    for part in path:
        parent = getattr(parent, part)
    setattr(parent, last, new)


def fold_batchnorm(model: nn.Module, example_input: Tensor) -> int:
    """Fold every eval-mode BatchNorm2d into the conv that feeds it, in place.

    The BN becomes ``nn.Identity``; the conv gets ``w * gamma / sqrt(var + eps)`` and bias
    ``(b - mean) * gamma / sqrt(var + eps) + beta``. Returns the number of folded pairs. The
    model must be in eval mode (training-mode BN uses batch statistics and cannot be folded).
    """
    if model.training:
        raise ConvzooError("fold_batchnorm needs a model in eval mode; call model.eval() first")
    pairs = _conv_bn_pairs(model, example_input)
    for conv_name, bn_name in pairs:
        conv = model.get_submodule(conv_name)
        bn = model.get_submodule(bn_name)
        assert isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
        if bn.running_mean is None or bn.running_var is None:
            continue  # track_running_stats=False: batch statistics even in eval
        _set_submodule(model, conv_name, fuse_conv_bn_eval(conv, bn))
        _set_submodule(model, bn_name, nn.Identity())
    return len(pairs)


# --------------------------------------------------------------------------------------------
# Batch-chunked stem
# --------------------------------------------------------------------------------------------

# A stem conv's output for a whole batch (ResNet-18 at batch 16: 64 x 112 x 112 fp32 = 51 MB) is
# written to memory by the conv and read back by the pool; a few images at a time it stays in
# cache. Measured for ResNet-18 on 2 threads (Xeon, AVX-512), batch 16: conv1 alone 22 ms of the
# optimized network's 183; conv + ReLU + max-pool eager 46 ms whole-batch, 18 ms two images at a
# time; optimize() 87 -> 97 img/s (ONNX Runtime 96-99 in the same runs).
_STEM_MAX_IN_CHANNELS = 4
_STEM_CHUNK_BYTES = 8 << 20  # conv output per chunk; a few MB fits a server core's L2 + L3 share
_STEM_MIN_BYTES = 16 << 20  # below this the whole batch is cache-sized already


class BatchChunked(nn.Module):
    """Runs ``body`` on ``chunk`` images at a time and concatenates the results."""

    def __init__(self, body: nn.Module, chunk: int) -> None:
        super().__init__()
        self.body = body
        self.chunk = chunk

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[0] <= self.chunk:
            return self.body(x)
        return torch.cat([self.body(part) for part in x.split(self.chunk)])


def _stem_chain(model: nn.Module, example_input: Tensor) -> tuple[list[str], int] | None:
    """The stem ``conv -> (Identity | ReLU)* -> MaxPool2d/AvgPool2d`` as module names, and the
    conv output's bytes per image; found with hooks like :func:`_conv_bn_pairs`. Each module of
    the chain is called once and takes exactly the previous one's output tensor."""
    calls: dict[str, int] = {}
    events: list[tuple[str, int, int, Tensor]] = []  # (name, id(input), id(output), output)
    handles = []

    def hook(name: str):
        def fn(_m: nn.Module, inp: Any, out: Any) -> None:
            calls[name] = calls.get(name, 0) + 1
            if inp and isinstance(inp[0], Tensor) and isinstance(out, Tensor):
                events.append((name, id(inp[0]), id(out), out))

        return fn

    kinds = (nn.Conv2d, nn.Identity, nn.ReLU, nn.MaxPool2d, nn.AvgPool2d)
    for name, m in model.named_modules():
        if name and type(m) in kinds:
            handles.append(m.register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            model(example_input)
    finally:
        for h in handles:
            h.remove()
    if not events:
        return None
    first, _, out_id, out = events[0]
    conv = model.get_submodule(first)
    if type(conv) is not nn.Conv2d or conv.in_channels > _STEM_MAX_IN_CHANNELS:
        return None
    chain = [first]
    for name, in_id, o_id, _out in events[1:]:
        m = model.get_submodule(name)
        if in_id != out_id or type(m) is nn.Conv2d:
            return None
        chain.append(name)
        out_id = o_id
        if type(m) in (nn.MaxPool2d, nn.AvgPool2d):
            break
    else:
        return None
    if any(calls.get(n) != 1 for n in chain):
        return None
    per_image = out[0].numel() * out.element_size()
    return chain, per_image


def chunk_stem(model: nn.Module, example_input: Tensor) -> int:
    """Run the stem (first conv with <= 4 input channels up to its pool) a few images at a time,
    in place, when its whole-batch output would not fit in cache; returns the chunk size (0 if
    not done). A CPU optimisation: on GPU whole batches are faster."""
    found = _stem_chain(model, example_input)
    if found is None:
        return 0
    chain, per_image = found
    batch = example_input.shape[0]
    chunk = max(1, _STEM_CHUNK_BYTES // per_image)
    if per_image * batch < _STEM_MIN_BYTES or chunk >= batch:
        return 0
    with torch.no_grad():
        before = main_logits(model(example_input))
    originals = [model.get_submodule(n) for n in chain]
    _set_submodule(model, chain[0], BatchChunked(nn.Sequential(*originals), chunk))
    for name in chain[1:]:
        _set_submodule(model, name, nn.Identity())
    with torch.no_grad():
        after = main_logits(model(example_input))
    if not outputs_close(after, before, OPTIMIZE_ATOL, OPTIMIZE_RTOL)[0]:
        # The stem's output was used elsewhere too (e.g. functionally): undo.
        for name, original in zip(chain, originals, strict=True):
            _set_submodule(model, name, original)
        return 0
    return chunk


# --------------------------------------------------------------------------------------------
# What optimize() gives back
# --------------------------------------------------------------------------------------------


@dataclass
class OptimizeReport:
    """What :func:`optimize` did and chose, and why a step was skipped."""

    runtime: str = "inductor"
    precision: str = "fp32"
    reason: str = ""
    folded_bn: int = 0
    stem_chunk: int = 0
    channels_last: bool = False
    compiled: bool = False
    compile_options: dict[str, Any] = field(default_factory=dict)
    fallback_reason: str | None = None
    # The check against the eager original on the example input.
    max_abs_diff: float | None = None
    atol: float = OPTIMIZE_ATOL
    rtol: float = OPTIMIZE_RTOL
    # int8 (or any precision given ``validation=``): share of images whose top-1 class is the
    # fp32 original's, and on what data it was measured.
    top1_agreement: float | None = None
    agreement_images: int = 0
    agreement_on: str | None = None
    calibration_batches: int = 0
    # runtime="auto": median ms per call of each candidate, or why it was not a candidate.
    candidates_ms: dict[str, float] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    # What a person should know about how it runs here (e.g. bf16 asked for, f32 run).
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for a person: runtime, precision, check, agreement, why."""
        parts = [f"{self.runtime} {self.precision}"]
        if self.max_abs_diff is not None:
            parts.append(f"max |diff| vs eager {self.max_abs_diff:.3g}")
        if self.top1_agreement is not None:
            parts.append(
                f"top-1 agreement with fp32 {self.top1_agreement:.2%} on "
                f"{self.agreement_images} images ({self.agreement_on})"
            )
        if self.reason:
            parts.append(self.reason)
        parts.extend(self.notes)
        return "; ".join(parts)


class InferenceModel(nn.Module):
    """What :func:`optimize` returns: inference only, with a :class:`OptimizeReport`."""

    report: OptimizeReport

    def __init__(self) -> None:
        super().__init__()
        self.training = False  # born in eval mode: code that saves and restores the mode works

    def train(self, mode: bool = True) -> InferenceModel:
        if mode:
            raise RuntimeError("an optimized model is for inference only; optimize() a copy")
        return super().train(False)


class OptimizedModel(InferenceModel):
    """A PyTorch copy (eager or compiled by inductor): no autograd, channels-last input."""

    def __init__(
        self,
        eager: nn.Module,
        compiled: Any,
        channels_last: bool,
        report: OptimizeReport,
        inductor_options: dict[str, Any] | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.dtype = dtype
        self.eager = eager
        self._compiled = compiled
        self.channels_last = channels_last
        # Inductor reads its config when it (re)compiles, i.e. inside a call (a new batch size
        # recompiles), so the options are applied around every call, not only the first.
        self._inductor_options = dict(inductor_options or {})
        self.report = report
        if hasattr(eager, "card"):
            self.card = eager.card

    def forward(self, x: Tensor) -> Tensor:
        with torch.inference_mode():
            out_dtype = x.dtype
            if self.dtype is not None:
                x = x.to(self.dtype)
            if self.channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            if self._compiled is None:
                out = main_logits(self.eager(x))
            else:
                with _compile_config(self._inductor_options):
                    out = main_logits(self._compiled(x))
            return out.to(out_dtype) if self.dtype is not None else out


class RuntimeModel(InferenceModel):
    """A network run by another runtime (ONNX Runtime, OpenVINO) behind a module's face:
    tensors in, tensors out, in the input's dtype."""

    def __init__(self, run: Callable[[Any], Any], report: OptimizeReport, card: Any = None):
        super().__init__()
        self._run = run
        # An empty CPU parameter, so that code asking a module for its device
        # (``next(model.parameters()).device``, as predict and evaluate do) gets the CPU.
        self.device_anchor = nn.Parameter(torch.empty(0), requires_grad=False)
        self.report = report
        if card is not None:
            self.card = card

    def forward(self, x: Tensor) -> Tensor:
        return torch.from_numpy(self._run(float32_array(x))).to(x.dtype)


def float32_array(x: Tensor) -> np.ndarray:
    """``x`` as a C-contiguous float32 NumPy array for another runtime, converted by NumPy on
    the calling thread, not by a torch op.

    A torch op on a whole batch runs on torch's OpenMP threads, which spin for a while after
    it, waiting for more work, on the cores the runtime's own threads are about to use: the
    bf16 -> fp32 cast of a ResNet-18 input before OpenVINO's call made the call 8.3 ms instead
    of 4.6 ms (batch 1, 2 threads, AMD EPYC with AVX-512), and ``runtime="auto"`` chose
    inductor bf16, which OpenVINO beat by 30%. bf16 -> fp32 is exact: the 16 bits become the
    top half of the float32."""
    t = x.detach().cpu()
    if t.dtype == torch.bfloat16:
        bits = t.view(torch.int16).numpy().view(np.uint16)
        return np.ascontiguousarray((bits.astype(np.uint32) << 16).view(np.float32))
    return np.ascontiguousarray(t.numpy(), dtype=np.float32)


def _compile_config(options: dict[str, Any]) -> Any:
    """Inductor's options and a dynamo recompile limit, patched around a call.

    Every optimize() of a zoo network compiles the same forward code object (the shared base
    class's), and past dynamo's recompile limit (8) a further one silently ran eager (measured:
    the 9th ResNet-18 optimized in one process ran at eager channels-last speed). Each copy is
    guarded by its own weights' ids.
    """
    from torch._dynamo import config as dynamo_config
    from torch._inductor import config as inductor_config

    key = "recompile_limit" if hasattr(dynamo_config, "recompile_limit") else "cache_size_limit"
    limit = {key: max(getattr(dynamo_config, key), 1024)}
    stack = contextlib.ExitStack()
    stack.enter_context(inductor_config.patch(options))
    stack.enter_context(dynamo_config.patch(limit))
    return stack


def compile_supported(device: torch.device | str = "cpu") -> tuple[bool, str | None]:
    """Whether ``torch.compile`` with inductor can run here, and why not."""
    device = torch.device(device)
    if not hasattr(torch, "compile"):
        return False, "this torch has no torch.compile"
    if os.name == "nt" and device.type == "cpu":
        return False, "inductor's C++ backend needs a compiler that Windows rarely has"
    if device.type == "cuda" and importlib.util.find_spec("triton") is None:
        return False, "inductor on CUDA needs triton, which is not installed"
    if device.type not in ("cpu", "cuda"):
        return False, f"inductor is not used on {device.type}"
    return True, None


def cpu_has_bf16_kernels() -> bool:
    """Whether oneDNN, PyTorch's CPU kernels for convolutions and matmuls, has bf16 kernels on
    this CPU (it needs AVX-512; AVX-512 BF16 and AMX make them fast). Without them PyTorch's
    bf16 falls back to reference loops: on a 2-core AMD EPYC with AVX2 only, ResNet-18 at
    batch 1 took 2.06 s in eager bf16 against 47 ms in fp32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False


BF16_EMULATED = (
    "this CPU has no bf16 kernels (oneDNN's need AVX-512): PyTorch runs bf16 here by "
    "reference loops, many times slower than fp32; use precision='fp32', or runtime='auto' "
    "or 'openvino', whose CPU plugin then runs the network in f32"
)


def _torch_bf16_emulated(runtime: str, precision: str, x: Tensor) -> bool:
    return (
        runtime in ("inductor", "eager")
        and precision == "bf16"
        and x.device.type == "cpu"
        and not cpu_has_bf16_kernels()
    )


def runtime_available(runtime: str, precision: str = "fp32") -> str | None:
    """None if ``runtime`` can run ``precision`` here, else why not (with the install hint)."""
    needs = {
        "onnxruntime": ("onnx", "onnxruntime", "onnxscript"),
        "openvino": ("openvino",) + (("nncf",) if precision == "int8" else ()),
        "inductor": ("torchao",) if precision == "int8" else (),
        "eager": (),
    }[runtime]
    missing = [m for m in needs if importlib.util.find_spec(m) is None]
    if missing:
        extra = {"onnxruntime": "export", "openvino": "openvino", "inductor": "int8"}[runtime]
        return f"{runtime} {precision} needs {', '.join(missing)}: pip install 'convzoo[{extra}]'"
    if runtime == "onnxruntime" and precision == "bf16":
        return "ONNX Runtime has no bf16 convolution kernels on CPU"
    if runtime == "eager" and precision == "int8":
        return "int8 needs a quantizing runtime (inductor, onnxruntime or openvino)"
    return None


# --------------------------------------------------------------------------------------------
# optimize()
# --------------------------------------------------------------------------------------------


@dataclass
class TorchSteps:
    """The PyTorch-side steps of :func:`optimize`, each of which can be turned off."""

    fold_bn: bool = True
    chunk_stem_batch: bool = True
    channels_last: bool = True
    compile: bool = True
    freezing: bool = True
    mode: str | None = None
    inductor_config: dict[str, Any] | None = None


def resolve_precision(
    precision: str | None, dtype: torch.dtype | str | None, example_input: Tensor
) -> str:
    """``precision`` or its older spelling ``dtype`` (a torch dtype or the same names); with
    neither, the example input's own dtype (a network already in bf16 stays in bf16)."""
    from_dtype: str | None = None
    if isinstance(dtype, torch.dtype):
        if dtype not in _NAMES_OF_DTYPES:
            raise ConvzooError(f"optimize() runs fp32, bf16 or int8, not {dtype}")
        from_dtype = _NAMES_OF_DTYPES[dtype]
    elif dtype is not None:
        from_dtype = str(dtype)
    if precision is not None and from_dtype is not None and precision != from_dtype:
        raise ConvzooError(
            f"precision={precision!r} and dtype={dtype!r} disagree; give one of them"
        )
    chosen = precision or from_dtype or _NAMES_OF_DTYPES.get(example_input.dtype, "fp32")
    if chosen not in (*PRECISIONS, "fp16"):
        raise ConvzooError(f"precision must be one of {', '.join(PRECISIONS)}, got {chosen!r}")
    return chosen


def input_batches(data: Iterable[Any] | None) -> list[Tensor]:
    """Input batches from an iterable of tensors or of (input, label) pairs (a DataLoader)."""
    out = []
    for item in data or []:
        x = item[0] if isinstance(item, (tuple, list)) else item
        if not isinstance(x, Tensor) or x.dim() != 4:
            raise ConvzooError(
                "calibration and validation take batches of shape (N, C, H, W), or "
                "(images, labels) pairs as a DataLoader gives them"
            )
        out.append(x.float())
    return out


def optimize(
    model: nn.Module,
    example_input: Tensor,
    *,
    precision: str | None = None,
    dtype: torch.dtype | str | None = None,
    calibration: Iterable[Any] | None = None,
    validation: Iterable[Any] | None = None,
    runtime: str = "inductor",
    threads: int | None = None,
    fold_bn: bool = True,
    chunk_stem_batch: bool = True,
    channels_last: bool = True,
    compile: bool = True,
    freezing: bool = True,
    mode: str | None = None,
    inductor_config: dict[str, Any] | None = None,
    check: bool = True,
    choose_budget_s: float = 3.0,
    calls: str = "loop",
) -> InferenceModel:
    """An inference-only copy of ``model``, made fast, and checked against it.

    ``precision`` is ``"fp32"``, ``"bf16"`` or ``"int8"`` (``dtype=`` is its older alias);
    int8 needs ``calibration``, an iterable of input batches (or of ``(images, labels)``, as a
    DataLoader gives them): a few hundred real images set the activation ranges.
    ``runtime`` is ``"inductor"`` (default; ``compile=False`` or a failed compile gives the
    eager copy), ``"onnxruntime"``, ``"openvino"`` or ``"auto"`` (every available runtime built,
    checked and timed on ``example_input`` for about ``choose_budget_s``; the fastest wins).
    ``calls`` says how the result will be called, which decides what "fastest" means for
    ``"auto"``: ``"loop"`` (default: back to back, as ``predict``, ``evaluate`` and a loop over a
    data set call it) or ``"single"`` (one call at a time after the cores went idle, as a
    server answering one request at a time, or a benchmark taking turns between runtimes,
    calls it). The two can rank runtimes differently: ResNet-18 at batch 1 on a 2-core EPYC ran
    8.1 ms in ONNX Runtime and 7.8 ms in OpenVINO back to back, 9.2 and 10.3 ms as single calls.

    With ``check`` the outputs on ``example_input`` are compared with the original's with the
    precision's tolerance (:data:`TOLERANCES`); a mismatch raises ``RuntimeError``. int8 also
    reports its top-1 agreement with the fp32 original on ``validation`` (held-out batches:
    give them) or else on the calibration batches. ``result.report`` has it all.

    The result takes inputs of ``example_input``'s shape, dtype and device; other batch sizes
    recompile once each under inductor (static shapes are fastest on CPU).
    """
    if not isinstance(example_input, Tensor) or example_input.dim() != 4:
        raise ConvzooError("optimize() needs an example input tensor of shape (N, C, H, W)")
    prec = resolve_precision(precision, dtype, example_input)
    if calls not in CALL_PATTERNS:
        raise ConvzooError(f"calls must be one of {', '.join(CALL_PATTERNS)}, not {calls!r}")
    if runtime != "auto" and runtime not in RUNTIMES:
        raise ConvzooError(f"runtime must be auto or one of {', '.join(RUNTIMES)}, not {runtime!r}")
    calib = input_batches(calibration)
    if prec == "int8" and not calib:
        raise ConvzooError(
            "precision='int8' needs calibration=<iterable of input batches>: a few hundred "
            "real images of the kind the network will see set the int8 ranges"
        )
    steps = TorchSteps(
        fold_bn, chunk_stem_batch, channels_last, compile, freezing, mode, inductor_config
    )
    model = model.eval()
    if runtime == "auto":
        fast = _choose_by_measuring(
            model, example_input, prec, calib, steps, threads, choose_budget_s, check, calls
        )
    else:
        emulated = _torch_bf16_emulated(runtime, prec, example_input)
        if emulated:
            warnings.warn(f"optimize(): {BF16_EMULATED}", RuntimeWarning, stacklevel=2)
        fast = build_runtime(runtime, model, example_input, prec, calib, steps, threads)
        fast.report.reason = fast.report.reason or f"runtime={runtime!r} asked for"
        if emulated:
            fast.report.notes.append(BF16_EMULATED)
    fast.report.calibration_batches = len(calib)
    if check:
        check_against_original(fast, model, example_input)
    held_out = input_batches(validation)
    if held_out or prec == "int8":
        data = held_out or calib
        fast.report.top1_agreement, fast.report.agreement_images = top1_agreement(fast, model, data)
        fast.report.agreement_on = "validation batches" if held_out else "calibration batches"
    return fast


def fast_copy(model: nn.Module, example_input: Tensor) -> InferenceModel:
    """What ``predict --fast`` and ``evaluate --fast`` run: :func:`optimize` with
    ``runtime="auto"`` in fp32, inductor's compile left out (on a small CPU it takes a minute,
    longer than most predictions), so the choice is between the folded eager copy, ONNX Runtime
    and OpenVINO, measured on ``example_input``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return optimize(model, example_input, runtime="auto", compile=False, choose_budget_s=1.0)


def _parameter_dtype(model: nn.Module) -> torch.dtype | None:
    """The dtype of the network's first parameter; None for a network without parameters."""
    first = next(model.parameters(), None)
    return first.dtype if first is not None else None


def original_logits(model: nn.Module, x: Tensor) -> Tensor:
    """The original network's main logits for ``x``, with ``x`` cast to the network's own
    dtype: a bf16 example input stands for "run in bf16", and the fp32 original refuses it."""
    dtype = _parameter_dtype(model)
    if dtype is not None and x.is_floating_point() and x.dtype != dtype:
        x = x.to(dtype)
    return main_logits(model.eval()(x))


def check_against_original(fast: InferenceModel, model: nn.Module, x: Tensor) -> float:
    """Compare ``fast`` with ``model`` on ``x`` with the report's precision's tolerance; store
    and return the max difference, raise ``RuntimeError`` beyond the tolerance."""
    report = fast.report
    report.atol, report.rtol = TOLERANCES[report.precision]
    with torch.no_grad():
        reference = original_logits(model, x)
        got = fast(x)
    ok, diff = outputs_close(got, reference, report.atol, report.rtol)
    report.max_abs_diff = diff
    if not ok:
        raise RuntimeError(
            f"optimize(): {report.runtime} {report.precision} outputs differ from the original "
            f"by {diff:.3g} (tolerance {report.atol:g} + {report.rtol:g} x max|logit|)"
        )
    return diff


def top1_agreement(
    fast: nn.Module, reference: nn.Module, batches: Iterable[Any]
) -> tuple[float, int]:
    """Share of images whose top-1 class is the same under ``fast`` and ``reference``, and
    how many images were compared."""
    same = total = 0
    with torch.no_grad():
        for x in input_batches(batches):
            a = fast(x).argmax(dim=1)
            b = original_logits(reference, x).argmax(dim=1)
            same += int((a == b).sum())
            total += len(x)
    return (same / total if total else float("nan")), total


def build_runtime(
    runtime: str,
    model: nn.Module,
    x: Tensor,
    precision: str,
    calibration: list[Tensor],
    steps: TorchSteps | None = None,
    threads: int | None = None,
) -> InferenceModel:
    """The network built for one runtime and precision, not yet checked."""
    steps = steps or TorchSteps()
    why = runtime_available(runtime, precision)
    if why:
        raise ConvzooError(why)
    if runtime in ("onnxruntime", "openvino") and x.device.type != "cpu":
        raise ConvzooError(f"runtime {runtime!r} is used on CPU here; use runtime='inductor'")
    if runtime == "onnxruntime":
        return _build_onnxruntime(model, x, precision, calibration, threads)
    if runtime == "openvino":
        return _build_openvino(model, x, precision, calibration, threads)
    if runtime == "eager":
        steps = dataclasses.replace(steps, compile=False)
    return _build_torch(model, x, precision, calibration, steps)


# --------------------------------------------------------------------------------------------
# PyTorch: eager or inductor, fp32/bf16 or int8 (PT2E)
# --------------------------------------------------------------------------------------------


def _build_torch(
    model: nn.Module, x: Tensor, precision: str, calibration: list[Tensor], steps: TorchSteps
) -> OptimizedModel:
    report = OptimizeReport(runtime="eager", precision=precision)
    m = copy.deepcopy(model).eval().float()
    for p in m.parameters():
        p.requires_grad_(False)
    # Fold in fp32, where the products of BN's scale and the conv weights lose nothing, then
    # go to the precision (a network handed over in bf16 goes back to bf16).
    fp32_input = x.float()
    if steps.fold_bn:
        report.folded_bn = fold_batchnorm(m, fp32_input)
    if steps.chunk_stem_batch and x.device.type == "cpu" and precision != "int8":
        report.stem_chunk = chunk_stem(m, fp32_input)
    dtype = _DTYPES.get(precision) if precision != "fp32" or x.dtype != torch.float32 else None
    if precision == "int8":
        m = _quantize_pt2e(m, fp32_input, calibration)
        dtype = None
    elif dtype is not None:
        m = m.to(dtype)
    if steps.channels_last and precision != "int8":
        m = m.to(memory_format=torch.channels_last)
        report.channels_last = True
    compiled: Any = None
    options: dict[str, Any] = {}
    if steps.compile:
        compiled, options = _compile(m, x, steps, report, dtype)
    elif precision == "int8":
        report.fallback_reason = "compile=False: int8 runs as reference (dequantize) kernels"
    if compiled is not None:
        report.runtime = "inductor"
    return OptimizedModel(m, compiled, report.channels_last, report, options, dtype)


def _compile(
    m: nn.Module, x: Tensor, steps: TorchSteps, report: OptimizeReport, dtype: torch.dtype | None
) -> tuple[Any, dict[str, Any]]:
    """``torch.compile`` warmed on ``x``: (compiled, inductor options), or (None, {}) with the
    reason in the report and a ``RuntimeWarning``."""
    ok, why = compile_supported(x.device)
    if ok:
        # Set through config.patch, not torch.compile(options=...): measured with torch
        # 2.14, options={"freezing": True} left the convs unpacked (aten conv, 72 img/s
        # for ResNet-18 at batch 16) where the patched config packs them for oneDNN.
        # mode="max-autotune" was measured too: no gain on CPU, much longer compiles.
        # On CPU the generated wrapper is C++ (cpp_wrapper): the Python wrapper's per-op
        # overhead dominated at batch 1 (ResNet-18, 2 threads, interleaved: 23 img/s
        # with the Python wrapper, 74 with C++, ONNX Runtime 56-68); at batch 16 +10%.
        wanted: dict[str, Any] = {"freezing": steps.freezing}
        if x.device.type == "cpu":
            wanted["cpp_wrapper"] = True
        wanted.update(steps.inductor_config or {})
        attempts = [wanted]
        if wanted.get("cpp_wrapper") and "cpp_wrapper" not in (steps.inductor_config or {}):
            attempts.append({**wanted, "cpp_wrapper": False})  # then the Python wrapper
        errors = []
        for options in attempts:
            try:
                compiled = torch.compile(m, backend="inductor", mode=steps.mode, dynamic=False)
                probe = OptimizedModel(m, compiled, report.channels_last, report, options, dtype)
                probe(x)  # compile now: failures fall back here, not later
                report.compiled = True
                report.compile_options = {"backend": "inductor", "mode": steps.mode, **options}
                return compiled, options
            except Exception as err:  # inductor raises many types; all mean "fall back"
                errors.append(f"{type(err).__name__}: {str(err)[:200]}")
        report.compile_options = {"backend": "inductor", "mode": steps.mode, **wanted}
        why = f"torch.compile failed ({'; '.join(errors)})"
    report.fallback_reason = why
    warnings.warn(f"optimize(): using eager mode: {why}", RuntimeWarning, stacklevel=4)
    return None, {}


def _quantize_pt2e(m: nn.Module, x: Tensor, calibration: list[Tensor]) -> nn.Module:
    """PyTorch 2 export post-training static quantization with the X86 inductor quantizer
    (int8 activations per tensor, int8 weights per channel); inductor then lowers the
    quantize/dequantize pairs to oneDNN int8 kernels (VNNI/AMX)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchao's import-time deprecation notes
        from torchao.quantization.pt2e import move_exported_model_to_eval
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
        from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq

    # The batch dimension is dynamic so that calibration batches of any size pass through.
    dims = {0: torch.export.Dim("batch", min=1, max=4096)}
    # (torch.export specialises a size of 1 to a constant: trace with two.)
    traced = torch.cat([x, x]) if x.shape[0] == 1 else x
    exported = torch.export.export(m, (traced,), dynamic_shapes=(dims,), strict=False).module()
    quantizer = xiq.X86InductorQuantizer()
    quantizer.set_global(xiq.get_default_x86_inductor_quantization_config())
    prepared = prepare_pt2e(exported, quantizer)
    with torch.no_grad():
        for batch in calibration:
            prepared(batch.to(x.device))
    converted = convert_pt2e(prepared)
    move_exported_model_to_eval(converted)
    return converted


# --------------------------------------------------------------------------------------------
# ONNX Runtime and OpenVINO
# --------------------------------------------------------------------------------------------

MIN_OPSET = 18  # the torch.export-based exporter writes opset 18 and later only


def write_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    example_input: Tensor,
    *,
    dynamic_batch: bool = True,
    opset: int = MIN_OPSET,
) -> None:
    """Write ``model`` as ONNX with the torch.export-based exporter (weights inside the file).

    Written to ``path`` directly: callers that must not leave a half file write to a temporary
    name and move it (:mod:`convzoo.export` does, through :mod:`convzoo.io`)."""
    dims = ({0: torch.export.Dim("batch", min=1, max=4096)},) if dynamic_batch else None
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model.eval(),
            (example_input,),
            dynamo=True,
            input_names=["input"],
            output_names=["logits"],
            dynamic_shapes=dims,
            opset_version=opset,
            external_data=False,
            verbose=False,
        )
        assert program is not None  # dynamo=True always returns the program
        program.save(str(path), external_data=False)


def onnx_session(path_or_bytes: str | os.PathLike[str] | bytes, threads: int | None = None) -> Any:
    """An onnxruntime CPU session with all graph optimisations."""
    import onnxruntime as ort  # ~0.3 s, and only for this runtime

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    source = path_or_bytes if isinstance(path_or_bytes, bytes) else str(path_or_bytes)
    return ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])


class _CalibrationReader:
    """ONNX Runtime's calibration protocol over a list of input batches."""

    def __init__(self, name: str, batches: list[Tensor]) -> None:
        self._items = iter([{name: b.float().contiguous().numpy()} for b in batches])

    def get_next(self) -> dict[str, Any] | None:
        return next(self._items, None)


def quantize_onnx(source: Path, target: Path, calibration: list[Tensor]) -> None:
    """ONNX Runtime's static quantization: QDQ format, int8 weights per channel, uint8
    activations from the calibration batches' ranges (its default MinMax calibration)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = source.with_name(source.stem + "-pre.onnx")
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    quantize_static(
        str(prepared),
        str(target),
        _CalibrationReader("input", calibration),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )


def onnx_bytes(model: nn.Module, x: Tensor, precision: str, calibration: list[Tensor]) -> bytes:
    """The ONNX file's bytes for ``precision`` (fp32, or int8 quantized by ONNX Runtime)."""
    with tempfile.TemporaryDirectory(prefix="convzoo-onnx-") as tmp:
        fp32 = Path(tmp) / "model.onnx"
        write_onnx(model, fp32, x[:1].float().contiguous())
        if precision != "int8":
            return fp32.read_bytes()
        int8 = Path(tmp) / "model-int8.onnx"
        quantize_onnx(fp32, int8, calibration)
        return int8.read_bytes()


def _build_onnxruntime(
    model: nn.Module, x: Tensor, precision: str, calibration: list[Tensor], threads: int | None
) -> RuntimeModel:
    session = onnx_session(
        onnx_bytes(model, x, precision, calibration), threads or torch.get_num_threads()
    )
    name = session.get_inputs()[0].name
    report = OptimizeReport(runtime="onnxruntime", precision=precision)
    return RuntimeModel(
        lambda a: session.run(None, {name: a})[0], report, getattr(model, "card", None)
    )


def openvino_model(model: nn.Module, x: Tensor, precision: str, calibration: list[Tensor]) -> Any:
    """The network as an OpenVINO model (``ov.Model``); int8 quantized by NNCF from the
    calibration batches (its default preset: symmetric int8 weights and activations)."""
    import openvino as ov  # ~1 s of import, and only for this runtime

    # A copy in fp32 when the caller's network is in another dtype: Module.float() works in
    # place, and the caller's network must come back as it was handed over.
    same = _parameter_dtype(model) in (None, torch.float32)
    fp32 = model if same else copy.deepcopy(model).float()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ov_model = ov.convert_model(fp32.eval(), example_input=x.float())
    if precision == "int8":
        import nncf  # ~2 s of import

        data = nncf.Dataset([b.float().numpy() for b in calibration])
        size = sum(len(b) for b in calibration)
        # NNCF draws rich progress bars on stdout; library code prints nothing.
        with contextlib.redirect_stdout(io.StringIO()):
            ov_model = nncf.quantize(ov_model, data, subset_size=max(1, len(calibration)))
        ov_model.set_rt_info(size, ["convzoo", "calibration_images"])
    return ov_model


def openvino_config(precision: str, threads: int | None) -> dict[str, Any]:
    """The CPU plugin's settings: the inference precision stated (OpenVINO would otherwise
    run fp32 networks in bf16 on CPUs with AMX), latency hint, the thread count."""
    config: dict[str, Any] = {
        "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
        "PERFORMANCE_HINT": "LATENCY",
    }
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    return config


class OpenVINORunner:
    """Runs an ``ov.Model`` on CPU, compiled once per input shape (static shapes are the CPU
    plugin's fastest; a new batch size recompiles once, as inductor does)."""

    def __init__(self, ov_model: Any, config: dict[str, Any]) -> None:
        import openvino as ov

        self._core = ov.Core()
        self._model = ov_model
        self._config = config
        self._compiled: dict[tuple[int, ...], Any] = {}

    def __call__(self, array: Any) -> Any:
        shape = tuple(array.shape)
        compiled = self._compiled.get(shape)
        if compiled is None:
            model = self._model.clone()
            model.reshape({0: list(shape)})
            compiled = self._core.compile_model(model, "CPU", self._config)
            self._compiled[shape] = compiled
        return compiled(array)[0]

    def inference_precision(self) -> str:
        """The precision the plugin chose for the first compiled shape ("f32", "bf16", ...)."""
        compiled = next(iter(self._compiled.values()))
        hint = compiled.get_property("INFERENCE_PRECISION_HINT")
        return str(hint.get_type_name() if hasattr(hint, "get_type_name") else hint)


def _build_openvino(
    model: nn.Module, x: Tensor, precision: str, calibration: list[Tensor], threads: int | None
) -> RuntimeModel:
    ov_model = openvino_model(model, x, precision, calibration)
    runner = OpenVINORunner(
        ov_model, openvino_config(precision, threads or torch.get_num_threads())
    )
    runner(x.float().contiguous().numpy())  # compile now
    report = OptimizeReport(runtime="openvino", precision=precision)
    ran = runner.inference_precision()
    if precision == "bf16" and ran != "bf16":
        # The plugin takes the bf16 hint as a wish: a CPU without bf16 kernels runs f32.
        report.notes.append(
            f"OpenVINO's CPU plugin runs it in {ran} on this CPU (no bf16 instructions)"
        )
    return RuntimeModel(runner, report, getattr(model, "card", None))


# --------------------------------------------------------------------------------------------
# runtime="auto": build every candidate, time them side by side, keep the fastest
# --------------------------------------------------------------------------------------------


def balanced_orders(n: int) -> list[list[int]]:
    """Orders of ``n`` things, one a round, in which each comes right after each other one
    equally often: a Williams design (Williams 1949, "Experimental designs balanced for the
    estimation of residual effects of treatments"): the row 0, 1, n-1, 2, n-2, ... and its n
    cyclic shifts, and for odd ``n`` their mirror images too (n or 2n rounds make a cycle).
    Rotating one fixed order is not enough: a always comes after c there. Both timings take
    turns in these orders: ``runtime="auto"``'s blocks here and ``convzoo.bench``'s calls."""
    first, low, high = [0], 1, n - 1
    while low <= high:
        first.append(low)
        low += 1
        if low <= high:
            first.append(high)
            high -= 1
    rows = [[(x + shift) % n for x in first[:n]] for shift in range(n)]
    return rows + [row[::-1] for row in rows] if n % 2 and n > 1 else rows


# At least this many blocks of each candidate in runtime="auto"'s timing, and a whole cycle of
# balanced_orders: three counted calls were too few to part a 7% gap at 110 ms a call.
CHOOSE_ROUNDS = 4
CHOOSE_QUIET_S = 0.15  # untimed, after each block: the runtimes' thread pools go to sleep
# How the result of runtime="auto" will be called (optimize's ``calls``), and what is timed.
CALL_PATTERNS = {
    "loop": "median per call, back to back",
    "single": f"median of single calls after {CHOOSE_QUIET_S} s idle",
}


def _time_side_by_side(fns: list[Callable[[], Any]], budget_s: float) -> dict[str, list[float]]:
    """Median seconds per call of each function, by call pattern (:data:`CALL_PATTERNS`):
    ``"loop"``, as a user's loop calls it, and ``"single"``, a call after the cores went idle.
    Blocks of calls in a row (the first of each, after a quiet pause, is the single call: it
    wakes the runtime's threads; the others are the loop), the candidates taking turns block by
    block (A A A, B B B, then B B B, A A A, ...: the orders of :func:`balanced_orders`) so that
    load that comes and goes falls on each alike, with a quiet pause after every block.

    The pause is what makes turns fair. A runtime's thread pool keeps spinning after a call,
    and the next runtime's call then shares the cores with it: on the 2-core AMD EPYC (AVX2)
    host, ResNet-18 int8 at batch 1 timed call by call in turns with 20 ms pauses gave
    ONNX Runtime 13.0-17.0 ms and OpenVINO (called right after it) 20.8-24.3 ms; alone, back
    to back, 11.8-13.1 and 10.6-12.5 ms; in turns with 200 ms pauses 14.7-15.2 and 14.8-15.0
    ms. ``auto`` chose ONNX Runtime, which ran at 0.71x OpenVINO int8 in the benchmark.
    Blocks without the pause (tried before) still chose wrongly where the runtimes are close.
    ``convzoo.bench`` has the full harness; this is the least that lets ``optimize`` choose.
    With three rounds (three counted calls of GoogLeNet at batch 16, 110 ms each, on the
    AVX-512 EPYC) one benchmark run saw OpenVINO 110 ms and ONNX Runtime 111 ms, where three
    separate choices gave 103-104 against 109-112 ms and the benchmark 107 against 117: hence
    at least ``CHOOSE_ROUNDS`` rounds and a whole cycle of orders.
    """
    one_call = []
    for fn in fns:  # warm, and size the blocks
        fn()
        t0 = time.perf_counter()
        fn()
        one_call.append(time.perf_counter() - t0)
    # A block is about a tenth of a second of calls, at least two (one counted).
    sizes = [max(2, min(50, round(0.1 / max(t, 1e-6)) + 1)) for t in one_call]
    times: list[list[float]] = [[] for _ in fns]
    first: list[list[float]] = [[] for _ in fns]
    start = time.perf_counter()
    orders = balanced_orders(len(fns))
    rounds = 0
    least = max(CHOOSE_ROUNDS, len(orders))
    while rounds < least or time.perf_counter() - start < budget_s:
        for i in orders[rounds % len(orders)]:
            for k in range(sizes[i]):
                t0 = time.perf_counter()
                fns[i]()
                (times[i] if k else first[i]).append(time.perf_counter() - t0)
            time.sleep(CHOOSE_QUIET_S)
        rounds += 1
    return {
        "loop": [statistics.median(t) for t in times],
        "single": [statistics.median(t) for t in first],
    }


def _choose_by_measuring(
    model: nn.Module,
    x: Tensor,
    precision: str,
    calibration: list[Tensor],
    steps: TorchSteps,
    threads: int | None,
    budget_s: float,
    check: bool = True,
    calls: str = "loop",
) -> InferenceModel:
    order: tuple[str, ...] = ("inductor", "openvino", "onnxruntime")
    if x.device.type != "cpu":
        order = ("inductor",)
    built: dict[str, InferenceModel] = {}
    rejected: dict[str, str] = {}
    if (
        _torch_bf16_emulated("inductor", precision, x)
        and runtime_available("openvino", precision) is None
    ):
        # Timing an emulated bf16 network would cost minutes (VGG-16: seconds per call) and
        # lose to OpenVINO, which runs it in f32 on such a CPU.
        rejected["inductor"] = BF16_EMULATED
        order = tuple(r for r in order if r != "inductor")
    for runtime in order:
        why = runtime_available(runtime, precision)
        if why:
            rejected[runtime] = why
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                candidate = build_runtime(runtime, model, x, precision, calibration, steps, threads)
            if check:
                check_against_original(candidate, model, x)
        except (RuntimeError, ConvzooError, ValueError, TypeError, OSError) as err:
            rejected[runtime] = f"{type(err).__name__}: {str(err)[:160]}"
            continue
        # An inductor build that could not compile is the eager copy, and is timed as such.
        built[candidate.report.runtime] = candidate
    if not built:
        raise ConvzooError(
            f"no runtime can run this network in {precision} here: "
            + "; ".join(f"{k}: {v}" for k, v in rejected.items())
        )
    names = list(built)
    medians = _time_side_by_side([functools.partial(built[n], x) for n in names], budget_s)[calls]
    ms = {n: round(t * 1e3, 4) for n, t in zip(names, medians, strict=True)}
    best = min(names, key=lambda n: ms[n])
    fast = built[best]
    if _torch_bf16_emulated(best, precision, x):
        fast.report.notes.append(BF16_EMULATED)
    fast.report.candidates_ms = ms
    fast.report.rejected = rejected
    ranking = ", ".join(f"{n} {ms[n]:.3g} ms" for n in sorted(names, key=lambda n: ms[n]))
    fast.report.reason = (
        f"fastest of those measured here at batch {x.shape[0]} ({CALL_PATTERNS[calls]}: {ranking})"
    )
    return fast
