"""The learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training Neural
Networks", section 3.3), as fastai's ``Learner.lr_find`` runs it.

A short mock training: the rate grows exponentially from ``start_lr`` to ``end_lr`` over
``num_iter`` steps, one mini-batch a step; the loss is smoothed by a bias-corrected exponential
moving average (beta 0.98); the test stops when the smoothed loss exceeds 4 x its minimum (it
diverged). The model's weights (and torch's random generator) are restored afterwards, so the
test can run before a real training without changing it. It runs in float32 (no AMP): a short
test, where the scaler's skipped steps would distort the curve.

Two suggestions are computed on the smoothed loss, after dropping the first tenth of the steps
and the last five (fastai's trim: the start is flat noise, the end is the blow-up):

- ``valley`` (the default, fastai's since 2.5): the longest run over which the loss keeps
  falling, and a rate about halfway down it. It looks at the whole descent, so a single noisy
  step cannot move it, and it stays well below the rate of the minimum, where training is
  already on the edge of diverging.
- ``steepest``: the rate where the loss falls fastest per decade of rate. One finite difference
  decides it, so on a noisy curve it can land on a spike; it is given for comparison.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence, Sized
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from convzoo.course.figures import new_figure, save_figure
from convzoo.errors import ConvzooError
from convzoo.threads import choose_threads
from convzoo.train.config import TrainConfig
from convzoo.train.loop import (
    build_optimizer,
    classification_loss,
    freeze_batchnorm_of_frozen,
    resolve_device,
)

METHODS = ("valley", "steepest")


@dataclass
class LRFindResult:
    """The curve of a range test and its suggestions (indices point into ``lrs``)."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    diverged: bool
    method: str
    suggestions: dict[str, float] = field(default_factory=dict)
    indices: dict[str, int] = field(default_factory=dict)
    start_lr: float = 1e-7
    end_lr: float = 10.0
    num_iter: int = 100
    seconds: float = 0.0

    @property
    def suggestion(self) -> float:
        """The suggested rate of :attr:`method`."""
        return self.suggestions[self.method]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "suggestion": self.suggestion}


@dataclass(frozen=True)
class _Ramp:
    start_lr: float
    end_lr: float
    num_iter: int
    beta: float
    diverge_factor: float


def valley(losses: Sequence[float]) -> int:
    """Index of a rate about halfway down the longest valley of ``losses``.

    The valley is the longest strictly decreasing subsequence (fastai's ``valley``, after ESRI's
    suggester); it spans the positions from its first to its last element, and the suggestion
    lies half-way along that span (fastai: a third plus a sixth of it)."""
    n = len(losses)
    if n == 0:
        raise ValueError("valley() needs at least one loss")
    length = [1] * n  # length of the longest decreasing subsequence ending at i
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and length[j] + 1 > length[i]:
                length[i] = length[j] + 1
    end = max(range(n), key=lambda i: (length[i], -i))
    start = max(0, end - length[end] + 1)
    third = (end - start) / 3
    return start + int(third) + int(third / 2)


def steepest(lrs: Sequence[float], losses: Sequence[float]) -> int:
    """Index of the rate where the loss falls fastest per unit of log-rate."""
    if len(losses) < 2:
        raise ValueError("steepest() needs at least two points")
    slopes = [
        (losses[i + 1] - losses[i]) / (math.log(lrs[i + 1]) - math.log(lrs[i]))
        for i in range(len(losses) - 1)
    ]
    return min(range(len(slopes)), key=slopes.__getitem__)


def _suggest(lrs: list[float], smoothed: list[float]) -> tuple[dict[str, float], dict[str, int]]:
    n = len(smoothed)
    lo = n // 10 if n >= 20 else 0
    hi = n - 5 if n - 5 - lo >= 10 else n
    if hi - lo < 3:
        raise ConvzooError(
            f"the range test stopped after {n} steps, too few to suggest a rate: the loss "
            "diverged at once. Start lower (--start-lr) or use more steps (--num-iter)"
        )
    window = smoothed[lo:hi]
    indices = {
        "valley": lo + valley(window),
        "steepest": lo + steepest(lrs[lo:hi], window),
    }
    return {k: lrs[i] for k, i in indices.items()}, indices


