"""VGG (Simonyan & Zisserman 2014): parameter counts against the paper and a formula, the
configurations of Table 1, A-LRN's normalisation, and torchvision's twins."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import convzoo

# Table 1 of the paper, written the paper's way: "conv3-64" is a 3x3 conv with 64 outputs,
# "conv1-256" a 1x1 conv; "LRN" and "maxpool" have no weights. (Independent of vgg.cfgs.)
TABLE1 = {
    "vgg11": "conv3-64 maxpool conv3-128 maxpool conv3-256 conv3-256 maxpool "
    "conv3-512 conv3-512 maxpool conv3-512 conv3-512 maxpool",
    "vgg11_lrn": "conv3-64 LRN maxpool conv3-128 maxpool conv3-256 conv3-256 maxpool "
    "conv3-512 conv3-512 maxpool conv3-512 conv3-512 maxpool",
    "vgg13": "conv3-64 conv3-64 maxpool conv3-128 conv3-128 maxpool conv3-256 conv3-256 maxpool "
    "conv3-512 conv3-512 maxpool conv3-512 conv3-512 maxpool",
    "vgg16_c": "conv3-64 conv3-64 maxpool conv3-128 conv3-128 maxpool "
    "conv3-256 conv3-256 conv1-256 maxpool conv3-512 conv3-512 conv1-512 maxpool "
    "conv3-512 conv3-512 conv1-512 maxpool",
    "vgg16": "conv3-64 conv3-64 maxpool conv3-128 conv3-128 maxpool "
    "conv3-256 conv3-256 conv3-256 maxpool conv3-512 conv3-512 conv3-512 maxpool "
    "conv3-512 conv3-512 conv3-512 maxpool",
    "vgg19": "conv3-64 conv3-64 maxpool conv3-128 conv3-128 maxpool "
    "conv3-256 conv3-256 conv3-256 conv3-256 maxpool "
    "conv3-512 conv3-512 conv3-512 conv3-512 maxpool "
    "conv3-512 conv3-512 conv3-512 conv3-512 maxpool",
}
# Table 2 of the paper: number of parameters in millions.
TABLE2_MILLIONS = {
    "vgg11": 133,
    "vgg11_lrn": 133,
    "vgg13": 133,
    "vgg16_c": 134,
    "vgg16": 138,
    "vgg19": 144,
}
BN_OF = {"vgg11_bn": "vgg11", "vgg13_bn": "vgg13", "vgg16_bn": "vgg16", "vgg19_bn": "vgg19"}


def _convs(name: str) -> list[tuple[int, int]]:
    """(kernel, out channels) of every conv of a Table 1 column."""
    layers = [t for t in TABLE1[name].split() if t.startswith("conv")]
    return [(int(t[4]), int(t.split("-")[1])) for t in layers]


def formula_params(name: str, batch_norm: bool = False, num_classes: int = 1000) -> int:
    """k*k*c_in*c_out + c_out per conv (+ 2*c_out for BN's scale and shift), then three fc."""
    total, c_in = 0, 3
    for k, c_out in _convs(name):
        total += k * k * c_in * c_out + c_out + (2 * c_out if batch_norm else 0)
        c_in = c_out
    fc = [(512 * 7 * 7, 4096), (4096, 4096), (4096, num_classes)]
    return total + sum(i * o + o for i, o in fc)


def test_vgg16_has_138_357_544_parameters():
    assert convzoo.parameter_count("vgg16") == 138_357_544


@pytest.mark.parametrize("name", list(TABLE1))
def test_parameters_match_formula_and_table2(name):
    count = convzoo.parameter_count(name)
    assert count == formula_params(name)
    assert round(count / 1e6) == TABLE2_MILLIONS[name]


@pytest.mark.parametrize("name", list(BN_OF))
def test_bn_parameters_match_formula(name):
    assert convzoo.parameter_count(name) == formula_params(BN_OF[name], batch_norm=True)


def test_num_classes_changes_only_last_layer_count():
    assert convzoo.parameter_count("vgg16", num_classes=10) == formula_params("vgg16", False, 10)


@pytest.mark.parametrize("name", list(TABLE1))
def test_layers_follow_table1(name):
    with torch.device("meta"):
        model = convzoo.create_model(name)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [(m.kernel_size[0], m.out_channels) for m in convs] == _convs(name)
    assert all(m.stride == (1, 1) and m.padding[0] == m.kernel_size[0] // 2 for m in convs)
    pools = [m for m in model.features if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 5 and all(m.kernel_size == 2 and m.stride == 2 for m in pools)
    lrns = [i for i, m in enumerate(model.features) if isinstance(m, nn.LocalResponseNorm)]
    # A-LRN: the normalisation follows the first conv and its ReLU, nowhere else.
    assert lrns == ([2] if name == "vgg11_lrn" else [])


@pytest.mark.slow
def test_alrn_normalisation_is_krizhevskys_formula():
    """b = a / (k + alpha * sum over n=5 neighbouring channels of a^2)^beta, with AlexNet's
    k=2, alpha=1e-4, beta=0.75 (Krizhevsky et al. 2012, Sec. 3.3), computed here by hand."""
    lrn = convzoo.create_model("vgg11_lrn").features[2]
    a = torch.randn(1, 64, 3, 3) * 30  # big enough for the normalisation to matter
    sq = a.pow(2)
    expected = torch.empty_like(a)
    for i in range(64):
        lo, hi = max(0, i - 2), min(63, i + 2)
        s = sq[:, lo : hi + 1].sum(1)
        expected[:, i] = a[:, i] / (2.0 + 1e-4 * s) ** 0.75
    torch.testing.assert_close(lrn(a), expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(expected, a / 2.0**0.75)  # the sum term was not negligible


@pytest.mark.slow
def test_feature_maps_shrink_by_32():
    model = convzoo.create_model("vgg11").eval()
    with torch.no_grad():
        assert model.forward_features(torch.randn(1, 3, 64, 64)).shape == (1, 512, 2, 2)
    with torch.device("meta"):
        model = convzoo.create_model("vgg19_bn")
    x = torch.empty(1, 3, 224, 224, device="meta")
    assert model.forward_features(x).shape == (1, 512, 7, 7)


def test_card_and_classifier():
    card = convzoo.model_card("vgg16")
    assert (card.input_size, card.min_input_size, card.torchvision_twin) == (
        (3, 224, 224),
        32,
        "vgg16",
    )
    with torch.device("meta"):
        model = convzoo.create_model("vgg13", num_classes=7, in_chans=1)
    assert model.get_classifier() is model.classifier[6]
    assert model.get_classifier().out_features == 7
    assert model.features[0].in_channels == 1
    assert convzoo.model_card("vgg16_c").torchvision_twin is None
