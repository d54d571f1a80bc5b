"""`convzoo show-batch`: the training inputs as fed, augmented, de-normalised, reproducible."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

import convzoo
from convzoo.cli import main
from convzoo.course import denormalize, sample_batch, show_batch
from convzoo.course.show_batch import _soft_caption
from convzoo.data import build_datasets


def test_denormalize_undoes_torchvision_normalize():
    x = torch.rand(3, 9, 7)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    normalised = v2.Normalize(mean, std)(x)
    assert torch.allclose(denormalize(normalised, mean, std), x, atol=1e-6)
    assert denormalize(torch.full((1, 2, 2), 50.0), (0.5,), (0.5,)).max() == 1.0  # clipped


def test_batch_is_seeded_augmented_and_leaves_the_rng_alone():
    card = convzoo.model_card("lenet5")
    augmented = build_datasets("digits", card, seed=0)
    plain = build_datasets("digits", card, seed=0, augment=False)
    rng = torch.get_rng_state()
    a, ya = sample_batch(augmented.train, 16, seed=3)
    b, yb = sample_batch(augmented.train, 16, seed=3)
    assert torch.equal(rng, torch.get_rng_state())
    assert torch.equal(a, b) and torch.equal(ya, yb)  # same seed, same images and shifts
    c, _ = sample_batch(augmented.train, 16, seed=4)
    assert not torch.equal(a, c)
    p, yp = sample_batch(plain.train, 16, seed=3)
    assert torch.equal(ya, yp)  # the same images were drawn ...
    shifted = sum(not torch.equal(x, y) for x, y in zip(a, p, strict=True))
    assert shifted >= 8  # ... and most of them were moved by the augmentation
    assert a.shape == (16, 1, 32, 32)  # as the network is fed: the card's 32x32, 1 channel


@pytest.mark.slow
def test_cli_draws_a_grid(tmp_path, capsys):
    out = tmp_path / "batch.png"
    assert main(["show-batch", "lenet5", "--count", "8", "--out", str(out)]) == 0
    assert "fed as 1x32x32" in capsys.readouterr().out
    with Image.open(out) as im:
        small = im.size
    big = tmp_path / "big.png"
    assert main(["show-batch", "lenet5", "--count", "32", "--out", str(big)]) == 0
    with Image.open(big) as im:
        assert im.size[1] > small[1]  # 4 rows of 8 against 1 row of 8


def test_cli_refuses_bad_input(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:  # argparse refuses it, in one line
        main(["show-batch", "lenet5", "--count", "0", "--out", str(tmp_path / "a.png")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "at least 1" in err and err.count("\n") == 1
    assert main(["show-batch", "nonet", "--out", str(tmp_path / "b.png")]) == 2
    assert not list(tmp_path.iterdir())


def test_rgb_folder_is_shown_in_colour(tmp_path):
    from test_data import make_folder

    folder = make_folder(tmp_path / "pets", n=4, size=(40, 40))
    out = tmp_path / "pets.png"
    assert (
        main(["show-batch", "alexnet", "--data", str(folder), "--count", "4", "--out", str(out)])
        == 0
    )
    with Image.open(out) as im:
        rgb = im.convert("RGB")
        colours = rgb.getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 1000  # random RGB noise: far over 256 grays


def test_mixed_batches_are_shown_mixed(tmp_path):
    """A bundle whose batches are mixed (MixUp) is shown mixed, with soft-label captions."""
    card = convzoo.model_card("lenet5")
    data = build_datasets("digits", card, seed=0, augment=False)
    calls = []

    def half_mix(x, y):  # MixUp with lambda 0.5 and the batch reversed
        calls.append(len(y))
        onehot = torch.nn.functional.one_hot(y, 10).float()
        return 0.5 * x + 0.5 * x.flip(0), 0.5 * onehot + 0.5 * onehot.flip(0)

    bundle = SimpleNamespace(
        train=data.train,
        classes=data.classes,
        mean=data.mean,
        std=data.std,
        name="digits",
        batch_transform=half_mix,
    )
    out = show_batch(bundle, tmp_path / "mixed.png", n=4, seed=0)
    assert calls == [4] and out.stat().st_size > 1000
    assert _soft_caption(torch.tensor([0.0, 0.7, 0.3]), ["a", "b", "c"]) == "b 70%\nc 30%"
    assert _soft_caption(torch.tensor([0.0, 1.0, 0.0]), ["a", "b", "c"]) == "b 100%"
