"""The augmentation flags end to end: `convzoo train ... --auto-augment/--mixup/--cutmix` trains,
records the choice in config.json, and changes what the network is trained on."""

from __future__ import annotations

import json

import pytest

from convzoo.cli import main


def _train(out, *flags: str) -> tuple[dict, dict]:
    argv = ["train", "lenet5", "--epochs", "1", "--seed", "3", "--quiet", "--out", str(out)]
    assert main([*argv, *flags]) == 0
    config = json.loads((out / "config.json").read_text())
    first_epoch = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    return config, first_epoch


@pytest.fixture(scope="module")
def plain_epoch(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("plain") / "run")[1]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("flags", "field", "value"),
    [
        (("--auto-augment", "randaugment"), "auto_augment", "randaugment"),
        (("--auto-augment", "trivialaugment"), "auto_augment", "trivialaugment"),
        (("--mixup", "0.4"), "mixup", 0.4),
        (("--cutmix", "1.0"), "cutmix", 1.0),
    ],
)
def test_an_augmentation_flag_trains_and_changes_the_training_inputs(
    tmp_path, plain_epoch, flags, field, value
):
    config, epoch = _train(tmp_path / "run", *flags)
    assert config[field] == value
    # Same seed, same initialisation and order: only the augmented inputs (or mixed targets)
    # can move the training loss of the first epoch.
    assert epoch["train_loss"] != pytest.approx(plain_epoch["train_loss"], rel=1e-6)
    assert 0.0 <= epoch["val_acc"] <= 1.0


def test_mixup_without_augmentation_is_a_one_line_refusal(tmp_path, capsys):
    code = main(["train", "lenet5", "--no-augment", "--mixup", "0.2", "--out", str(tmp_path / "r")])
    assert code != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "mixup" in err.lower(), err
    assert not (tmp_path / "r").exists()
