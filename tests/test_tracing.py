"""Every registered network traces: torch.fx, torchvision's feature extraction, torch.export.

The traced programs are run on a small input and compared with the network itself.
"""

from __future__ import annotations

import pytest
import torch
from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

import convzoo
from convzoo.errors import ConvzooError

MODELS = convzoo.list_models()
SMALL_SIDE = 32
# The fast lane traces the two LeNets (their own layers: partial C3, trainable subsampling,
# RBF output) and, below, GoogLeNet's size-dependent aux pool under fx; the other networks,
# 5 to 60 s each on two loaded cores, are traced in the full suite.
FAST = {"lenet5", "lenet5_1998"}


def params(names):
    return [n if n in FAST else pytest.param(n, marks=pytest.mark.slow) for n in names]


def small_input(name: str) -> torch.Tensor:
    card = convzoo.model_card(name)
    side = max(card.min_input_size, min(SMALL_SIDE, card.input_size[1]))
    return torch.randn(2, card.in_chans, side, side, generator=torch.Generator().manual_seed(0))


def built(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return convzoo.create_model(name).eval()


def check_fx_symbolic_trace(model, x):
    traced = torch.fx.symbolic_trace(model)
    with torch.no_grad():
        torch.testing.assert_close(traced(x), model(x), rtol=0, atol=0)


def check_create_feature_extractor(name, model, x):
    card = convzoo.model_card(name)
    _, eval_nodes = get_graph_node_names(model)
    first_conv = next(
        n for n in eval_nodes if n == card.first_conv or n.startswith(card.first_conv)
    )
    extractor = create_feature_extractor(
        model, return_nodes={first_conv: "first_conv", card.classifier: "logits"}
    )
    with torch.no_grad():
        out = extractor(x)
        torch.testing.assert_close(out["logits"], model(x), rtol=0, atol=0)
    conv = dict(model.named_modules())[card.first_conv]
    assert out["first_conv"].shape[:2] == (2, conv.out_channels)


def check_torch_export(model, x):
    program = torch.export.export(model, (x,))
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:NOTE. The nodes obtained by tracing")
@pytest.mark.parametrize("name", params(MODELS))
def test_every_tracer_reproduces_the_network(name):
    """One build a network (the big ones take seconds), traced three ways."""
    model, x = built(name), small_input(name)
    check_fx_symbolic_trace(model, x)
    check_create_feature_extractor(name, model, x)
    check_torch_export(model, x)
    # The checks stepped aside for the tracers only: the network itself still refuses bad input.
    with pytest.raises(ConvzooError):
        model(x[0])


def test_googlenet_traces_in_training_mode_with_its_auxiliary_heads():
    model = convzoo.create_model("googlenet").train()
    traced = torch.fx.symbolic_trace(model)
    x = small_input("googlenet")
    torch.manual_seed(1)
    expected = model(x)
    torch.manual_seed(1)
    got = traced(x)
    assert type(got).__name__ == "GoogLeNetOutputs"
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
