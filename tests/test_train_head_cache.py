"""``finetune --mode head`` computes the frozen backbone's features once: the head it trains is
the head that training through the frozen network gives."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from convzoo.data import DataBundle
from convzoo.train import TrainConfig
from convzoo.train.config import seed_everything
from convzoo.train.finetune import FinetuneSpec, HeadOnly, can_cache_features, prepare, run_prepared


def bundle(size: int, channels: int) -> DataBundle:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(22, channels, size, size, generator=g)
    y = torch.arange(22) % 2
    return DataBundle(
        TensorDataset(x[:16], y[:16]),
        TensorDataset(x[16:], y[16:]),
        ["a", "b"],
        "noise",
        "given",
        (channels, size, size),
        (0.5,) * channels,
        (0.5,) * channels,
    )


def head_run(name: str, size: int, channels: int, cache: bool):
    cfg = TrainConfig(
        model=name, epochs=2, batch_size=4, lr=0.05, warmup_epochs=0.0, seed=0, threads=1
    )
    spec = FinetuneSpec(None, "head", cache_features=cache)
    seed_everything(0)
    model, b, groups = prepare(name, bundle(size, channels), spec, cfg)
    assert can_cache_features(model, spec, b) == cache
    before = {k: v.clone() for k, v in model.get_classifier().state_dict().items()}
    result = run_prepared(model, b, groups, spec, cfg, None, quiet=True)
    after = model.get_classifier().state_dict()
    assert not all(torch.equal(before[k], after[k]) for k in before)  # the head did train
    return model.state_dict(), result.history


@pytest.mark.parametrize(
    "name, size, channels",
    [("lenet5", 32, 1), pytest.param("resnet18", 32, 3, marks=pytest.mark.slow)],
)
def test_cached_features_train_the_same_head(name, size, channels):
    cached, hist_cached = head_run(name, size, channels, cache=True)
    direct, hist_direct = head_run(name, size, channels, cache=False)
    for k, v in direct.items():
        # The same images, order and optimiser; only the batch the backbone saw differs.
        assert torch.allclose(cached[k].float(), v.float(), atol=1e-5), k
    for a, b in zip(hist_cached, hist_direct, strict=True):
        assert a["val_acc"] == b["val_acc"]
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)


def test_head_only_checkpoints_hold_the_whole_network():
    from convzoo import create_model
    from convzoo.train.checkpoint import unwrap

    net = create_model("lenet5", num_classes=3)
    head = HeadOnly(net)
    assert unwrap(head) is net
    x = torch.randn(2, 1, 32, 32)
    assert torch.equal(head(net.forward_features(x)), net(x))
