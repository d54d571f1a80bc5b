"""AlexNet: the lecture's table, the 2012 paper's towers and LRN, torchvision's twin."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import convzoo
from convzoo.models.alexnet import TowerLRN
from convzoo.registry import count_parameters

# The lecture's "AlexNet Network - Structural Details" table, 227x227x3 input:
# (layer, output (C, H, W) or features, parameters).
LECTURE_TABLE = [
    ("conv1", (96, 55, 55), 34_944),
    ("maxpool1", (96, 27, 27), 0),
    ("conv2", (256, 27, 27), 614_656),
    ("maxpool2", (256, 13, 13), 0),
    ("conv3", (384, 13, 13), 885_120),
    ("conv4", (384, 13, 13), 1_327_488),
    ("conv5", (256, 13, 13), 884_992),
    ("maxpool5", (256, 6, 6), 0),
    ("fc6", (4096,), 37_752_832),
    ("fc7", (4096,), 16_781_312),
    ("fc8", (1000,), 4_097_000),
]


def _meta(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return convzoo.create_model(name, **kwargs)


def _trace(model: nn.Module, side: int) -> list[tuple[str, tuple[int, ...], int]]:
    """(kind, output shape without N, parameters) of every conv, max pool and linear, in order."""
    rows: list[tuple[str, tuple[int, ...], int]] = []
    kinds = {nn.Conv2d: "conv", nn.MaxPool2d: "maxpool", nn.Linear: "fc"}

    def record(kind: str, params: int):
        return lambda _m, _i, out: rows.append((kind, tuple(out.shape[1:]), params))

    hooks = [
        m.register_forward_hook(record(kinds[type(m)], sum(p.numel() for p in m.parameters())))
        for m in model.modules()
        if type(m) in kinds
    ]
    model.eval()(torch.empty(1, 3, side, side, device="meta"))
    for h in hooks:
        h.remove()
    return rows


@pytest.mark.parametrize(
    "name, expected",
    [("alexnet", 62_378_344), ("alexnet_2012", 60_965_224), ("alexnet_owt", 61_100_840)],
)
def test_parameter_counts(name, expected):
    assert convzoo.parameter_count(name) == expected


def test_owt_count_is_torchvisions():
    with torch.device("meta"):
        tv = torchvision.models.alexnet()
    assert convzoo.parameter_count("alexnet_owt") == count_parameters(tv)


def test_lecture_alexnet_every_layer_as_in_the_table():
    assert sum(p for *_, p in LECTURE_TABLE) == 62_378_344  # the table's own total
    rows = _trace(_meta("alexnet"), 227)
    assert len(rows) == len(LECTURE_TABLE)
    for (kind, shape, params), (layer, want_shape, want_params) in zip(
        rows, LECTURE_TABLE, strict=True
    ):
        assert layer.startswith(kind), (layer, kind)
        assert shape == want_shape, layer
        assert params == want_params, layer


def test_lecture_alexnet_card_and_parts():
    card = convzoo.model_card("alexnet")
    assert card.input_size == (3, 227, 227)
    model = _meta("alexnet")
    assert isinstance(model.avgpool, nn.AdaptiveAvgPool2d)
    assert not any(isinstance(m, nn.LocalResponseNorm) for m in model.modules())
    assert sum(isinstance(m, nn.Dropout) for m in model.classifier) == 2
    assert model.get_classifier() is model.classifier[6]


def test_2012_every_layer():
    """The paper's Fig. 2: the same sizes as the lecture, half the weights in conv2, 4 and 5."""
    rows = _trace(_meta("alexnet_2012"), 227)
    # A tower's kernel sees half the input maps: weights (in / 2) * k * k * out, plus out biases.
    expected_params = [
        3 * 11 * 11 * 96 + 96,
        0,
        48 * 5 * 5 * 256 + 256,
        0,
        256 * 3 * 3 * 384 + 384,
        192 * 3 * 3 * 384 + 384,
        192 * 3 * 3 * 256 + 256,
        0,
        9216 * 4096 + 4096,
        4096 * 4096 + 4096,
        4096 * 1000 + 1000,
    ]
    assert sum(expected_params) == 60_965_224
    assert [s for _, s, _ in rows] == [s for _, s, _ in LECTURE_TABLE]
    assert [p for *_, p in rows] == expected_params


def test_2012_towers_and_lrn_positions():
    model = _meta("alexnet_2012")
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]
    kinds = [type(m).__name__ for m in model.features]
    # ReLU, then LRN, then the overlapping pool, after conv1 and conv2 (section 3.5).
    assert kinds[:8] == [
        "Conv2d", "ReLU", "TowerLRN", "MaxPool2d", "Conv2d", "ReLU", "TowerLRN", "MaxPool2d",
    ]  # fmt: skip
    assert all(m.kernel_size == 3 and m.stride == 2 for m in model.features if "Pool" in str(m))
    # Dropout on the outputs of fc6 and fc7 (after their ReLUs).
    assert [type(m).__name__ for m in model.classifier] == [
        "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear",
    ]  # fmt: skip


