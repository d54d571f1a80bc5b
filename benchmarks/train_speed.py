"""Training speed: time to accuracy with LeNet-5, and the trainer's overhead on ResNet-18.

    python benchmarks/train_speed.py                 # all three measurements
    python benchmarks/train_speed.py --only digits   # digits | fashion | resnet
    python benchmarks/train_speed.py --only resnet --device cuda --size 224

1. Seconds until LeNet-5 reaches 98% validation accuracy on scikit-learn's digits (the
   `convzoo train lenet5` defaults), measured at the end of each epoch (training + validation).
2. Seconds until LeNet-5 reaches 90% test accuracy on Fashion-MNIST (needs the idx files: Debian's
   dataset-fashion-mnist package or --data-dir).
3. ResNet-18 training images/s at batch 32 through `convzoo.train.fit` (progress bar on) beside a
   plain loop (forward, loss, backward, SGD step) over torchvision's ResNet-18 on the same
   synthetic images, interleaved and repeated, medians reported. The overhead must stay < 5%.

Results go to stdout as JSON lines (one per measurement) with the machine and versions; the
numbers are recorded in docs/training.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

import convzoo
from convzoo.data import build_datasets
from convzoo.train import Callback, TrainConfig, fit
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=("digits", "fashion", "resnet"))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--size", type=int, default=224, help="ResNet-18 input size")
    ap.add_argument("--steps", type=int, default=5, help="ResNet-18 steps per timed run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data-dir", help="Fashion-MNIST idx files")
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
    if args.only in (None, "resnet"):
        print(json.dumps(fixed_step_cost()), flush=True)
        print(
            json.dumps(resnet_overhead(device, args.size, args.steps, args.repeats, 32)), flush=True
        )


if __name__ == "__main__":
    main()
