"""Splits of the built-in sets (validation held out of training, test apart), the data-set
table, fingerprints of arrays, and the augmentation options (RandAugment, TrivialAugment,
MixUp, CutMix)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
import torchvision
from torchvision.transforms import v2

import convzoo
from convzoo import data as D
from convzoo.errors import ConvzooError


class FakeTorchvisionSet:
    """What torchvision's MNIST/CIFAR10 give the loader: ``data``, ``targets``, ``classes``.

    Each image carries its own index (training) or index + 10,000 (test) in its first pixels,
    so the tests can tell which source image ended where."""

    made: list[bool] = []

    def __init__(self, root, train=True, download=False, n_train=500, n_test=100, cifar=False):
        n = n_train if train else n_test
        rng = np.random.default_rng(0 if train else 1)
        shape = (n, 32, 32, 3) if cifar else (n, 28, 28)
        self.data = rng.integers(0, 256, shape, dtype=np.uint8)
        ids = np.arange(n) + (0 if train else 10_000)
        flat = self.data.reshape(n, -1)
        flat[:, 0], flat[:, 1] = ids // 256, ids % 256
        # Unbalanced on purpose: class k has about (k + 1) shares.
        self.targets = list(np.minimum((np.sqrt(np.arange(n) / n) * 10).astype(int), 9))
        self.classes = [f"c{k}" for k in range(10)]
        FakeTorchvisionSet.made.append(train)


def fake(cifar: bool):
    return lambda root, train=True, download=False: FakeTorchvisionSet(
        root, train, download, cifar=cifar
    )


@pytest.mark.parametrize("name, cls", [("mnist", "MNIST"), ("cifar10", "CIFAR10")])
def test_torchvision_sets_hold_out_validation_from_training(monkeypatch, name, cls):
    monkeypatch.setattr(torchvision.datasets, cls, fake(cifar=name == "cifar10"))
    card = convzoo.model_card("resnet18" if name == "cifar10" else "lenet5")
    b = D.build_datasets(name, card, augment=False, input_size=32)
    assert b.splits == {"train": 450, "val": 50, "test": 100}  # 10% of 500 held out
    # Stratified: each class's share of the validation set is its share of the training set.
    ref = FakeTorchvisionSet(None, train=True)
    counts = np.bincount(ref.targets, minlength=10)
    val_counts = torch.bincount(b.val.labels, minlength=10).numpy()
    assert np.all(np.abs(val_counts - counts * 0.1) <= 1)
    assert torch.bincount(b.train.labels, minlength=10).sum() == 450
    # The test set is the test split, untouched by the split.
    test_ref = FakeTorchvisionSet(None, train=False)
    assert b.test.labels.tolist() == list(test_ref.targets)
    assert b.val_split == "seeded 10% split, seed 0" and b.classes == ref.classes
    # Another seed, another validation set; the same seed, the same one.
    again = D.build_datasets(name, card, augment=False, input_size=32)
    other = D.build_datasets(name, card, augment=False, input_size=32, seed=1)
    assert again.fingerprint == b.fingerprint and torch.equal(again.val.cached, b.val.cached)
    assert other.fingerprint["splits"]["val"] != b.fingerprint["splits"]["val"]
    assert other.fingerprint["splits"]["test"] == b.fingerprint["splits"]["test"]


def test_validation_and_training_images_are_disjoint_and_cover_the_training_set(monkeypatch):
    monkeypatch.setattr(torchvision.datasets, "MNIST", fake(cifar=False))
    # The card's own geometry at 28x28 and mean 0 / std 1: the cached images are the pixels.
    card = dataclasses.replace(
        convzoo.model_card("lenet5"),
        input_size=(1, 28, 28),
        min_input_size=1,
        mean=(0.0,),
        std=(1.0,),
    )
    b = D.build_datasets("mnist", card, augment=False)

    def ids(ds) -> list[int]:
        px = (ds.cached.flatten(1)[:, :2] * 255).round().long()
        return (px[:, 0] * 256 + px[:, 1]).tolist()

    train, val, test = ids(b.train), ids(b.val), ids(b.test)
    assert sorted(train + val) == list(range(500)) and not set(train) & set(val)
    assert test == list(range(10_000, 10_100))


def test_val_fraction_given_and_the_data_set_table(monkeypatch):
    monkeypatch.setattr(torchvision.datasets, "MNIST", fake(cifar=False))
    b = D.build_datasets("MNIST", convzoo.model_card("lenet5"), val_fraction=0.3, augment=False)
    assert b.splits == {"train": 350, "val": 150, "test": 100}
    assert D.BUILTIN_DATASETS == ("digits", "fashion-mnist", "mnist", "cifar10")
    assert D.find_dataset("Fashion_MNIST").name == "fashion-mnist"
    assert D.find_dataset("cifar-10").name == "cifar10" and D.find_dataset("./photos") is None
    with pytest.raises(ConvzooError, match="unknown data set 'svhn'"):
        D.create_dataset("svhn")


def test_a_new_row_of_the_table_is_a_new_data_set(monkeypatch):
    def load(data_dir, download):
        x = torch.rand(40, 1, 8, 8)
        y = torch.arange(40) % 4
        return D.SourceArrays(x, y, x[:8], y[:8], list("abcd"))

    row = D.BuiltinDataset("tiny", load, "shift", 0.25, "four classes of noise")
    monkeypatch.setitem(D.DATASETS, "tiny", row)
    b = D.build_datasets("tiny", convzoo.model_card("lenet5"))
    assert b.splits == {"train": 30, "val": 10, "test": 8} and b.classes == list("abcd")
    json.dumps(b.fingerprint)


def test_digits_keep_their_split_and_have_no_test_set():
    b = D.build_datasets("digits", convzoo.model_card("lenet5"), augment=False)
    assert b.splits == {"train": 1438, "val": 359, "test": None} and b.test is None
    assert set(b.fingerprint["splits"]) == {"train", "val"}
    assert "test" not in b.describe() and "1438 train / 359 val images" in b.describe()


def test_stratified_split_edge_cases():
    # A class with one image stays in training (scikit-learn would refuse it); the held-out
    # count is shared in proportion, so the 2-image class gives none of 5.
    labels = [0] * 50 + [1] * 2 + [2]
    train, val = D.stratified_split(labels, 0.1, seed=0)
    assert sorted(train + val) == list(range(53)) and 52 in train
    assert len(val) == round(52 * 0.1) and [labels[i] for i in val] == [0] * 5
    # Fewer held-out images asked than classes: one a class, so scikit-learn can stratify.
    t2, v2_ = D.stratified_split([0, 0, 1, 1, 2, 2], 0.1, seed=0)
    assert sorted(labels_of(v2_, [0, 0, 1, 1, 2, 2])) == [0, 1, 2] and len(t2) == 3
    assert D.stratified_split([0, 1, 2], 0.5, seed=0) == ([0, 1, 2], [])
    # scikit-learn is the reference: the same call gives the same held-out images.
    from sklearn.model_selection import train_test_split

    y = np.arange(200) % 7
    _, ref = train_test_split(np.arange(200), test_size=40, stratify=y, random_state=3)
    assert D.stratified_split(y.tolist(), 0.2, seed=3)[1] == sorted(ref.tolist())
    with pytest.raises(ConvzooError, match="between 0 and 1"):
        D.stratified_split([0, 1], 1.0, seed=0)


def labels_of(idx, labels):
    return [labels[i] for i in idx]


# ------------------------------------------------------------------------------ augmentation


def test_auto_augment_policies_on_arrays_and_folders(tmp_path):
    card = convzoo.model_card("lenet5")
    plain = D.build_datasets("digits", card, augment=True)
    for policy, cls in (("randaugment", v2.RandAugment), ("trivialaugment", v2.TrivialAugmentWide)):
        b = D.build_datasets("digits", card, auto_augment=policy)
        assert isinstance(b.train.image_augment, cls) and b.val.image_augment is None
        torch.manual_seed(0)
        xs = torch.stack([b.train[0][0] for _ in range(20)])
        assert xs.shape == (20, 1, 32, 32) and xs.std(0).max() > 0  # it varies
        # Validation is untouched by the policy: the same images as without it.
        assert torch.equal(b.val.cached, plain.val.cached)
        torch.manual_seed(0)
        assert torch.equal(xs[0], b.train[0][0])  # replayed from the seed
    from test_data import make_folder

    root = make_folder(tmp_path / "imgs")
    f = D.build_datasets(root, card, auto_augment="trivialaugment")
    assert any(isinstance(t, v2.TrivialAugmentWide) for t in f.train.transform.transforms)
    assert not any(isinstance(t, v2.TrivialAugmentWide) for t in f.val.transform.transforms)
    assert f.train[0][0].shape == (1, 32, 32)


def test_mixup_is_a_convex_mix_of_the_batch_and_its_roll():
    bt = D.batch_transform(num_classes=4, mixup=0.4)
    x = torch.rand(6, 1, 8, 8)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    torch.manual_seed(0)
    xm, ym = bt(x, y)
    assert ym.shape == (6, 4) and torch.allclose(ym.sum(1), torch.ones(6))
    # Zhang et al. 2018: x' = lam x + (1 - lam) x_rolled; torchvision pairs each image with the
    # previous one in the batch. lam read from the soft labels of a pair of distinct classes.
    lam = float(ym[1, 1])
    onehot = torch.nn.functional.one_hot
    assert torch.allclose(
        ym, lam * onehot(y, 4).float() + (1 - lam) * onehot(y.roll(1), 4).float(), atol=1e-6
    )
    assert torch.allclose(xm, lam * x + (1 - lam) * x.roll(1, 0), atol=1e-6)


def test_cutmix_pastes_a_box_of_the_rolled_batch():
    bt = D.batch_transform(num_classes=3, cutmix=1.0)
    x = torch.zeros(4, 1, 16, 16)
    x[1::2] = 1.0  # alternate black and white images: a pasted box shows
    y = torch.tensor([0, 1, 2, 0])
    torch.manual_seed(1)
    xm, ym = bt(x, y)
    pasted = (xm != x).float().mean(dim=(1, 2, 3))
    # Yun et al. 2019: the label weight of the pasted image is the box's share of the area.
    rolled = y.roll(1)
    for i in range(4):
        if rolled[i] != y[i] and x[i].mean() != x.roll(1, 0)[i].mean():
            assert float(ym[i, rolled[i]]) == pytest.approx(float(pasted[i]), abs=1e-6)


def test_mixup_and_cutmix_together_and_bad_options():
    bt = D.batch_transform(num_classes=5, mixup=0.2, cutmix=1.0)
    assert isinstance(bt.transform, v2.RandomChoice) and D.batch_transform(5) is None
    b = D.build_datasets("digits", convzoo.model_card("lenet5"), mixup=0.2)
    x, y = b.train[0][0].unsqueeze(0).repeat(4, 1, 1, 1), torch.tensor([1, 2, 3, 4])
    xm, ym = b.batch_transform(x, y)
    assert ym.shape == (4, 10) and xm.shape == x.shape
    card = convzoo.model_card("lenet5")
    with pytest.raises(ConvzooError, match="unknown auto-augment policy 'autoaugment'"):
        D.build_datasets("digits", card, auto_augment="autoaugment")
    with pytest.raises(ConvzooError, match="cutmix alpha must be >= 0"):
        D.build_datasets("digits", card, cutmix=-1.0)
    with pytest.raises(ConvzooError, match="need augmentation on"):
        D.build_datasets("digits", card, augment=False, mixup=0.2)


@pytest.mark.parametrize("policy", [None, "randaugment"])
def test_per_image_path_equals_the_cached_one(monkeypatch, policy):
    from convzoo.data import arrays

    card = convzoo.model_card("lenet5")
    cached = D.build_datasets("digits", card, auto_augment=policy)
    monkeypatch.setattr(arrays, "_CACHE_LIMIT_BYTES", 0)  # as for a set too big to cache
    lazy = D.build_datasets("digits", card, auto_augment=policy)
    assert cached.train.cached is not None and lazy.train.cached is None
    for i in (0, 7, 500):
        torch.manual_seed(i)
        a = cached.train[i]
        torch.manual_seed(i)
        b = lazy.train[i]
        assert torch.equal(a[0], b[0]) and a[1] == b[1]


def test_a_bundle_made_by_hand_still_has_counts_and_a_fingerprint():
    g = D.geometry_from_card(convzoo.model_card("lenet5"))
    x, y = torch.rand(6, 1, 8, 8), torch.tensor([0, 1] * 3)
    b = D.DataBundle(
        D.ArrayDataset(x[:4], y[:4], g),
        D.ArrayDataset(x[4:], y[4:], g),
        ["a", "b"],
        "toy",
        "by hand",
        g.input_size,
        g.mean,
        g.std,
    )
    assert b.splits == {"train": 4, "val": 2, "test": None} and b.batch_transform is None
    assert b.fingerprint == {"name": "toy", "splits": {"train": {"count": 4}, "val": {"count": 2}}}
