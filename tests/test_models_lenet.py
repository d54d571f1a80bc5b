"""LeNet-5, as taught and as in the 1998 paper: counts from the paper, layers against formulas."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import convzoo
from convzoo.models.lenet import (
    C3_TABLE,
    EuclideanRBF,
    PartialConv2d,
    ScaledTanh,
    TrainableSubsampling,
    paley_hadamard,
    rbf_codes,
)
from convzoo.registry import count_parameters

# Section II.B of LeCun, Bottou, Bengio, Haffner (1998): trainable parameters / connections.
PAPER_COUNTS = [
    ("C1", 156, 122_304),
    ("S2", 12, 5_880),
    ("C3", 1_516, 151_600),
    ("S4", 32, 2_000),
    ("C5", 48_120, 48_120),
    ("F6", 10_164, 10_164),
]


# ---------------------------------------------------------------- lenet5 (as taught)


def test_lenet5_has_61706_parameters():
    # conv 1*25*6+6, conv 6*25*16+16, fc 400*120+120, 120*84+84, 84*10+10 (the lecture's sum).
    expected = 156 + 2_416 + 48_120 + 10_164 + 850
    assert expected == 61_706
    assert convzoo.parameter_count("lenet5", num_classes=10) == 61_706
    assert count_parameters(convzoo.create_model("lenet5", num_classes=10)) == 61_706


def test_lenet5_card():
    card = convzoo.model_card("lenet5")
    assert card.input_size == (1, 32, 32)
    assert card.num_classes == 10
    assert card.mean == (0.1307,) and card.std == (0.3081,)


def test_lenet5_matches_an_independent_sequential():
    """The same weights in a plain nn.Sequential written here give the same outputs."""
    model = convzoo.create_model("lenet5", num_classes=10).eval()
    ref = nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10),
    ).eval()  # fmt: skip
    ours = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    theirs = [m for m in ref.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(ours) == len(theirs) == 5
    for a, b in zip(ours, theirs, strict=True):
        b.load_state_dict(a.state_dict())
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x), atol=1e-6, rtol=0)


def test_lenet5_shapes_and_unpadded_mnist():
    model = convzoo.create_model("lenet5", num_classes=10).eval()
    with torch.no_grad():
        assert model.forward_features(torch.randn(1, 1, 32, 32)).shape == (1, 16, 5, 5)
        # 28x28 (MNIST without the paper's padding) runs through the adaptive pool.
        assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


# ---------------------------------------------------------------- lenet5_1998 (the paper)


def test_layer_counts_equal_the_paper():
    model = convzoo.create_model("lenet5_1998", num_classes=10)
    rows = model.layer_counts()
    assert [(r["layer"], r["params"], r["connections"]) for r in rows] == PAPER_COUNTS
    assert all(set(r) == {"layer", "params", "connections"} for r in rows)


def test_layer_counts_on_meta_and_follow_the_structure():
    with torch.device("meta"):
        model = convzoo.create_model("lenet5_1998", num_classes=10)
    assert [(r["layer"], r["params"], r["connections"]) for r in model.layer_counts()] == (
        PAPER_COUNTS
    )
    # Computed, not copied: three input channels triple C1's kernels (3*25+1 = 76 a map).
    with torch.device("meta"):
        rgb = convzoo.create_model("lenet5_1998", num_classes=10, in_chans=3)
    c1 = rgb.layer_counts()[0]
    assert c1 == {"layer": "C1", "params": 6 * 76, "connections": 6 * 76 * 28 * 28}


def test_lenet5_1998_has_the_papers_60000_trainable_parameters():
    model = convzoo.create_model("lenet5_1998", num_classes=10)
    assert count_parameters(model, trainable_only=True) == 60_000
    assert sum(p for _, p, _ in PAPER_COUNTS) == 60_000
    # The RBF centres are fixed: a buffer, not a parameter.
    assert not any(n.startswith("rbf") for n, _ in model.named_parameters())
    assert model.rbf.centres.shape == (10, 84)


def test_c3_table_is_table_one():
    assert len(C3_TABLE) == 16
    assert [len(r) for r in C3_TABLE] == [3] * 6 + [4] * 9 + [6]
    # 0-5: three contiguous maps (cyclically), 6-11: four contiguous.
    for j in range(6):
        assert C3_TABLE[j] == tuple((j + i) % 6 for i in range(3))
        assert C3_TABLE[6 + j] == tuple((j + i) % 6 for i in range(4))
    assert [set(r) for r in C3_TABLE[12:15]] == [{0, 1, 3, 4}, {1, 2, 4, 5}, {0, 2, 3, 5}]
    # Row 0 of the paper's Table I has an X in columns 0, 4, 5, 6, 9, 10, 11, 12, 14, 15.
    assert [j for j, r in enumerate(C3_TABLE) if 0 in r] == [0, 4, 5, 6, 9, 10, 11, 12, 14, 15]
    # 60 links in all, each S2 map feeding ten C3 maps.
    links = list(itertools.chain.from_iterable(C3_TABLE))
    assert len(links) == 60
    assert all(links.count(i) == 10 for i in range(6))


def test_partial_conv_equals_one_convolution_per_map():
    """Reference: each C3 map convolved by hand from only the S2 maps its table row names."""
    layer = PartialConv2d(C3_TABLE, in_channels=6)
    x = torch.randn(2, 6, 14, 14)
    out = layer(x)
    assert out.shape == (2, 16, 10, 10)
    start = 0
    expected = []
    for j, row in enumerate(C3_TABLE):
        w = layer.weight[start : start + len(row)].unsqueeze(0)  # 1 x len(row) x 5 x 5
        expected.append(F.conv2d(x[:, list(row)], w, layer.bias[j : j + 1]))
        start += len(row)
    torch.testing.assert_close(out, torch.cat(expected, 1), atol=1e-5, rtol=1e-5)


def test_partial_conv_ignores_unconnected_maps_and_trains_only_links():
    layer = PartialConv2d(C3_TABLE, in_channels=6)
    x = torch.randn(1, 6, 14, 14)
    y = x.clone()
    y[:, 3] += 5.0  # perturb S2 map 3: only the C3 maps whose row holds 3 may change
    changed = (layer(x) - layer(y)).abs().flatten(2).amax(-1)[0] > 0
    assert changed.tolist() == [3 in row for row in C3_TABLE]
    layer(x).sum().backward()
    assert layer.weight.grad.shape == (60, 5, 5)
    assert sum(p.numel() for p in layer.parameters()) == 1_516


def test_trainable_subsampling_formula():
    layer = TrainableSubsampling(3)
    x = torch.randn(2, 3, 6, 6)
    blocks = x[..., 0::2, 0::2] + x[..., 1::2, 0::2] + x[..., 0::2, 1::2] + x[..., 1::2, 1::2]
    expected = blocks * layer.weight.view(1, 3, 1, 1) + layer.bias.view(1, 3, 1, 1)
    torch.testing.assert_close(layer(x), expected, atol=1e-6, rtol=1e-6)
    assert sum(p.numel() for p in layer.parameters()) == 6


def test_scaled_tanh():
    f = ScaledTanh()
    x = torch.linspace(-3, 3, 13)
    torch.testing.assert_close(f(x), 1.7159 * torch.tanh(2 * x / 3))
    # The paper's choice of constants: f(1) = 1 and f(-1) = -1 (to 1e-4).
    assert abs(f(torch.tensor(1.0)).item() - 1.0) < 1e-4
    assert abs(f(torch.tensor(-1.0)).item() + 1.0) < 1e-4


def test_paley_hadamard_is_hadamard():
    h = torch.tensor(paley_hadamard(83), dtype=torch.float64)
    assert h.shape == (84, 84)
    assert set(h.unique().tolist()) == {-1.0, 1.0}
    torch.testing.assert_close(h @ h.T, 84 * torch.eye(84, dtype=torch.float64))
    with pytest.raises(ValueError):
        paley_hadamard(85)


def test_rbf_codes_are_balanced_and_evenly_separated():
    c = torch.tensor(rbf_codes(10))
    assert c.shape == (10, 84)
    assert (c.sum(1) == 0).all()  # half +1, half -1
    d = torch.cdist(c, c).pow(2)
    off = d[~torch.eye(10, dtype=torch.bool)]
    assert torch.allclose(off, torch.full_like(off, 168.0))
    # Beyond 83 classes: more +-1 codes, all distinct, the same at every build.
    many = torch.tensor(rbf_codes(200))
    assert torch.equal(many, torch.tensor(rbf_codes(200)))
    assert torch.equal(many[:83], torch.tensor(rbf_codes(83)))
    assert len({tuple(r) for r in many.tolist()}) == 200


def test_rbf_logits_are_minus_squared_distances():
    rbf = EuclideanRBF(84, 10)
    x = torch.randn(3, 84)
    torch.testing.assert_close(rbf(x), -torch.cdist(x, rbf.centres).pow(2), atol=1e-3, rtol=1e-5)
    # The nearest centre wins.
    assert rbf(rbf.centres.clone()).argmax(1).tolist() == list(range(10))


def test_lenet5_1998_card_gives_the_papers_input_scaling():
    card = convzoo.model_card("lenet5_1998")
    assert card.input_size == (1, 32, 32) and card.num_classes == 10
    m, s = card.mean[0], card.std[0]
    # ToTensor gives background 0 and ink 1 (MNIST); the paper wants -0.1 and 1.175.
    assert abs((0.0 - m) / s - (-0.1)) < 1e-6
    assert abs((1.0 - m) / s - 1.175) < 1e-6


def test_lenet5_1998_reset_classifier_and_shapes():
    model = convzoo.create_model("lenet5_1998", num_classes=10).eval()
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert model.forward_features(x).shape == (2, 16, 5, 5)
        assert model(x).shape == (2, 10)
        assert model(torch.randn(1, 1, 28, 28)).shape == (1, 10)
    model.reset_classifier(26)
    assert model.get_classifier() is model.rbf
    assert model.rbf.out_features == 26 and model.card.num_classes == 26
    with torch.no_grad():
        assert model(x).shape == (2, 26)
    assert count_parameters(model, trainable_only=True) == 60_000


@pytest.mark.parametrize("name", ["lenet5", "lenet5_1998"])
def test_cross_entropy_trains_it(name):
    """A few Adam steps on two separable classes drive the loss down: the output layer trains."""
    torch.manual_seed(0)
    model = convzoo.create_model(name, num_classes=2)
    x = torch.randn(8, 1, 32, 32)
    y = torch.tensor([0, 1] * 4)
    x[y == 1] += 1.0  # make the classes separable
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
