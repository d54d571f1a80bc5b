"""Data sets and transforms: idx reader, built-in sets offline, image folders, card geometry."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import convzoo
from convzoo import data as D
from convzoo.data import builtin
from convzoo.errors import ConvzooError


def write_idx(path: Path, array: np.ndarray) -> None:
    """An idx file as LeCun's format page describes it (independent of the reader)."""
    assert array.dtype == np.uint8
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    payload = header + array.tobytes()
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def fake_fashion(folder: Path, n_train: int = 20, n_test: int = 10, gz: bool = True) -> dict:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for stem, arr in arrays.items():
        write_idx(folder / (stem + (".gz" if gz else "")), arr)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_idx_reader_round_trip(tmp_path, gz):
    arr = np.random.default_rng(1).integers(0, 256, (3, 5, 7), dtype=np.uint8)
    p = tmp_path / ("x.idx" + (".gz" if gz else ""))
    write_idx(p, arr)
    out = D.read_idx(p)
    assert out.shape == (3, 5, 7) and out.dtype == np.uint8
    assert np.array_equal(out, arr)


def test_idx_reader_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x08\x01" + struct.pack(">i", 3) + b"abc")
    with pytest.raises(ConvzooError, match="magic"):
        D.read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">i", 10) + b"abc")
    with pytest.raises(ConvzooError, match="header says 10"):
        D.read_idx(short)


