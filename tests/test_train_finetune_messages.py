"""What `convzoo finetune` tells the user: the groups' rates in staged mode, no advice to run
the command that is running."""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from convzoo import create_model
from convzoo.data import DataBundle
from convzoo.train import TrainConfig, save_checkpoint
from convzoo.train.finetune import finetune


def small_bundle() -> DataBundle:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(12, 1, 32, 32, generator=g)
    y = torch.arange(12) % 2
    return DataBundle(
        TensorDataset(x[:8], y[:8]),
        TensorDataset(x[8:], y[8:]),
        ["a", "b"],
        "noise",
        "given",
        (1, 32, 32),
        (0.5,),
        (0.5,),
    )


def test_staged_start_line_shows_each_groups_rate_and_the_new_classifier_line(tmp_path, capsys):
    ckpt = save_checkpoint(tmp_path / "pre", create_model("lenet5", num_classes=10), {}, None)
    cfg = TrainConfig(model="lenet5", epochs=2, batch_size=4, lr=0.01, warmup_epochs=0.0, threads=1)
    finetune(
        "lenet5",
        small_bundle(),
        weights=str(ckpt / "weights.safetensors"),
        mode="staged",
        config=cfg,
        lr_mult=100.0,
        groups=2,
    )
    err = capsys.readouterr().err
    start = next(line for line in err.splitlines() if line.startswith("training lenet5"))
    # backbone block i of 2 gets lr / 100 ** (1 - i / 2): 1e-4 and 1e-3; the head 1e-2.
    assert "lr backbone0 0.0001, backbone1 0.001, head 0.01 (peak 0.01)" in start
    assert "epoch 2: unfreezing the backbone" in err
    assert "new classifier for 2 classes" in err
    assert "convzoo finetune`" not in err and "this run trains it" in err
