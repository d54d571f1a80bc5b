"""Training speed: time to accuracy with LeNet-5, and the trainer's overhead on ResNet-18.

    python benchmarks/train_speed.py                 # every measurement
    python benchmarks/train_speed.py --only digits   # digits | fashion | plain | head | resnet
    python benchmarks/train_speed.py --only plain --repeats 3   # the side-by-side of issue 14
    python benchmarks/train_speed.py --only head --images 1000 --size 224
    python benchmarks/train_speed.py --only resnet --device cuda --size 224

1. Seconds until LeNet-5 reaches 98% validation accuracy on scikit-learn's digits (the
   `convzoo train lenet5` defaults), measured at the end of each epoch (training + validation).
2. Seconds until LeNet-5 reaches 90% test accuracy on Fashion-MNIST (needs the idx files: Debian's
   dataset-fashion-mnist package or --data-dir).
3. ResNet-18 training images/s at batch 32 through `convzoo.train.fit` (progress bar on) beside a
   plain loop (forward, loss, backward, SGD step) over torchvision's ResNet-18 on the same
   synthetic images, interleaved and repeated, medians reported. The overhead must stay < 5%.

4. ``plain``: the whole command `convzoo train lenet5 --data fashion-mnist` (its default recipe,
   a fresh process, start-up, data, validation, checkpoints and the final test evaluation all
   counted) beside a plain PyTorch loop in a fresh process: LeNet-5 as taught, torchvision's
   FashionMNIST with ToTensor, Adam at 1e-3, batch 128, 10 epochs, test accuracy at the end.
   Interleaved, repeated, medians reported. The command must finish sooner and reach a higher
   test accuracy, at least 90%.
5. ``head``: `finetune --mode head` (ResNet-18) on a generated folder, with the backbone's
   features computed once (the default) and without (``cache_features=False``).

Results go to stdout as JSON lines (one per measurement) with the machine and versions; the
numbers are recorded in docs/training.md.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

import convzoo
from convzoo.data import build_datasets
from convzoo.train import RECIPES, Callback, TrainConfig, fit
from convzoo.train.checkpoint import versions


def machine() -> dict:
    import psutil

    info = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load_avg_1min": os.getloadavg()[0],
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "torch_threads": torch.get_num_threads(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return {**info, **versions()}


class TimeToAccuracy(Callback):
    """Wall time from the start of fit until val accuracy first reaches ``target``."""

    def __init__(self, target: float):
        self.target = target
        self.t0 = time.perf_counter()
        self.reached: tuple[int, float, float] | None = None

    def on_fit_start(self, trainer) -> None:
        self.t0 = time.perf_counter()

    def on_epoch_end(self, trainer, epoch, metrics) -> None:
        if self.reached is None and metrics["val_acc"] >= self.target:
            self.reached = (epoch + 1, time.perf_counter() - self.t0, metrics["val_acc"])


def time_to_accuracy(data_spec: str, target: float, cfg: TrainConfig, data_dir=None) -> dict:
    torch.manual_seed(cfg.seed)
    t_data = time.perf_counter()
    card = convzoo.model_card("lenet5")
    data = build_datasets(data_spec, card, seed=cfg.seed, data_dir=data_dir, augment=cfg.augment)
    t_data = time.perf_counter() - t_data
    model = convzoo.create_model("lenet5", num_classes=len(data.classes))
    probe = TimeToAccuracy(target)
    t = time.perf_counter()
    result = fit(model, data, None, cfg, None, callbacks=[probe], quiet=True)
    total = time.perf_counter() - t
    return {
        "measure": f"lenet5 {data_spec} time to {target:.0%}",
        "data_seconds": round(t_data, 2),
        "reached_epoch": probe.reached[0] if probe.reached else None,
        "seconds_to_target": round(probe.reached[1], 2) if probe.reached else None,
        "acc_at_target": probe.reached[2] if probe.reached else None,
        "best_val_acc": result.best_val_acc,
        "epochs": cfg.epochs,
        "total_seconds": round(total, 2),
        "config": {k: v for k, v in cfg.to_dict().items() if k not in ("model_kwargs", "betas")},
    }


def plain_loop_step_times(model, loader, device, steps: int, amp: bool, channels_last: bool):
    """Seconds per step of a plain loop: fetch, forward, loss, backward, SGD step."""
    opt = torch.optim.SGD(
        model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4
    )
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    model.train()
    times = []
    it = iter(loader)
    t = time.perf_counter()
    for _ in range(steps):
        x, y = next(it)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        if device.type == "cuda":
            torch.cuda.synchronize()
        now = time.perf_counter()
        times.append(now - t)
        t = now
    return times


class StepTimer(Callback):
    """Seconds per step inside fit: from one step's end to the next (so data loading, the
    loss check, the scheduler, the progress bar and the callbacks are all counted)."""

    def __init__(self):
        self.times: list[float] = []
        self.t = 0.0

    def on_epoch_start(self, trainer, epoch) -> None:
        self.t = time.perf_counter()

    def on_step_end(self, trainer, epoch, step, loss) -> None:
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        now = time.perf_counter()
        self.times.append(now - self.t)
        self.t = now


def trainer_step_times(model, ds, val, device, batch: int) -> list[float]:
    cfg = TrainConfig(
        epochs=1,
        batch_size=batch,
        warmup_epochs=0,
        device=str(device),
        lr=0.01,
        threads=torch.get_num_threads(),
    )
    timer = StepTimer()
    sink = io.StringIO()
    # The progress bar stays on (it is part of the trainer's cost), written into a buffer.
    with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
        fit(model, ds, val, cfg, None, classes=[str(i) for i in range(10)], callbacks=[timer])
    return timer.times


def resnet_overhead(device: torch.device, size: int, steps: int, repeats: int, batch: int) -> dict:
    """Interleaved runs; per-step times. On a shared machine the fastest step (best of all runs)
    is the estimate least disturbed by other jobs; the median is reported too."""
    import torchvision

    n = batch * steps
    torch.manual_seed(0)
    x = torch.randn(n, 3, size, size)
    y = torch.randint(0, 10, (n,))
    ds = TensorDataset(x, y)
    val = TensorDataset(x[:batch], y[:batch])
    on_gpu = device.type == "cuda"
    tv = torchvision.models.resnet18(num_classes=10).to(device)
    ours = convzoo.create_model("resnet18", num_classes=10).to(device)
    if on_gpu:
        tv = tv.to(memory_format=torch.channels_last)
    loader = DataLoader(ds, batch_size=batch, shuffle=True, pin_memory=on_gpu)
    # Warm-up: allocator, cuDNN autotuning, first-call costs.
    plain_loop_step_times(tv, loader, device, 2, on_gpu, on_gpu)
    trainer_step_times(tv, TensorDataset(x[: 2 * batch], y[: 2 * batch]), val, device, batch)
    plain: list[float] = []
    fit_tv: list[float] = []
    fit_ours: list[float] = []
    for _ in range(repeats):  # interleaved, so a change in machine load hits all three alike
        plain += plain_loop_step_times(tv, loader, device, steps, on_gpu, on_gpu)
        fit_tv += trainer_step_times(tv, ds, val, device, batch)
        fit_ours += trainer_step_times(ours, ds, val, device, batch)

    def ips(t: float) -> float:
        return round(batch / t, 2)

    best = {k: min(v) for k, v in (("plain", plain), ("fit_tv", fit_tv), ("fit_ours", fit_ours))}
    med = {
        k: statistics.median(v)
        for k, v in (("plain", plain), ("fit_tv", fit_tv), ("fit_ours", fit_ours))
    }
    return {
        "measure": f"resnet18 train images/s, batch {batch}, {size}x{size}, {device.type}",
        "best_step_images_per_s": {k: ips(v) for k, v in best.items()},
        "median_step_images_per_s": {k: ips(v) for k, v in med.items()},
        "overhead_fit_vs_plain_pct_best": round(100 * (best["fit_tv"] / best["plain"] - 1), 2),
        "overhead_fit_vs_plain_pct_median": round(100 * (med["fit_tv"] / med["plain"] - 1), 2),
        "step_seconds": {"plain": plain, "fit_tv": fit_tv, "fit_ours": fit_ours},
        "steps_per_run": steps,
        "repeats": repeats,
        "amp_channels_last": on_gpu,
    }


def fixed_step_cost(steps: int = 300, batch: int = 32) -> dict:
    """The trainer's own cost per step, apart from the network: the same loops over a linear
    layer on 16 features, where the network costs almost nothing (median step time)."""
    # One thread: with two, a busy machine makes every tiny step jump from 0.3 to 19 ms (both
    # loops alike), which would hide the difference being measured.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x, y = torch.randn(steps * batch, 1, 4, 4), torch.randint(0, 10, (steps * batch,))
    ds = TensorDataset(x, y)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 10))
    loader = DataLoader(ds, batch_size=batch, shuffle=True)
    cpu = torch.device("cpu")
    plain = statistics.median(plain_loop_step_times(model, loader, cpu, steps, False, False))
    fitted = statistics.median(trainer_step_times(model, ds, ds, cpu, batch))
    torch.set_num_threads(threads)
    return {
        "measure": "fixed cost per step (network ~free), cpu",
        "plain_ms": round(1000 * plain, 3),
        "fit_ms": round(1000 * fitted, 3),
        "fit_extra_ms_per_step": round(1000 * (fitted - plain), 3),
    }


# ----------------------------------------------------------------- 4. the command vs a plain loop

# The plain loop a course would write, run as its own process (`--plain-loop ROOT`).
PLAIN_LOOP = """
import sys, time
t0 = time.perf_counter()
import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

