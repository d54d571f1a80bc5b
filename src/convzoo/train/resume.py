"""Resuming a run: what a checkpoint restores into the loop's Trainer (exactly where it stopped)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from convzoo.errors import ConvzooError
from convzoo.train.checkpoint import Checkpoint, unwrap
from convzoo.train.fingerprint import check_same_data

if TYPE_CHECKING:
    from convzoo.train.loop import Trainer


def restore(trainer: Trainer, ckpt: Checkpoint, *, allow_data_change: bool = False) -> None:
    """Restore everything a checkpoint holds (weights, optimizer, scheduler, scaler, RNG,
    history, and the position inside an epoch), after checking that the data is the same."""
    if not ckpt.has_state:
        raise ConvzooError(f"{ckpt.path} has no resume state ({ckpt.path / 'state.pt'})")
    meta = ckpt.meta
    if not allow_data_change:
        check_same_data(meta, trainer.data_meta["fingerprint"], ckpt.path.parent)
    unwrap(trainer.model).load_state_dict(ckpt.load_weights(), strict=True)
    state = ckpt.load_state()
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.scheduler.load_state_dict(state["scheduler"])
    trainer.scaler.load_state_dict(state["scaler"])
    trainer.rng_to_restore = state["rng"]
    trainer.epoch = int(meta["epoch"])
    trainer.history = list(meta.get("history", []))
    best = meta.get("best") or {}
    acc = best.get("val_acc")
    trainer.best_val_acc = float(acc) if acc is not None and acc >= 0 else None
    trainer.best_epoch = int(best.get("epoch") or 0)
    trainer.position = meta.get("position")
    if trainer.position and int(trainer.position.get("world_size", 1)) != trainer.dist.world_size:
        raise ConvzooError(
            f"{ckpt.path} stopped in the middle of an epoch with "
            f"{trainer.position.get('world_size')} process(es); resume it with as many"
        )
