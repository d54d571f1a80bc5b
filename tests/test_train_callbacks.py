"""The loop's callbacks and pieces: small last batch, early stopping, plateau, soft targets,
TensorBoard, the summary with its test set, learning curves, restored torch flags."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset, Subset, TensorDataset

import convzoo
from convzoo.data import build_datasets
from convzoo.train import Callback, TrainConfig, evaluate, find_checkpoint, fit
from convzoo.train.distributed import EpochBatches, EpochSampler, count_batches
from convzoo.train.losses import classification_loss


class TinyBN1d(nn.Module):
    """A BatchNorm over 1x1 maps: a batch of one image cannot be normalised in train mode."""

    def __init__(self, classes: int = 3):
        super().__init__()
        self.num_classes = classes
        self.conv = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm1d(4)
        self.fc = nn.Linear(4, classes)

    def forward(self, x):
        return self.fc(F.relu(self.bn(F.adaptive_avg_pool2d(self.conv(x), 1).flatten(1))))


def noise(n: int, classes: int = 3, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 1, 8, 8, generator=g), torch.arange(n) % classes)


def digits(n_train: int = 128, n_val: int = 64):
    torch.manual_seed(0)
    model = convzoo.create_model("lenet5", num_classes=10)
    data = build_datasets("digits", model.card, augment=False, seed=0)
    data.train = Subset(data.train, range(n_train))
    data.val = Subset(data.val, range(n_val))
    return model, data


# ------------------------------------------------------------------------ a last batch of one


def test_a_batch_of_one_is_what_crashes_batchnorm():
    """The fault itself, so that the next test means something."""
    model = TinyBN1d().train()
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        model(torch.randn(1, 1, 8, 8))


@pytest.mark.parametrize("n, batch", [(33, 8), (17, 16), (9, 8), (1, 4), (16, 8)])
def test_last_single_image_joins_the_batch_before(n, batch):
    sampler = EpochSampler(n, seed=0)
    batches = list(EpochBatches(sampler, batch))
    assert sorted(i for b in batches for i in b) == list(range(n))  # every image, once
    assert (
        len(batches)
        == count_batches(n, batch)
        == math.ceil(n / batch) - (n % batch == 1 and n > batch)
    )
    assert all(len(b) > 1 for b in batches) or n == 1
    # Resumed at any step, the remaining batches are the same batches.
    for start in range(len(batches)):
        sampler.set_epoch(0, start=start * batch)
        assert list(EpochBatches(sampler, batch)) == batches[start:]


def test_batchnorm_network_trains_when_one_image_is_left_over():
    torch.manual_seed(0)
    seen = []

    class Count(Callback):
        def on_epoch_end(self, trainer, epoch, metrics):
            seen.append((trainer.steps_per_epoch, trainer.running["count"]))

    cfg = TrainConfig(epochs=2, batch_size=8, warmup_epochs=0, threads=1)
    res = fit(TinyBN1d(), noise(17), noise(6), cfg, None, callbacks=[Count()], quiet=True)
    assert res.status == "finished"
    assert seen == [(2, 17), (2, 17)]  # 8 + 9: no image dropped, no batch of one


# ------------------------------------------------------------------------ stopping and schedules


@pytest.mark.slow
def test_early_stopping_stops_after_patience_epochs_without_improvement(tmp_path):
    # lr 1e-30: the updates vanish in float32, so the validation accuracy never changes and
    # epoch 1 stays the best.
    model, data = digits()
    cfg = TrainConfig(epochs=10, lr=1e-30, warmup_epochs=0, early_stop=2, schedule="constant")
    res = fit(model, data, None, cfg, tmp_path / "r", quiet=True)
    assert res.status == "early-stopped"
    assert res.epochs_done == 3 and res.best_epoch == 1
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["status"] == "early-stopped" and summary["best"]["epoch"] == 1
    # Resuming a run that stopped early does not train on.
    model, data = digits()
    res = fit(model, data, None, cfg, tmp_path / "r", resume=tmp_path / "r", quiet=True)
    assert res.epochs_done == 3 and res.status == "early-stopped"


class Stalled(nn.Module):
    """A fixed classifier: its one trainable parameter gets a zero gradient, so the validation
    loss never changes and a plateau schedule must act."""

    def __init__(self):
        super().__init__()
        self.num_classes = 3
        self.fc = nn.Linear(64, 3).requires_grad_(False)
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return self.fc(x.flatten(1)) + 0 * self.dummy


def test_plateau_schedule_divides_the_rate_when_the_val_loss_stalls():
    cfg = TrainConfig(
        epochs=5,
        lr=0.1,
        momentum=0,
        weight_decay=0,
        warmup_epochs=0,
        schedule="plateau",
        plateau_patience=1,
        gamma=0.5,
    )
    res = fit(Stalled(), noise(16), noise(8), cfg, None, quiet=True)
    # Epoch 1 sets the best loss; 2 and 3 do not improve; after the 2nd bad epoch (> patience 1)
    # torch's ReduceLROnPlateau halves the rate, and again two bad epochs later. (The rate
    # recorded for an epoch is the one it trained with.)
    assert [h["lr"] for h in res.history] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05])


def test_soft_targets_loss_is_the_cross_entropy_formula():
    torch.manual_seed(0)
    logits = torch.randn(6, 4)
    p = torch.softmax(torch.randn(6, 4), 1)
    loss, _ = classification_loss(logits, p)
    assert torch.allclose(loss, -(p * torch.log_softmax(logits, 1)).sum(1).mean())


def test_a_bundle_batch_transform_feeds_soft_targets_to_the_loop():
    from torchvision.transforms import v2

    model, data = digits(64, 32)
    mixup = v2.MixUp(alpha=0.4, num_classes=10)
    calls = []

    def batch_transform(x, y):
        x, y = mixup(x, y)
        calls.append(tuple(y.shape))
        return x, y

    data.batch_transform = batch_transform
    res = fit(model, data, None, TrainConfig(epochs=1, batch_size=32), None, quiet=True)
    assert res.status == "finished" and calls == [(32, 10), (32, 10)]
    assert 0 <= res.history[0]["train_acc"] <= 1


# ------------------------------------------------------------------------ summary and test set


class Spy(Dataset):
    """A test set that records how many epochs had finished each time it was read."""

    def __init__(self, ds, epochs_done: list):
        self.ds, self.epochs_done, self.reads = ds, epochs_done, []

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        self.reads.append(len(self.epochs_done))
        return self.ds[i]


def test_summary_reports_splits_best_and_test_evaluated_once_at_the_end(tmp_path):
    model, data = digits(128, 64)
    full = build_datasets("digits", model.card, augment=False, seed=0)
    epochs_done: list = []

    class Epochs(Callback):
        def on_epoch_end(self, trainer, epoch, metrics):
            epochs_done.append(epoch)

    test = Spy(Subset(full.val, range(64, 160)), epochs_done)
    cfg = TrainConfig(epochs=3, batch_size=32)
    res = fit(
        model, data, None, cfg, tmp_path / "r", test_data=test, callbacks=[Epochs()], quiet=True
    )
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["splits"] == {"train": 128, "val": 64, "test": 96}
    assert test.reads and set(test.reads) == {3}  # read only after the last epoch
    assert len(test.reads) == 96  # once
    best = next(h for h in res.history if h["epoch"] == res.best_epoch)
    assert summary["best"]["epoch"] == res.best_epoch
    assert summary["best"]["val_acc"] == pytest.approx(best["val_acc"])
    # The test metrics are those of the best checkpoint, evaluated independently here.
    ref = evaluate(find_checkpoint(tmp_path / "r", prefer="best").build_model(), test.ds)
    assert summary["test"]["top1"] == pytest.approx(ref.top1)
    assert summary["test"]["loss"] == pytest.approx(ref.loss, rel=1e-5)
    assert summary["seed"] == 0 and "torch" in summary["versions"]
    assert summary["wall_seconds"] > 0


def test_interrupted_run_has_no_test_result(tmp_path):
    import os
    import signal

    class CtrlC(Callback):
        def on_step_end(self, trainer, epoch, step, loss):
            if step == 1:
                os.kill(os.getpid(), signal.SIGINT)

    model, data = digits(64, 32)
    test = TensorDataset(torch.randn(8, 1, 32, 32), torch.arange(8) % 10)
    res = fit(
        model,
        data,
        None,
        TrainConfig(epochs=2),
        tmp_path / "r",
        test_data=test,
        callbacks=[CtrlC()],
        quiet=True,
    )
    assert res.status == "interrupted" and res.best_val_acc is None
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["test"] is None and summary["best"]["epoch"] is None


# ------------------------------------------------------------------------ outputs


@pytest.mark.slow
def test_tensorboard_scalars_match_the_metrics(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model, data = digits(64, 32)
    res = fit(
        model, data, None, TrainConfig(epochs=2, tensorboard=True), tmp_path / "r", quiet=True
    )
    acc = EventAccumulator(str(tmp_path / "r" / "tensorboard"))
    acc.Reload()
    val = [e.value for e in acc.Scalars("accuracy/val_acc")]
    assert val == pytest.approx([h["val_acc"] for h in res.history])
    assert [e.step for e in acc.Scalars("loss/train")] == [1, 2]


def test_learning_curves_have_integer_epochs_title_and_best_marker(tmp_path):
    from convzoo.train.plots import learning_curves_figure

    history = [
        {
            "epoch": e,
            "train_loss": 1 / e,
            "val_loss": 1.2 / e,
            "train_acc": 0.5 + e / 20,
            "val_acc": [0.6, 0.8, 0.7][e - 1],
        }
        for e in (1, 2, 3)
    ]
    fig = learning_curves_figure(history, title="lenet5 on digits", best_epoch=2, unfreeze_epoch=2)
    ax_loss, ax_acc = fig.axes
    fig.canvas.draw()
    for ax in (ax_loss, ax_acc):
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)
    assert fig._suptitle.get_text() == "lenet5 on digits"
    labels = [line.get_label() for line in ax_acc.get_lines()]
    assert any("best: epoch 2, 80.00%" in s for s in labels)
    assert any("unfrozen" in s for s in labels)


def test_plots_leave_the_matplotlib_backend_alone(tmp_path):
    import matplotlib

    from convzoo.train.plots import plot_learning_curves

    before = matplotlib.get_backend()
    hist = [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.0, "train_acc": 0.5, "val_acc": 0.5}]
    path = plot_learning_curves(hist, tmp_path / "c.png", best_epoch=1)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.get_backend() == before
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_global_torch_flags_are_given_back():
    torch.set_num_threads(2)
    before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    model, data = digits(32, 16)
    fit(model, data, None, TrainConfig(epochs=1, threads=1, deterministic=True), None, quiet=True)
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == before


def test_start_line_shows_the_peak_rate_not_the_first_warm_up_step(capsys):
    model, data = digits(64, 32)
    fit(model, data, None, TrainConfig(epochs=2, lr=0.05, warmup_epochs=1), None)
    err = capsys.readouterr().err
    start = next(line for line in err.splitlines() if line.startswith("training lenet5"))
    assert "sgd lr 0.05 cosine" in start
    assert "epoch   2/2" in err and "*best" in err
