"""The timing harness behind ``convzoo bench``.

Method (as jcjohnson's cnn-benchmarks and Canziani, Paszke & Culurciello 2016, "An Analysis of
Deep Neural Network Models for Practical Applications"): random inputs of the network's default
size, warm-up runs first (allocator, oneDNN/cuDNN algorithm choice, compilation), then repeated
runs until a time budget per point is spent (at least ``min_reps``); the median and the 10th/90th
percentiles are reported. On GPU every run is bracketed by CUDA events and synchronised.

Results are written after every point (CSV and JSON, temp file then ``os.replace``), so a run
cut short by Ctrl-C or a crash keeps what was measured.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from convzoo.bench.machine import machine_info, matmul_peak_gflops, synchronize
from convzoo.errors import ConvzooError

# "fp32" is strict IEEE float32 on every device; "tf32" is float32 tensors with the GPU's
# TensorFloat-32 matrix units allowed (10-bit mantissa products, PyTorch's default for cuDNN
# convolutions on Ampere and later). Timing both says what TF32 buys on the user's card.
PRECISIONS = {
    "fp32": torch.float32,
    "tf32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}
MODES = ("inference", "train", "both")
RUNTIMES = ("torch", "onnxruntime")

# Column order of results.csv; the JSON holds the same rows.
COLUMNS = [
    "network",
    "runtime",
    "mode",
    "batch_size",
    "precision",
    "device",
    "channels_last",
    "optimized",
    "status",
    "latency_ms_median",
    "latency_ms_p10",
    "latency_ms_p90",
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
    "image_size",
]


@dataclass
class BenchSettings:
    """Everything that defines a benchmark run; written beside the results."""

    names: list[str]
    batch_sizes: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 32, 64])
    device: str = "cpu"
    mode: str = "inference"
    precision: str = "fp32"
    channels_last: bool = False
    optimize: bool = False
    threads: int | None = None
    against: str | None = None
    runtime: str = "torch"
    budget_s: float = 2.0
    min_reps: int = 5
    max_reps: int = 1000
    warmup: int = 2
    image_size: int | None = None
    seed: int = 0
    # cuDNN tries its algorithms on the first call of each shape and keeps the fastest (as
    # cnn-benchmarks did with cudnn.benchmark); the warm-up runs absorb the search.
    cudnn_benchmark: bool = True


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


def validate(settings: BenchSettings) -> None:
    """Refuse bad settings before anything is built or timed."""
    from convzoo.registry import model_card

    if not settings.names:
        raise ConvzooError("no network given; name some (e.g. resnet18) or use --all")
    for name in settings.names:
        model_card(name)  # UnknownModelError with close matches
    settings.batch_sizes = parse_batch_sizes(settings.batch_sizes)
    if settings.mode not in MODES:
        raise ConvzooError(f"mode must be one of {', '.join(MODES)}, got {settings.mode!r}")
    if settings.precision not in PRECISIONS:
        raise ConvzooError(
            f"precision must be one of {', '.join(PRECISIONS)}, got {settings.precision!r}"
        )
    if settings.runtime not in RUNTIMES:
        raise ConvzooError(
            f"runtime must be one of {', '.join(RUNTIMES)}, got {settings.runtime!r}"
        )
    device = torch.device(settings.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConvzooError(
            "--device cuda asked for, but torch sees no CUDA GPU here "
            f"(torch {torch.__version__}, CUDA build {torch.version.cuda}); use --device cpu"
        )
    if device.type not in ("cpu", "cuda"):
        raise ConvzooError(f"device must be cpu or cuda, got {settings.device!r}")
    if settings.runtime == "onnxruntime":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise ConvzooError(
                "--runtime onnxruntime needs onnxruntime: pip install 'convzoo[export]'"
            ) from None
        if settings.mode != "inference":
            raise ConvzooError("--runtime onnxruntime times inference only; use --mode inference")
        if settings.precision != "fp32":
            raise ConvzooError("--runtime onnxruntime is timed in fp32 only")
        if settings.optimize or settings.against:
            raise ConvzooError("--optimize and --against apply to --runtime torch only")
        if device.type == "cuda":
            import onnxruntime as ort

            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ConvzooError(
                    "this onnxruntime has no CUDA provider; pip install onnxruntime-gpu or "
                    "use --device cpu"
                )
    if settings.against not in (None, "torchvision"):
        raise ConvzooError(f"--against accepts only 'torchvision', got {settings.against!r}")
    if settings.optimize and settings.mode != "inference":
        raise ConvzooError("--optimize makes an inference-only network; use --mode inference")
    if settings.precision == "fp16" and device.type == "cpu":
        raise ConvzooError("fp16 on CPU is emulated and meaningless to time; use bf16 or fp32")
    if settings.precision == "tf32" and device.type != "cuda":
        raise ConvzooError("tf32 is a mode of NVIDIA GPUs' matrix units; on CPU use fp32 or bf16")
    if settings.threads is not None and settings.threads < 1:
        raise ConvzooError(f"--threads must be at least 1, got {settings.threads}")
    if settings.budget_s <= 0:
        raise ConvzooError(f"the time budget per point must be positive, got {settings.budget_s}")


# --------------------------------------------------------------------------------------------
# Timing primitives
# --------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default rule), ``q`` in [0, 100]."""
    if not values:
        return math.nan
    s = sorted(values)
    pos = (len(s) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summarize_times(seconds: list[float]) -> dict[str, float]:
    """Median, p10, p90 in milliseconds."""
    return {
        "median_ms": statistics.median(seconds) * 1e3,
        "p10_ms": percentile(seconds, 10) * 1e3,
        "p90_ms": percentile(seconds, 90) * 1e3,
        "reps": len(seconds),
    }


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
    """Seconds per call of each function, the functions taking turns (A B A B ...).

    Taking turns puts the same background load on each, which is what makes a ratio between
    two implementations trustworthy on a shared machine. Stops when the budget is spent (after
    at least ``min_reps`` rounds) or after ``max_reps`` rounds.

    ``pause_s`` sleeps (untimed) after every call: ONNX Runtime's worker threads keep spinning
    for a while after a run returns, and without a pause they slow down whichever function is
    timed next (measured: torchvision eager at batch 1 timed right after ORT ran at 20 img/s,
    the same network one slot later at 46).
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
    while rounds < min_reps or (time.perf_counter() - start < budget_s and rounds < max_reps):
        for fn, out in zip(fns, times, strict=True):
            with timer.measure(out):
                fn()
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
    if isinstance(err, torch.OutOfMemoryError):
        return True
    text = str(err).lower()
    return isinstance(err, (RuntimeError, MemoryError)) and (
        "out of memory" in text or "can't allocate memory" in text or isinstance(err, MemoryError)
    )


@contextlib.contextmanager
def cuda_math_flags(device: torch.device, precision: str, cudnn_benchmark: bool) -> Iterator[None]:
    """cuDNN autotuning and TF32 set for the run and restored after it (CUDA only)."""
    if device.type != "cuda":
        yield
        return
    backends = torch.backends
    saved = (
        backends.cudnn.benchmark,
        backends.cudnn.allow_tf32,
        backends.cuda.matmul.allow_tf32,
    )
    tf32 = precision == "tf32"
    backends.cudnn.benchmark = cudnn_benchmark
    backends.cudnn.allow_tf32 = tf32
    backends.cuda.matmul.allow_tf32 = tf32
    try:
        yield
    finally:
        (
            backends.cudnn.benchmark,
            backends.cudnn.allow_tf32,
            backends.cuda.matmul.allow_tf32,
        ) = saved


# --------------------------------------------------------------------------------------------
# Costs
# --------------------------------------------------------------------------------------------


def network_macs(name: str, input_size: tuple[int, int, int]) -> tuple[int, int]:
    """(parameters, multiply-adds) of one image through the network.

    Uses the structural tables (``convzoo.summarize``) where they exist; otherwise
    ``torch.utils.flop_counter`` on the meta device, FLOPs / 2 (it counts convs and matmuls,
    which are > 99% of these networks' multiply-adds).
    """
    import convzoo

    try:
        summary = convzoo.summarize(name, input_size=input_size)
        return int(summary.total_params), int(summary.total_macs)
    except ConvzooError:
        raise  # the input size does not fit the network: the user's to fix
    except Exception:
        pass  # a tracing gap (e.g. an older torch): count with torch's own counter instead
    from torch.utils.flop_counter import FlopCounterMode

    from convzoo.registry import count_parameters, create_model

    with torch.device("meta"):
        model = create_model(name, in_chans=input_size[0]).eval()
        x = torch.empty(1, *input_size)
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(x)
    return count_parameters(model), int(counter.get_total_flops() // 2)


# --------------------------------------------------------------------------------------------
# Building what is timed
# --------------------------------------------------------------------------------------------


def torchvision_twin(name: str, num_classes: int = 1000, aux_logits: bool = False) -> nn.Module:
    """The torchvision network a convzoo network is the twin of (random weights).

    ``aux_logits`` builds GoogLeNet's auxiliary heads too, so that a training-mode comparison
    runs the same heads on both sides.
    """
    import torchvision

    from convzoo.registry import model_card

    twin = model_card(name).torchvision_twin
    if not twin:
        raise ConvzooError(f"{name} has no torchvision twin")
    kwargs: dict[str, Any] = {"weights": None, "num_classes": num_classes}
    if twin in ("googlenet", "inception_v3"):
        kwargs.update(aux_logits=aux_logits, init_weights=False)
    return torchvision.models.get_model(twin, **kwargs)


def _logits(out: Any) -> Tensor:
    return out[0] if isinstance(out, tuple) else out


def _train_loss(out: Any) -> Tensor:
    # GoogLeNet in training mode returns (logits, aux2, aux1); all heads get gradients, as in
    # the paper's training (aux losses weighted 0.3, Szegedy et al. 2015 sec. 5).
    if isinstance(out, tuple):
        return out[0].float().sum() + 0.3 * sum(o.float().sum() for o in out[1:] if o is not None)
    return out.float().sum()


def _point_fields(
    settings: BenchSettings, name: str, mode: str, bs: int, image_size: str
) -> dict[str, Any]:
    """The columns that say which point a row is, whatever its outcome."""
    return {
        "network": name,
        "runtime": settings.runtime,
        "mode": mode,
        "batch_size": bs,
        "precision": settings.precision,
        "device": str(torch.device(settings.device)),
        "channels_last": settings.channels_last,
        "optimized": settings.optimize,
        "image_size": image_size,
    }


@dataclass
class _Point:
    network: str
    batch_size: int
    mode: str


class _ResultsWriter:
    """Rows to ``results.csv`` and ``results.json`` after every point, atomically."""

    def __init__(self, out: Path, machine: dict[str, Any], settings: BenchSettings) -> None:
        self.out = out
        self.meta = {"machine": machine, "settings": asdict(settings)}
        self.rows: list[dict[str, Any]] = []
        self.complete = False
        out.mkdir(parents=True, exist_ok=True)

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.flush()

    def _replace(self, name: str, write: Callable[[Any], None]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=self.out)
        try:
            with os.fdopen(fd, "w", newline="") as f:
                write(f)
            os.replace(tmp, self.out / name)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def flush(self) -> None:
        def write_csv(f: Any) -> None:
            w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
            w.writeheader()
            for r in self.rows:
                w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in COLUMNS})

        def write_json(f: Any) -> None:
            json.dump({**self.meta, "complete": self.complete, "results": self.rows}, f, indent=1)

        self._replace("results.csv", write_csv)
        self._replace("results.json", write_json)


def _round(x: float | None, digits: int = 4) -> float | None:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None
    return float(f"{x:.{digits}g}")


def run_benchmark(
    settings: BenchSettings,
    out_dir: str | os.PathLike[str],
    *,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Time every network at every batch size; write results as they come; return the rows.

    Each row is one (network, mode, batch size) point with status ``ok``, ``oom`` (recorded,
    the run goes on) or ``error: ...``.
    """
    validate(settings)
    device = torch.device(settings.device)
    with cuda_math_flags(device, settings.precision, settings.cudnn_benchmark):
        return _run_points(settings, Path(out_dir), device, progress)


def _run_points(
    settings: BenchSettings, out_dir: Path, device: torch.device, progress: bool
) -> list[dict[str, Any]]:
    from tqdm.auto import tqdm

    from convzoo.registry import create_model, model_card

    if settings.threads:
        torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    dtype = PRECISIONS[settings.precision]
    machine = machine_info(device)
    machine["matmul_peak_gflops"] = _round(matmul_peak_gflops(device, dtype), 5)
    machine["matmul_peak_dtype"] = settings.precision
    if device.type == "cuda":
        machine["cuda_math"] = {
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        }
    writer = _ResultsWriter(out_dir, machine, settings)
    writer.flush()
    modes = ["inference", "train"] if settings.mode == "both" else [settings.mode]
    points = [_Point(n, b, m) for n in settings.names for m in modes for b in settings.batch_sizes]
    bar = tqdm(total=len(points), disable=not progress, unit="point", desc="bench")
    onnx_dir = tempfile.TemporaryDirectory(prefix="convzoo-onnx-")
    try:
        for name in settings.names:
            card = model_card(name)
            c, h, w = card.input_size
            if settings.image_size:
                h = w = settings.image_size
            size = f"{c}x{h}x{w}"
            try:
                params, macs = network_macs(name, (c, h, w))
                model = create_model(name).to(device=device, dtype=dtype)
                model._convzoo_onnx_dir = os.path.join(onnx_dir.name, name)
                os.makedirs(model._convzoo_onnx_dir, exist_ok=True)
                twin = None
                if settings.against == "torchvision" and card.torchvision_twin:
                    aux = bool(getattr(model, "aux_logits", False))
                    twin = torchvision_twin(name, aux_logits=aux).to(device=device, dtype=dtype)
                if settings.channels_last:
                    model = model.to(memory_format=torch.channels_last)
                    if twin is not None:
                        twin = twin.to(memory_format=torch.channels_last)
            except ConvzooError:
                raise
            except Exception as err:
                # One network that cannot be built or moved must not cost the others' results.
                status = "oom" if is_oom(err) else f"error: {type(err).__name__}: {str(err)[:200]}"
                for mode in modes:
                    for bs in settings.batch_sizes:
                        where = _point_fields(settings, name, mode, bs, size)
                        writer.add({**where, "status": status})
                        bar.update(1)
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                continue
            for mode in modes:
                for bs in settings.batch_sizes:
                    bar.set_postfix_str(f"{name} {mode} bs={bs}")
                    base = {
                        **_point_fields(settings, name, mode, bs, size),
                        "params": params,
                        "gmacs_per_image": _round(macs / 1e9, 5),
                    }
                    try:
                        row = _measure_point(
                            settings, model, twin, mode, bs, (c, h, w), device, dtype
                        )
                        row["status"] = "ok"
                    except KeyboardInterrupt:
                        raise
                    except Exception as err:
                        if not is_oom(err):
                            if isinstance(err, ConvzooError):
                                raise
                            row = {"status": f"error: {type(err).__name__}: {str(err)[:200]}"}
                        else:
                            row = {"status": "oom"}
                        if device.type == "cuda":
                            torch.cuda.empty_cache()
                    row = {**base, **row}
                    if row["status"] == "ok":
                        # Training costs ~3x the forward multiply-adds (forward, and the
                        # gradients w.r.t. inputs and weights in backward).
                        work = 2 * macs * bs * (3 if mode == "train" else 1)
                        gflops = work / (row["latency_ms_median"] / 1e3) / 1e9
                        row["achieved_gflops"] = _round(gflops)
                        peak = machine["matmul_peak_gflops"]
                        row["share_of_matmul_peak"] = _round(gflops / peak) if peak else None
                    writer.add(row)
                    bar.update(1)
            del model, twin
            if device.type == "cuda":
                torch.cuda.empty_cache()
        writer.complete = True
        writer.flush()
    except KeyboardInterrupt:
        writer.meta["interrupted"] = True
        writer.flush()
        raise
    finally:
        bar.close()
        onnx_dir.cleanup()
    return writer.rows


def _measure_point(
    settings: BenchSettings,
    model: nn.Module,
    twin: nn.Module | None,
    mode: str,
    bs: int,
    input_size: tuple[int, int, int],
    device: torch.device,
    dtype: torch.dtype,
) -> dict[str, Any]:
    x = torch.randn(bs, *input_size, device=device, dtype=dtype)
    if settings.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    timing = {
        "warmup": settings.warmup,
        "budget_s": settings.budget_s,
        "min_reps": settings.min_reps,
        "max_reps": settings.max_reps,
    }
    row: dict[str, Any] = {}
    if mode == "inference":
        fns = [_inference_fn(settings, model, x, device)]
        if twin is not None:
            twin.eval()
            fns.append(lambda: _no_grad_call(twin, x))
        with PeakMemory(device) as mem:
            times = time_interleaved(fns, device, **timing)
        stats = summarize_times(times[0])
        if twin is not None:
            tv = statistics.median(times[1]) * 1e3
            row["torchvision_latency_ms_median"] = _round(tv)
            # > 1: convzoo is faster; 0.95-1.05 is "the same speed" on a shared machine.
            row["speed_vs_torchvision"] = _round(tv / stats["median_ms"])
    else:
        model.train()
        fwd: list[float] = []
        bwd: list[float] = []
        timer = _Timer(device)
        tv_fwd: list[float] = []
        tv_bwd: list[float] = []

        # Both sides are timed alike: forward and backward each between their own marks (as
        # cnn-benchmarks did), so both pay the same synchronisation between the two. The twin
        # was once timed as one region, which lets a GPU run its backward's first kernels while
        # the CPU is still queueing them; on an H200 that run gave ResNet-152 a ratio of 0.83
        # and AlexNet 0.88 (docs/benchmarks-gpu.md).
        def timed_step(net: nn.Module, f: list[float], b: list[float]) -> None:
            net.zero_grad(set_to_none=True)
            with timer.measure(f):
                loss = _train_loss(net(x))
            with timer.measure(b):
                loss.backward()

        def step() -> None:
            timed_step(model, fwd, bwd)

        def twin_step() -> None:
            timed_step(twin, tv_fwd, tv_bwd)

        fns: list[Callable[[], Any]] = [step]
        if twin is not None:
            twin.train()
            fns.append(twin_step)
        with PeakMemory(device) as mem:
            for fn in fns:
                for _ in range(settings.warmup):
                    fn()
            for times in (fwd, bwd, tv_fwd, tv_bwd):
                times.clear()  # the warm-up's timings
            time_interleaved(fns, device, **{**timing, "warmup": 0})
        model.eval()
        total = [f + b for f, b in zip(fwd, bwd, strict=True)]
        stats = summarize_times(total)
        row["forward_ms"] = _round(statistics.median(fwd) * 1e3)
        row["backward_ms"] = _round(statistics.median(bwd) * 1e3)
        if twin is not None:
            twin.eval()
            tv = statistics.median([f + b for f, b in zip(tv_fwd, tv_bwd, strict=True)]) * 1e3
            row["torchvision_latency_ms_median"] = _round(tv)
            row["speed_vs_torchvision"] = _round(tv / stats["median_ms"])
    row.update(
        {
            "latency_ms_median": _round(stats["median_ms"]),
            "latency_ms_p10": _round(stats["p10_ms"]),
            "latency_ms_p90": _round(stats["p90_ms"]),
            "reps": stats["reps"],
            "images_per_s": _round(bs / (stats["median_ms"] / 1e3)),
            "peak_memory_mb": _round(mem.peak_mb),
        }
    )
    return row


def _no_grad_call(model: nn.Module, x: Tensor) -> Any:
    with torch.inference_mode():
        return model(x)


def _inference_fn(
    settings: BenchSettings, model: nn.Module, x: Tensor, device: torch.device
) -> Callable[[], Any]:
    model.eval()
    if settings.runtime == "onnxruntime":
        return _onnxruntime_fn(settings, model, x, device)
    if settings.optimize:
        from convzoo.export import optimize

        fast = optimize(model, x)
        return lambda: fast(x)
    return lambda: _no_grad_call(model, x)


def _onnxruntime_fn(
    settings: BenchSettings, model: nn.Module, x: Tensor, device: torch.device
) -> Callable[[], Any]:
    from convzoo.export import export_onnx, onnx_session

    # One export per network (dynamic batch), reused by every batch size; the folder is the
    # run's temporary one, removed at the end.
    path = Path(model._convzoo_onnx_dir) / "model.onnx"
    if not path.exists():
        export_onnx(model, path, x[:1].float().contiguous(), dynamic_batch=True, verify=False)
    session = onnx_session(path, threads=settings.threads or torch.get_num_threads())
    feed = {session.get_inputs()[0].name: x.float().contiguous().cpu().numpy()}
    return lambda: session.run(None, feed)
