"""What every registered network is tested for, without new code: shapes, overrides, checks."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
from torch import nn

import convzoo
from convzoo.errors import ConvzooError
from convzoo.models import ClassicNet
from convzoo.outputs import main_logits
from convzoo.registry import _REGISTRY

MODELS = convzoo.list_models()

# Full-size inputs are slow for the big networks on two cores; these sizes exercise every layer
# (the adaptive pools make them valid) and keep the suite quick.
SMALL_SIDE = 32


def _side(name: str) -> int:
    card = convzoo.model_card(name)
    return max(card.min_input_size, min(SMALL_SIDE, card.input_size[1]))


def test_registry_is_not_empty_and_names_are_unique():
    assert len(MODELS) >= 23
    assert len(set(MODELS)) == len(MODELS)


def test_expected_networks_are_registered():
    expected = {
        "lenet5", "lenet5_1998", "alexnet", "alexnet_2012", "alexnet_owt",
        "vgg11", "vgg11_lrn", "vgg13", "vgg16_c", "vgg16", "vgg19",
        "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
        "googlenet", "googlenet_naive", "googlenet_tv",
        "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    }  # fmt: skip
    assert expected <= set(MODELS)


def test_register_refuses_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        convzoo.register_model(
            family="x", paper="x", year=2000, input_size=(1, 8, 8), min_input_size=1,
            first_conv="c", classifier="fc", name="resnet18",
        )(lambda **kw: nn.Identity())  # fmt: skip


def test_unknown_name_lists_close_matches():
    with pytest.raises(convzoo.UnknownModelError, match="resnet18"):
        convzoo.create_model("resnet81")


def test_list_models_pattern():
    assert convzoo.list_models("resnet*") == [n for n in MODELS if n.startswith("resnet")]
    assert convzoo.list_models("no-such-*") == []


@pytest.mark.parametrize("name", MODELS)
def test_card_is_complete(name):
    card = convzoo.model_card(name)
    assert card.name == name
    assert card.paper and 1989 <= card.year <= 2016
    c, h, w = card.input_size
    assert len(card.mean) == len(card.std) == c
    assert 1 <= card.min_input_size <= min(h, w)
    with torch.device("meta"):
        model = convzoo.create_model(name)
    assert isinstance(model, ClassicNet)
    modules = dict(model.named_modules())
    assert isinstance(modules[card.first_conv], nn.Conv2d), card.first_conv
    assert modules[card.classifier] is model.get_classifier()


@pytest.mark.parametrize("name", MODELS)
def test_output_shape_gradients_and_overrides(name):
    """num_classes and in_chans overrides work, and a loss reaches every parameter."""
    side = _side(name)
    model = convzoo.create_model(name, num_classes=7, in_chans=2)
    model.train()
    x = torch.randn(2, 2, side, side)
    out = model(x)
    logits = main_logits(out)
    assert logits.shape == (2, 7)
    outputs = list(out) if isinstance(out, tuple) else [out]
    loss = sum(o.float().pow(2).mean() for o in outputs if o is not None)
    loss.backward()
    # One pass over each gradient: the sum of |g| is finite only if every element is (a NaN or
    # an infinity carries through), and zero only if every element is.
    size = {
        n: p.grad.abs().sum().item() if p.grad is not None else None
        for n, p in model.named_parameters()
        if p.requires_grad
    }
    no_grad = [n for n, s in size.items() if s is None or not math.isfinite(s)]
    assert not no_grad, f"no gradient reaches {no_grad}"
    # The gradient is not trivially zero everywhere (a detached branch would be).
    zero = [
        n for n, p in model.named_parameters() if p.requires_grad and size[n] == 0 and p.numel() > 1
    ]
    assert len(zero) < len(list(model.parameters())), zero
    assert model.card.num_classes == 7 and model.card.in_chans == 2


@pytest.mark.parametrize("name", MODELS)
def test_eval_determinism_features_and_reset_classifier(name):
    card = convzoo.model_card(name)
    model = convzoo.create_model(name).eval()
    side = _side(name)
    x = torch.randn(1, card.in_chans, side, side)
    with torch.no_grad():
        a, b = model(x), model(x)
        assert a.shape == (1, card.num_classes)
        assert torch.equal(a, b)
        feats = model.forward_features(x)
        assert feats.dim() == 4
        assert torch.equal(model.forward_head(feats), a)
        model.reset_classifier(3)
        assert model.card.num_classes == 3
        assert model(x).shape == (1, 3)


@pytest.mark.parametrize("name", MODELS)
def test_bad_input_is_refused_before_any_layer(name):
    card = convzoo.model_card(name)
    with torch.device("meta"):
        model = convzoo.create_model(name).eval()
    c, h, w = card.input_size
    with pytest.raises(ConvzooError, match=rf"{name}.*\(3, {h}, {w}\)|{name}.*4-D"):
        model(torch.empty(3, h, w, device="meta"))
    with pytest.raises(ConvzooError, match=f"{c} input channel"):
        model(torch.empty(1, c + 1, h, w, device="meta"))
    small = card.min_input_size - 1
    if small >= 1:
        with pytest.raises(ConvzooError, match="too small"):
            model(torch.empty(1, c, small, small, device="meta"))


@pytest.mark.parametrize("name", MODELS)
def test_min_input_size_is_the_true_minimum(name):
    """The card's minimum is what the raw layers accept: it runs, one pixel less fails inside."""
    card = convzoo.model_card(name)
    with torch.device("meta"):
        model = convzoo.create_model(name).eval()
    c, m = card.in_chans, card.min_input_size
    raw = model.forward_head
    out = raw(model.forward_features(torch.empty(1, c, m, m, device="meta")))
    assert main_logits(out).shape == (1, card.num_classes)
    if m > 1:
        with pytest.raises(RuntimeError):
            raw(model.forward_features(torch.empty(1, c, m - 1, m - 1, device="meta")))


