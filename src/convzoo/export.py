"""Deploy formats: ONNX (with metadata), OpenVINO IR, ``torch.export`` programs, TorchScript.

Every writer reloads what it wrote and checks it against the eager network on the example
input, with the precision's tolerance (:data:`convzoo.optimize.TOLERANCES`); int8 variants are
quantized from calibration batches and also report their top-1 agreement with fp32. Files are
written through :mod:`convzoo.io` (a temporary name, then moved into place), so a failed or
interrupted export leaves no half file.

- ONNX (:func:`export_onnx`): the torch.export-based exporter, opset 18 or later, dynamic
  batch, checked with ONNX Runtime; ``metadata_props`` carry the class names, mean/std, input
  size, weights and convzoo version. int8: ONNX Runtime's static quantizer (QDQ).
- OpenVINO IR (:func:`export_openvino`): ``NAME.xml`` + ``NAME.bin``, the same metadata in the
  model's ``rt_info``; int8 by NNCF.
- ``torch.export`` (:func:`export_program`): a ``.pt2`` archive, reloaded with
  ``torch.export.load``; int8 by the PT2E flow (X86 inductor quantizer).
- TorchScript (:func:`export_torchscript`): deprecated by PyTorch, kept for old deployments
  behind ``--format torchscript``, with a ``FutureWarning``.

The fast-inference names that lived here (``optimize``, ``fold_batchnorm``, the tolerances)
moved to :mod:`convzoo.optimize` and are re-exported, so old imports keep working.
"""

from __future__ import annotations

import copy
import io
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from convzoo.errors import ConvzooError
from convzoo.io import remove_stale_temps, write_bytes
from convzoo.io.checkpoint import META, WEIGHTS, find_checkpoint
from convzoo.optimize import (
    MIN_OPSET,
    OPTIMIZE_ATOL,
    OPTIMIZE_BF16_RTOL,
    OPTIMIZE_INT8_RTOL,
    OPTIMIZE_RTOL,
    TOLERANCES,
    BatchChunked,
    OpenVINORunner,
    OptimizedModel,
    OptimizeReport,
    chunk_stem,
    compile_supported,
    fold_batchnorm,
    input_batches,
    onnx_session,
    openvino_config,
    openvino_model,
    optimize,
    outputs_close,
    quantize_onnx,
    runtime_available,
    top1_agreement,
    write_onnx,
)
from convzoo.outputs import main_logits
from convzoo.registry import checked_builder_kwargs, create_model, list_models
from convzoo.version import __version__
from convzoo.weights import (
    get_weight_entry,
    load_state_dict_into,
    model_from_checkpoint,
    read_checkpoint,
    weight_entries,
)

__all__ = [
    "EXPORT_ATOL",
    "EXPORT_RTOL",
    "FORMATS",
    "OPTIMIZE_ATOL",
    "OPTIMIZE_BF16_RTOL",
    "OPTIMIZE_INT8_RTOL",
    "OPTIMIZE_RTOL",
    "BatchChunked",
    "ExportResult",
    "LoadedNetwork",
    "OptimizeReport",
    "OptimizedModel",
    "chunk_stem",
    "compile_supported",
    "default_input",
    "export",
    "export_onnx",
    "export_openvino",
    "export_program",
    "export_torchscript",
    "fold_batchnorm",
    "load_for_export",
    "load_network",
    "onnx_session",
    "optimize",
    "outputs_close",
    "verify_onnx",
]

EXPORT_ATOL = 1e-4
EXPORT_RTOL = 1e-4
FORMATS = ("onnx", "openvino", "pt2", "torchscript")
SUFFIXES = {"onnx": ".onnx", "openvino": ".xml", "pt2": ".pt2", "torchscript": ".pt"}
PRECISIONS_OF = {
    "onnx": ("fp32", "int8"),
    "openvino": ("fp32", "bf16", "int8"),
    "pt2": ("fp32", "bf16", "int8"),
    "torchscript": ("fp32",),
}


def export_tolerance(precision: str) -> tuple[float, float]:
    """(atol, rtol) of the reload check: fp32 as tight as :mod:`convzoo.optimize`'s, the
    others that precision's."""
    return (EXPORT_ATOL, EXPORT_RTOL) if precision == "fp32" else TOLERANCES[precision]


