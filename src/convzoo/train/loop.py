"""The training loop: :func:`fit` (and the :class:`Trainer` behind it).

Reusable for transfer learning: ``fit`` takes a ready model (frozen parameters have
``requires_grad=False``; the BatchNorm layers whose parameters are all frozen are kept in eval
mode, so their running statistics stay those of the pretrained network), optional optimizer
parameter groups (e.g. a smaller learning rate for the backbone), and callbacks called at each
epoch's start and end (e.g. staged unfreezing). Callbacks must decide from the epoch number alone
what to do, because a resumed run calls them again from the epoch where it restarts.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from convzoo.errors import ConvzooError
from convzoo.registry import count_parameters
from convzoo.train.checkpoint import (
    Checkpoint,
    atomic_write_json,
    atomic_write_text,
    find_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
    unwrap,
    versions,
)
from convzoo.train.config import TrainConfig
from convzoo.train.distributed import EpochSampler, ShardSampler, dist_info
from convzoo.train.evaluate import evaluate_loader

METRIC_FIELDS = (
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "val_top5",
    "lr",
    "seconds",
    "images_per_s",
)


class TrainingDiverged(ConvzooError):
    """The loss became NaN or infinite; the last good checkpoint is left as it was."""


class Callback:
    """Hooks into :func:`fit`. Override what you need; every method is a no-op here."""

    def on_fit_start(self, trainer: Trainer) -> None: ...

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None: ...

    def on_step_end(self, trainer: Trainer, epoch: int, step: int, loss: float) -> None: ...

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None: ...


class _FnCallback(Callback):
    """A plain function ``fn(trainer, epoch)`` called at each epoch's start."""

    def __init__(self, fn: Callable[[Trainer, int], None]):
        self.fn = fn

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        self.fn(trainer, epoch)


@dataclass
class FitResult:
    """What :func:`fit` returns. ``status`` is "finished", "interrupted" or "diverged"."""

    status: str
    out_dir: Path | None
    history: list[dict[str, Any]]
    best_val_acc: float
    best_epoch: int
    epochs_done: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def last(self) -> dict[str, Any]:
        return self.history[-1] if self.history else {}


