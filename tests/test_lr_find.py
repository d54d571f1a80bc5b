"""The learning-rate range test: fastai's schedule, smoothing and stop rule, weights restored, and a
suggestion where the loss falls (LeNet-5 on the digits)."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

import convzoo
from convzoo.cli import main
from convzoo.course import lr_find, steepest, valley
from convzoo.data import build_datasets
from convzoo.errors import ConvzooError
from convzoo.train import TrainConfig


@pytest.fixture(scope="module")
def digits_test():
    """One range test of a fresh LeNet-5 on the digits (about 100 steps, 2-3 s), with the
    model's weights and torch's RNG state before and after."""
    torch.manual_seed(0)
    model = convzoo.create_model("lenet5", num_classes=10)
    data = build_datasets("digits", model.card, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    result = lr_find(model, data.train, TrainConfig())
    return result, model, before, rng, torch.get_rng_state()


@pytest.mark.slow
def test_exponential_ramp_as_fastai(digits_test):
    result = digits_test[0]
    start, end, n = result.start_lr, result.end_lr, result.num_iter
    expected = [start * (end / start) ** (i / n) for i in range(len(result.lrs))]
    assert result.lrs == pytest.approx(expected, rel=1e-12)
    assert (start, end, n) == (1e-7, 10.0, 100)


def test_smoothing_is_a_debiased_moving_average(digits_test):
    result = digits_test[0]
    beta, avg = 0.98, 0.0
    for i, (raw, smooth) in enumerate(zip(result.losses, result.smoothed, strict=True)):
        avg = beta * avg + (1 - beta) * raw
        assert smooth == pytest.approx(avg / (1 - beta ** (i + 1)), rel=1e-9)


def test_stops_when_the_loss_diverges(digits_test):
    result = digits_test[0]
    # A rate of 10 blows LeNet-5 up: the test stops before its 100 steps, on fastai's rule.
    assert result.diverged and len(result.lrs) < result.num_iter
    assert result.smoothed[-1] > 4 * min(result.smoothed)
    assert all(s <= 4 * min(result.smoothed[: i + 1]) for i, s in enumerate(result.smoothed[:-1]))


def test_weights_and_rng_are_restored(digits_test):
    _, model, before, rng_before, rng_after = digits_test
    after = model.state_dict()
    assert after.keys() == before.keys()
    for k in before:
        assert torch.equal(after[k], before[k]), k
    assert torch.equal(rng_before, rng_after)
    assert model.training  # a fresh model is in train mode and stays so


def test_suggestion_lies_where_the_loss_falls(digits_test):
    result = digits_test[0]
    s = result.smoothed
    lowest = min(range(len(s)), key=s.__getitem__)
    for name, i in result.indices.items():
        assert 0 < i < lowest, name  # before the minimum, after the start
        assert s[lowest] < s[i] <= s[0], name  # the loss has not risen and falls further
        # The loss is falling there: lower a few steps on than a few steps before.
        assert s[min(i + 4, lowest)] < s[max(i - 4, 0)], name
        assert result.suggestions[name] == result.lrs[i]
    assert result.method == "valley" and result.suggestion == result.suggestions["valley"]
    # For SGD with momentum 0.9 the rate is within a decade of the 0.05 that trains LeNet-5
    # past 99% (docs/training.md), and more careful than the steepest point.
    assert 0.005 <= result.suggestion <= 0.5
    assert result.suggestions["valley"] <= result.suggestions["steepest"]


def test_valley_and_steepest_on_known_curves():
    lrs = [10 ** (-6 + 0.1 * i) for i in range(61)]
    # A logistic drop centred at lr = 1e-3, steepest there, flat on both sides.
    drop = [2.0 - 1.5 / (1 + math.exp(-3 * (math.log10(lr) + 3))) for lr in lrs]
    assert lrs[steepest(lrs, drop)] == pytest.approx(1e-3, rel=0.3)
    # Falling all the way: the valley is the whole curve, the suggestion half-way along it.
    falling = [1.0 / (i + 1) for i in range(31)]
    assert valley(falling) == 15
    # Flat, then falling from 10 to 30, then rising: the valley lies inside the fall.
    bowl = [5.0] * 10 + [5.0 - 0.2 * i for i in range(1, 21)] + [1.0 + i for i in range(1, 11)]
    assert 10 <= valley(bowl) <= 30


def test_refuses_a_test_that_diverges_at_once():
    torch.manual_seed(0)
    model = convzoo.create_model("lenet5", num_classes=10)
    data = build_datasets("digits", model.card, seed=0)
    with pytest.raises(ConvzooError, match="too few"):
        lr_find(model, data.train, start_lr=1e3, end_lr=1e9, num_iter=20)
    with pytest.raises(ConvzooError, match="start_lr < end_lr"):
        lr_find(model, data.train, start_lr=1.0, end_lr=0.1)


@pytest.mark.slow
def test_cli_writes_the_plot_and_the_curve(tmp_path, capsys):
    out = tmp_path / "lr"
    args = ["lr-find", "lenet5", "--num-iter", "60", "--out", str(out), "--quiet"]
    assert main(args) == 0
    stdout = capsys.readouterr().out
    saved = json.loads((out / "lr-find.json").read_text())
    assert saved["model"] == "lenet5" and saved["method"] == "valley"
    assert f"suggested learning rate: {saved['suggestion']:.3g} (valley)" in stdout
    assert f"--lr {saved['suggestion']:.2g}" in stdout
    assert len(saved["lrs"]) == len(saved["losses"]) == len(saved["smoothed"]) <= 60
    assert (out / "lr-find.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["lr-find", "lenet55", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


class TwoHeads(nn.Module):
    """A classifier with an auxiliary head, returned in training mode as GoogLeNet does."""

    def __init__(self):
        super().__init__()
        self.main, self.aux = nn.Linear(12, 3), nn.Linear(12, 3)

    def forward(self, x):
        x = x.flatten(1)
        return (self.main(x), self.aux(x)) if self.training else self.main(x)


def test_auxiliary_heads_train_on_the_loop_loss():
    """The test trains on the loop's loss: main + 0.3 x auxiliary (Szegedy et al. 2015)."""
    torch.manual_seed(0)
    model = TwoHeads()
    x, y = torch.randn(16, 1, 3, 4), torch.arange(16) % 3
    with torch.no_grad():
        expected = F.cross_entropy(model.main(x.flatten(1)), y) + 0.3 * F.cross_entropy(
            model.aux(x.flatten(1)), y
        )
    before = {k: v.clone() for k, v in model.state_dict().items()}
    # One batch holds all 16 images, so the first step's loss is the loss of the whole set.
    result = lr_find(model, TensorDataset(x, y), TrainConfig(batch_size=16), num_iter=8)
    assert result.losses[0] == pytest.approx(float(expected), rel=1e-5)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("command", ["lr-find", "show-batch"])
def test_course_tools_read_the_split_train_reads(command):
    """The same flags give lr-find, show-batch and train the same data configuration, the
    data set's recipe included (Fashion-MNIST holds out 10%, not the default 20%)."""
    from convzoo.cli import build_parser
    from convzoo.cli.cmd_train import DATA_OPTIONS, config_from_options

    def config(*argv: str) -> TrainConfig:
        args = build_parser(argv[0], all_commands=False).parse_args(list(argv))
        return config_from_options(args, model=args.model)

    flags = ("lenet5", "--data", "fashion-mnist", "--input-size", "28", "--no-augment")
    ours, train = config(command, *flags), config("train", *flags)
    assert ours.val_fraction == train.val_fraction == 0.1
    assert ours.input_size == 28 and ours.augment is False
    assert {k: getattr(ours, k) for k in (*DATA_OPTIONS, "seed")} == {
        k: getattr(train, k) for k in (*DATA_OPTIONS, "seed")
    }
