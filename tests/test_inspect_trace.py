"""The tracer and the cost rules, checked against independent references.

References: torch.utils.flop_counter.FlopCounterMode (conv / linear FLOPs), torchvision's
networks and torchinfo (shapes and parameters from a real forward), hand formulas, published
receptive fields.
"""

from __future__ import annotations

import time

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import convzoo
from convzoo.errors import ConvzooError
from convzoo.inspect import TraceError, summarize

# Small inputs keep the FlopCounterMode comparison quick; the networks take any size above
# their minimum, and the rule does not depend on the size.
SMALL = {"lenet5": 32, "lenet5_1998": 32}


def _input(name: str) -> tuple[int, int, int]:
    card = convzoo.model_card(name)
    side = SMALL.get(name, max(card.min_input_size, 64))
    if name.startswith("alexnet") or name.startswith("googlenet"):
        side = max(side, card.min_input_size, 96)
    return (card.in_chans, side, side)


@pytest.mark.parametrize("name", convzoo.list_models())
def test_conv_linear_macs_equal_flopcounter(name: str) -> None:
    """Our conv + linear MACs are FlopCounterMode's FLOPs / 2, on every registered network."""
    size = _input(name)
    table = summarize(name, input_size=size)
    ours = sum(r.macs for r in table.rows if r.kind in ("conv", "linear"))
    card = convzoo.model_card(name)
    with torch.device("meta"):
        model = convzoo.create_model(name, num_classes=card.num_classes).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.empty(1, *size, device="meta"))
    assert 2 * ours == counter.get_total_flops()
    # and the parameters are the model's, each counted once
    assert table.total_params == convzoo.count_parameters(model)


def test_resnet18_against_torchvision_numbers() -> None:
    with torch.device("meta"):
        tv = torchvision.models.resnet18()
    table = summarize(tv)
    assert table.total_params == 11_689_512  # torchvision's documented count
    # conv + linear multiply-adds at 224: 1.814 G (torchvision's documented 1.81 GFLOPS)
    assert sum(r.macs for r in table.rows if r.kind in ("conv", "linear")) == 1_814_073_344
    numbered = [r.name for r in table.weighted()]
    assert len(numbered) == 18 and numbered[0] == "conv1" and numbered[-1] == "fc"
    assert all("downsample" not in n for n in numbered)
    shortcuts = [r for r in table.rows if r.shortcut]
    assert len(shortcuts) == 6  # three projections: conv + BN each
    assert sum(1 for r in table.rows if r.kind == "add") == 8  # one per basic block


def test_vgg16_numbering_and_pools() -> None:
    table = summarize("vgg16")
    assert [r.index for r in table.weighted()] == list(range(1, 17))
    pools = [r for r in table.rows if r.kind == "maxpool"]
    assert len(pools) == 5 and all(r.index is None for r in pools)


def test_shapes_and_params_match_torchinfo_real_forward() -> None:
    """Per-layer output shapes and parameters equal torchinfo's, which runs a real forward."""
    torchinfo = pytest.importorskip("torchinfo")
    model = torchvision.models.resnet18()
    info = torchinfo.summary(model, input_size=(1, 3, 64, 64), verbose=0, depth=10)
    theirs = [
        (list(layer.output_size), layer.num_params)
        for layer in info.summary_list
        if isinstance(layer.module, (nn.Conv2d, nn.Linear, nn.BatchNorm2d))
    ]
    ours = [
        (list(r.output_shape), r.params)
        for r in summarize(model, input_size=(3, 64, 64)).rows
        if r.kind in ("conv", "linear", "batchnorm")
    ]
    assert ours == theirs


def test_real_weights_are_untouched() -> None:
    model = torchvision.models.alexnet()
    before = model.features[0].weight.detach().clone()
    table = summarize(model, input_size=(3, 224, 224))
    assert table.total_params == sum(p.numel() for p in model.parameters())
    assert model.features[0].weight.device.type == "cpu"
    assert torch.equal(model.features[0].weight, before)
    assert model.training  # its mode is given back


class _Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(8, 8)
        self.b = nn.Linear(8, 8)
        self.b.weight = self.a.weight  # tied

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x))


def test_tied_parameters_count_once() -> None:
    table = summarize(_Tied(), input_size=(8,))
    assert table.total_params == 64 + 8 + 8  # one weight, two biases
    assert table.total_macs == 2 * 64