@dataclass
class ExportResult:
    path: Path
    format: str
    max_abs_diff: float | None
    atol: float
    rtol: float
    precision: str = "fp32"
    files: list[Path] = field(default_factory=list)
    top1_agreement: float | None = None
    agreement_images: int = 0


# --------------------------------------------------------------------------------------------
# Loading a network to export: a registered name (with weights) or a training checkpoint
# --------------------------------------------------------------------------------------------


@dataclass
class LoadedNetwork:
    """A network to export and the facts that travel with it as metadata."""

    model: nn.Module
    name: str
    weights: str | None  # None: randomly initialised
    categories: list[str] | None = None

    def metadata(self, precision: str) -> dict[str, str]:
        """String key/values for the exported file: what a deployment needs to feed it."""
        card = getattr(self.model, "card", None)
        info: dict[str, str] = {
            "convzoo_version": __version__,
            "model": self.name,
            "weights": self.weights or "random (no weights given)",
            "precision": precision,
        }
        if card is not None:
            info["input_size"] = json.dumps(list(card.input_size))
            info["mean"] = json.dumps(list(card.mean))
            info["std"] = json.dumps(list(card.std))
            info["num_classes"] = str(card.num_classes)
        if self.categories:
            info["class_names"] = json.dumps(list(self.categories))
        return info


def _is_checkpoint_folder_path(path: Path) -> bool:
    """A folder, or a file of a checkpoint folder (its weights or its ``meta.json``)."""
    return path.is_dir() or (path.name in (WEIGHTS, META) and path.with_name(META).is_file())


def _load_checkpoint(path: Path) -> LoadedNetwork:
    """A `convzoo train` run or checkpoint folder, found by the one finder
    (:func:`convzoo.io.checkpoint.find_checkpoint`: ``best/`` first, then the last checkpoint)
    and built by :func:`convzoo.weights.model_from_checkpoint` (builder arguments through the
    allow-list, weights loaded strictly); or a weights file whose own metadata names its network
    (a safetensors header as :func:`convzoo.weights.save_state_dict` writes it, a ``.pth``
    checkpoint dict), read by :func:`convzoo.weights.read_checkpoint`. Metadata is data: it never
    chooses weights or triggers a download."""
    if _is_checkpoint_folder_path(path):
        ckpt = find_checkpoint(path)
        model = model_from_checkpoint(ckpt)
        checked = str(ckpt.meta["model"]["name"])  # model_from_checkpoint checked it
        return LoadedNetwork(model, checked, str(ckpt.weights_path), ckpt.meta.get("classes"))
    state, meta = read_checkpoint(path)
    m = meta.get("model")
    name: Any = m.get("name") if isinstance(m, dict) else m
    name = name or meta.get("model_name") or meta.get("arch")
    if not isinstance(name, str) or name not in list_models():
        raise ConvzooError(
            f"{path}: its metadata names no registered network ({name!r}); export the network "
            f"by name with the file as its weights: `convzoo export NAME --weights {path}`"
        )
    source = str(path)
    kwargs = checked_builder_kwargs(name, m.get("kwargs") if isinstance(m, dict) else None, source)
    extra = checked_builder_kwargs(name, meta.get("model_kwargs") or meta.get("kwargs"), source)
    model = create_model(name, **{**extra, **kwargs})
    load_state_dict_into(model, state, source, name, strict=True)
    classes = meta.get("classes") or meta.get("categories")
    return LoadedNetwork(model.eval(), name, source, classes)


def load_for_export(source: str, weights: str | None = None) -> LoadedNetwork:
    """A registered name (random weights unless ``weights``: an entry name, a file, a URL or a
    run folder) or a training run/checkpoint, with the facts its export records."""
    if source in list_models() and not Path(source).exists():
        if weights is None:
            return LoadedNetwork(create_model(source).eval(), source, None)
        if Path(weights).is_dir():  # a run folder of this network
            loaded = _load_checkpoint(Path(weights))
            if loaded.name != source:
                raise ConvzooError(f"{weights} holds {loaded.name}, not {source}")
            return loaded
        entry_names = {e.name for e in weight_entries(source)}
        kwargs: dict[str, Any] = {}
        if weights in entry_names:
            kwargs["num_classes"] = get_weight_entry(source, weights).num_classes
        model = create_model(source, weights=weights, **kwargs).eval()
        card = getattr(model, "card", None)
        info = card.extra.get("weights", {}) if card is not None else {}
        return LoadedNetwork(model, source, weights, info.get("categories"))
    if weights is not None:
        raise ConvzooError("--weights goes with a model name; a checkpoint has its own weights")
    path = Path(source)
    if not path.exists():
        create_model(source)  # neither a checkpoint nor a known name: the registry suggests
    return _load_checkpoint(path)


