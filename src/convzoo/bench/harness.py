"""The timing harness behind ``convzoo bench``.

Method (as jcjohnson's cnn-benchmarks and Canziani, Paszke & Culurciello 2016, "An Analysis of
Deep Neural Network Models for Practical Applications"): random inputs of the network's default
size, warm-up runs first (allocator, oneDNN/cuDNN algorithm choice, compilation), then repeated
runs until a time budget per point is spent (at least ``min_reps``); the median and the 10th/90th
percentiles are reported. On GPU every run is bracketed by CUDA events and synchronised.

Several runtimes and precisions (``eager``, ``optimize``, ``onnxruntime``, ``openvino`` x
``fp32``, ``bf16``, ``int8``...) of one network and batch size are timed **interleaved** (A B C
A B C ...), so that background load falls on each alike and their ratios can be trusted on a
shared machine; ``torch.utils.benchmark.Timer`` times one statement at a time and cannot do
that, so it is used for the matmul peak only (:mod:`convzoo.bench.machine`).

The shape is timm's ``benchmark.py``: a runner builds its network and input once and ``run()``
returns a results dict (:class:`InferenceBenchmarkRunner`, :class:`TrainBenchmarkRunner`).

A measurement is flagged unstable (``unstable`` in the row, a note in the output and the
results, with advice) when its p90 is far above its median or the machine was busy (the load
average against the cores). Results are written after every point (CSV and JSON, through
:mod:`convzoo.io`), into a new folder per run unless told otherwise; an existing results file
is never replaced (refused, or appended to with ``append``).
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import math
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils import benchmark

import convzoo.weights  # noqa: F401  (registers the networks and the weights loader)
from convzoo import registry
from convzoo.bench.machine import machine_info, matmul_peak_gflops, synchronize
from convzoo.errors import ConvzooError
from convzoo.inspect import summarize
from convzoo.inspect.trace import meta_build
from convzoo.io import write_json, write_text
from convzoo.optimize import (
    balanced_orders,
    build_runtime,
    check_against_original,
    cpu_has_bf16_kernels,
    optimize,
    runtime_available,
    top1_agreement,
)
from convzoo.threads import choose_threads, load_average, usable_cores

# "fp32" is strict IEEE float32 on every device; "tf32" is float32 tensors with the GPU's
# TensorFloat-32 matrix units allowed (10-bit mantissa products, PyTorch's default for cuDNN
# convolutions on Ampere and later). Timing both says what TF32 buys on the user's card.
PRECISIONS = {
    "fp32": torch.float32,
    "tf32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
    "int8": torch.float32,  # inputs and outputs stay fp32; the network inside is int8
}
MODES = ("inference", "train", "both")
RUNTIMES = ("eager", "optimize", "onnxruntime", "openvino")
_RUNTIME_ALIASES = {"torch": "eager"}
# Which precisions each runtime times (tf32 and fp16 on CUDA only, see validate()).
RUNTIME_PRECISIONS = {
    "eager": ("fp32", "tf32", "bf16", "fp16"),
    "optimize": ("fp32", "bf16", "fp16", "int8"),
    "onnxruntime": ("fp32", "int8"),
    "openvino": ("fp32", "bf16", "int8"),
}
# A point whose p90 is this many times its median is flagged: the spread, not the network,
# would decide a comparison (issue 13 saw p90 = 27x the median printed as if fine).
UNSTABLE_P90_RATIO = 1.5
# Other work on the machine above this share of its cores makes every timing suspect.
BUSY_LOAD_SHARE = 0.5

# Column order of results.csv; the JSON holds the same rows.
COLUMNS = [
    "network",
    "runtime",
    "mode",
    "batch_size",
    "precision",
    "instance",
    "device",
    "channels_last",
    "optimized",
    "status",
    "latency_ms_median",
    "latency_ms_p10",
    "latency_ms_p90",
    "p90_over_median",
    "unstable",
    "reps",
    "images_per_s",
    "forward_ms",
    "backward_ms",
    "peak_memory_mb",
    "params",
    "gmacs_per_image",
    "achieved_gflops",
    "share_of_matmul_peak",
    "torchvision_latency_ms_median",
    "speed_vs_torchvision",
    "top1_agreement_vs_fp32",
    "chosen",
    "image_size",
]


@dataclass
class BenchSettings:
    """Everything that defines a benchmark run; written beside the results.

    ``runtimes`` x ``precisions`` are the variants timed side by side; ``runtime``,
    ``precision`` and ``optimize`` are the older one-variant spellings and still work."""

    names: list[str]
    batch_sizes: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 32, 64])
    device: str = "auto"
    mode: str = "inference"
    precision: str | None = None
    channels_last: bool = False
    optimize: bool = False
    threads: int | None = None
    against: str | None = None
    runtime: str | None = None
    runtimes: list[str] = field(default_factory=list)
    precisions: list[str] = field(default_factory=list)
    budget_s: float = 2.0
    min_reps: int = 5
    max_reps: int = 1000
    warmup: int = 2
    image_size: int | None = None
    seed: int = 0
    pause_s: float = 0.0
    calibration_batches: int = 4
    # What the ``optimize`` variant passes as ``optimize(runtime=...)``: ``"auto"`` builds every
    # runtime available here, times them and keeps the fastest (what issue 13's goals measure);
    # the default compiles with inductor only, a minute less per point on a small CPU.
    optimize_runtime: str = "inductor"
    # cuDNN tries its algorithms on the first call of each shape and keeps the fastest (as
    # cnn-benchmarks did with cudnn.benchmark); the warm-up runs absorb the search.
    cudnn_benchmark: bool = True
    # An A/A control: this runtime's variants are built twice and timed as two (rows with
    # ``instance`` 2). Two instances of one runtime differ only by the measurement, so their
    # ratio says how far apart a tie can land in this run.
    control: str | None = None


@dataclass(frozen=True)
class Variant:
    """One way of running a network: a runtime in a precision."""

    runtime: str
    precision: str
    # 2 for the A/A control (BenchSettings.control): the same variant, built a second time.
    instance: int = 1

    @property
    def label(self) -> str:
        again = f" #{self.instance}" if self.instance > 1 else ""
        return f"{self.runtime} {self.precision}{again}"


def resolve_device(name: str) -> torch.device:
    """``auto`` is the GPU where torch sees one, else the CPU: the same rule as ``train``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConvzooError(f"device must be auto, cpu or cuda, got {name!r}") from None