class _Functional(nn.Module):
    """A user's model: its own parameter used through F.conv2d, a residual '+', a cat."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 3, 3, 3))
        self.body = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(x, self.w, padding=1)  # N x 4 x 8 x 8
        y = y + self.body(y)
        return torch.cat([y, x], dim=1)


def test_functional_operators_are_rows_with_the_rule() -> None:
    table = summarize(_Functional(), input_size=(3, 8, 8))
    kinds = [(r.name, r.kind) for r in table.rows]
    assert ("conv2d", "conv") in kinds and ("add", "add") in kinds and ("cat", "concat") in kinds
    by = {r.name: r for r in table.rows}
    assert by["conv2d"].params == 4 * 3 * 9  # the user's parameter, found through F.conv2d
    assert by["conv2d"].macs == 64 * 4 * 3 * 9  # out x C_in x k x k
    assert by["body.0"].macs == 64 * 4 * 4 * 9
    assert by["body.1"].macs == 4 * 64  # one per element
    assert by["add"].macs == 4 * 64
    assert by["cat"].macs == 0 and by["cat"].output_shape == (1, 7, 8, 8)
    assert table.total_params == 4 * 3 * 9 + 4 * 4 * 9 + 4


def test_pool_bn_lrn_rules() -> None:
    model = nn.Sequential(
        nn.BatchNorm2d(3), nn.LocalResponseNorm(5), nn.MaxPool2d(3, 2), nn.AdaptiveAvgPool2d(1)
    )
    rows = summarize(model, input_size=(3, 9, 9)).rows
    assert rows[0].macs == 3 * 81  # batch norm: one multiply-add per element
    assert rows[1].macs == 3 * 81 * (5 + 2)  # LRN: size squares + 2
    assert rows[2].output_shape == (1, 3, 4, 4) and rows[2].macs == 3 * 16 * 9
    assert rows[3].macs == 3 * 16  # global average: every input element once


def test_receptive_fields_match_published_values() -> None:
    """VGG16's last conv sees 196 x 196 pixels, AlexNet's conv5 163 x 163 (Araujo et al. 2019)."""
    vgg = summarize("vgg16").rows
    convs = [r for r in vgg if r.kind == "conv"]
    assert convs[0].receptive_field == (3, 3)
    assert convs[-1].receptive_field == (196, 196)
    with torch.device("meta"):
        alex = torchvision.models.alexnet()
    convs = [r for r in summarize(alex).rows if r.kind == "conv"]
    assert [c.receptive_field[0] for c in convs] == [11, 51, 99, 131, 163]


def test_batch_size_scales_macs_and_activations() -> None:
    one = summarize("resnet18")
    four = summarize("resnet18", batch_size=4)
    assert four.total_macs == 4 * one.total_macs
    assert four.totals.activation_bytes == 4 * one.totals.activation_bytes
    assert four.total_params == one.total_params


def test_googlenet_inference_trace_counts_aux_params_as_unused() -> None:
    table = summarize("googlenet")
    assert table.totals.unused_params > 0
    assert {n.split(".")[0] for n in table.unused} == {"aux1", "aux2"}
    concat = [r for r in table.rows if r.kind == "concat"]
    assert len(concat) == 9  # one depth-concat per inception module
    assert concat[0].name == "inception3a.cat" and concat[0].output_shape[1:] == (256, 28, 28)


def test_big_networks_trace_quickly() -> None:
    t0 = time.perf_counter()
    table = summarize("resnet152")
    elapsed = time.perf_counter() - t0
    assert table.total_params == 60_192_808
    assert elapsed < 5.0  # ~0.6 s here; generous for a shared 2-core machine


# --- bad input ---------------------------------------------------------------------------


def test_input_too_small_for_a_zoo_network() -> None:
    with pytest.raises(ConvzooError, match="too small"):
        summarize("vgg16", input_size=(3, 16, 16))


def test_input_too_small_for_any_module_names_the_layer() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 7))
    with pytest.raises(TraceError, match=r"layer '1' \(Conv2d\).*too small"):
        summarize(model, input_size=(3, 6, 6))


class _DataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3)
        self.gate = _Gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate(self.stem(x))


class _Gate(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if x.mean().item() > 0 else -x  # needs data: fails on the meta device


def test_forward_failing_under_tracing_names_the_layer() -> None:
    with pytest.raises(TraceError, match=r"layer 'gate' \(_Gate\)"):
        summarize(_DataDependent(), input_size=(3, 8, 8))


def test_bad_arguments() -> None:
    with pytest.raises(ConvzooError, match="convention"):
        summarize("resnet18", convention="paper")
    with pytest.raises(ConvzooError, match="CxHxW"):
        summarize("resnet18", input_size="3 by 224")
    with pytest.raises(ConvzooError, match="unknown model"):
        summarize("resnet19")