def load_network(name_or_checkpoint: str) -> tuple[nn.Module, str]:
    """A network by registered name, or rebuilt from a training checkpoint; with its name."""
    loaded = load_for_export(name_or_checkpoint)
    return loaded.model, loaded.name


def default_input(model: nn.Module, batch_size: int = 1, image_size: int | None = None) -> Tensor:
    """A random input of the model card's size (or ``image_size`` square)."""
    card = getattr(model, "card", None)
    c, h, w = card.input_size if card is not None else (3, 224, 224)
    if image_size is not None:
        h = w = image_size
    return torch.randn(batch_size, c, h, w)


# --------------------------------------------------------------------------------------------
# Checking a reloaded export
# --------------------------------------------------------------------------------------------


def _check(
    got: Tensor, model: nn.Module, x: Tensor, precision: str, what: str
) -> tuple[float, float, float]:
    atol, rtol = export_tolerance(precision)
    with torch.no_grad():
        ref = main_logits(model.eval()(x)).float()
    ok, diff = outputs_close(got.float(), ref, atol, rtol)
    if not ok:
        raise RuntimeError(f"{what}: outputs differ from PyTorch's by {diff:.3g}")
    return diff, atol, rtol


def _result(
    path: Path,
    fmt: str,
    precision: str,
    check: tuple[float, float, float] | None,
    files: list[Path],
) -> ExportResult:
    atol, rtol = export_tolerance(precision)
    diff = None
    if check is not None:
        diff, atol, rtol = check
    return ExportResult(path, fmt, diff, atol, rtol, precision, files)


def _need_calibration(precision: str, calibration: Any) -> list[Tensor]:
    batches = input_batches(calibration)
    if precision == "int8" and not batches:
        raise ConvzooError("an int8 export needs calibration batches (a few hundred images)")
    return batches


# --------------------------------------------------------------------------------------------
# ONNX
# --------------------------------------------------------------------------------------------


def _require_onnx() -> None:
    why = runtime_available("onnxruntime")
    if why:
        raise ConvzooError(why.replace("onnxruntime fp32 needs", "ONNX export needs"))


def check_opset(opset: int) -> None:
    """Refuse an opset the exporter cannot honour (it would write another one silently)."""
    import onnx  # ~0.2 s, only for ONNX

    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise ConvzooError(
            f"opset {opset} cannot be written: the torch.export-based exporter writes opsets "
            f"{MIN_OPSET} to {newest} (this onnx package's newest); give --opset {MIN_OPSET}"
        )


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    example_input: Tensor,
    *,
    dynamic_batch: bool = True,
    opset: int = MIN_OPSET,
    verify: bool = True,
    precision: str = "fp32",
    calibration: Any = None,
    metadata: dict[str, str] | None = None,
) -> ExportResult:
    """Write ``model`` as ONNX and check it with onnxruntime.

    The batch dimension is dynamic by default. Weights are stored inside the file (one file, no
    external data) up to protobuf's 2 GB limit, which every network of the zoo fits.
    ``precision="int8"`` quantizes with ONNX Runtime from ``calibration``; ``metadata`` goes
    into the file's ``metadata_props``.
    """
    _require_onnx()
    check_opset(opset)
    import onnx

    if precision not in PRECISIONS_OF["onnx"]:
        raise ConvzooError(f"ONNX is written in fp32 or int8, not {precision}")
    calib = _need_calibration(precision, calibration)
    path = Path(path)
    model = model.eval()
    with tempfile.TemporaryDirectory(prefix="convzoo-onnx-") as tmp:
        fp32 = Path(tmp) / "model.onnx"
        write_onnx(model, fp32, example_input, dynamic_batch=dynamic_batch, opset=opset)
        written = fp32
        if precision == "int8":
            written = Path(tmp) / "model-int8.onnx"
            quantize_onnx(fp32, written, calib)
        proto = onnx.load(str(written))
    got_opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if got_opset != opset:
        raise ConvzooError(f"the exporter wrote opset {got_opset}, not {opset}; give --opset 18")
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, proto.SerializeToString())
    result = _result(path, "onnx", precision, None, [path])
    if verify:
        result.max_abs_diff = verify_onnx(model, path, example_input, precision=precision)
    return result