def lr_find(
    model: nn.Module,
    train_data: Dataset,
    config: TrainConfig | None = None,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_iter: int = 100,
    beta: float = 0.98,
    diverge_factor: float = 4.0,
    method: str = "valley",
    device: str | torch.device | None = None,
    progress: bool = False,
) -> LRFindResult:
    """Run the range test on ``model`` with the optimizer and loss that ``config`` trains with
    (:func:`convzoo.train.loop.build_optimizer`, :func:`classification_loss`); the model's
    weights and mode are restored before returning.
    """
    cfg = config or TrainConfig()
    if method not in METHODS:
        raise ConvzooError(f"the suggestion method is one of {METHODS}, not {method!r}")
    if not 0 < start_lr < end_lr:
        raise ConvzooError(f"need 0 < start_lr < end_lr, got {start_lr} and {end_lr}")
    if num_iter < 6:
        raise ConvzooError(f"the range test needs at least 6 steps, got {num_iter}")
    if not isinstance(train_data, Sized) or len(train_data) == 0:
        raise ConvzooError("the training set is empty: there is nothing to run the test on")
    dev = torch.device(device) if device is not None else resolve_device(cfg.device)
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    was_training = model.training
    threads_before = torch.get_num_threads()
    threads = cfg.threads
    if dev.type == "cpu":
        threads = choose_threads(cfg.threads)[0]
    t0 = time.perf_counter()
    lrs: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    diverged = False
    try:
        if threads is not None and dev.type == "cpu":
            torch.set_num_threads(threads)
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            torch.manual_seed(cfg.seed)
            ramp = _Ramp(start_lr, end_lr, num_iter, beta, diverge_factor)
            diverged = _run(model, train_data, cfg, dev, ramp, progress, (lrs, losses, smoothed))
    finally:
        model.load_state_dict(saved)
        model.train(was_training)
        torch.set_num_threads(threads_before)
    suggestions, indices = _suggest(lrs, smoothed)
    return LRFindResult(
        lrs,
        losses,
        smoothed,
        diverged,
        method,
        suggestions,
        indices,
        start_lr,
        end_lr,
        num_iter,
        round(time.perf_counter() - t0, 3),
    )


def _run(
    model: nn.Module,
    train_data: Dataset,
    cfg: TrainConfig,
    dev: torch.device,
    ramp: _Ramp,
    progress: bool,
    curves: tuple[list[float], list[float], list[float]],
) -> bool:
    """The mock training; fills ``curves`` (rates, losses, smoothed losses) and returns whether
    the loss diverged."""
    lrs, losses, smoothed = curves
    start_lr, end_lr, num_iter, beta = ramp.start_lr, ramp.end_lr, ramp.num_iter, ramp.beta
    model.to(dev).train()
    freeze_batchnorm_of_frozen(model)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, cfg.replace(lr=start_lr))
    loader = DataLoader(
        train_data,
        batch_size=cfg.batch_size,
        shuffle=True,
        num_workers=cfg.workers,
        drop_last=len(train_data) >= cfg.batch_size,  # type: ignore[arg-type]
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    avg, best = 0.0, math.inf
    bar = tqdm(total=num_iter, desc="lr-find", leave=False, disable=not progress)
    try:
        step = 0
        while step < num_iter:
            for x, y in loader:
                lr = start_lr * (end_lr / start_lr) ** (step / num_iter)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                x, y = x.to(dev), y.to(dev)
                loss, _ = classification_loss(
                    model(x), y, label_smoothing=cfg.label_smoothing, aux_weight=cfg.aux_weight
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                value = float(loss.detach())
                if not math.isfinite(value):
                    return True
                if cfg.clip_grad is not None:
                    nn.utils.clip_grad_norm_(params, cfg.clip_grad)
                optimizer.step()
                avg = beta * avg + (1 - beta) * value
                smooth = avg / (1 - beta ** (step + 1))  # bias correction (Adam's)
                lrs.append(lr)
                losses.append(value)
                smoothed.append(smooth)
                best = min(best, smooth)
                step += 1
                bar.update(1)
                bar.set_postfix(lr=f"{lr:.2g}", loss=f"{smooth:.3f}", refresh=False)
                if smooth > ramp.diverge_factor * best:
                    return True
                if step >= num_iter:
                    return False
    finally:
        bar.close()
    return False


def plot_lr_find(result: LRFindResult, path: str | os.PathLike[str], *, title: str = "") -> Path:
    """Loss against learning rate (log axis, plain numbers), raw and smoothed, with both
    suggestions marked and the chosen one named."""
    from matplotlib.ticker import FuncFormatter  # lazy with matplotlib (see figures.py)

    fig = new_figure(7, 4.5)
    ax = fig.add_subplot()
    ax.plot(result.lrs, result.losses, color="0.75", linewidth=0.8, label="loss of the step")
    ax.plot(result.lrs, result.smoothed, color="tab:blue", label="smoothed (EMA 0.98)")
    styles = {"valley": ("o", "tab:red"), "steepest": ("s", "tab:green")}
    for name, i in result.indices.items():
        marker, colour = styles[name]
        chosen = " (suggested)" if name == result.method else ""
        ax.plot(
            result.lrs[i],
            result.smoothed[i],
            marker,
            color=colour,
            markersize=8,
            label=f"{name}: {result.suggestions[name]:.2g}{chosen}",
        )
    ax.axvline(result.suggestion, color=styles[result.method][1], linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    top = max(result.smoothed[0] * 1.6, min(result.smoothed) * 2.0)
    bottom = min(min(result.losses), min(result.smoothed)) * 0.9
    ax.set_ylim(max(0.0, bottom), top)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    end = "stopped when the loss diverged" if result.diverged else "ran to the last rate"
    heading = title or "learning-rate range test"
    ax.set_title(f"{heading}\n{len(result.lrs)} steps, {end}", fontsize=10)
    ax.grid(True, which="major", alpha=0.4)
    ax.grid(True, which="minor", alpha=0.1)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