root, epochs, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if threads:
    torch.set_num_threads(threads)
torch.manual_seed(0)
tf = transforms.Compose(
    [transforms.Pad(2), transforms.ToTensor(), transforms.Normalize((0.2860,), (0.3530,))]
)
train = datasets.FashionMNIST(root, train=True, download=False, transform=tf)
test = datasets.FashionMNIST(root, train=False, download=False, transform=tf)
model = nn.Sequential(  # LeNet-5 as taught
    nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(6, 16, 5), nn.Tanh(),
    nn.AvgPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84),
    nn.Tanh(), nn.Linear(84, 10),
)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loader = DataLoader(train, batch_size=128, shuffle=True)
for epoch in range(epochs):
    model.train()
    for x, y in loader:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
model.eval()
correct = 0
with torch.no_grad():
    for x, y in DataLoader(test, batch_size=1000):
        correct += (model(x).argmax(1) == y).sum().item()
print(correct / len(test), time.perf_counter() - t0)
"""


def fashion_root_for_torchvision(src: Path, dst: Path) -> Path:
    """torchvision's FashionMNIST wants the unpacked idx files in ROOT/FashionMNIST/raw."""
    raw = dst / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for gz in src.glob("*-ubyte.gz"):
        with gzip.open(gz, "rb") as f, open(raw / gz.name[:-3], "wb") as out:
            shutil.copyfileobj(f, out)
    return dst


