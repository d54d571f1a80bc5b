"""Data-parallel training: 2 CPU processes (gloo) compute what 1 process does with the same
global batch, and only rank 0 writes."""

from __future__ import annotations

import json

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import Subset

import convzoo
from convzoo.data import build_datasets
from convzoo.train import TrainConfig, fit

GLOBAL_BATCH = 16


def unfreeze_features_at_epoch_1(trainer, epoch: int) -> None:
    """Staged unfreezing: only the classifier trains in epoch 0, everything from epoch 1."""
    for p in trainer.model.features.parameters():
        p.requires_grad_(epoch >= 1)


def _train(batch: int, out_dir, staged: bool = False) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = convzoo.create_model("lenet5", num_classes=10)
    data = build_datasets("digits", model.card, augment=False)
    # 64 images: 4 global batches of 16 per epoch, split evenly over 2 processes (no padding).
    train, val = Subset(data.train, range(64)), Subset(data.val, range(30))
    cfg = TrainConfig(epochs=2, batch_size=batch, seed=0, warmup_epochs=0.5, threads=1)
    hooks = [unfreeze_features_at_epoch_1] if staged else []
    fit(model, train, val, cfg, out_dir, classes=data.classes, callbacks=hooks, quiet=True)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _worker(rank: int, world: int, init_file: str, out: str, staged: bool) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        state = _train(GLOBAL_BATCH // world, f"{out}/run-rank{rank}", staged)
        torch.save(state, f"{out}/weights-rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize("staged", [False, True], ids=["all-trainable", "staged-unfreeze"])
def test_two_processes_equal_one_with_the_same_global_batch(tmp_path, staged):
    single = _train(GLOBAL_BATCH, None, staged)
    args = (2, str(tmp_path / "init"), str(tmp_path), staged)
    mp.spawn(_worker, args=args, nprocs=2, join=True)
    w0 = torch.load(tmp_path / "weights-rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "weights-rank1.pt", weights_only=True)
    for k in single:
        assert torch.equal(w0[k], w1[k]), k  # DDP keeps the replicas identical
        # Same samples per step, gradients averaged over 2 x 8 instead of 16: only the order of
        # float additions differs. 8 SGD steps; measured max difference 3e-8.
        assert torch.allclose(single[k], w0[k], rtol=0, atol=2e-6), k
    # Only rank 0 writes, and it reports both batch sizes.
    assert not (tmp_path / "run-rank1").exists()
    cfg = json.loads((tmp_path / "run-rank0" / "config.json").read_text())
    assert (cfg["batch_size"], cfg["global_batch"], cfg["world_size"]) == (8, 16, 2)
    assert len((tmp_path / "run-rank0" / "metrics.jsonl").read_text().splitlines()) == 2