def test_weights_from_a_local_state_dict(tmp_path):
    from safetensors.torch import save_file

    src = convzoo.create_model("lenet5").state_dict()
    save_file(src, str(tmp_path / "lenet5.safetensors"))
    torch.save(src, tmp_path / "lenet5.pth")
    for path in (tmp_path / "lenet5.safetensors", tmp_path / "lenet5.pth"):
        loaded = convzoo.create_model("lenet5", weights=path).state_dict()
        assert loaded.keys() == src.keys()
        assert all(torch.equal(loaded[k], src[k]) for k in src)


def test_missing_weights_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pth"):
        convzoo.create_model("lenet5", weights=tmp_path / "nothing.pth")


@pytest.mark.parametrize("bad", [0, -1, 2.5])
def test_bad_num_classes(bad):
    with pytest.raises(ConvzooError, match="num_classes"):
        convzoo.create_model("lenet5", num_classes=bad)


@pytest.mark.parametrize("name", MODELS)
def test_card_and_network_agree(name):
    """The card's facts are the built network's: its smallest input, first conv, classifier,
    classes and channels, also when the class is built directly with the builder's defaults."""
    card = convzoo.model_card(name)
    builder = _REGISTRY[name].builder
    defaults = {
        k: p.default
        for k, p in inspect.signature(builder).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    assert defaults["num_classes"] == card.num_classes
    assert defaults["in_chans"] == card.in_chans
    with torch.device("meta"):
        model = builder()  # no create_model: the class alone
    assert model.min_input_size == card.min_input_size
    assert model.classifier_name == card.classifier
    assert model.first_conv == card.first_conv
    assert (model.num_classes, model.in_chans) == (card.num_classes, card.in_chans)
    modules = dict(model.named_modules())
    assert modules[card.first_conv].in_channels == card.in_chans


def test_the_fast_lane_has_a_network_of_every_family():
    """conftest's fast-lane networks are registered and cover every family of the zoo."""
    from conftest import FAST_LANE_NETWORKS

    assert set(MODELS) >= FAST_LANE_NETWORKS
    families = {convzoo.model_card(n).family for n in MODELS}
    assert {convzoo.model_card(n).family for n in FAST_LANE_NETWORKS} == families