def test_fashion_mnist_from_data_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(builtin, "DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    arrays = fake_fashion(tmp_path / "fm", n_train=100)
    card = convzoo.model_card("lenet5")
    b = D.build_datasets("fashion-mnist", card, data_dir=tmp_path / "fm", augment=False)
    # Validation is 10% of the training set, one image a class; the t10k files are the test set.
    assert b.splits == {"train": 90, "val": 10, "test": 10}
    assert sorted(b.val.labels.tolist()) == list(range(10))
    assert b.val_split == "seeded 10% split, seed 0"
    assert b.classes[0] == "T-shirt/top" and b.classes[9] == "Ankle boot"
    x, y = b.test[3]
    assert x.shape == (1, 32, 32) and y == 3
    # The same image centred on a black 32x32 canvas with PIL (LeCun's padding) and the card's
    # normalisation, an independent path.
    canvas = Image.new("L", (32, 32), 0)
    canvas.paste(Image.fromarray(arrays["t10k-images-idx3-ubyte"][3]), (2, 2))
    ref = (
        torch.from_numpy(np.asarray(canvas, dtype=np.float32) / 255.0) - card.mean[0]
    ) / card.std[0]
    assert torch.allclose(x[0], ref, atol=1e-5)
    assert abs(float(x.mean()) - float(ref.mean())) < 0.02


def test_fashion_mnist_missing_says_which_files(tmp_path, monkeypatch):
    monkeypatch.setattr(builtin, "DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    card = convzoo.model_card("lenet5")
    with pytest.raises(ConvzooError) as err:
        D.build_datasets("fashion-mnist", card, data_dir=tmp_path / "empty", download=False)
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz" in msg and "t10k-labels-idx1-ubyte.gz" in msg
    assert str(tmp_path / "empty") in msg and "dataset-fashion-mnist" in msg


@pytest.mark.slow  # 7 s: the 60,000 real images, decompressed and resized
@pytest.mark.skipif(not D.DEBIAN_FASHION_MNIST.is_dir(), reason="dataset-fashion-mnist absent")
def test_fashion_mnist_debian_package_real_data():
    b = D.build_datasets("fashion-mnist", convzoo.model_card("lenet5"), download=False)
    assert b.splits == {"train": 54000, "val": 6000, "test": 10000}
    # Both sets are balanced (Xiao et al. 2017): 6,000 training and 1,000 test images a class,
    # so a stratified 10% holds out 600 of each.
    assert torch.bincount(b.test.labels).tolist() == [1000] * 10
    assert torch.bincount(b.val.labels).tolist() == [600] * 10
    assert torch.bincount(b.train.labels).tolist() == [5400] * 10


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_torchvision_sets_offline_error(tmp_path, name):
    with pytest.raises(ConvzooError) as err:
        D.build_datasets(name, convzoo.model_card("lenet5"), data_dir=tmp_path, download=False)
    msg = str(err.value)
    assert str(tmp_path) in msg
    assert ("train-images-idx3-ubyte" in msg) if name == "mnist" else ("cifar-10" in msg)


def test_digits_default_split_and_geometry():
    card = convzoo.model_card("lenet5")
    b = D.build_datasets("digits", card, augment=False)
    assert (len(b.train), len(b.val)) == (1438, 359)  # 1,797 images, 20% held out per class
    val_labels = torch.stack([torch.tensor(b.val[i][1]) for i in range(len(b.val))])
    counts = torch.bincount(val_labels)
    assert counts.min() >= 35 and counts.max() <= 37  # stratified: about 36 of each digit
    x, _ = b.train[0]
    assert x.shape == (1, 32, 32)
    # Same seed, same split; another seed, another split.
    b2 = D.build_datasets("digits", card, augment=False)
    assert torch.equal(b.val.labels, b2.val.labels)
    b3 = D.build_datasets("digits", card, augment=False, seed=1)
    assert not torch.equal(b.val.cached, b3.val.cached)


def test_every_network_gets_its_card_geometry():
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.from_numpy(digits.images[:2]).float() / 16.0
    labels = torch.from_numpy(digits.target[:2])
    for name in convzoo.list_models():
        card = convzoo.model_card(name)
        g = D.geometry_from_card(card)
        ds = D.ArrayDataset(images, labels, g, D._array_augment("shift", g, True))
        x, y = ds[1]
        assert tuple(x.shape) == tuple(card.input_size), name
        assert y == int(digits.target[1])


def test_card_normalisation_and_channel_conversion():
    g = D.geometry_from_card(convzoo.model_card("resnet18"))
    t = D.ArrayTransform(g)
    ones = torch.ones(1, 8, 8)
    out = t(ones)
    expect = [
        (1 - m) / s
        for m, s in zip(
            convzoo.model_card("resnet18").mean, convzoo.model_card("resnet18").std, strict=True
        )
    ]
    assert out.shape == (3, 224, 224)
    for c in range(3):
        assert torch.allclose(out[c], torch.full((224, 224), expect[c]), atol=1e-5)
    # RGB to one channel: PIL's convert("L") is the reference (ITU-R 601-2).
    rgb = np.random.default_rng(2).integers(0, 256, (6, 6, 3), dtype=np.uint8)
    ref = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float32)
    ours = D.convert_channels(torch.from_numpy(rgb).permute(2, 0, 1).float(), 1)[0]
    assert np.abs(ours.numpy() - ref).max() <= 1.0  # PIL rounds to integers


def test_size_and_channels_the_network_cannot_take():
    with pytest.raises(ConvzooError, match="at least 16x16"):
        D.build_datasets("digits", convzoo.model_card("lenet5"), input_size=8)
    import dataclasses

    two = dataclasses.replace(convzoo.model_card("lenet5"), input_size=(2, 32, 32))
    with pytest.raises(ConvzooError, match="2-channel"):
        D.build_datasets("digits", two)


def test_random_shift_is_a_translation():
    torch.manual_seed(3)
    shift = D.RandomShift(0.1, fill=(0.0,))
    x = torch.zeros(1, 20, 20)
    x[0, 10, 10] = 1.0
    moves = set()
    for _ in range(50):
        y = shift(x)
        assert y.shape == x.shape and float(y.sum()) == 1.0
        i, j = (int(v) for v in torch.nonzero(y[0])[0])
        assert abs(i - 10) <= 2 and abs(j - 10) <= 2
        moves.add((i, j))
    assert len(moves) > 5


# ------------------------------------------------------------------------------ image folders


def make_folder(root: Path, classes=("cat", "dog"), n: int = 5, size=(12, 10)) -> Path:
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            arr = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / c / f"{i}.png")
    return root