def freeze_batchnorm_of_frozen(model: nn.Module) -> int:
    """Put in eval mode every BatchNorm whose parameters are all frozen. Returns how many.

    A frozen layer should compute what it computed when it was trained: in train mode BatchNorm
    would normalise with the new batch's statistics and overwrite its running averages.
    """
    n = 0
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            params = list(m.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                m.eval()
                n += 1
    return n


def classification_loss(
    output: Any, target: Tensor, *, label_smoothing: float = 0.0, aux_weight: float = 0.3
) -> tuple[Tensor, Tensor]:
    """Cross-entropy on the main logits, plus ``aux_weight`` x the auxiliary classifiers' losses
    when the output is GoogLeNet's namedtuple (Szegedy et al. 2015: "weighted by 0.3").
    Returns ``(loss, logits)``."""
    if isinstance(output, tuple):
        logits, *aux = output
        loss = F.cross_entropy(logits, target, label_smoothing=label_smoothing)
        for a in aux:
            if a is not None:
                loss = loss + aux_weight * F.cross_entropy(
                    a, target, label_smoothing=label_smoothing
                )
        return loss, logits
    return F.cross_entropy(output, target, label_smoothing=label_smoothing), output


def build_optimizer(
    params: Iterable[nn.Parameter] | Sequence[dict[str, Any]], cfg: TrainConfig
) -> torch.optim.Optimizer:
    """SGD with (Nesterov) momentum, or AdamW (Loshchilov and Hutter 2019); ``params`` may be
    parameter groups with their own ``lr`` / ``weight_decay``."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=cfg.lr,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
            nesterov=cfg.nesterov and cfg.momentum > 0,
        )
    return torch.optim.AdamW(
        params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay
    )


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """A per-step schedule: linear warm-up, then cosine, step or constant; or one-cycle
    (Smith and Topin 2018, torch's OneCycleLR, whose warm-up is ``warmup_epochs``)."""
    total = max(1, cfg.epochs * steps_per_epoch)
    warmup = min(int(round(cfg.warmup_epochs * steps_per_epoch)), total - 1)
    if cfg.schedule == "onecycle":
        max_lrs = [g["lr"] for g in optimizer.param_groups]
        pct = max(warmup, 1) / total if cfg.warmup_epochs else 0.3
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=max_lrs,
            total_steps=total,
            pct_start=min(pct, 0.99),
            cycle_momentum=cfg.optimizer == "sgd" and cfg.momentum > 0,
        )

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if cfg.schedule == "cosine":
            t = (step - warmup) / max(1, total - warmup)
            return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))
        if cfg.schedule == "step":
            return cfg.gamma ** ((step // steps_per_epoch) // max(1, cfg.step_size))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConvzooError(f"device {name!r} asked for, but torch sees no GPU; use --device cpu")
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        # Under torchrun each process takes its own GPU.
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return device


def model_meta(model: nn.Module) -> dict[str, Any]:
    """Name and create_model arguments of a zoo network (from its card); empty for others."""
    card = getattr(unwrap(model), "card", None)
    if card is None:
        return {"name": None, "kwargs": {}}
    kwargs = {"num_classes": card.num_classes, "in_chans": card.input_size[0]}
    kwargs.update((card.extra or {}).get("kwargs", {}))
    return {"name": card.name, "kwargs": kwargs}


class _StopFlag:
    """Ctrl-C asks the loop to stop after the current step; a second Ctrl-C stops at once."""

    def __init__(self) -> None:
        self.requested = False
        self._old: Any = None

    def __enter__(self) -> _StopFlag:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print(
            "\nstopping after this step and saving a checkpoint (Ctrl-C again to abort)",
            file=sys.stderr,
            flush=True,
        )

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


class Trainer:
    """The state of one training run. Most users call :func:`fit`."""

    def __init__(
        self,
        model: nn.Module,
        train_data: Dataset,
        val_data: Dataset,
        config: TrainConfig,
        out_dir: str | os.PathLike[str] | None,
        *,
        classes: Sequence[str] | None = None,
        data_meta: dict[str, Any] | None = None,
        param_groups: Sequence[dict[str, Any]] | None = None,
        callbacks: Iterable[Callback | Callable[[Trainer, int], None]] = (),
        resume_hint: str = "convzoo train --resume {out}",
        quiet: bool = False,
    ):
        self.cfg = config.validate()
        self.dist = dist_info()
        self.is_main = self.dist.is_main
        self.quiet = quiet or not self.is_main
        self.out_dir = Path(out_dir) if out_dir is not None and self.is_main else None
        self.device = resolve_device(config.device)
        on_gpu = self.device.type == "cuda"
        self.amp = on_gpu if config.amp is None else bool(config.amp and on_gpu)
        self.channels_last = on_gpu if config.channels_last is None else bool(config.channels_last)
        if config.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        elif on_gpu:
            torch.backends.cudnn.benchmark = True

        self.threads = config.threads
        if self.device.type == "cpu" and self.threads is None and count_parameters(model) < 1e6:
            self.threads = 1
        self.model = model.to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.net = self.model  # what forward goes through (DDP-wrapped under torchrun)
        self._ddp_trainable: tuple[bool, ...] | None = None
        self._wrap_ddp()
        if classes is None:
            classes = [str(i) for i in range(int(getattr(model, "num_classes", 0)) or 0)]
        self.classes = list(classes)
        self.num_classes = len(self.classes) or int(unwrap(model).num_classes)
        self.data_meta = dict(data_meta or {})
        self.train_data, self.val_data = train_data, val_data

        self.sampler = EpochSampler(
            len(train_data), seed=config.seed, rank=self.dist.rank, world_size=self.dist.world_size
        )
        self.train_loader = DataLoader(
            train_data,
            batch_size=config.batch_size,
            sampler=self.sampler,
            num_workers=config.workers,
            pin_memory=on_gpu,
            drop_last=False,
            generator=torch.Generator().manual_seed(config.seed),
        )
        self.val_loader = DataLoader(
            val_data,
            batch_size=2 * config.batch_size,  # no gradients: twice the batch fits
            sampler=ShardSampler(len(val_data), self.dist.rank, self.dist.world_size),
            num_workers=config.workers,
            pin_memory=on_gpu,
        )
        self.steps_per_epoch = len(self.train_loader)
        params = param_groups if param_groups is not None else list(self.model.parameters())
        self.optimizer = build_optimizer(params, config)
        self.scheduler = build_scheduler(self.optimizer, config, self.steps_per_epoch)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.callbacks = [c if isinstance(c, Callback) else _FnCallback(c) for c in callbacks]
        self.resume_hint = resume_hint

        self.epoch = 0  # epochs completed
        self.history: list[dict[str, Any]] = []
        self.best_val_acc = -1.0
        self.best_epoch = 0
        self._position: dict[str, Any] | None = None  # mid-epoch resume point
        self._restored_rng: dict[str, Any] | None = None
        self.seconds = 0.0

    def _wrap_ddp(self) -> None:
        """Wrap the model in DistributedDataParallel under torchrun, again whenever the set of
        trainable parameters changed (staged unfreezing): DDP only synchronises the gradients
        of the parameters that required them when it was built."""
        if not self.dist.enabled:
            return
        trainable = tuple(p.requires_grad for p in self.model.parameters())
        if trainable == self._ddp_trainable:
            return
        self.net = nn.parallel.DistributedDataParallel(
            self.model,
            device_ids=[self.device.index] if self.device.type == "cuda" else None,
            find_unused_parameters=False,
        )
        self._ddp_trainable = trainable

    # ------------------------------------------------------------------ checkpoints

    def _meta(self, status: str) -> dict[str, Any]:
        return {
            "model": model_meta(self.model),
            "classes": self.classes,
            "transforms": {k: self.data_meta.get(k) for k in ("input_size", "mean", "std")},
            "data": {k: v for k, v in self.data_meta.items() if k not in ("mean", "std")},
            "epoch": self.epoch,
            "status": status,
            "metrics": self.history[-1] if self.history else {},
            "best": {"val_acc": self.best_val_acc, "epoch": self.best_epoch},
            "history": self.history,
            "position": self._position,
            "seed": self.cfg.seed,
            "config": self.cfg.to_dict(),
            "world_size": self.dist.world_size,
            "global_batch": self.cfg.batch_size * self.dist.world_size,
            "versions": versions(),
        }

    def _state(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng_state(),
        }

    def save(self, name: str, status: str) -> Path | None:
        if self.out_dir is None:
            return None
        return save_checkpoint(self.out_dir / name, self.model, self._meta(status), self._state())

    def load(self, ckpt: Checkpoint) -> None:
        """Restore everything a checkpoint holds (weights, optimizer, scheduler, scaler, RNG,
        history, and the position inside an epoch)."""
        if not ckpt.has_state:
            raise ConvzooError(f"{ckpt.path} has no resume state ({ckpt.path / 'state.pt'})")
        meta = ckpt.meta
        self.model.load_state_dict(ckpt.load_weights(), strict=True)
        state = ckpt.load_state()
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self._restored_rng = state["rng"]
        self.epoch = int(meta["epoch"])
        self.history = list(meta.get("history", []))
        self.best_val_acc = float(meta.get("best", {}).get("val_acc", -1.0))
        self.best_epoch = int(meta.get("best", {}).get("epoch", 0))
        self._position = meta.get("position")
        if self._position and int(self._position.get("world_size", 1)) != self.dist.world_size:
            raise ConvzooError(
                f"{ckpt.path} stopped in the middle of an epoch with "
                f"{self._position.get('world_size')} process(es); resume it with as many"
            )

    # ------------------------------------------------------------------ outputs

    def _log(self, msg: str) -> None:
        if not self.quiet:
            print(msg, flush=True)

    def _write_metrics(self) -> None:
        if self.out_dir is None:
            return
        import json

        lines = [",".join(METRIC_FIELDS)]
        for h in self.history:
            lines.append(",".join(_fmt_csv(h.get(k)) for k in METRIC_FIELDS))
        atomic_write_text(self.out_dir / "metrics.csv", "\n".join(lines) + "\n")
        atomic_write_text(
            self.out_dir / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in self.history)
        )

    def _plot(self) -> None:
        if self.out_dir is None or not self.history:
            return
        from convzoo.train.plots import plot_learning_curves

        plot_learning_curves(self.history, self.out_dir / "learning_curves.png")

    # ------------------------------------------------------------------ the loop

    def _train_one_epoch(self, epoch: int, stop: _StopFlag) -> dict[str, Any] | None:
        """One epoch. Returns the running sums, or None when Ctrl-C asked to stop mid-epoch."""
        cfg = self.cfg
        pos = self._position if self._position and self._position["epoch"] == epoch else None
        start_step = int(pos["step"]) if pos else 0
        sums = dict(pos["sums"]) if pos else {"loss": 0.0, "correct": 0, "count": 0}
        self._position = None
        self.sampler.set_epoch(epoch, start=start_step * cfg.batch_size)
        # The workers' seeds come from this generator: seeded per epoch, so that a run resumed
        # at an epoch boundary augments exactly as before. (Mid-epoch, resume is exact with
        # workers=0 only: the skipped batches would have advanced the workers' generators.)
        self.train_loader.generator.manual_seed(cfg.seed + epoch)
        self._wrap_ddp()
        self.net.train()
        freeze_batchnorm_of_frozen(self.model)
        bar = None
        if not self.quiet:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=self.steps_per_epoch,
                initial=start_step,
                leave=False,
                dynamic_ncols=True,
                desc=f"epoch {epoch + 1}/{cfg.epochs}",
                mininterval=0.5,
                file=sys.stderr,
            )
        t0 = time.perf_counter()
        seen = 0
        step = start_step
        try:
            for x, y in self.train_loader:
                x = x.to(self.device, non_blocking=True)
                if self.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                y = y.to(self.device, non_blocking=True)
                with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                    out = self.net(x)
                    loss, logits = classification_loss(
                        out, y, label_smoothing=cfg.label_smoothing, aux_weight=cfg.aux_weight
                    )
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                # Checked after backward so that every process has joined the gradient
                # all-reduce; the step that would spread NaN into the weights is not taken.
                loss_value = float(loss.detach())
                if not math.isfinite(loss_value):
                    raise TrainingDiverged(
                        f"the loss became {loss_value} at epoch {epoch + 1}, step {step + 1}; "
                        "training stopped"
                    )
                if cfg.clip_grad is not None:
                    self.scaler.unscale_(self.optimizer)
                    nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_grad)
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.scheduler.step()
                n = y.shape[0]
                sums["loss"] += loss_value * n
                sums["correct"] += int((logits.detach().argmax(1) == y).sum())
                sums["count"] += n
                seen += n
                step += 1
                for c in self.callbacks:
                    c.on_step_end(self, epoch, step, loss_value)
                if bar is not None:
                    dt = time.perf_counter() - t0
                    bar.set_postfix(
                        loss=f"{sums['loss'] / sums['count']:.4f}",
                        acc=f"{100 * sums['correct'] / sums['count']:.1f}%",
                        img_s=f"{seen * self.dist.world_size / max(dt, 1e-9):.0f}",
                        refresh=False,
                    )
                    bar.update(1)
                if self._stop_requested(stop) and step < self.steps_per_epoch:
                    self._position = {
                        "epoch": epoch,
                        "step": step,
                        "sums": sums,
                        "world_size": self.dist.world_size,
                    }
                    return None
        finally:
            if bar is not None:
                bar.close()
        dt = time.perf_counter() - t0
        self.seconds += dt
        return {**sums, "seconds": dt, "seen": seen}

    def _stop_requested(self, stop: _StopFlag) -> bool:
        if not self.dist.enabled:
            return stop.requested
        # Every process must stop at the same step, or one would wait forever in an all-reduce.
        import torch.distributed as dist

        flag = torch.tensor([1.0 if stop.requested else 0.0], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def fit(self) -> FitResult:
        """Run the remaining epochs (all of them, or those after a loaded checkpoint)."""
        threads_before = torch.get_num_threads()
        if self.device.type == "cpu" and self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            return self._fit()
        finally:
            torch.set_num_threads(threads_before)

    def _fit(self) -> FitResult:
        cfg = self.cfg
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_json(
                self.out_dir / "config.json",
                {
                    **cfg.to_dict(),
                    "classes": self.classes,
                    "data_meta": self.data_meta,
                    "world_size": self.dist.world_size,
                    "global_batch": cfg.batch_size * self.dist.world_size,
                },
            )
        if self._restored_rng is not None:
            set_rng_state(self._restored_rng)
            self._restored_rng = None
        self._log(
            f"training {model_meta(self.model)['name'] or type(unwrap(self.model)).__name__} on "
            f"{self.device} ({self.dist.world_size} process(es)): batch {cfg.batch_size} per "
            f"process, global batch {cfg.batch_size * self.dist.world_size}, "
            f"{self.steps_per_epoch} steps/epoch, {cfg.optimizer} lr {cfg.lr} {cfg.schedule}"
            + (f", resuming after epoch {self.epoch}" if self.epoch or self._position else "")
            + (", AMP" if self.amp else "")
            + (", channels-last" if self.channels_last else "")
        )
        if self.epoch >= cfg.epochs:
            self._log(
                f"the run has already done its {cfg.epochs} epochs; give --epochs N (more than "
                f"{self.epoch}) to train it further"
            )
        for c in self.callbacks:
            c.on_fit_start(self)
        status = "finished"
        t_start = time.perf_counter()
        with _StopFlag() as stop:
            try:
                while self.epoch < cfg.epochs:
                    epoch = self.epoch
                    for c in self.callbacks:
                        c.on_epoch_start(self, epoch)
                    sums = self._train_one_epoch(epoch, stop)
                    if sums is None:
                        status = "interrupted"
                        break
                    metrics = self._end_epoch(epoch, sums)
                    for c in self.callbacks:
                        c.on_epoch_end(self, epoch, metrics)
                    if self._stop_requested(stop) and self.epoch < cfg.epochs:
                        status = "interrupted"
                        break
            except TrainingDiverged as err:
                last = self.history[-1]["epoch"] if self.history else None
                kept = (
                    f"the last good checkpoint {self.out_dir / 'last'} (epoch {last}) is kept"
                    if self.out_dir is not None and last is not None
                    else "no checkpoint was written"
                )
                self._plot()
                raise TrainingDiverged(
                    f"{err}; {kept}. Lower the learning rate (--lr), clip the gradients "
                    "(--clip-grad 1.0) or add a warm-up (--warmup-epochs)"
                ) from None
        if status == "interrupted":
            path = self.save("last", "interrupted")
            self._plot()
            pos = self._position
            where = (
                f"in epoch {pos['epoch'] + 1}, after step {pos['step']}"
                if pos
                else f"after epoch {self.epoch}"
            )
            if self.is_main:
                hint = self.resume_hint.format(out=self.out_dir) if self.out_dir else ""
                print(
                    f"interrupted {where}; checkpoint saved in {path}."
                    + (f" Resume with: {hint}" if hint else ""),
                    file=sys.stderr,
                    flush=True,
                )
        else:
            self._plot()
        return FitResult(
            status,
            self.out_dir,
            self.history,
            self.best_val_acc,
            self.best_epoch,
            self.epoch,
            time.perf_counter() - t_start,
        )

    def _end_epoch(self, epoch: int, sums: dict[str, Any]) -> dict[str, Any]:
        from convzoo.train.distributed import all_reduce_sum

        totals = all_reduce_sum(
            torch.tensor(
                [sums["loss"], sums["correct"], sums["count"]],
                dtype=torch.float64,
                device=self.device,
            )
        ).tolist()
        val = evaluate_loader(
            self.net,
            self.val_loader,
            self.num_classes,
            self.device,
            classes=self.classes,
            amp=self.amp,
            channels_last=self.channels_last,
        )
        count = max(totals[2], 1)
        metrics = {
            "epoch": epoch + 1,
            "train_loss": totals[0] / count,
            "train_acc": totals[1] / count,
            "val_loss": val.loss,
            "val_acc": val.top1,
            "val_top5": val.top5,
            "lr": self.optimizer.param_groups[0]["lr"],
            "seconds": round(sums["seconds"], 3),
            "images_per_s": round(
                sums["seen"] * self.dist.world_size / max(sums["seconds"], 1e-9), 1
            ),
        }
        self.epoch = epoch + 1
        self.history.append(metrics)
        improved = metrics["val_acc"] > self.best_val_acc
        if improved:
            self.best_val_acc, self.best_epoch = metrics["val_acc"], epoch + 1
        self._write_metrics()
        self.save("last", "running" if self.epoch < self.cfg.epochs else "finished")
        if improved and self.out_dir is not None:
            save_checkpoint(self.out_dir / "best", self.model, self._meta("best"), None)
        self._log(
            f"epoch {epoch + 1:>3}/{self.cfg.epochs}  train loss {metrics['train_loss']:.4f} "
            f"acc {100 * metrics['train_acc']:5.2f}%  val loss {metrics['val_loss']:.4f} "
            f"acc {100 * metrics['val_acc']:5.2f}% top5 {100 * metrics['val_top5']:5.2f}%  "
            f"lr {metrics['lr']:.3g}  {metrics['seconds']:.1f}s "
            f"{metrics['images_per_s']:.0f} img/s" + ("  *best" if improved else "")
        )
        return metrics


def _fmt_csv(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def fit(
    model: nn.Module,
    train_data: Dataset | Any,
    val_data: Dataset | None,
    config: TrainConfig,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    classes: Sequence[str] | None = None,
    data_meta: dict[str, Any] | None = None,
    param_groups: Sequence[dict[str, Any]] | None = None,
    callbacks: Iterable[Callback | Callable[[Trainer, int], None]] = (),
    resume: str | os.PathLike[str] | None = None,
    resume_hint: str = "convzoo train --resume {out}",
    quiet: bool = False,
) -> FitResult:
    """Train ``model`` and write the run's outputs to ``out_dir`` (nothing written when None).

    ``train_data`` may be a :class:`convzoo.data.DataBundle` (then ``val_data``, ``classes`` and
    ``data_meta`` come from it). ``param_groups`` are optimizer groups (``{"params": [...],
    "lr": ...}``); by default all parameters, frozen ones included, so that a callback can
    unfreeze them later. ``callbacks``: :class:`Callback` objects or functions
    ``fn(trainer, epoch)`` called at each epoch's start. ``resume``: a run folder or checkpoint
    to continue exactly where it stopped (its ``last`` checkpoint).

    Raises :class:`TrainingDiverged` on a NaN/inf loss (the last good checkpoint kept). Ctrl-C
    saves ``last`` with the position inside the epoch and returns with status "interrupted".
    """
    from convzoo.data import DataBundle

    if isinstance(train_data, DataBundle):
        bundle = train_data
        train_data, val_data = bundle.train, bundle.val
        classes = classes if classes is not None else bundle.classes
        data_meta = data_meta if data_meta is not None else bundle_meta(bundle, config)
    if val_data is None:
        raise ConvzooError("fit needs validation data")
    trainer = Trainer(
        model,
        train_data,
        val_data,
        config,
        out_dir,
        classes=classes,
        data_meta=data_meta,
        param_groups=param_groups,
        callbacks=callbacks,
        resume_hint=resume_hint,
        quiet=quiet,
    )
    if resume is not None:
        trainer.load(find_checkpoint(resume, prefer="last"))
    return trainer.fit()


def bundle_meta(bundle: Any, config: TrainConfig | None = None) -> dict[str, Any]:
    """What a checkpoint records about its data: name, split, classes, the card's transforms."""
    meta = {
        "name": bundle.name,
        "val_split": bundle.val_split,
        "input_size": list(bundle.input_size),
        "mean": list(bundle.mean),
        "std": list(bundle.std),
        "train_images": len(bundle.train),
        "val_images": len(bundle.val),
    }
    if config is not None:
        meta.update(val_fraction=config.val_fraction, data_dir=config.data_dir)
    return meta
