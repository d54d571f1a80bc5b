"""The machine a benchmark ran on, the versions, and the device's measured matmul peak."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import time
from typing import Any

import torch

from convzoo.threads import load_average
from convzoo.version import __version__


def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo`` on Linux, ``platform`` elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return None


def _convzoo_version() -> str:
    # Run from a source tree (PYTHONPATH=src, as on the lent GPU machine) there is no
    # installed distribution to ask.
    return f"{__version__} (source tree)"


# The CPU features that decide which kernels the runtimes can use: AVX-512, its bf16 and VNNI
# (int8 dot products) extensions, and Intel's AMX tiles (bf16/int8 matrix units).
_CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8")


def cpu_features() -> list[str]:
    """Which of the math features above ``/proc/cpuinfo`` lists (empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return [flag for flag in _CPU_FLAGS if flag in have]
    except OSError:
        pass
    return []


def machine_info(device: str | torch.device = "cpu") -> dict[str, Any]:
    """CPU, cores, threads, GPU, memory and library versions: what makes a timing comparable."""
    import psutil

    device = torch.device(device)
    info: dict[str, Any] = {
        "timestamp_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_features": cpu_features(),
        "physical_cores": psutil.cpu_count(logical=False),
        "logical_cores": psutil.cpu_count(logical=True),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average_1m": load_average(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "device": str(device),
        "versions": {
            "torch": torch.__version__,
            "torchvision": _version("torchvision"),
            "onnxruntime": _version("onnxruntime"),
            "onnx": _version("onnx"),
            "openvino": _version("openvino"),
            "nncf": _version("nncf"),
            "torchao": _version("torchao"),
            "convzoo": _version("convzoo") or _convzoo_version(),
            "numpy": _version("numpy"),
        },
    }
    if device.type == "cuda" and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(device)
        info["gpu"] = {
            "name": props.name,
            "memory_gb": round(props.total_memory / 2**30, 1),
            "capability": f"{props.major}.{props.minor}",
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
        }
    return info


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work; a no-op on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak_gflops(
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    n: int | None = None,
    budget_s: float = 1.0,
) -> float:
    """The best GFLOP/s of a square ``n x n`` matmul (2 n^3 FLOPs) seen within ``budget_s``.

    A measured peak, not the data-sheet one: achieved convolution GFLOP/s are reported as a share
    of it, so that "how far from the hardware's dense-math speed" is read on the same machine,
    threads and load as the networks.
    """
    device = torch.device(device)
    if n is None:
        n = 4096 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    # The best single run, not torch.utils.benchmark's block means: a peak is the fastest the
    # hardware went, and on a shared machine a block mean carries the other work's slices.
    best = float("inf")
    with torch.no_grad():
        torch.mm(a, b)
        synchronize(device)
        start = time.perf_counter()
        reps = 0
        while reps < 3 or (time.perf_counter() - start < budget_s and reps < 50):
            t0 = time.perf_counter()
            torch.mm(a, b)
            synchronize(device)
            best = min(best, time.perf_counter() - t0)
            reps += 1
    return 2 * n**3 / best / 1e9