# --------------------------------------------------------------------------------------------
# Validation: one clear message per mistake
# --------------------------------------------------------------------------------------------


def parse_batch_sizes(text: str | list[int]) -> list[int]:
    """``"1,2,4"`` -> ``[1, 2, 4]``; refuses zero, negatives and non-numbers."""
    items = text if isinstance(text, list) else [t for t in str(text).split(",") if t.strip()]
    sizes = []
    for item in items:
        try:
            value = int(item)
        except (TypeError, ValueError):
            raise ConvzooError(
                f"batch size {item!r} is not an integer; give e.g. --batch-sizes 1,8,16"
            ) from None
        if value < 1:
            raise ConvzooError(f"batch size must be at least 1, got {value}")
        sizes.append(value)
    if not sizes:
        raise ConvzooError("no batch size given; give e.g. --batch-sizes 1,8,16")
    return sizes


def _normalise_variants(settings: BenchSettings) -> None:
    """Fold the one-variant spellings into ``runtimes`` and ``precisions``."""
    runtimes = [_RUNTIME_ALIASES.get(r, r) for r in settings.runtimes]
    if settings.control:
        settings.control = _RUNTIME_ALIASES.get(settings.control, settings.control)
    if not runtimes:  # the older spellings; once normalised, runtimes is set (idempotent)
        legacy = _RUNTIME_ALIASES.get(settings.runtime or "eager", settings.runtime or "eager")
        # --optimize meant "the torch network, optimized": optimize instead of eager.
        runtimes = ["optimize"] if settings.optimize and legacy == "eager" else [legacy]
    if settings.optimize and "optimize" not in runtimes:
        runtimes.append("optimize")
    precisions = list(settings.precisions)
    if settings.precision is not None:
        precisions.append(settings.precision)
    settings.runtimes = list(dict.fromkeys(runtimes))
    settings.precisions = list(dict.fromkeys(precisions or ["fp32"]))
    settings.runtime = settings.runtimes[0]
    settings.precision = settings.precisions[0]
    settings.optimize = "optimize" in settings.runtimes


def unsupported(variant: Variant, device: torch.device, mode: str) -> str | None:
    """Why ``variant`` cannot be timed here (None if it can)."""
    runtime, precision = variant.runtime, variant.precision
    if precision not in RUNTIME_PRECISIONS[runtime]:
        return (
            f"--runtime {runtime} does not run {precision} (it runs "
            + ", ".join(RUNTIME_PRECISIONS[runtime])
            + ")"
        )
    if precision == "fp16" and device.type == "cpu":
        return "fp16 on CPU is emulated and meaningless to time; use bf16 or fp32"
    if precision == "tf32" and device.type != "cuda":
        return "tf32 is a mode of NVIDIA GPUs' matrix units; on CPU use fp32 or bf16"
    if runtime in ("onnxruntime", "openvino") and device.type != "cpu":
        return f"--runtime {runtime} is timed on CPU here; use --device cpu"
    if runtime != "eager" and mode != "inference":
        return f"--runtime {runtime} makes an inference-only network; use --mode inference"
    if runtime in ("onnxruntime", "openvino", "optimize"):
        backend = runtime if runtime != "optimize" else "inductor"
        why = runtime_available(backend, precision if precision != "fp16" else "fp32")
        if why and runtime == "optimize" and precision != "int8":
            why = None  # without inductor optimize() falls back to eager, and says so
        if why:
            return why.replace(f"{backend} ", f"--runtime {runtime} ", 1)
    return None


def variants(settings: BenchSettings) -> list[Variant]:
    """The runtimes x precisions to time, in the order given; then, with ``control``, that
    runtime's variants once more, built separately (the A/A control)."""
    timed = [Variant(r, p) for r in settings.runtimes for p in settings.precisions]
    if settings.control:
        timed += [Variant(settings.control, p, 2) for p in settings.precisions]
    return timed


def _validate_choices(settings: BenchSettings) -> None:
    if settings.mode not in MODES:
        raise ConvzooError(f"mode must be one of {', '.join(MODES)}, got {settings.mode!r}")
    for p in settings.precisions:
        if p not in PRECISIONS:
            raise ConvzooError(f"precision must be one of {', '.join(PRECISIONS)}, got {p!r}")
    for r in settings.runtimes:
        if r not in RUNTIMES:
            raise ConvzooError(f"runtime must be one of {', '.join(RUNTIMES)}, got {r!r}")
    if settings.against not in (None, "torchvision"):
        raise ConvzooError(f"--against accepts only 'torchvision', got {settings.against!r}")
    if settings.control is not None and settings.control not in settings.runtimes:
        raise ConvzooError(
            f"--control {settings.control} times a second instance of a runtime that is timed "
            f"anyway; give one of --runtime {','.join(settings.runtimes)}"
        )