def write_fake_fashion(dst: Path, n_train: int = 256, n_test: int = 128) -> Path:
    """Small random idx files in Fashion-MNIST's names: for a smoke run of the benchmark."""
    import struct

    g = torch.Generator().manual_seed(0)
    dst.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = (torch.rand(n, 28, 28, generator=g) * 255).to(torch.uint8).numpy()
        labels = (torch.arange(n) % 10).to(torch.uint8).numpy()
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            header = struct.pack(f">BBBB{arr.ndim}i", 0, 0, 8, arr.ndim, *arr.shape)
            with gzip.open(dst / f"{split}-{kind}-ubyte.gz", "wb") as f:
                f.write(header + arr.tobytes())
    return dst


def command_vs_plain_loop(
    data_dir: Path,
    repeats: int,
    epochs: int,
    threads: int,
    extra: tuple[str, ...] = (),
    variants: tuple[str, ...] = (),
) -> dict:
    """Wall time of each whole process and its test accuracy; the command, each variant of it
    (``--variant "--threads 2"``: options added to the default recipe) and the plain loop,
    interleaved. ``extra``: options added to every command (the smoke run's ``--epochs 1``)."""
    src = Path(__file__).resolve().parents[1] / "src"
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    commands = {"convzoo": ()} | {f"convzoo {v}": tuple(v.split()) for v in variants}
    rows: dict[str, list[dict]] = {name: [] for name in [*commands, "plain"]}
    with tempfile.TemporaryDirectory() as tmp:
        root = fashion_root_for_torchvision(data_dir, Path(tmp) / "tv")
        for i in range(repeats):
            for j, (name, options) in enumerate(commands.items()):
                out = Path(tmp) / f"run-{i}-{j}"
                cmd = [sys.executable, "-m", "convzoo.cli", "train", "lenet5", "--data"]
                cmd += ["fashion-mnist", "--data-dir", str(data_dir), "--out", str(out)]
                cmd += ["--quiet", *extra, *options]
                t = time.perf_counter()
                subprocess.run(cmd, env=env, check=True, capture_output=True)
                wall = time.perf_counter() - t
                summary = json.loads((out / "summary.json").read_text())
                # Until the data set has its own held-out validation split, "val" is the test set.
                test = summary["test"] or {"top1": summary["best"]["val_acc"]}
                rows[name].append({"seconds": round(wall, 2), "test_top1": test["top1"]})
            t = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", PLAIN_LOOP, str(root), str(epochs), str(threads)],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - t
            acc = float(done.stdout.split()[0])
            rows["plain"].append({"seconds": round(wall, 2), "test_top1": acc})

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in rows[name])

    return {
        "measure": "convzoo train lenet5 --data fashion-mnist vs a plain loop (whole processes)",
        "plain_loop": f"LeNet-5, torchvision FashionMNIST + ToTensor, Adam 1e-3, batch 128, "
        f"{epochs} epochs, torch threads {threads or 'default'}",
        "convzoo_recipe": {
            k: v
            for k, v in TrainConfig.for_data("fashion-mnist").to_dict().items()
            if k in RECIPES["fashion-mnist"]
        },
        "median_seconds": {name: med(name, "seconds") for name in rows},
        "median_test_top1": {name: med(name, "test_top1") for name in rows},
        "runs": rows,
    }


