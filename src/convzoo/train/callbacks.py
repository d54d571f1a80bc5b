"""Everything a training run does besides the steps: each side output is a callback.

The shape is Lightning's and fastai's (``ModelCheckpoint``, ``CSVLogger``, ``TQDMProgressBar``,
``EarlyStopping``): the loop core (:class:`convzoo.train.loop.Trainer`) runs steps and epochs and
calls, in order, ``on_fit_start``, then per epoch ``on_epoch_start``, ``on_after_backward`` and
``on_step_end`` per step, ``on_train_epoch_end`` (after the last step, also when a Ctrl-C stops
the epoch early), ``on_epoch_end`` (after validation, with the epoch's metrics), and at last
``on_fit_end`` with the run's status ("finished", "early-stopped", "interrupted" or "diverged").

Callbacks must decide from the epoch number and the trainer's state alone, because a resumed run
calls them again from the epoch where it restarts.
"""

from __future__ import annotations

import copy
import json
import math
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import DataLoader

from convzoo.errors import ConvzooError
from convzoo.io import write_json, write_text
from convzoo.train.checkpoint import rng_state, save_checkpoint, unwrap, versions
from convzoo.train.distributed import ShardSampler
from convzoo.train.evaluate import evaluate_loader
from convzoo.train.log import logger
from convzoo.train.plots import plot_learning_curves

if TYPE_CHECKING:
    from convzoo.train.loop import Trainer

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
SUMMARY_JSON = "summary.json"


class TrainingDiverged(ConvzooError):
    """The loss became NaN or infinite; the last good checkpoint is left as it was."""


class Callback:
    """Hooks into the training loop. Override what you need; every method is a no-op here."""

    def on_fit_start(self, trainer: Trainer) -> None: ...

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None: ...

    def on_after_backward(self, trainer: Trainer, epoch: int, step: int, loss: float) -> None:
        """After the gradients, before the optimizer step (``step`` counts from 0)."""

    def on_step_end(self, trainer: Trainer, epoch: int, step: int, loss: float) -> None:
        """After the optimizer step (``step`` counts the steps done in the epoch, from 1)."""

    def on_train_epoch_end(self, trainer: Trainer, epoch: int) -> None: ...

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None: ...

    def on_fit_end(self, trainer: Trainer, status: str) -> None: ...


class FnCallback(Callback):
    """A plain function ``fn(trainer, epoch)`` called at each epoch's start."""

    def __init__(self, fn: Callable[[Trainer, int], None]):
        self.fn = fn

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        self.fn(trainer, epoch)


def model_meta(model: torch.nn.Module) -> dict[str, Any]:
    """Name and create_model arguments of a zoo network (from its card); empty for others."""
    card = getattr(unwrap(model), "card", None)
    if card is None:
        return {"name": None, "kwargs": {}}
    kwargs = {"num_classes": card.num_classes, "in_chans": card.input_size[0]}
    kwargs.update((card.extra or {}).get("kwargs", {}))
    return {"name": card.name, "kwargs": kwargs}


def _best_row(trainer: Trainer) -> dict[str, Any]:
    return next((h for h in trainer.history if h["epoch"] == trainer.best_epoch), {})


# ---------------------------------------------------------------------------- stopping


class InterruptHandler(Callback):
    """Ctrl-C asks the loop to stop after the current step (it then saves a checkpoint with the
    position inside the epoch); a second Ctrl-C stops at once."""

    def __init__(self) -> None:
        self._old: Any = None
        self._trainer: Trainer | None = None

    def on_fit_start(self, trainer: Trainer) -> None:
        self._trainer = trainer
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)

    def _handler(self, signum: int, frame: Any) -> None:
        trainer = self._trainer
        if trainer is None or trainer.interrupt_requested:
            raise KeyboardInterrupt
        trainer.interrupt_requested = True
        logger.warning("\nstopping after this step and saving a checkpoint (Ctrl-C again to abort)")

    def on_fit_end(self, trainer: Trainer, status: str) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None