def verify_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    example_input: Tensor,
    session: Any = None,
    precision: str = "fp32",
) -> float:
    """Max |onnxruntime - PyTorch| on ``example_input``; raises if beyond the tolerance."""
    session = session or onnx_session(path)
    got = session.run(None, {session.get_inputs()[0].name: example_input.float().numpy()})[0]
    return _check(torch.from_numpy(got), model, example_input, precision, f"{path} (onnxruntime)")[
        0
    ]


def onnx_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file as a dict."""
    import onnx

    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


# --------------------------------------------------------------------------------------------
# OpenVINO IR
# --------------------------------------------------------------------------------------------


def export_openvino(
    model: nn.Module,
    path: str | os.PathLike[str],
    example_input: Tensor,
    *,
    precision: str = "fp32",
    calibration: Any = None,
    verify: bool = True,
    metadata: dict[str, str] | None = None,
) -> ExportResult:
    """Write ``model`` as OpenVINO IR (``path`` ``.xml`` and its ``.bin``), reloaded and checked
    on the CPU plugin. bf16 is an inference hint of the plugin (the IR keeps fp32 weights);
    int8 is quantized by NNCF from ``calibration``."""
    why = runtime_available("openvino", precision)
    if why:
        raise ConvzooError(why)
    import openvino as ov

    calib = _need_calibration(precision, calibration)
    path = Path(path)
    if path.suffix != ".xml":
        raise ConvzooError(f"an OpenVINO IR is NAME.xml (+ NAME.bin); got {path.name}")
    ov_model = openvino_model(model.eval(), example_input, precision, calib)
    for key, value in (metadata or {}).items():
        ov_model.set_rt_info(value, ["convzoo", key])
    bin_path = path.with_suffix(".bin")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written in a hidden temporary folder beside the target, then moved: the .bin first, so
    # that an .xml in place always has its weights.
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        ov.save_model(ov_model, str(tmp / path.name), compress_to_fp16=False)
        for src, dst in ((tmp / bin_path.name, bin_path), (tmp / path.name, path)):
            write_bytes(dst, src.read_bytes())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = _result(path, "openvino", precision, None, [path, bin_path])
    if verify:
        core = ov.Core()
        reloaded = core.read_model(str(path))
        reloaded.reshape({0: list(example_input.shape)})
        compiled = core.compile_model(reloaded, "CPU", openvino_config(precision, None))
        got = torch.from_numpy(compiled(example_input.float().numpy())[0])
        result.max_abs_diff = _check(got, model, example_input, precision, f"{path} (OpenVINO)")[0]
    return result


# --------------------------------------------------------------------------------------------
# torch.export (.pt2)
# --------------------------------------------------------------------------------------------


def export_program(
    model: nn.Module,
    path: str | os.PathLike[str],
    example_input: Tensor,
    *,
    precision: str = "fp32",
    calibration: Any = None,
    dynamic_batch: bool = True,
    verify: bool = True,
) -> ExportResult:
    """Write ``model`` as a ``torch.export`` program (``.pt2``), reloaded with
    ``torch.export.load`` and checked. bf16 exports the network cast to bf16 (inputs and
    outputs bf16); int8 is the PT2E-quantized graph (reference quantize/dequantize ops that
    ``torch.compile`` lowers to int8 kernels)."""
    if precision not in PRECISIONS_OF["pt2"]:
        raise ConvzooError(f"a .pt2 is written in fp32, bf16 or int8, not {precision}")
    calib = _need_calibration(precision, calibration)
    path = Path(path)
    net: nn.Module = model.eval()
    x = example_input
    if precision == "bf16":
        net = _copy_to(net, torch.bfloat16)
        x = example_input.to(torch.bfloat16)
    elif precision == "int8":
        why = runtime_available("inductor", "int8")
        if why:
            raise ConvzooError(why)
        fast = optimize(net, x, precision="int8", calibration=calib, compile=False, check=False)
        assert isinstance(fast, OptimizedModel)
        net = fast.eager
    batch = {0: torch.export.Dim("batch", min=1, max=4096)} if dynamic_batch else None
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # torch.export specialises a size of 1 to a constant: trace a dynamic batch with two.
        traced = torch.cat([x, x]) if batch and x.shape[0] == 1 else x
        program = torch.export.export(net, (traced,), dynamic_shapes=(batch,) if batch else None)
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, buffer.getvalue())
    result = _result(path, "pt2", precision, None, [path])
    if verify:
        loaded = torch.export.load(str(path)).module()
        with torch.no_grad():
            got = main_logits(loaded(x))
        result.max_abs_diff = _check(got, model, example_input, precision, f"{path} (.pt2)")[0]
    return result


def _copy_to(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    return copy.deepcopy(model).to(dtype).eval()


# --------------------------------------------------------------------------------------------
# TorchScript (deprecated by PyTorch)
# --------------------------------------------------------------------------------------------


def export_torchscript(
    model: nn.Module, path: str | os.PathLike[str], example_input: Tensor, *, verify: bool = True
) -> ExportResult:
    """Write ``model`` traced to TorchScript (``torch.jit.trace``) and check the reloaded file.

    Tracing, not scripting: the zoo's input checks are Python; traced, they run once at export.
    TorchScript is deprecated by PyTorch (``FutureWarning``); ``.pt2`` is its successor.
    """
    warnings.warn(
        "TorchScript is deprecated by PyTorch; prefer --format pt2 (torch.export)",
        FutureWarning,
        stacklevel=2,
    )
    path = Path(path)
    model = model.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarning for the input checks
        traced = torch.jit.freeze(torch.jit.trace(model, example_input, check_trace=False))
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, buffer.getvalue())
    result = _result(path, "torchscript", "fp32", None, [path])
    if verify:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = torch.jit.load(str(path))
        with torch.no_grad():
            got = main_logits(loaded(example_input))
        result.max_abs_diff = _check(got, model, example_input, "fp32", f"{path} (TorchScript)")[0]
    return result


def export(
    model: nn.Module,
    path: str | os.PathLike[str],
    example_input: Tensor,
    format: str = "onnx",
    **kwargs: Any,
) -> ExportResult:
    """Export to ``format`` (one of :data:`FORMATS`) and verify the reloaded file's outputs.

    For int8 the result also has the top-1 agreement with fp32 on the calibration batches."""
    writers: dict[str, Callable[..., ExportResult]] = {
        "onnx": export_onnx,
        "openvino": export_openvino,
        "pt2": export_program,
        "torchscript": export_torchscript,
    }
    if format not in writers:
        raise ConvzooError(f"unknown export format {format!r}; use {', '.join(FORMATS)}")
    precision = kwargs.get("precision", "fp32")
    if precision not in PRECISIONS_OF[format]:
        raise ConvzooError(
            f"{format} is written in {' or '.join(PRECISIONS_OF[format])}, not {precision}"
        )
    if format == "torchscript":
        kwargs.pop("precision", None)
    if format not in ("onnx", "openvino"):
        kwargs.pop("metadata", None)
    remove_stale_temps(Path(path).parent, Path(path).name)
    return writers[format](model, path, example_input, **kwargs)


def agreement_of_export(result: ExportResult, model: nn.Module, batches: list[Tensor]) -> None:
    """Fill ``result``'s top-1 agreement with the fp32 ``model`` on ``batches``, reloading the
    written file (ONNX, OpenVINO or .pt2)."""
    runner = _reload(result)
    result.top1_agreement, result.agreement_images = top1_agreement(runner, model, batches)


class _Reloaded(nn.Module):
    def __init__(self, fn: Any) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)


def _reload(result: ExportResult) -> nn.Module:
    path = result.path
    if result.format == "onnx":
        session = onnx_session(path)
        name = session.get_inputs()[0].name
        return _Reloaded(
            lambda x: torch.from_numpy(session.run(None, {name: x.float().numpy()})[0])
        )
    if result.format == "openvino":
        import openvino as ov

        runner = OpenVINORunner(ov.Core().read_model(str(path)), openvino_config("int8", None))
        return _Reloaded(lambda x: torch.from_numpy(runner(x.float().numpy())))
    program = torch.export.load(str(path)).module()
    return _Reloaded(lambda x: main_logits(program(x)).float())
