"""Every network on one GPU, as the benchmarks issue asks, in one run that fits a short lease.

Phases, most important first, each skipped when the time left is below its estimate:

1. ``fp32``: inference, strict fp32 (TF32 off), channels-last, every network, batch 1 to 256;
2. ``cnnbench``: training forward/backward at batch 16 (cnn-benchmarks' setting), strict fp32,
   NCHW, every network, each torchvision twin timed in turns with ours;
3. ``bf16``: inference, bf16, channels-last, every network, batch 1 to 256;
4. ``tests``: ``pytest tests/test_cuda.py`` (every path on CUDA);
5. ``twins``: inference against the torchvision twins, interleaved, batch 1, 16 and 256;
6. ``tf32``: inference with TF32 allowed at batch 16 and 256, and training at batch 16;
7. ``optimize``: ``convzoo.optimize`` (inductor) for ResNet-18, fp32 and bf16.

Results go to ``OUT_DIR/<phase>/results.{csv,json}``; after every phase the whole folder is
packed into ``TARBALL`` so that a run cut short still returns what it measured.

    PYTHONPATH=src python benchmarks/gpu_sweep.py OUT_DIR TARBALL [--deadline SECONDS]

``python benchmarks/gpu_report.py OUT_DIR`` then writes the tables of docs/benchmarks-gpu.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import time
import traceback
from pathlib import Path

import torch

from convzoo.bench.harness import BenchSettings, run_benchmark
from convzoo.registry import list_models

BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256]
FAST = {"budget_s": 0.15, "min_reps": 5, "warmup": 2}


DEVICE = "cuda"


def bench(out: Path, **kw) -> list[dict]:
    settings = BenchSettings(device=DEVICE, **{**FAST, **kw})
    rows = run_benchmark(settings, out, progress=False)
    bad = [r for r in rows if r["status"] != "ok"]
    print(f"  {len(rows)} points, {len(bad)} not ok", flush=True)
    for r in bad:
        print(f"  {r['network']} {r['mode']} bs={r['batch_size']}: {r['status']}", flush=True)
    return rows


def phases(root: Path, quick: bool) -> list[tuple[str, float, object]]:
    names = list_models()
    batches = [1, 4] if quick else BATCHES
    if quick:
        names = ["lenet5", "resnet18"]

    def fp32():
        bench(root / "fp32", names=names, batch_sizes=batches, channels_last=True)

    def cnnbench():
        bench(
            root / "cnnbench",
            names=names,
            batch_sizes=[16],
            mode="train",
            against="torchvision",
        )

    def bf16():
        bench(root / "bf16", names=names, batch_sizes=batches, precision="bf16", channels_last=True)

    def tests():
        cmd = [sys.executable, "-m", "pytest", "tests/test_cuda.py", "-q", "-p", "no:cacheprovider"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
        (root / "tests.log").write_text(proc.stdout + proc.stderr)
        print("\n".join(proc.stdout.splitlines()[-25:]), flush=True)

    def twins():
        bench(
            root / "twins",
            names=names,
            batch_sizes=[1, 16, 256],
            channels_last=True,
            against="torchvision",
        )

    def tf32():
        bench(
            root / "tf32",
            names=names,
            batch_sizes=[16, 256],
            precision="tf32",
            channels_last=True,
            mode="inference",
        )
        bench(
            root / "tf32-train",
            names=names,
            batch_sizes=[16],
            precision="tf32",
            channels_last=True,
            mode="train",
        )

    def optimize():
        for precision in ("fp32", "bf16"):
            bench(
                root / f"optimize-{precision}",
                names=["resnet18"],
                batch_sizes=[1, 16, 256],
                precision=precision,
                optimize=True,
            )

    # (name, seconds it took on an H200 on 2026-11-26, function). The first three took 490 s
    # there: a 15-minute lease holds them and the tests, not more; --only picks the rest.
    return [
        ("fp32", 320, fp32),
        ("cnnbench", 60, cnnbench),
        ("bf16", 110, bf16),
        ("tests", 140, tests),
        ("twins", 120, twins),
        ("tf32", 120, tf32),
        ("optimize", 45, optimize),
    ]


def print_gpu() -> None:
    props = torch.cuda.get_device_properties(0)
    print(
        f"{props.name}, {props.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, "
        f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}",
        flush=True,
    )


def pack(root: Path, tarball: Path) -> None:
    tmp = tarball.with_suffix(".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        tar.add(root, arcname=root.name)
    tmp.replace(tarball)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("tarball", type=Path)
    ap.add_argument("--deadline", type=float, default=420, help="seconds for the whole run")
    ap.add_argument("--quick", action="store_true", help="two networks, two batch sizes")
    ap.add_argument("--only", default=None, help="comma-separated phases to run")
    ap.add_argument("--cpu-dry-run", action="store_true", help="check the plumbing on CPU")
    args = ap.parse_args()
    start = time.perf_counter()
    if args.cpu_dry_run:
        global DEVICE
        DEVICE = "cpu"
    elif not torch.cuda.is_available():
        print("no CUDA GPU: nothing to do", file=sys.stderr)
        return 2
    else:
        print_gpu()
    args.out.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(",")) if args.only else None
    for name, need, fn in phases(args.out, args.quick):
        if only and name not in only:
            continue
        left = args.deadline - (time.perf_counter() - start)
        if left < need:
            print(f"[{name}] skipped: {left:.0f} s left, needs about {need}", flush=True)
            continue
        t0 = time.perf_counter()
        print(f"[{name}] start at {t0 - start:.0f} s", flush=True)
        try:
            fn()
        except Exception:
            traceback.print_exc()
        print(f"[{name}] took {time.perf_counter() - t0:.0f} s", flush=True)
        pack(args.out, args.tarball)
    print(f"done in {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