class NaNGuard(Callback):
    """Stop when the loss is NaN or infinite. Checked after backward, so that every process has
    joined the gradient all-reduce; the step that would spread NaN into the weights is not
    taken, and the last good checkpoint stays as it is."""

    def on_after_backward(self, trainer: Trainer, epoch: int, step: int, loss: float) -> None:
        if math.isfinite(loss):
            return
        last = trainer.history[-1]["epoch"] if trainer.history else None
        kept = (
            f"the last good checkpoint {trainer.out_dir / 'last'} (epoch {last}) is kept"
            if trainer.out_dir is not None and last is not None
            else "no checkpoint was written"
        )
        raise TrainingDiverged(
            f"the loss became {loss} at epoch {epoch + 1}, step {step + 1}; training stopped; "
            f"{kept}. Lower the learning rate (--lr), clip the gradients (--clip-grad 1.0) or "
            "add a warm-up (--warmup-epochs)"
        )


class EarlyStopping(Callback):
    """Stop when the validation accuracy has not improved for ``patience`` epochs (the best
    checkpoint is the one of the best epoch, as always)."""

    def __init__(self, patience: int):
        self.patience = patience

    def _check(self, trainer: Trainer) -> None:
        if trainer.epoch and trainer.epoch - trainer.best_epoch >= self.patience:
            trainer.stop_reason = "early-stopped"

    def on_fit_start(self, trainer: Trainer) -> None:
        self._check(trainer)  # a resumed run that had already stopped early stays stopped

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        self._check(trainer)
        if trainer.stop_reason == "early-stopped" and trainer.epoch < trainer.cfg.epochs:
            trainer.log(
                f"early stop: no better validation accuracy for {self.patience} epoch(s) "
                f"(best {100 * (trainer.best_val_acc or 0):.2f}% at epoch {trainer.best_epoch})"
            )


# ---------------------------------------------------------------------------- output files


def checkpoint_meta(trainer: Trainer, status: str) -> dict[str, Any]:
    """What ``meta.json`` of a checkpoint records (see :mod:`convzoo.train.checkpoint`)."""
    data_meta = trainer.data_meta
    return {
        "model": model_meta(trainer.model),
        "classes": trainer.classes,
        "transforms": {k: data_meta.get(k) for k in ("input_size", "mean", "std")},
        "data": {k: v for k, v in data_meta.items() if k not in ("mean", "std")},
        "epoch": trainer.epoch,
        "status": status,
        "metrics": trainer.history[-1] if trainer.history else {},
        "best": {"val_acc": trainer.best_val_acc, "epoch": trainer.best_epoch},
        "history": trainer.history,
        "position": trainer.position,
        "seed": trainer.cfg.seed,
        "config": trainer.cfg.to_dict(),
        "world_size": trainer.dist.world_size,
        "global_batch": trainer.cfg.batch_size * trainer.dist.world_size,
        "versions": versions(),
    }


def resume_state(trainer: Trainer) -> dict[str, Any]:
    """What ``state.pt`` holds: everything besides the weights that a resume restores."""
    return {
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict(),
        "scaler": trainer.scaler.state_dict(),
        "rng": rng_state(),
    }


