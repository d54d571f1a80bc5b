"""Fast inference and export: BN folding, channels-last, ``torch.compile``, ONNX, TorchScript.

- :func:`fold_batchnorm` folds every eval-mode ``BatchNorm2d`` into the convolution that feeds it
  (Ioffe & Szegedy 2015 define BN as an affine map at inference, so ``bn(conv(x))`` is one conv
  with scaled weights and a shifted bias; Jacob et al. 2018, "Quantization and Training of Neural
  Networks for Efficient Integer-Arithmetic-Only Inference", sec. 3.2, fold it the same way).
- :func:`optimize` returns an inference-only copy: folded, channels-last (NHWC lets oneDNN on CPU
  and cuDNN on GPU pick their fastest convolution kernels without layout reorders), and compiled
  with inductor and ``freezing`` (weights become constants, so inductor pre-packs them for
  oneDNN) where the platform supports it, with a clean fallback to the eager copy otherwise.
- :func:`export_onnx` / :func:`export_torchscript` write files and check their outputs against
  PyTorch's (onnxruntime for ONNX).
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from convzoo.errors import ConvzooError

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
EXPORT_ATOL = 1e-4
EXPORT_RTOL = 1e-4


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
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    pairs = _conv_bn_pairs(model, example_input)
    for conv_name, bn_name in pairs:
        conv = model.get_submodule(conv_name)
        bn = model.get_submodule(bn_name)
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
        before = _logits(model(example_input))
    originals = [model.get_submodule(n) for n in chain]
    _set_submodule(model, chain[0], BatchChunked(nn.Sequential(*originals), chunk))
    for name in chain[1:]:
        _set_submodule(model, name, nn.Identity())
    with torch.no_grad():
        after = _logits(model(example_input))
    if not outputs_close(after, before, OPTIMIZE_ATOL, OPTIMIZE_RTOL)[0]:
        # The stem's output was used elsewhere too (e.g. functionally): undo.
        for name, original in zip(chain, originals, strict=True):
            _set_submodule(model, name, original)
        return 0
    return chunk


# --------------------------------------------------------------------------------------------
# optimize()
# --------------------------------------------------------------------------------------------


@dataclass
class OptimizeReport:
    """What :func:`optimize` did, and why a step was skipped."""

    folded_bn: int = 0
    stem_chunk: int = 0
    channels_last: bool = False
    compiled: bool = False
    compile_options: dict[str, Any] = field(default_factory=dict)
    fallback_reason: str | None = None


class OptimizedModel(nn.Module):
    """Inference-only wrapper: no autograd, channels-last input, compiled module if available."""

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
                out = self.eager(x)
            else:
                from torch._dynamo import config as _dynamo_config
                from torch._inductor import config as _config

                # Every optimize() of a zoo network compiles the same forward code object (the
                # shared base class's), and past dynamo's recompile limit (8) a further one
                # silently ran eager (measured: the 9th ResNet-18 optimized in one process ran
                # at eager channels-last speed). Each copy is guarded by its own weights' ids.
                key = "recompile_limit"
                if not hasattr(_dynamo_config, key):
                    key = "cache_size_limit"  # its name before torch 2.6
                limit = {key: max(getattr(_dynamo_config, key), 1024)}
                with _config.patch(self._inductor_options), _dynamo_config.patch(limit):
                    out = self._compiled(x)
            return out.to(out_dtype) if self.dtype is not None else out

    def train(self, mode: bool = True) -> OptimizedModel:
        if mode:
            raise RuntimeError("an optimized model is for inference only; optimize() a copy")
        return super().train(False)


def compile_supported(device: torch.device | str = "cpu") -> tuple[bool, str | None]:
    """Whether ``torch.compile`` with inductor can run here, and why not."""
    device = torch.device(device)
    if not hasattr(torch, "compile"):
        return False, "this torch has no torch.compile"
    if os.name == "nt" and device.type == "cpu":
        return False, "inductor's C++ backend needs a compiler that Windows rarely has"
    if device.type == "cuda":
        try:
            import triton  # noqa: F401
        except ImportError:
            return False, "inductor on CUDA needs triton, which is not installed"
    if device.type not in ("cpu", "cuda"):
        return False, f"inductor is not used on {device.type}"
    return True, None


def optimize(
    model: nn.Module,
    example_input: Tensor,
    *,
    fold_bn: bool = True,
    chunk_stem_batch: bool = True,
    channels_last: bool = True,
    compile: bool = True,
    freezing: bool = True,
    mode: str | None = None,
    inductor_config: dict[str, Any] | None = None,
    dtype: torch.dtype | None = None,
    check: bool = True,
) -> OptimizedModel:
    """An inference-only copy of ``model``, made fast.

    Steps: deep copy in eval mode without gradients; BN folded into the convs; on CPU the stem
    (first conv with <= 4 input channels up to its pool) run a few images at a time when its
    whole-batch output would not fit in cache (:func:`chunk_stem`); channels-last weights and
    inputs; ``torch.compile`` (inductor, ``freezing`` so that inductor constant-folds
    the weights and pre-packs them for oneDNN) warmed on ``example_input``. If compiling fails
    (no C++ compiler, no triton, an unsupported op) the eager, folded, channels-last copy is used
    and ``result.report.fallback_reason`` says why (also a ``RuntimeWarning``).

    With ``check`` the optimized outputs on ``example_input`` are compared with the original's
    (``OPTIMIZE_ATOL``/``OPTIMIZE_RTOL``); a mismatch raises ``RuntimeError``.

    ``dtype=torch.bfloat16`` (opt-in) runs the network in bf16 (AMX on recent Xeons, tensor
    cores on GPU) and returns outputs in the input's dtype; it agrees with fp32 only to
    ``OPTIMIZE_BF16_RTOL`` of the largest logit.

    The result takes inputs of ``example_input``'s dtype/device; other batch sizes recompile
    once each (static shapes are fastest on CPU).
    """
    if not isinstance(example_input, Tensor) or example_input.dim() != 4:
        raise ConvzooError("optimize() needs an example input tensor of shape (N, C, H, W)")
    report = OptimizeReport()
    device = example_input.device
    m = copy.deepcopy(model).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        reference = model.eval()(example_input) if check else None
    if dtype is None and example_input.dtype in (torch.bfloat16, torch.float16):
        # A network already in half precision (e.g. `convzoo bench --precision bf16`): fold in
        # fp32, where the products of BN's scale and the conv weights lose nothing, then go
        # back to its dtype, and check it with that dtype's tolerance.
        dtype = example_input.dtype
        m = m.float()
    fp32_input = example_input.float() if dtype is not None else example_input
    if fold_bn:
        report.folded_bn = fold_batchnorm(m, fp32_input)
    if chunk_stem_batch and device.type == "cpu":
        report.stem_chunk = chunk_stem(m, fp32_input)
    if dtype is not None:
        m = m.to(dtype)  # after folding, which is done in fp32
    if channels_last:
        m = m.to(memory_format=torch.channels_last)
        report.channels_last = True
    compiled = None
    inductor_options: dict[str, Any] = {}
    if compile:
        ok, why = compile_supported(device)
        if ok:
            # Set through config.patch, not torch.compile(options=...): measured with torch
            # 2.14, options={"freezing": True} left the convs unpacked (aten conv, 72 img/s
            # for ResNet-18 at batch 16) where the patched config packs them for oneDNN.
            # mode="max-autotune" was measured too: no gain on CPU, much longer compiles.
            # On CPU the generated wrapper is C++ (cpp_wrapper): the Python wrapper's per-op
            # overhead dominated at batch 1 (ResNet-18, 2 threads, interleaved: 23 img/s
            # with the Python wrapper, 74 with C++, ONNX Runtime 56-68); at batch 16 +10%.
            wanted = {"freezing": freezing}
            if device.type == "cpu":
                wanted["cpp_wrapper"] = True
            wanted.update(inductor_config or {})
            attempts = [wanted]
            if wanted.get("cpp_wrapper") and "cpp_wrapper" not in (inductor_config or {}):
                attempts.append({**wanted, "cpp_wrapper": False})  # then the Python wrapper
            errors = []
            for options in attempts:
                try:
                    compiled = torch.compile(m, backend="inductor", mode=mode, dynamic=False)
                    probe = OptimizedModel(m, compiled, channels_last, report, options, dtype)
                    probe(example_input)  # compile now: failures fall back here, not later
                    inductor_options = options
                    report.compiled = True
                    break
                except Exception as err:  # inductor raises many types; all mean "fall back"
                    compiled = None
                    errors.append(f"{type(err).__name__}: {str(err)[:200]}")
            report.compile_options = {"backend": "inductor", "mode": mode, **inductor_options}
            if compiled is None:
                why = f"torch.compile failed ({'; '.join(errors)})"
        if compiled is None:
            report.fallback_reason = why
            warnings.warn(f"optimize(): using eager mode: {why}", RuntimeWarning, stacklevel=2)
    result = OptimizedModel(m, compiled, channels_last, report, inductor_options, dtype)
    if check and reference is not None:
        rtol = OPTIMIZE_RTOL if dtype in (None, torch.float32) else OPTIMIZE_BF16_RTOL
        ok, err = outputs_close(result(example_input), _logits(reference), OPTIMIZE_ATOL, rtol)
        if not ok:
            raise RuntimeError(f"optimize(): outputs differ from the original by {err:.3g}")
    return result


# --------------------------------------------------------------------------------------------
# Loading a network to export: a registered name or a `convzoo train` checkpoint
# --------------------------------------------------------------------------------------------

_META_NAMES = ("model", "model_name", "name", "arch")


def _find_checkpoint(path: Path) -> tuple[Path, dict[str, Any]]:
    """The weights file and the JSON metadata of a training run folder or checkpoint file."""
    if path.is_dir():
        candidates = sorted(path.glob("*.safetensors")) or sorted(path.glob("**/*.safetensors"))
        preferred = [c for c in candidates if c.stem in ("best", "model", "last", "final")]
        if not candidates:
            raise FileNotFoundError(f"{path}: no .safetensors checkpoint in this folder")
        weights = (preferred or candidates)[0]
    else:
        weights = path
    metas = [weights.with_suffix(".json")]
    for d in (weights.parent, weights.parent.parent):
        metas += [d / n for n in ("meta.json", "metadata.json", "config.json", "run.json")]
    meta: dict[str, Any] | None = None
    for candidate in metas:
        if candidate.is_file():
            data = json.loads(candidate.read_text())
            if any(k in data for k in _META_NAMES):
                meta = data
                break
    if meta is None and weights.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(weights), framework="pt") as f:
            header = f.metadata() or {}
        if any(k in header for k in _META_NAMES):
            meta = {k: (json.loads(v) if k == "kwargs" else v) for k, v in header.items()}
    if meta is None:
        raise ConvzooError(
            f"{path}: found no metadata naming the model (a JSON beside the weights with a "
            f"'model' key); pass a registered model name instead"
        )
    return weights, meta


def load_network(name_or_checkpoint: str) -> tuple[nn.Module, str]:
    """A network by registered name, or rebuilt from a training checkpoint; with its name."""
    from convzoo.registry import create_model, list_models

    if name_or_checkpoint in list_models():
        return create_model(name_or_checkpoint).eval(), name_or_checkpoint
    path = Path(name_or_checkpoint)
    if not path.exists():
        # Neither a checkpoint nor a known name: let the registry suggest close names.
        create_model(name_or_checkpoint)
    # A `convzoo train` run or checkpoint folder (weights.safetensors + meta.json with
    # {"model": {"name", "kwargs"}}, in RUN/best/ or RUN/last/): read by the training code.
    try:
        from convzoo.train.checkpoint import find_checkpoint
    except ImportError:
        find_checkpoint = None
    if find_checkpoint is not None:
        try:
            ckpt = find_checkpoint(path)
        except ConvzooError:
            ckpt = None  # not that layout: try a safetensors file with a JSON beside it
        if ckpt is not None:
            return ckpt.build_model(), ckpt.meta["model"]["name"]
    weights, meta = _find_checkpoint(path)
    name = next(meta[k] for k in _META_NAMES if k in meta)
    kwargs = dict(meta.get("kwargs") or meta.get("model_kwargs") or {})
    model = create_model(name, weights=weights, **kwargs)
    return model.eval(), name


def default_input(model: nn.Module, batch_size: int = 1, image_size: int | None = None) -> Tensor:
    """A random input of the model card's size (or ``image_size`` square)."""
    card = getattr(model, "card", None)
    c, h, w = card.input_size if card is not None else (3, 224, 224)
    if image_size is not None:
        h = w = image_size
    return torch.randn(batch_size, c, h, w)