def test_folder_seeded_split_and_transforms(tmp_path):
    root = make_folder(tmp_path / "imgs")
    card = convzoo.model_card("lenet5")
    b = D.build_datasets(root, card, seed=0)
    assert b.classes == ["cat", "dog"]
    assert (len(b.train), len(b.val)) == (8, 2)  # 1 of 5 per class held out
    assert sorted(lbl for _, lbl in b.val.samples) == [0, 1]
    x, _ = b.train[0]
    assert x.shape == (1, 32, 32)  # RGB files, grayscale network
    again = D.build_datasets(root, card, seed=0)
    assert again.val.samples == b.val.samples


def test_folder_train_val_subfolders(tmp_path):
    make_folder(tmp_path / "d" / "train", n=3)
    make_folder(tmp_path / "d" / "val", n=2)
    b = D.build_datasets(tmp_path / "d", convzoo.model_card("resnet18"), input_size=40)
    assert (len(b.train), len(b.val), b.val_split) == (6, 4, "val/ folder")
    assert b.val[0][0].shape == (3, 40, 40)


def test_folder_corrupt_files_skipped_or_strict(tmp_path):
    root = make_folder(tmp_path / "imgs")
    (root / "cat" / "broken.png").write_bytes(b"\x89PNG not really")
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / "dog" / ".DS_Store").write_bytes(b"\0")
    b = D.build_datasets(root, convzoo.model_card("lenet5"))
    assert b.info["skipped"] == 2
    assert "cat/broken.png" in b.info["warning"] and "dog/notes.txt" in b.info["warning"]
    assert len(b.train) + len(b.val) == 10
    with pytest.raises(ConvzooError, match="2 file\\(s\\) are not readable images"):
        D.build_datasets(root, convzoo.model_card("lenet5"), strict=True)


def test_folder_bad_inputs(tmp_path):
    card = convzoo.model_card("lenet5")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        D.build_datasets(tmp_path / "missing", card)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConvzooError, match="no class sub-folders"):
        D.build_datasets(tmp_path / "empty", card)
    make_folder(tmp_path / "one", classes=("cat",))
    with pytest.raises(ConvzooError, match="at least 2 class"):
        D.build_datasets(tmp_path / "one", card)
    (tmp_path / "hollow" / "a").mkdir(parents=True)
    (tmp_path / "hollow" / "b").mkdir(parents=True)
    with pytest.raises(ConvzooError, match="no readable training images"):
        D.build_datasets(tmp_path / "hollow", card)


def test_the_mnist_family_is_padded_into_lenets_field_as_lecun_did():
    # LeCun et al. 1998, section III-A: the 28x28 images centred in a 32x32 field.
    assert builtin.DATASETS["fashion-mnist"].fit == builtin.DATASETS["mnist"].fit == "pad"
    assert builtin.DATASETS["digits"].fit == "resize"
    g = D.geometry_from_card(convzoo.model_card("lenet5"))
    images = (torch.rand(3, 28, 28, generator=torch.Generator().manual_seed(0)) * 255).to(
        torch.uint8
    )
    x, _ = D.ArrayDataset(images, torch.arange(3), g, fit="pad")[1]
    mean, std = g.mean[0], g.std[0]
    expected = (images[1].float() / 255.0 - mean) / std
    assert torch.allclose(x[0, 2:30, 2:30], expected, atol=1e-6)  # every pixel kept, not resampled
    border = torch.cat([x[0, :2].flatten(), x[0, 30:].flatten(), x[0, :, :2].flatten()])
    assert torch.allclose(border, torch.full_like(border, (0.0 - mean) / std))
    # A gap too large for a border (28 -> 224) is resized as before.
    big = D.Geometry(1, 224, 224, g.mean, g.std)
    assert D.ArrayDataset(images, torch.arange(3), big, fit="pad")[0][0].shape == (1, 224, 224)
    resized, _ = D.ArrayDataset(images, torch.arange(3), g)[1]
    assert not torch.allclose(resized[0, 2:30, 2:30], expected, atol=1e-3)