class CheckpointSaver(Callback):
    """``last/`` after every epoch (and at a Ctrl-C, with the position inside the epoch),
    ``best/`` whenever the validation accuracy improved, and ``config.json`` with the first
    checkpoint (and again when a resumed run starts): a run that fails before its first
    checkpoint leaves no file that would make its folder look like a run to resume."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self._config_written = False

    def on_fit_start(self, trainer: Trainer) -> None:
        if trainer.epoch or trainer.position:
            self.write_config(trainer)

    def write_config(self, trainer: Trainer) -> None:
        self._config_written = True
        cfg = trainer.cfg
        write_json(
            self.out_dir / "config.json",
            {
                **cfg.to_dict(),
                "classes": trainer.classes,
                "data_meta": trainer.data_meta,
                "world_size": trainer.dist.world_size,
                "global_batch": cfg.batch_size * trainer.dist.world_size,
            },
        )

    def save(self, trainer: Trainer, name: str, status: str) -> Path:
        if not self._config_written:
            self.write_config(trainer)
        state = resume_state(trainer) if name == "last" else None
        return save_checkpoint(
            self.out_dir / name, trainer.model, checkpoint_meta(trainer, status), state
        )

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        self.save(trainer, "last", "running" if trainer.epoch < trainer.cfg.epochs else "finished")
        if trainer.improved:
            self.save(trainer, "best", "best")

    def on_fit_end(self, trainer: Trainer, status: str) -> None:
        if status != "interrupted":
            return
        path = self.save(trainer, "last", "interrupted")
        hint = trainer.resume_hint.format(out=self.out_dir)
        logger.warning(
            f"interrupted {trainer.stopped_where()}; checkpoint saved in {path}. "
            f"Resume with: {hint}"
        )


def _fmt_csv(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


class MetricsLogger(Callback):
    """``metrics.csv`` and ``metrics.jsonl``: one row an epoch (Lightning's ``CSVLogger``),
    rewritten whole through the atomic writer, so a reader never sees half a row."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        lines = [",".join(METRIC_FIELDS)]
        lines += [",".join(_fmt_csv(h.get(k)) for k in METRIC_FIELDS) for h in trainer.history]
        write_text(self.out_dir / "metrics.csv", "\n".join(lines) + "\n")
        write_text(
            self.out_dir / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in trainer.history)
        )


class LearningCurves(Callback):
    """``learning_curves.png`` at the end of the run, whatever its status."""

    def __init__(self, out_dir: Path, unfreeze_epoch: int | None = None):
        self.out_dir, self.unfreeze_epoch = out_dir, unfreeze_epoch

    def on_fit_end(self, trainer: Trainer, status: str) -> None:
        if trainer.history:
            plot_learning_curves(
                trainer.history,
                self.out_dir / "learning_curves.png",
                title=trainer.title(),
                best_epoch=trainer.best_epoch or None,
                unfreeze_epoch=trainer.unfreeze_epoch or self.unfreeze_epoch,
            )


class TensorBoardLogger(Callback):
    """The epoch metrics as TensorBoard scalars in ``RUN/tensorboard`` (beside the CSV)."""

    def __init__(self, out_dir: Path):
        try:
            # The tensorboard package is optional (pip install 'convzoo[tensorboard]').
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConvzooError(
                "--tensorboard needs the tensorboard package: pip install tensorboard"
            ) from None
        self._writer_class = SummaryWriter
        self.log_dir = out_dir / "tensorboard"
        self.writer: Any = None

    def on_fit_start(self, trainer: Trainer) -> None:
        self.writer = self._writer_class(log_dir=str(self.log_dir))

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        for key in ("train_loss", "val_loss"):
            self.writer.add_scalar(f"loss/{key[:-5]}", metrics[key], metrics["epoch"])
        for key in ("train_acc", "val_acc", "val_top5"):
            self.writer.add_scalar(f"accuracy/{key}", metrics[key], metrics["epoch"])
        self.writer.add_scalar("lr", metrics["lr"], metrics["epoch"])
        self.writer.flush()

    def on_fit_end(self, trainer: Trainer, status: str) -> None:
        if self.writer is not None:
            self.writer.close()