def _logits(out: Any) -> Tensor:
    return out[0] if isinstance(out, tuple) else out


def _atomic_target(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)


# --------------------------------------------------------------------------------------------
# ONNX and TorchScript
# --------------------------------------------------------------------------------------------


@dataclass
class ExportResult:
    path: Path
    format: str
    max_abs_diff: float | None
    atol: float
    rtol: float


def _require_onnx() -> None:
    missing = []
    for mod in ("onnx", "onnxruntime", "onnxscript"):
        try:
            __import__(mod)
        except ImportError:
            missing.append(mod)
    if missing:
        raise ConvzooError(f"ONNX export needs {', '.join(missing)}: pip install 'convzoo[export]'")


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    example_input: Tensor,
    *,
    dynamic_batch: bool = True,
    opset: int = 18,
    verify: bool = True,
) -> ExportResult:
    """Write ``model`` as ONNX (torch.export-based exporter) and check it with onnxruntime.

    The batch dimension is dynamic by default. Weights are stored inside the file (one file, no
    external data) up to protobuf's 2 GB limit, which every network of the zoo fits.
    """
    _require_onnx()
    path = Path(path)
    model = model.eval()
    tmp = _atomic_target(path)
    dynamic_shapes = ({0: torch.export.Dim("batch", min=1, max=4096)},) if dynamic_batch else None
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                model,
                (example_input,),
                dynamo=True,
                input_names=["input"],
                output_names=["logits"],
                dynamic_shapes=dynamic_shapes,
                opset_version=opset,
                external_data=False,
                verbose=False,
            )
            program.save(str(tmp), external_data=False)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    diff = verify_onnx(model, path, example_input) if verify else None
    return ExportResult(path, "onnx", diff, EXPORT_ATOL, EXPORT_RTOL)