# ----------------------------------------------------------------- 5. head mode, features once


def head_mode_speed(images: int, size: int, epochs: int, device: str) -> dict:
    """`finetune --mode head` on ResNet-18 (random weights: the speed is the same), on a folder
    of ``images`` generated images, with and without the feature cache."""
    from PIL import Image

    from convzoo.train.finetune import finetune

    seconds = {}
    with tempfile.TemporaryDirectory() as tmp:
        g = torch.Generator().manual_seed(0)
        for i in range(images):
            cls = Path(tmp) / ("a" if i % 2 else "b")
            cls.mkdir(exist_ok=True)
            arr = (torch.rand(size, size, 3, generator=g) * 255).to(torch.uint8).numpy()
            Image.fromarray(arr).save(cls / f"{i}.jpg")
        for cache in (True, False):
            cfg = TrainConfig(
                model="resnet18",
                data=tmp,
                epochs=epochs,
                batch_size=32,
                lr=0.01,
                warmup_epochs=0.0,
                device=device,
                input_size=size,
                augment=False,
            )
            t = time.perf_counter()
            finetune(
                "resnet18",
                tmp,
                weights=None,
                mode="head",
                config=cfg,
                cache_features=cache,
                quiet=True,
            )
            seconds["features_once" if cache else "every_epoch"] = round(time.perf_counter() - t, 2)
    return {
        "measure": f"finetune --mode head, resnet18, {images} images at {size}px, {epochs} epochs",
        "seconds": seconds,
        "speed_up": round(seconds["every_epoch"] / seconds["features_once"], 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=("digits", "fashion", "plain", "head", "resnet"))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--size", type=int, default=224, help="ResNet-18 input size")
    ap.add_argument("--steps", type=int, default=5, help="ResNet-18 steps per timed run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--data-dir", default="/usr/share/datasets/fashion-mnist", help="Fashion-MNIST idx files"
    )
    ap.add_argument("--epochs", type=int, default=10, help="plain loop epochs")
    ap.add_argument("--threads", type=int, default=0, help="plain loop threads (0: torch's)")
    ap.add_argument("--images", type=int, default=1000, help="head: images in the folder")
    ap.add_argument("--head-epochs", type=int, default=5, help="head: epochs")
    ap.add_argument(
        "--variant",
        action="append",
        default=[],
        help='plain: also time the command with these options, e.g. --variant "--threads 2"',
    )
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="check that the script runs: tiny random data, 1 epoch (numbers meaningless)",
    )
    args = ap.parse_args()
    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    print(json.dumps({"machine": machine()}), flush=True)
    if args.only in (None, "digits"):
        cfg = TrainConfig(device=str(device))  # exactly `convzoo train lenet5`
        print(json.dumps(time_to_accuracy("digits", 0.98, cfg)), flush=True)
    if args.only in (None, "fashion"):
        cfg = TrainConfig(
            data="fashion-mnist",
            epochs=15,
            batch_size=64,
            lr=0.05,
            augment=False,
            device=str(device),
        )
        print(json.dumps(time_to_accuracy("fashion-mnist", 0.90, cfg, args.data_dir)), flush=True)
    if args.only in (None, "plain"):
        if args.smoke:
            with tempfile.TemporaryDirectory() as tmp:
                fake = write_fake_fashion(Path(tmp))
                row = command_vs_plain_loop(
                    fake, 1, 1, args.threads, ("--epochs", "1"), tuple(args.variant)
                )
        else:
            row = command_vs_plain_loop(
                Path(args.data_dir),
                args.repeats,
                args.epochs,
                args.threads,
                variants=tuple(args.variant),
            )
        print(json.dumps(row), flush=True)
    if args.only in (None, "head"):
        if args.smoke:
            row = head_mode_speed(16, 32, 1, str(device))
        else:
            row = head_mode_speed(args.images, args.size, args.head_epochs, str(device))
        print(json.dumps(row), flush=True)
    if args.only in (None, "resnet"):
        print(json.dumps(fixed_step_cost()), flush=True)
        print(
            json.dumps(resnet_overhead(device, args.size, args.steps, args.repeats, 32)), flush=True
        )


if __name__ == "__main__":
    main()