class RunSummary(Callback):
    """``summary.json``: the splits' sizes, the best epoch and its validation metrics, and the
    test set's metrics where there is one. The test set is evaluated once, at the end of a run
    that finished (or stopped early), with the best epoch's weights: it never decides anything.
    """

    def __init__(self, out_dir: Path | None):
        self.out_dir = out_dir
        self.best_state: dict[str, torch.Tensor] | None = None
        self.t0 = time.perf_counter()
        self.summary: dict[str, Any] = {}

    def on_fit_start(self, trainer: Trainer) -> None:
        self.t0 = time.perf_counter()

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        if trainer.improved and trainer.test_data is not None:
            self.best_state = copy.deepcopy(unwrap(trainer.model).state_dict())

    def _best_model(self, trainer: Trainer) -> torch.nn.Module:
        model = unwrap(trainer.model)
        if self.best_state is None and self.out_dir is not None:
            best = self.out_dir / "best"
            if (best / "weights.safetensors").is_file():
                from safetensors.torch import load_file

                self.best_state = load_file(str(best / "weights.safetensors"))
        if self.best_state is None:
            return model
        best_model = copy.deepcopy(model)
        best_model.load_state_dict(self.best_state)
        return best_model

    def test(self, trainer: Trainer) -> dict[str, Any]:
        """Top-1, top-5 and loss of the best epoch's weights on the test set."""
        assert trainer.test_data is not None
        info = trainer.dist
        loader = DataLoader(
            trainer.test_data,
            batch_size=2 * trainer.cfg.batch_size,
            sampler=ShardSampler(len(trainer.test_data), info.rank, info.world_size),  # type: ignore[arg-type]
            num_workers=trainer.cfg.workers,
        )
        result = evaluate_loader(
            self._best_model(trainer),
            loader,
            trainer.num_classes,
            trainer.device,
            classes=trainer.classes,
            amp=trainer.amp,
            channels_last=trainer.channels_last,
        )
        return {
            "top1": result.top1,
            "top5": result.top5,
            "loss": result.loss,
            "count": result.count,
            "weights": f"best (epoch {trainer.best_epoch})",
        }

    def on_fit_end(self, trainer: Trainer, status: str) -> None:
        def size(ds: Any) -> int | None:
            return None if ds is None else len(ds)

        best = _best_row(trainer)
        summary: dict[str, Any] = {
            "status": status,
            "model": model_meta(trainer.model)["name"],
            "data": trainer.data_meta.get("name", trainer.cfg.data),
            "splits": {
                "train": size(trainer.train_data),
                "val": size(trainer.val_data),
                "test": size(trainer.test_data),
            },
            "epochs_done": trainer.epoch,
            "best": {
                "epoch": trainer.best_epoch or None,
                **{k: best.get(k) for k in ("val_acc", "val_top5", "val_loss")},
            },
            "test": None,
            "seed": trainer.cfg.seed,
            "versions": versions(),
            "wall_seconds": round(time.perf_counter() - self.t0, 3),
            "train_seconds": round(sum(h.get("seconds", 0.0) for h in trainer.history), 3),
            "fingerprint": trainer.data_meta.get("fingerprint"),
        }
        if trainer.test_data is not None and status in ("finished", "early-stopped"):
            summary["test"] = self.test(trainer)
            trainer.log(
                f"test set ({summary['test']['count']} images, weights of epoch "
                f"{trainer.best_epoch}): top-1 {100 * summary['test']['top1']:.2f}%, top-5 "
                f"{100 * summary['test']['top5']:.2f}%, loss {summary['test']['loss']:.4f}"
            )
        self.summary = summary
        # Only beside a checkpoint: a run that never saved one leaves its folder empty.
        if self.out_dir is not None and (self.out_dir / "config.json").is_file():
            write_json(self.out_dir / SUMMARY_JSON, summary)


# ---------------------------------------------------------------------------- the console