def _validate_numbers(settings: BenchSettings) -> None:
    if settings.threads is not None and settings.threads < 1:
        raise ConvzooError(f"--threads must be at least 1, got {settings.threads}")
    if settings.budget_s <= 0:
        raise ConvzooError(f"the time budget per point must be positive, got {settings.budget_s}")
    if settings.image_size is not None:
        smallest = max(registry.model_card(n).min_input_size for n in settings.names)
        if settings.image_size < max(1, smallest):
            raise ConvzooError(
                f"--image-size {settings.image_size} is too small: these networks take at "
                f"least {smallest} pixels; give --image-size {smallest} or more, or leave it out"
            )


def validate(settings: BenchSettings) -> None:
    """Refuse bad settings before anything is built or timed."""
    if not settings.names:
        raise ConvzooError("no network given; name some (e.g. resnet18) or use --all")
    for name in settings.names:
        registry.model_card(name)  # UnknownModelError with close matches
    settings.batch_sizes = parse_batch_sizes(settings.batch_sizes)
    _normalise_variants(settings)
    _validate_choices(settings)
    device = resolve_device(settings.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConvzooError(
            "--device cuda asked for, but torch sees no CUDA GPU here "
            f"(torch {torch.__version__}, CUDA build {torch.version.cuda}); use --device cpu"
        )
    if device.type not in ("cpu", "cuda"):
        raise ConvzooError(f"device must be auto, cpu or cuda, got {settings.device!r}")
    reasons = [unsupported(v, device, m) for v in variants(settings) for m in _modes(settings)]
    if all(reasons):
        # Nothing could be timed: the first reason is the user's to fix. (Some of a cross
        # product may be unsupported: those rows say why and the others are timed.)
        raise ConvzooError(str(reasons[0]))
    if settings.against and settings.runtimes != ["eager"]:
        raise ConvzooError("--against times the torchvision twin beside --runtime eager only")
    _validate_numbers(settings)


def precision_notes(settings: BenchSettings) -> list[str]:
    """What a person should know before the run about how the precisions asked for run here
    (validated settings): bf16 in PyTorch on a CPU without bf16 kernels is emulated."""
    device = resolve_device(settings.device)
    torch_bf16 = "bf16" in settings.precisions and {"eager", "optimize"} & set(settings.runtimes)
    if device.type == "cpu" and torch_bf16 and not cpu_has_bf16_kernels():
        return [
            "this CPU has no bf16 kernels (oneDNN's need AVX-512): eager bf16 runs by "
            "reference loops, many times slower than fp32 (a point can take minutes); "
            "OpenVINO's bf16, and optimize's with --optimize-runtime auto, run in f32"
        ]
    return []


def _modes(settings: BenchSettings) -> list[str]:
    return ["inference", "train"] if settings.mode == "both" else [settings.mode]


# --------------------------------------------------------------------------------------------
# Timing primitives
# --------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """numpy's linear-interpolated percentile, ``q`` in [0, 100]; NaN for no values."""
    return float(np.percentile(values, q)) if values else math.nan


def summarize_times(seconds: list[float]) -> dict[str, float]:
    """Median, p10, p90 in milliseconds, and how many runs."""
    p10, p90 = np.percentile(seconds, [10, 90])
    return {
        "median_ms": statistics.median(seconds) * 1e3,
        "p10_ms": float(p10) * 1e3,
        "p90_ms": float(p90) * 1e3,
        "reps": len(seconds),
    }


# The confidence of the interval around a paired speed ratio (:func:`paired_speedup`).
PAIRED_CONFIDENCE = 0.9


def median_interval(
    values: list[float], confidence: float = PAIRED_CONFIDENCE
) -> tuple[float, float]:
    """A distribution-free confidence interval for the median of ``values`` (scipy's
    ``quantile_test``: order statistics chosen by the binomial distribution, as the sign test
    does). With too few values for that confidence (four or fewer at 90%) the whole range."""
    if not values:
        return math.nan, math.nan
    from scipy.stats import quantile_test  # ~0.3 s, and only for a paired comparison

    ci = quantile_test(np.asarray(values, dtype=float), q=0.0, p=0.5).confidence_interval(
        confidence_level=confidence
    )
    low, high = float(ci.low), float(ci.high)
    if math.isnan(low) or math.isnan(high):
        return float(min(values)), float(max(values))
    return low, high


def paired_speedup(
    ours_s: list[float], theirs_s: list[float], confidence: float = PAIRED_CONFIDENCE
) -> dict[str, float]:
    """How many times faster ``ours`` ran than ``theirs`` in one interleaved timing (> 1: ours
    is faster), from the rounds of :func:`time_interleaved`: the median of the per-round ratios
    ``theirs[r] / ours[r]`` and its confidence interval (:func:`median_interval`).

    Pairing by round takes out the load that comes and goes: both calls of a round ran within
    a few hundred ms of each other, where the medians of the two lists can each land in a
    faster or slower stretch of a shared host."""
    if len(ours_s) != len(theirs_s) or not ours_s:
        raise ValueError("paired_speedup needs two timings of the same rounds")
    ratios = [t / o for o, t in zip(ours_s, theirs_s, strict=True) if o > 0]
    low, high = median_interval(ratios, confidence)
    return {"ratio": statistics.median(ratios), "low": low, "high": high, "rounds": len(ratios)}


class _Timer:
    """Wall-clock time on CPU; CUDA events (device time of the queued work) on GPU."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cuda = device.type == "cuda"

    @contextlib.contextmanager
    def measure(self, out: list[float]) -> Iterator[None]:
        if self.cuda:
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            yield
            end.record()
            end.synchronize()
            out.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            yield
            out.append(time.perf_counter() - t0)


def time_interleaved(
    fns: list[Callable[[], Any]],
    device: torch.device | str = "cpu",
    *,
    warmup: int = 2,
    budget_s: float = 2.0,
    min_reps: int = 5,
    max_reps: int = 1000,
    pause_s: float = 0.0,
) -> list[list[float]]:
    """Seconds per call of each function, the functions taking turns (A B C, B C A, C A B ...).

    Taking turns puts the same background load on each, which is what makes a ratio between
    two implementations trustworthy on a shared machine. Stops when the budget is spent (after
    at least ``min_reps`` rounds) or after ``max_reps`` rounds. Each function is called once a
    round, so ``times[i][r]`` and ``times[j][r]`` were measured close together: their ratio
    is a paired comparison (:func:`paired_speedup`).

    ``pause_s`` sleeps (untimed) after every call: ONNX Runtime's worker threads keep spinning
    for a while after a run returns, and without a pause they slow down whichever function is
    timed next (measured: torchvision eager at batch 1 timed right after ORT ran at 20 img/s,
    the same network one slot later at 46). A pause shortens that wake but, on a 2-core VM,
    did not end it (OpenVINO right after ONNX Runtime stayed ~5% slow with 50 ms), so the
    order changes from round to round (:func:`balanced_orders`): every function comes right
    after every other equally often, and no variant pays for a neighbour that a fixed order
    gave it for the whole run.
    """
    device = torch.device(device)
    timer = _Timer(device)
    for fn in fns:
        for _ in range(warmup):
            fn()
        synchronize(device)
    times: list[list[float]] = [[] for _ in fns]
    start = time.perf_counter()
    rounds = 0
    orders = balanced_orders(len(fns))
    while rounds < min_reps or (time.perf_counter() - start < budget_s and rounds < max_reps):
        for i in orders[rounds % len(orders)]:
            with timer.measure(times[i]):
                fns[i]()
            if pause_s:
                time.sleep(pause_s)
        rounds += 1
    return times


class PeakMemory:
    """Peak memory while the block runs: CUDA max allocated, or CPU resident set size.

    On CPU a thread samples the process RSS every few milliseconds (``psutil``); the peak over
    the block is reported (it includes the weights and whatever the process already held).
    """

    def __init__(self, device: torch.device, interval_s: float = 0.005) -> None:
        self.device = device
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            import psutil

            proc = psutil.Process()
            self.peak_bytes = proc.memory_info().rss

            def sample() -> None:
                while not self._stop.wait(self.interval_s):
                    self.peak_bytes = max(self.peak_bytes, proc.memory_info().rss)

            self._thread = threading.Thread(target=sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.device.type == "cuda":
            self.peak_bytes = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            if self._thread is not None:
                self._thread.join()
            import psutil

            self.peak_bytes = max(self.peak_bytes, psutil.Process().memory_info().rss)

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 2**20


def is_oom(err: BaseException) -> bool:
    """Out of memory on GPU (``torch.OutOfMemoryError``) or CPU (the allocator's message)."""
    if isinstance(err, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text
    )


@contextlib.contextmanager
def cuda_math_flags(device: torch.device, precision: str, cudnn_benchmark: bool) -> Iterator[None]:
    """cuDNN autotuning and TF32 set for the block and restored after it (CUDA only).

    ``torch.backends.cudnn.flags`` saves and restores cuDNN's; the matmul TF32 switch is not
    one of them and is restored here."""
    if device.type != "cuda":
        yield
        return
    tf32 = precision == "tf32"
    saved_matmul = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        with torch.backends.cudnn.flags(
            enabled=True, benchmark=cudnn_benchmark, deterministic=False, allow_tf32=tf32
        ):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved_matmul


# --------------------------------------------------------------------------------------------
# Costs
# --------------------------------------------------------------------------------------------


def network_macs(name: str, input_size: tuple[int, int, int]) -> tuple[int, int]:
    """(parameters, multiply-adds) of one image through the network.

    Uses the structural tables (``convzoo.inspect.summarize``) where they exist; otherwise
    ``torch.utils.flop_counter`` on the meta device, FLOPs / 2 (it counts convs and matmuls,
    which are > 99% of these networks' multiply-adds).
    """
    try:
        summary = summarize(name, input_size=input_size)
        return int(summary.total_params), int(summary.total_macs)
    except ConvzooError:
        raise  # the input size does not fit the network: the user's to fix
    except Exception:
        pass  # a tracing gap (e.g. an older torch): count with torch's own counter instead
    from torch.utils.flop_counter import FlopCounterMode

    with meta_build():
        model = registry.create_model(name, in_chans=input_size[0]).eval()
    x = torch.empty(1, *input_size, device="meta")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return registry.count_parameters(model), int(counter.get_total_flops() // 2)


# --------------------------------------------------------------------------------------------
# Runners: each builds its network and input once; run() returns a results dict
# --------------------------------------------------------------------------------------------


def torchvision_twin(name: str, num_classes: int = 1000, aux_logits: bool = False) -> nn.Module:
    """The torchvision network a convzoo network is the twin of (random weights).

    ``aux_logits`` builds GoogLeNet's auxiliary heads too, so that a training-mode comparison
    runs the same heads on both sides.
    """
    import torchvision

    twin = registry.model_card(name).torchvision_twin
    if not twin:
        raise ConvzooError(f"{name} has no torchvision twin")
    kwargs: dict[str, Any] = {"weights": None, "num_classes": num_classes}
    if twin in ("googlenet", "inception_v3"):
        kwargs.update(aux_logits=aux_logits, init_weights=False)
    return torchvision.models.get_model(twin, **kwargs)


def _train_loss(out: Any) -> Tensor:
    # GoogLeNet in training mode returns (logits, aux2, aux1); all heads get gradients, as in
    # the paper's training (aux losses weighted 0.3, Szegedy et al. 2015 sec. 5).
    if isinstance(out, tuple):
        return out[0].float().sum() + 0.3 * sum(o.float().sum() for o in out[1:] if o is not None)
    return out.float().sum()


def _no_grad_call(model: nn.Module, x: Tensor) -> Any:
    with torch.inference_mode():
        return model(x)


def _timing(settings: BenchSettings, warmup: int | None = None) -> dict[str, Any]:
    return {
        "warmup": settings.warmup if warmup is None else warmup,
        "budget_s": settings.budget_s,
        "min_reps": settings.min_reps,
        "max_reps": settings.max_reps,
        "pause_s": settings.pause_s,
    }


def _stats_row(seconds: list[float], bs: int) -> dict[str, Any]:
    stats = summarize_times(seconds)
    ratio = stats["p90_ms"] / stats["median_ms"] if stats["median_ms"] > 0 else math.nan
    return {
        "latency_ms_median": _round(stats["median_ms"]),
        "latency_ms_p10": _round(stats["p10_ms"]),
        "latency_ms_p90": _round(stats["p90_ms"]),
        "p90_over_median": _round(ratio, 3),
        "unstable": bool(ratio > UNSTABLE_P90_RATIO),
        "reps": stats["reps"],
        "images_per_s": _round(bs / (stats["median_ms"] / 1e3)),
        # Every call's time in round order (results.json only): paired comparisons between
        # the variants of a point (paired_speedup) need the rounds, not the medians.
        "rounds_ms": [_round(t * 1e3) for t in seconds],
    }


class BenchmarkRunner:
    """One network in one variant, built once on the device; its input of one batch size."""

    def __init__(
        self,
        name: str,
        variant: Variant,
        settings: BenchSettings,
        device: torch.device,
        input_size: tuple[int, int, int],
        model: nn.Module | None = None,
    ) -> None:
        self.name = name
        self.variant = variant
        self.settings = settings
        self.device = device
        self.input_size = input_size
        # ONNX Runtime and OpenVINO take the fp32 network and apply the precision themselves.
        torch_side = variant.runtime in ("eager", "optimize")
        self.dtype = PRECISIONS[variant.precision] if torch_side else torch.float32
        base = model if model is not None else registry.create_model(name)
        self.model = base.to(device=device, dtype=self.dtype)
        if settings.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.extra: dict[str, Any] = {}

    def example(self, bs: int) -> Tensor:
        x = torch.randn(bs, *self.input_size, device=self.device, dtype=self.dtype)
        if self.settings.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _wrap(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        if self.device.type != "cuda":
            return fn
        flags = (self.device, self.variant.precision, self.settings.cudnn_benchmark)

        def call() -> Any:
            with cuda_math_flags(*flags):
                return fn()

        return call


class InferenceBenchmarkRunner(BenchmarkRunner):
    """Inference of one variant: ``call(bs)`` gives the timed function; ``run(bs)`` times it
    alone and returns the row's measured fields."""

    def call(self, bs: int) -> Callable[[], Any]:
        x = self.example(bs)
        runtime, precision = self.variant.runtime, self.variant.precision
        self.model.eval()
        self.extra = {}
        if runtime == "eager":
            model = self.model
            return self._wrap(lambda: _no_grad_call(model, x))
        calibration = [
            torch.randn(bs, *self.input_size) for _ in range(self.settings.calibration_batches)
        ]
        threads = self.settings.threads or torch.get_num_threads()
        # int8 of a randomly initialised network is not held to int8's tolerance: its logits
        # are near zero, and the rounding of 1/255 of the range is a large share of them. Its
        # difference is recorded (``chosen``) instead of failing the point.
        strict = precision != "int8"
        if runtime == "optimize":
            fast = optimize(
                self.model,
                x,
                precision=precision,
                calibration=calibration if precision == "int8" else None,
                threads=threads,
                check=strict,
                runtime=self.settings.optimize_runtime,
                # The benchmark calls each variant once a round, between the other variants'
                # calls: single calls, never a loop of one network.
                calls="single",
            )
        else:
            fast = build_runtime(
                runtime, self.model.float(), x.float(), precision, calibration, threads=threads
            )
        if not strict or runtime != "optimize":
            try:
                check_against_original(fast, self.model.float(), x.float())
            except RuntimeError:
                if strict:
                    raise
        if precision == "int8":
            # On random inputs and weights: says the int8 network is not broken, not how well
            # it keeps a trained network's decisions (see docs/benchmarks.md for real data).
            self.extra["top1_agreement_vs_fp32"] = _round(
                top1_agreement(fast, self.model.float(), calibration)[0], 4
            )
        self.extra["chosen"] = fast.report.summary()
        xin = x.float() if runtime != "optimize" else x
        return self._wrap(lambda: fast(xin))

    def row(self, seconds: list[float], bs: int) -> dict[str, Any]:
        return {**_stats_row(seconds, bs), **self.extra}

    def run(self, bs: int) -> dict[str, Any]:
        """Time this variant alone with ``torch.utils.benchmark.Timer`` (it synchronises CUDA,
        keeps the thread count, sizes its blocks); side-by-side runs use the interleaver."""
        fn = self.call(bs)
        for _ in range(self.settings.warmup):
            fn()
        timer = benchmark.Timer("fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
        with PeakMemory(self.device) as mem:
            measured = timer.blocked_autorange(min_run_time=self.settings.budget_s)
        return {**self.row(list(measured.times), bs), "peak_memory_mb": _round(mem.peak_mb)}


class TrainBenchmarkRunner(BenchmarkRunner):
    """A training step (forward, then backward, each between its own marks, as cnn-benchmarks
    timed them); ``run(bs)`` returns the row's measured fields."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fwd: list[float] = []
        self.bwd: list[float] = []

    def call(self, bs: int) -> Callable[[], Any]:
        x = self.example(bs)
        timer = _Timer(self.device)
        model = self.model
        model.train()
        self.fwd, self.bwd = [], []

        def step() -> None:
            model.zero_grad(set_to_none=True)
            with timer.measure(self.fwd):
                loss = _train_loss(model(x))
            with timer.measure(self.bwd):
                loss.backward()

        return self._wrap(step)

    def warm(self, fn: Callable[[], Any]) -> None:
        for _ in range(self.settings.warmup):
            fn()
        self.fwd.clear()
        self.bwd.clear()  # the warm-up's timings

    def row(self, seconds: list[float], bs: int) -> dict[str, Any]:
        total = [f + b for f, b in zip(self.fwd, self.bwd, strict=True)]
        self.model.eval()
        return {
            **_stats_row(total, bs),
            "forward_ms": _round(statistics.median(self.fwd) * 1e3),
            "backward_ms": _round(statistics.median(self.bwd) * 1e3),
        }

    def run(self, bs: int) -> dict[str, Any]:
        fn = self.call(bs)
        with PeakMemory(self.device) as mem:
            self.warm(fn)
            (seconds,) = time_interleaved([fn], self.device, **_timing(self.settings, 0))
        return {**self.row(seconds, bs), "peak_memory_mb": _round(mem.peak_mb)}


# --------------------------------------------------------------------------------------------
# Results: a new folder per run, never an earlier file replaced
# --------------------------------------------------------------------------------------------


def new_results_dir(root: str | os.PathLike[str] = "bench-results") -> Path:
    """``ROOT/bench-N`` with the first free N, created (so two runs never share a folder)."""
    base = Path(root)
    base.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        path = base / f"bench-{n}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1


class ResultsExistError(ConvzooError):
    """A results folder that already holds results, and no ``append``."""


class _ResultsWriter:
    """Rows to ``results.csv`` and ``results.json`` after every point, atomically."""

    def __init__(
        self, out: Path, machine: dict[str, Any], settings: BenchSettings, append: bool = False
    ) -> None:
        self.out = out
        self.meta: dict[str, Any] = {"machine": machine, "settings": asdict(settings)}
        self.rows: list[dict[str, Any]] = []
        self.earlier: list[dict[str, Any]] = []
        self.complete = False
        out.mkdir(parents=True, exist_ok=True)
        existing = out / "results.json"
        if existing.exists() or (out / "results.csv").exists():
            if not append:
                raise ResultsExistError(
                    f"{out} already holds bench results; give another --out, leave --out out "
                    "for a new folder, or --append to add to them"
                )
            try:
                earlier = json.loads(existing.read_text())
            except (OSError, json.JSONDecodeError) as err:
                raise ConvzooError(f"{existing}: cannot append to it ({err})") from None
            self.earlier = list(earlier.get("results", []))
            self.meta["earlier_runs"] = [
                *earlier.get("earlier_runs", []),
                {k: earlier.get(k) for k in ("machine", "settings", "stability")},
            ]

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.flush()

    def flush(self) -> None:
        rows = self.earlier + self.rows
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in COLUMNS})
        write_text(self.out / "results.csv", buf.getvalue())
        write_json(
            self.out / "results.json", {**self.meta, "complete": self.complete, "results": rows}
        )


def _round(x: float | None, digits: int = 4) -> float | None:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None
    return float(f"{x:.{digits}g}")


# --------------------------------------------------------------------------------------------
# Paired comparisons between the variants of one point
# --------------------------------------------------------------------------------------------

PEER_RUNTIMES = ("onnxruntime", "openvino")


def paired_comparisons(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each point's paired speed ratios (:func:`paired_speedup`): ``optimize`` against each
    peer runtime (ONNX Runtime, OpenVINO) in the same precision, and each A/A control (a
    second instance, ``BenchSettings.control``) against its first. One dict each: the point,
    ``kind`` ("optimize vs peer" or "A/A"), ``ours`` and ``theirs`` (variant labels), and
    ``ratio``, ``low``, ``high``, ``rounds`` (> 1: ``ours`` is faster)."""
    points: dict[tuple[Any, ...], dict[tuple[str, str, int], dict[str, Any]]] = {}
    for r in rows:
        if r.get("status") == "ok" and r.get("rounds_ms"):
            where = (r["network"], r["mode"], r["batch_size"])
            points.setdefault(where, {})[(r["runtime"], r["precision"], r.get("instance", 1))] = r
    found = []
    for (network, mode, bs), by in points.items():
        pairs = []
        for (runtime, precision, instance), row in by.items():
            if instance > 1 and (runtime, precision, 1) in by:
                pairs.append(("A/A", row, by[(runtime, precision, 1)]))
            elif runtime == "optimize":
                for peer in PEER_RUNTIMES:
                    if (peer, precision, 1) in by:
                        pairs.append(("optimize vs peer", row, by[(peer, precision, 1)]))
        for kind, ours, theirs in pairs:
            if len(ours["rounds_ms"]) != len(theirs["rounds_ms"]):
                continue  # not timed side by side (rows appended from another run)
            found.append(
                {
                    "network": network,
                    "mode": mode,
                    "batch_size": bs,
                    "kind": kind,
                    "precision": ours["precision"],
                    "ours": variant_label(ours),
                    "theirs": variant_label(theirs),
                    **paired_speedup(ours["rounds_ms"], theirs["rounds_ms"]),
                }
            )
    return found


def variant_label(row: dict[str, Any]) -> str:
    """A row's variant as :attr:`Variant.label` writes it."""
    return Variant(row["runtime"], row["precision"], row.get("instance", 1)).label


# --------------------------------------------------------------------------------------------
# Stability: is the machine quiet enough for these numbers to mean something?
# --------------------------------------------------------------------------------------------


def stability(
    rows: list[dict[str, Any]], load_start: float | None, load_end: float | None, threads: int
) -> dict[str, Any]:
    """How far to trust the run: unstable points, the load against the cores, and advice."""
    cores = usable_cores()
    unstable = [r for r in rows if r.get("unstable")]
    loads = [v for v in (load_start, load_end) if v is not None]
    # The run's own threads count in the load average once it is under way.
    others = max(0.0, (load_start or 0.0))
    busy = bool(loads) and others > BUSY_LOAD_SHARE * cores
    advice = []
    if busy:
        advice.append(
            f"the machine was busy before the run (load average {others:.1f} on {cores} "
            f"cores): stop other work and run again, or use --threads 1"
        )
    if unstable:
        worst = max(r["p90_over_median"] for r in unstable)
        advice.append(
            f"{len(unstable)} point(s) have p90 above {UNSTABLE_P90_RATIO}x the median (worst "
            f"{worst:.1f}x): raise --budget, add --pause 0.05, or run on a quiet machine; "
            "only ratios within one interleaved run can be compared"
        )
    if threads > cores:
        advice.append(f"--threads {threads} is more than the {cores} usable cores")
    return {
        "load_average_start": load_start,
        "load_average_end": load_end,
        "usable_cores": cores,
        "threads": threads,
        "busy": busy,
        "unstable_points": len(unstable),
        "stable": not (busy or unstable),
        "advice": advice,
    }


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


@dataclass
class _Point:
    network: str
    batch_size: int
    mode: str


def _point_fields(
    settings: BenchSettings, name: str, mode: str, bs: int, image_size: str, variant: Variant
) -> dict[str, Any]:
    """The columns that say which point a row is, whatever its outcome."""
    return {
        "network": name,
        "runtime": variant.runtime,
        "mode": mode,
        "batch_size": bs,
        "precision": variant.precision,
        "instance": variant.instance,
        "device": str(resolve_device(settings.device)),
        "channels_last": settings.channels_last,
        "optimized": variant.runtime == "optimize",
        "image_size": image_size,
    }


def run_benchmark(
    settings: BenchSettings,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    progress: bool = True,
    append: bool = False,
) -> list[dict[str, Any]]:
    """Time every network at every batch size in every variant; write results as they come
    (into ``out_dir``, or a new ``bench-results/bench-N``); return the rows of this run.

    Each row is one (network, mode, batch size, runtime, precision) point with status ``ok``,
    ``oom`` (recorded, the run goes on), ``n/a: ...`` (that variant cannot run here) or
    ``error: ...``. An ``out_dir`` that already holds results is refused unless ``append``.
    """
    validate(settings)
    device = resolve_device(settings.device)
    out = Path(out_dir) if out_dir is not None else new_results_dir()
    threads_before = torch.get_num_threads()
    threads_why = None
    if device.type == "cpu" or settings.threads:
        threads, threads_why = choose_threads(settings.threads or None)
        torch.set_num_threads(threads)
    torch.manual_seed(settings.seed)
    machine = machine_info(device)
    machine["threads_policy"] = threads_why
    machine["precision_notes"] = precision_notes(settings)
    first = settings.precisions[0]
    machine["matmul_peak_gflops"] = _round(
        matmul_peak_gflops(device, PRECISIONS[first] if first != "int8" else torch.float32), 5
    )
    machine["matmul_peak_dtype"] = first if first != "int8" else "fp32"
    if device.type == "cuda":
        with cuda_math_flags(device, first, settings.cudnn_benchmark):
            machine["cuda_math"] = {
                "cudnn_benchmark": torch.backends.cudnn.benchmark,
                "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
                "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            }
    writer = _ResultsWriter(out, machine, settings, append)
    load_start = load_average()
    writer.flush()
    run = _Run(settings, device, writer, progress)
    try:
        for name in settings.names:
            run.network(name)
        writer.complete = True
    except KeyboardInterrupt:
        writer.meta["interrupted"] = True
        raise
    finally:
        writer.meta["stability"] = stability(
            writer.rows, load_start, load_average(), torch.get_num_threads()
        )
        writer.flush()
        run.close()
        torch.set_num_threads(threads_before)
    return writer.rows


class _Run:
    """The loop over networks, modes and batch sizes of one benchmark run."""

    def __init__(
        self, settings: BenchSettings, device: torch.device, writer: _ResultsWriter, progress: bool
    ) -> None:
        from tqdm.auto import tqdm

        self.settings = settings
        self.device = device
        self.writer = writer
        self.modes = _modes(settings)
        self.variants = variants(settings)
        total = len(settings.names) * len(self.modes) * len(settings.batch_sizes)
        self.bar = tqdm(total=total, disable=not progress, unit="point", desc="bench")

    def close(self) -> None:
        self.bar.close()

    def _size(self, name: str) -> tuple[tuple[int, int, int], str]:
        c, h, w = registry.model_card(name).input_size
        if self.settings.image_size:
            h = w = self.settings.image_size
        return (c, h, w), f"{c}x{h}x{w}"

    def _error_rows(self, name: str, size: str, status: str) -> None:
        for mode in self.modes:
            for bs in self.settings.batch_sizes:
                for v in self.variants:
                    where = _point_fields(self.settings, name, mode, bs, size, v)
                    self.writer.add({**where, "status": status})
                self.bar.update(1)

    def network(self, name: str) -> None:
        (c, h, w), size = self._size(name)
        try:
            params, macs = network_macs(name, (c, h, w))
            base = registry.create_model(name)
            twin = None
            if (
                self.settings.against == "torchvision"
                and registry.model_card(name).torchvision_twin
            ):
                aux = bool(getattr(base, "aux_logits", False))
                twin = torchvision_twin(name, aux_logits=aux)
        except ConvzooError:
            raise
        except Exception as err:
            # One network that cannot be built or moved must not cost the others' results.
            self._error_rows(name, size, _status_of(err))
            self._empty_cache()
            return
        for mode in self.modes:
            for bs in self.settings.batch_sizes:
                self.bar.set_postfix_str(f"{name} {mode} bs={bs}")
                costs = {"params": params, "gmacs_per_image": _round(macs / 1e9, 5)}
                self._point(name, base, twin, mode, bs, (c, h, w), size, costs, macs)
                self.bar.update(1)
        self._empty_cache()

    def _empty_cache(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _point(
        self,
        name: str,
        base: nn.Module,
        twin: nn.Module | None,
        mode: str,
        bs: int,
        input_size: tuple[int, int, int],
        size: str,
        costs: dict[str, Any],
        macs: int,
    ) -> None:
        runnable = [v for v in self.variants if not unsupported(v, self.device, mode)]
        for v in self.variants:
            why = unsupported(v, self.device, mode)
            if why:
                where = _point_fields(self.settings, name, mode, bs, size, v)
                self.writer.add({**where, **costs, "status": f"n/a: {why}"})
        if not runnable:
            return
        try:
            rows = _measure_point(
                self.settings, (name, base, runnable), twin, mode, bs, input_size, self.device
            )
        except KeyboardInterrupt:
            raise
        except ConvzooError:
            raise
        except Exception as err:
            rows = [{"status": _status_of(err)} for _ in runnable]
            self._empty_cache()
        peak = self.writer.meta["machine"]["matmul_peak_gflops"]
        for v, row in zip(runnable, rows, strict=True):
            row = {**_point_fields(self.settings, name, mode, bs, size, v), **costs, **row}
            row.setdefault("status", "ok")
            if row["status"] == "ok":
                # Training costs ~3x the forward multiply-adds (forward, and the gradients
                # w.r.t. inputs and weights in backward).
                work = 2 * macs * bs * (3 if mode == "train" else 1)
                gflops = work / (row["latency_ms_median"] / 1e3) / 1e9
                row["achieved_gflops"] = _round(gflops)
                row["share_of_matmul_peak"] = _round(gflops / peak) if peak else None
            self.writer.add(row)


def _status_of(err: BaseException) -> str:
    return "oom" if is_oom(err) else f"error: {type(err).__name__}: {str(err)[:200]}"


def _model_for(base: nn.Module, variant: Variant, settings: BenchSettings) -> nn.Module:
    torch_side = variant.runtime in ("eager", "optimize")
    changes = settings.channels_last or (
        torch_side and PRECISIONS[variant.precision] != torch.float32
    )
    return copy.deepcopy(base) if changes else base


def _measure_point(
    settings: BenchSettings,
    network: tuple[str, nn.Module, list[Variant]],
    twin: nn.Module | None,
    mode: str,
    bs: int,
    input_size: tuple[int, int, int],
    device: torch.device,
) -> list[dict[str, Any]]:
    """Every variant of one network at one batch size, timed interleaved: one row each."""
    name, base, todo = network
    kind = InferenceBenchmarkRunner if mode == "inference" else TrainBenchmarkRunner
    # A copy only for a variant that changes the network (dtype, memory format): VGG-16 in
    # nine variants would otherwise hold nine 550 MB copies.
    runners = [
        kind(name, v, settings, device, input_size, _model_for(base, v, settings)) for v in todo
    ]
    failed: dict[int, str] = {}
    fns = []
    for i, runner in enumerate(runners):
        try:
            fns.append(runner.call(bs))
        except (KeyboardInterrupt, ConvzooError):
            raise
        except Exception as err:  # one variant that cannot be built must not cost the others
            failed[i] = _status_of(err)
    built = [r for i, r in enumerate(runners) if i not in failed]
    if not built:
        return [{"status": failed[i]} for i in range(len(runners))]
    twin_runner = None
    if twin is not None:
        twin_runner = kind(name, todo[0], settings, device, input_size, twin)
        fns.append(twin_runner.call(bs))
    everyone: list[Any] = [*built, *([twin_runner] if twin_runner else [])]
    with PeakMemory(device) as mem:
        if mode == "train":
            # Warm each step outside the interleaver, so that its fwd/bwd lists hold only
            # timed steps.
            for runner, fn in zip(everyone, fns, strict=True):
                runner.warm(fn)
            times = time_interleaved(fns, device, **_timing(settings, 0))
        else:
            times = time_interleaved(fns, device, **_timing(settings))
    measured = iter(r.row(t, bs) for r, t in zip(built, times, strict=False))
    rows: list[dict[str, Any]] = [
        {"status": failed[i]} if i in failed else next(measured) for i in range(len(runners))
    ]
    for row in rows:
        if "status" not in row:
            row["peak_memory_mb"] = _round(mem.peak_mb)
    if twin_runner is not None:
        tv = twin_runner.row(times[-1], bs)["latency_ms_median"]
        for row in (r for r in rows if "status" not in r):
            row["torchvision_latency_ms_median"] = tv
            # > 1: convzoo is faster; 0.95-1.05 is "the same speed" on a shared machine.
            row["speed_vs_torchvision"] = _round(tv / row["latency_ms_median"])
    return rows