def onnx_session(path: str | os.PathLike[str], threads: int | None = None) -> Any:
    """An onnxruntime CPU session with all graph optimisations."""
    _require_onnx()
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def verify_onnx(
    model: nn.Module, path: str | os.PathLike[str], example_input: Tensor, session: Any = None
) -> float:
    """Max |onnxruntime - PyTorch| on ``example_input``; raises if beyond the stated tolerance."""
    session = session or onnx_session(path)
    with torch.no_grad():
        ref = _logits(model.eval()(example_input)).float().numpy()
    got = session.run(None, {session.get_inputs()[0].name: example_input.numpy()})[0]
    ok, diff = outputs_close(torch.from_numpy(got), torch.from_numpy(ref), EXPORT_ATOL, EXPORT_RTOL)
    if not ok:
        raise RuntimeError(f"{path}: onnxruntime outputs differ from PyTorch's by {diff:.3g}")
    return diff


def export_torchscript(
    model: nn.Module, path: str | os.PathLike[str], example_input: Tensor, *, verify: bool = True
) -> ExportResult:
    """Write ``model`` traced to TorchScript (``torch.jit.trace``) and check the reloaded file.

    Tracing, not scripting: the zoo's input checks are Python; traced, they run once at export.
    """
    path = Path(path)
    model = model.eval()
    tmp = _atomic_target(path)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TracerWarning for the input checks
            traced = torch.jit.trace(model, example_input, check_trace=False)
            traced = torch.jit.freeze(traced)
            torch.jit.save(traced, str(tmp))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    diff = None
    if verify:
        loaded = torch.jit.load(str(path))
        with torch.no_grad():
            ref = _logits(model(example_input))
            got = _logits(loaded(example_input))
        ok, diff = outputs_close(got, ref, EXPORT_ATOL, EXPORT_RTOL)
        if not ok:
            raise RuntimeError(f"{path}: TorchScript outputs differ from PyTorch's by {diff:.3g}")
    return ExportResult(path, "torchscript", diff, EXPORT_ATOL, EXPORT_RTOL)


def export(
    model: nn.Module,
    path: str | os.PathLike[str],
    example_input: Tensor,
    format: str = "onnx",
    **kwargs: Any,
) -> ExportResult:
    """Export to ``format`` ("onnx" or "torchscript") and verify the outputs."""
    if format == "onnx":
        return export_onnx(model, path, example_input, **kwargs)
    if format == "torchscript":
        return export_torchscript(model, path, example_input, **kwargs)
    raise ConvzooError(f"unknown export format {format!r}; use onnx or torchscript")