class ProgressBar(Callback):
    """A tqdm bar per epoch on standard error (Lightning's ``TQDMProgressBar``)."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.t0 = 0.0

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=trainer.steps_per_epoch,
            initial=trainer.start_step,
            leave=False,
            dynamic_ncols=True,
            desc=f"epoch {epoch + 1}/{trainer.cfg.epochs}",
            mininterval=0.5,
        )
        self.t0 = time.perf_counter()

    def on_step_end(self, trainer: Trainer, epoch: int, step: int, loss: float) -> None:
        s = trainer.running
        dt = time.perf_counter() - self.t0
        self.bar.set_postfix(
            loss=f"{s['loss'] / s['count']:.4f}",
            acc=f"{100 * s['correct'] / s['count']:.1f}%",
            img_s=f"{trainer.seen * trainer.dist.world_size / max(dt, 1e-9):.0f}",
            refresh=False,
        )
        self.bar.update(1)

    def on_train_epoch_end(self, trainer: Trainer, epoch: int) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def on_fit_end(self, trainer: Trainer, status: str) -> None:
        self.on_train_epoch_end(trainer, trainer.epoch)


def _rates(trainer: Trainer) -> str:
    """Each group's peak rate (the schedulers keep it as ``max_lr`` or ``initial_lr``; the
    current rate is the warm-up's first)."""
    groups = trainer.optimizer.param_groups
    peaks = [g.get("max_lr", g.get("initial_lr", g["lr"])) for g in groups]
    if len(set(peaks)) <= 1:
        return f"lr {peaks[0]:.3g}"
    names = [g.get("name", str(i)) for i, g in enumerate(groups)]
    rates = ", ".join(f"{n} {p:.2g}" for n, p in zip(names, peaks, strict=True))
    return f"lr {rates} (peak {trainer.cfg.lr:.3g})"


def _threads_note(trainer: Trainer) -> str:
    flags = trainer.flags
    if trainer.device.type != "cpu" or flags.threads is None:
        return ""
    return f", {flags.threads} CPU thread(s) ({flags.threads_why})"


class ConsoleLog(Callback):
    """The start line and one line per epoch, through the ``convzoo.train`` logger."""

    def on_fit_start(self, trainer: Trainer) -> None:
        cfg, world = trainer.cfg, trainer.dist.world_size
        logger.info(
            f"training {trainer.title()} on {trainer.device} ({world} process(es)): batch "
            f"{cfg.batch_size} per process, global batch {cfg.batch_size * world}, "
            f"{trainer.steps_per_epoch} steps/epoch, {cfg.optimizer} {_rates(trainer)} "
            f"{cfg.schedule}"
            + (
                f", resuming after epoch {trainer.epoch}"
                if trainer.epoch or trainer.position
                else ""
            )
            + (", AMP" if trainer.amp else "")
            + (", channels-last" if trainer.channels_last else "")
            + _threads_note(trainer)
        )
        if trainer.epoch >= cfg.epochs:
            logger.info(
                f"the run has already done its {cfg.epochs} epochs; give --epochs N (more than "
                f"{trainer.epoch}) to train it further"
            )

    def on_epoch_end(self, trainer: Trainer, epoch: int, m: dict[str, Any]) -> None:
        logger.info(
            f"epoch {epoch + 1:>3}/{trainer.cfg.epochs}  train loss {m['train_loss']:.4f} "
            f"acc {100 * m['train_acc']:5.2f}%  val loss {m['val_loss']:.4f} "
            f"acc {100 * m['val_acc']:5.2f}% top5 {100 * m['val_top5']:5.2f}%  "
            f"lr {m['lr']:.3g}  {m['seconds']:.1f}s "
            f"{m['images_per_s']:.0f} img/s" + ("  *best" if trainer.improved else "")
        )

    def on_fit_end(self, trainer: Trainer, status: str) -> None:
        if status == "interrupted" and trainer.out_dir is None:
            logger.warning(f"interrupted {trainer.stopped_where()} (no run folder: nothing saved)")


def standard_callbacks(trainer: Trainer) -> list[Callback]:
    """The callbacks every run has, in the order they are called, after the user's own: what
    ``trainer.out_dir``, ``trainer.quiet`` and the configuration ask for."""
    out, cfg = trainer.out_dir, trainer.cfg
    cbs: list[Callback] = [InterruptHandler(), NaNGuard()]
    if not trainer.quiet:
        cbs.append(ProgressBar())
    if out is not None:
        cbs += [MetricsLogger(out), CheckpointSaver(out)]
        if cfg.tensorboard:
            cbs.append(TensorBoardLogger(out))
    cbs.append(RunSummary(out))
    if cfg.early_stop is not None:
        cbs.append(EarlyStopping(cfg.early_stop))
    if out is not None:
        cbs.append(LearningCurves(out))
    if not trainer.quiet:
        cbs.append(ConsoleLog())
    return cbs
