"""Every network of the zoo that has a torchvision twin (its card's ``torchvision_twin``) loads
the twin's state dict strictly and computes what the twin computes; every card names real
layers. Parametrized over the registry: a new network is checked when it is registered."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import convzoo

TWINS = [n for n in convzoo.list_models() if convzoo.model_card(n).torchvision_twin]
# (name, our builder's arguments): each twin as built by default, and GoogLeNet without its
# auxiliary heads too (torchvision builds them or not with the same argument).
CASES = [(n, {}) for n in TWINS] + [("googlenet_tv", {"aux_logits": False})]


def _tv_kwargs(ours: nn.Module) -> dict:
    if convzoo.model_card(ours.card.name).torchvision_twin == "googlenet":
        # torchvision's GoogLeNet draws its init from scipy's truncnorm unless told otherwise
        # (init_weights=None warns); the weights are replaced anyway.
        return {"aux_logits": bool(ours.aux_logits), "init_weights": True}
    return {}


def _pair(twin_pair, name: str, kwargs: dict):
    with torch.device("meta"):
        probe = convzoo.create_model(name, **kwargs)
    return twin_pair(name, tv_kwargs=_tv_kwargs(probe), **kwargs)


def _outputs(out) -> list[torch.Tensor]:
    return [o for o in out if o is not None] if isinstance(out, tuple) else [out]


def test_every_family_with_a_twin_is_covered():
    assert {convzoo.model_card(n).family for n in TWINS} >= {
        "alexnet",
        "vgg",
        "googlenet",
        "resnet",
    }


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=lambda v: str(v) if v else "default")
def test_torchvision_twin_loads_strict_and_agrees(name, kwargs, twin_pair):
    tv, ours = _pair(twin_pair, name, kwargs)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected, got = tv(x), ours(x)
        # Same operators in the same order: equal up to float32 rounding (1e-5 relative).
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
        assert expected.abs().max() > 0
        # Training mode with the same seed: same dropout masks, same batch statistics, same
        # auxiliary logits where there are auxiliary heads.
        torch.manual_seed(1)
        expected = tv.train()(x)
        torch.manual_seed(1)
        got = ours.train()(x)
    assert type(got).__name__ == type(expected).__name__
    for a, b in zip(_outputs(got), _outputs(expected), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_torchvision_twin_at_full_size(twin_pair):
    tv, ours = twin_pair("vgg16_bn")
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), tv(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", convzoo.list_models())
def test_card_names_real_layers(name):
    card = convzoo.model_card(name)
    with torch.device("meta"):
        model = convzoo.create_model(name)
    assert isinstance(model.get_submodule(card.first_conv), nn.Conv2d)
    assert model.get_submodule(card.classifier) is model.get_classifier()
    assert model.min_input_size == card.min_input_size