def test_2012_conv_sees_only_its_tower():
    model = convzoo.create_model("alexnet_2012", num_classes=10)
    conv2 = model.features[4]
    x = torch.randn(1, 96, 13, 13)
    y = x.clone()
    y[:, 48:] += 1.0  # change the second tower's maps only
    with torch.no_grad():
        a, b = conv2(x), conv2(y)
    torch.testing.assert_close(a[:, :128], b[:, :128], atol=0, rtol=0)
    assert not torch.allclose(a[:, 128:], b[:, 128:])


def _paper_lrn(a: torch.Tensor, n=5, k=2.0, alpha=1e-4, beta=0.75) -> torch.Tensor:
    """Section 3.3 written out: b_i = a_i / (k + alpha * sum_{j=i-n/2}^{i+n/2} a_j^2)^beta."""
    maps = a.shape[1]
    out = torch.empty_like(a)
    for i in range(maps):
        lo, hi = max(0, i - n // 2), min(maps - 1, i + n // 2)
        s = (a[:, lo : hi + 1] ** 2).sum(1)
        out[:, i] = a[:, i] / (k + alpha * s) ** beta
    return out


def test_lrn_is_the_papers_formula_per_tower():
    # Large activations so that the alpha term matters (ReLU outputs reach tens to hundreds).
    a = torch.rand(2, 12, 3, 3, dtype=torch.float64) * 100
    lrn = TowerLRN(size=5, alpha=1e-4, beta=0.75, k=2.0, groups=2)
    expected = torch.cat([_paper_lrn(a[:, :6]), _paper_lrn(a[:, 6:])], 1)
    torch.testing.assert_close(lrn(a), expected, atol=1e-12, rtol=1e-10)
    # torch's own LocalResponseNorm with the paper's alpha is another formula (alpha / n).
    plain = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)(a[:, :6])
    assert not torch.allclose(plain, _paper_lrn(a[:, :6]), rtol=1e-3)
    # One tower (groups=1) normalises across all maps.
    one = TowerLRN(groups=1)
    torch.testing.assert_close(one(a), _paper_lrn(a), atol=1e-12, rtol=1e-10)


def test_2012_paper_initialisation():
    model = convzoo.create_model("alexnet_2012", num_classes=10)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    fcs = [m for m in model.classifier if isinstance(m, nn.Linear)]
    biases = [float(m.bias.unique().item()) for m in (*convs, *fcs)]
    assert biases == [0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    w = fcs[0].weight
    assert abs(w.std().item() - 0.01) < 5e-4 and abs(w.mean().item()) < 5e-4
    # The faithful card: mean subtraction on 0-255 pixels.
    card = convzoo.model_card("alexnet_2012")
    assert card.input_size == (3, 227, 227)
    assert all(abs(s * 255 - 1) < 1e-9 for s in card.std)


def test_224_does_not_give_55_without_padding():
    """Why 227: the paper's 224 with conv1 11x11/4 and no padding gives 54x54 maps, not 55."""
    rows = _trace(_meta("alexnet_2012"), 224)
    assert rows[0][1] == (96, 54, 54)
    assert _trace(_meta("alexnet_2012"), 227)[0][1] == (96, 55, 55)


@pytest.mark.parametrize("name", ["alexnet", "alexnet_2012", "alexnet_owt"])
def test_min_input_size_from_the_arithmetic(name):
    """pool5 needs a 3x3 map: conv1 must give 15, so (H + 2p - 11) / 4 >= 14."""
    card = convzoo.model_card(name)
    pad = 2 if name == "alexnet_owt" else 0
    assert card.min_input_size == 4 * 14 + 11 - 2 * pad
    model = _meta(name)
    x = torch.empty(1, 3, card.min_input_size, card.min_input_size, device="meta")
    assert model.forward_features(x).shape[2:] == (1, 1)
    with pytest.raises(RuntimeError):
        model.forward_features(x[..., :-1, :-1])


@pytest.mark.slow
def test_owt_loads_torchvision_strictly_and_agrees():
    """torchvision's freshly initialised alexnet loads with strict=True; eval outputs agree."""
    tv = torchvision.models.alexnet().eval()
    ours = convzoo.create_model("alexnet_owt").eval()
    result = ours.load_state_dict(tv.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert convzoo.model_card("alexnet_owt").torchvision_twin == "alexnet"
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), tv(x), atol=1e-5, rtol=0)
        # Another size, through both adaptive pools.
        small = torch.randn(2, 3, 100, 100)
        torch.testing.assert_close(ours(small), tv(small), atol=1e-5, rtol=0)


def test_other_sizes_run_through_the_adaptive_pool():
    model = convzoo.create_model("alexnet", num_classes=5).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 96, 128)).shape == (1, 5)
