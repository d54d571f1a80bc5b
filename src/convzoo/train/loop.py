"""The training loop: :func:`fit`, and the :class:`Trainer` core behind it.

The core runs steps and epochs, keeps the state a resume needs, and calls callbacks
(:mod:`convzoo.train.callbacks`) for everything else: checkpoints, metrics files, learning
curves, the progress bar, Ctrl-C, the NaN guard, early stopping, TensorBoard and the run's
summary. It is reusable for transfer learning: ``fit`` takes a ready model (frozen parameters
have ``requires_grad=False``; the BatchNorm layers whose parameters are all frozen are kept in
eval mode, so their running statistics stay those of the pretrained network), optional
optimizer parameter groups, and callbacks of your own (e.g. staged unfreezing).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from convzoo.data import DataBundle
from convzoo.errors import ConvzooError
from convzoo.train import callbacks as cb
from convzoo.train.batchnorm import freeze_batchnorm_of_frozen
from convzoo.train.callbacks import (  # re-exported: the names this module always had
    METRIC_FIELDS,
    Callback,
    TrainingDiverged,
    model_meta,
)
from convzoo.train.checkpoint import Checkpoint, find_checkpoint, set_rng_state, unwrap
from convzoo.train.config import TrainConfig
from convzoo.train.device import RunDevice, resolve_device, run_device
from convzoo.train.distributed import (
    DDPWrap,
    all_reduce_sum,
    any_process,
    dist_info,
    training_loaders,
)
from convzoo.train.evaluate import evaluate_loader
from convzoo.train.fingerprint import bundle_meta, describe_data
from convzoo.train.log import logger
from convzoo.train.losses import classification_loss, hard_labels
from convzoo.train.optim import PlateauSchedule, build_optimizer, build_scheduler
from convzoo.train.results import FitResult, epoch_metrics
from convzoo.train.resume import restore
from convzoo.train.run_dir import run_lock

__all__ = [
    "METRIC_FIELDS",
    "Callback",
    "FitResult",
    "Trainer",
    "TrainingDiverged",
    "build_optimizer",
    "build_scheduler",
    "bundle_meta",
    "classification_loss",
    "fit",
    "freeze_batchnorm_of_frozen",
    "model_meta",
    "resolve_device",
]


class Trainer:
    """The state of one training run, and the steps and epochs. Most users call :func:`fit`."""

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
        test_data: Dataset | None = None,
        batch_transform: Callable[[Any, Any], tuple[Any, Any]] | None = None,
        run_on: RunDevice | None = None,
    ):
        cfg = self.cfg = config.validate()
        self.dist = dist_info()
        self.is_main = self.dist.is_main
        self.quiet = quiet or not self.is_main
        self.out_dir = Path(out_dir) if out_dir is not None and self.is_main else None
        run = run_on if run_on is not None else run_device(cfg)
        self.device, self.amp, self.channels_last, self.flags = (
            run.device,
            run.amp,
            run.channels_last,
            run.flags,
        )
        on_gpu = self.device.type == "cuda"
        self.model = model.to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.ddp = DDPWrap(self.dist, self.device)
        self.net = self.ddp(self.model)  # what forward goes through (DDP under torchrun)
        self.classes, self.num_classes, self.data_meta = describe_data(
            model, {"train": train_data, "val": val_data, "test": test_data}, classes, data_meta
        )
        self.train_data, self.val_data, self.test_data = train_data, val_data, test_data
        self.batch_transform = batch_transform

        self.sampler, self.train_loader, self.val_loader = training_loaders(
            train_data, val_data, cfg, self.dist, pin_memory=on_gpu
        )
        self.steps_per_epoch = len(self.train_loader)
        params = param_groups if param_groups is not None else list(self.model.parameters())
        self.optimizer = build_optimizer(params, cfg)
        self.scheduler = build_scheduler(self.optimizer, cfg, self.steps_per_epoch)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.resume_hint = resume_hint

        self.epoch = 0  # epochs completed
        self.history: list[dict[str, Any]] = []
        self.best_val_acc: float | None = None
        self.best_epoch = 0
        self.improved = False
        self.position: dict[str, Any] | None = None  # where a Ctrl-C stopped inside an epoch
        self.start_step = 0
        self.running: dict[str, Any] = {"loss": 0.0, "correct": 0, "count": 0}
        self.seen = 0
        self.interrupt_requested = False  # set by the Ctrl-C handler
        self.stop_reason: str | None = None  # set by a callback, e.g. "early-stopped"
        self.unfreeze_epoch: int | None = None  # staged fine-tuning: the first full epoch
        self.rng_to_restore: dict[str, Any] | None = None
        user = [c if isinstance(c, Callback) else cb.FnCallback(c) for c in callbacks]
        self.callbacks = [*user, *cb.standard_callbacks(self)]

    def _call(self, hook: str, *args: Any) -> None:
        for c in self.callbacks:
            getattr(c, hook)(self, *args)

    def log(self, message: str) -> None:
        """An information line, unless the run is quiet."""
        if not self.quiet:
            logger.info(message)

    def title(self) -> str:
        return model_meta(self.model)["name"] or type(unwrap(self.model)).__name__

    def stopped_where(self) -> str:
        pos = self.position
        if pos:
            return f"in epoch {pos['epoch'] + 1}, after step {pos['step']}"
        return f"after epoch {self.epoch}"

    def load(self, ckpt: Checkpoint, *, allow_data_change: bool = False) -> None:
        """Restore what a checkpoint holds (see :func:`convzoo.train.resume.restore`)."""
        restore(self, ckpt, allow_data_change=allow_data_change)

    # ------------------------------------------------------------------ the loop

    def fit(self) -> FitResult:
        """Run the remaining epochs (all of them, or those after a loaded checkpoint)."""
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        with run_lock(self.out_dir), self.flags:
            if self.rng_to_restore is not None:
                set_rng_state(self.rng_to_restore)
                self.rng_to_restore = None
            t0 = time.perf_counter()
            self._call("on_fit_start")
            try:
                status = self._epochs()
            except TrainingDiverged:
                self._call("on_fit_end", "diverged")
                raise
            except BaseException:
                # A second Ctrl-C or a crash: give the signal handler and the bar back.
                for c in self.callbacks:
                    if isinstance(c, cb.InterruptHandler | cb.ProgressBar):
                        c.on_fit_end(self, "aborted")
                raise
            self._call("on_fit_end", status)
            seconds = time.perf_counter() - t0
        summary = next((c.summary for c in self.callbacks if isinstance(c, cb.RunSummary)), {})
        return FitResult(
            status,
            self.out_dir,
            self.history,
            self.best_val_acc,
            self.best_epoch,
            self.epoch,
            seconds,
            {"summary": summary},
        )

    def _epochs(self) -> str:
        while self.epoch < self.cfg.epochs and self.stop_reason is None:
            epoch = self.epoch
            self._call("on_epoch_start", epoch)
            if not self._train_epoch(epoch):
                return "interrupted"
            self._end_epoch(epoch)
            if self._interrupted() and self.epoch < self.cfg.epochs:
                return "interrupted"
        return self.stop_reason or "finished"

    def _interrupted(self) -> bool:
        self.interrupt_requested = any_process(self.interrupt_requested, self.dist, self.device)
        return self.interrupt_requested

    def _train_epoch(self, epoch: int) -> bool:
        """One epoch of steps. False when a Ctrl-C stopped it before its end."""
        cfg = self.cfg
        pos = self.position if self.position and self.position["epoch"] == epoch else None
        self.start_step = step = int(pos["step"]) if pos else 0
        self.running = dict(pos["sums"]) if pos else {"loss": 0.0, "correct": 0, "count": 0}
        self.position = None
        self.sampler.set_epoch(epoch, start=step * cfg.batch_size)
        # The workers' seeds come from this generator: seeded per epoch, so that a run resumed
        # at an epoch boundary augments exactly as before. (Mid-epoch, resume is exact with
        # workers=0 only: the skipped batches would have advanced the workers' generators.)
        self.train_loader.generator.manual_seed(cfg.seed + epoch)
        self.net = self.ddp(self.model)
        self.net.train()
        freeze_batchnorm_of_frozen(self.model)
        t0, self.seen = time.perf_counter(), 0
        for x, y in self.train_loader:
            x = x.to(self.device, non_blocking=True)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = y.to(self.device, non_blocking=True)
            if self.batch_transform is not None:
                x, y = self.batch_transform(x, y)  # mixup / CutMix: soft targets
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                loss, logits = classification_loss(
                    self.net(x), y, label_smoothing=cfg.label_smoothing, aux_weight=cfg.aux_weight
                )
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            loss_value = float(loss.detach())
            self._call("on_after_backward", epoch, step, loss_value)
            if cfg.clip_grad is not None:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_grad)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            n = y.shape[0]
            self.running["loss"] += loss_value * n
            self.running["correct"] += int((logits.detach().argmax(1) == hard_labels(y)).sum())
            self.running["count"] += n
            self.seen += n
            step += 1
            self._call("on_step_end", epoch, step, loss_value)
            if self._interrupted() and step < self.steps_per_epoch:
                self.position = {
                    "epoch": epoch,
                    "step": step,
                    "sums": self.running,
                    "world_size": self.dist.world_size,
                }
                self._call("on_train_epoch_end", epoch)
                return False
        self.running["seconds"] = time.perf_counter() - t0
        self._call("on_train_epoch_end", epoch)
        return True

    def _end_epoch(self, epoch: int) -> None:
        """Validate, record the epoch's metrics and the best epoch, then the callbacks."""
        s = self.running
        totals = all_reduce_sum(
            torch.tensor(
                [s["loss"], s["correct"], s["count"]], dtype=torch.float64, device=self.device
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
        metrics = epoch_metrics(
            epoch + 1,
            totals,
            val,
            self.optimizer.param_groups[-1]["lr"],
            s["seconds"],
            self.seen * self.dist.world_size / max(s["seconds"], 1e-9),
        )
        if isinstance(self.scheduler, PlateauSchedule):
            self.scheduler.step_epoch(val.loss)
        self.epoch = epoch + 1
        self.history.append(metrics)
        self.improved = self.best_val_acc is None or metrics["val_acc"] > self.best_val_acc
        if self.improved:
            self.best_val_acc, self.best_epoch = metrics["val_acc"], epoch + 1
        self._call("on_epoch_end", epoch, metrics)


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
    test_data: Dataset | None = None,
    allow_data_change: bool = False,
    run_on: RunDevice | None = None,
) -> FitResult:
    """Train ``model`` and write the run's outputs to ``out_dir`` (nothing written when None).

    ``train_data`` may be a :class:`convzoo.data.DataBundle` (then ``val_data``, ``classes``,
    ``data_meta``, the ``test`` set and the ``batch_transform`` come from it). ``param_groups``
    are optimizer groups (``{"params": [...], "lr": ...}``); by default all parameters, frozen
    ones included, so that a callback can unfreeze them later. ``callbacks``: :class:`Callback`
    objects or functions ``fn(trainer, epoch)`` called at each epoch's start. ``resume``: a run
    folder or checkpoint to continue exactly where it stopped (its ``last`` checkpoint); data
    that changed since is refused unless ``allow_data_change``. ``test_data`` is evaluated once,
    at the end, with the best epoch's weights (``summary.json``). ``run_on``: the device and
    torch settings a caller already chose for this run (:func:`run_device`), else chosen here.

    Raises :class:`TrainingDiverged` on a NaN/inf loss (the last good checkpoint kept). Ctrl-C
    saves ``last`` with the position inside the epoch and returns with status "interrupted".
    """
    batch_transform = None
    if isinstance(train_data, DataBundle):
        bundle = train_data
        train_data, val_data = bundle.train, bundle.val
        classes = classes if classes is not None else bundle.classes
        data_meta = data_meta if data_meta is not None else bundle_meta(bundle, config)
        test_data = test_data if test_data is not None else getattr(bundle, "test", None)
        batch_transform = getattr(bundle, "batch_transform", None)
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
        test_data=test_data,
        batch_transform=batch_transform,
        run_on=run_on,
    )
    if resume is not None:
        trainer.load(find_checkpoint(resume, prefer="last"), allow_data_change=allow_data_change)
    return trainer.fit()
