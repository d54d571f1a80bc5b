"""ResNet (He et al. 2015): parameter counts by formula and against torchvision, the paper's
multiply-adds (Table 1), the v1 / v1.5 stride placement, and torchvision's twins."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import convzoo
from convzoo.errors import ConvzooError

# Table 1 of the paper: blocks per stage, block kind, and "FLOPs" (really multiply-adds) x 1e9.
TABLE1 = {
    "resnet18": ([2, 2, 2, 2], "basic", 1.8),
    "resnet34": ([3, 4, 6, 3], "basic", 3.6),
    "resnet50": ([3, 4, 6, 3], "bottleneck", 3.8),
    "resnet101": ([3, 4, 23, 3], "bottleneck", 7.6),
    "resnet152": ([3, 8, 36, 3], "bottleneck", 11.3),
}
NAMES = list(TABLE1)


def _conv(k: int, c_in: int, c_out: int) -> int:
    return k * k * c_in * c_out  # no bias: a batch norm follows


def _bn(c: int) -> int:
    return 2 * c


def formula_params(name: str, num_classes: int = 1000) -> int:
    """Stem conv 7x7 + BN, the blocks (with a 1x1 projection + BN where the shape changes),
    and the fc layer, summed from the paper's Table 1."""
    layers, kind, _ = TABLE1[name]
    total = _conv(7, 3, 64) + _bn(64)
    c_in = 64
    for stage, n_blocks in enumerate(layers):
        width = 64 * 2**stage
        c_out = width if kind == "basic" else 4 * width
        for i in range(n_blocks):
            if kind == "basic":
                total += _conv(3, c_in, width) + _bn(width) + _conv(3, width, width) + _bn(width)
            else:
                total += _conv(1, c_in, width) + _bn(width) + _conv(3, width, width) + _bn(width)
                total += _conv(1, width, c_out) + _bn(c_out)
            if i == 0 and (stage > 0 or c_in != c_out):
                total += _conv(1, c_in, c_out) + _bn(c_out)
            c_in = c_out
    return total + c_in * num_classes + num_classes


def test_resnet18_has_11_689_512_parameters():
    assert convzoo.parameter_count("resnet18") == 11_689_512


@pytest.mark.parametrize("name", NAMES)
def test_parameters_match_formula_and_torchvision(name):
    with torch.device("meta"):
        tv = getattr(torchvision.models, name)()
    expected = sum(p.numel() for p in tv.parameters())
    assert convzoo.parameter_count(name) == formula_params(name) == expected
    assert convzoo.parameter_count(name, variant="v1") == expected
    assert convzoo.parameter_count(name, num_classes=10) == formula_params(name, 10)


def _macs(model: nn.Module, size: int = 224) -> int:
    """Multiply-adds of the convs and the fc layer (what the paper's Table 1 counts)."""
    total = 0

    def hook(mod: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1]
            total += out.numel() * mod.in_channels // mod.groups * k
        elif isinstance(mod, nn.Linear):
            total += out.numel() * mod.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model(torch.empty(1, 3, size, size, device="meta"))
    for h in handles:
        h.remove()
    return total


@pytest.mark.parametrize("name", NAMES)
def test_v1_multiply_adds_match_paper_table1(name):
    with torch.device("meta"):
        v1 = convzoo.create_model(name, variant="v1").eval()
        v15 = convzoo.create_model(name).eval()
    paper = TABLE1[name][2] * 1e9
    assert _macs(v1) == pytest.approx(paper, rel=0.02)
    if TABLE1[name][1] == "bottleneck":
        # Striding later in the block costs more: v1.5 is not the paper's network.
        assert _macs(v15) > _macs(v1) * 1.02
    else:
        assert _macs(v15) == _macs(v1)


def test_stride_placement_v1_and_v15():
    with torch.device("meta"):
        v15 = convzoo.create_model("resnet50")
        v1 = convzoo.create_model("resnet50", variant="v1")
    for stage in (v15.layer2, v15.layer3, v15.layer4):
        assert stage[0].conv1.stride == (1, 1) and stage[0].conv2.stride == (2, 2)
    for stage in (v1.layer2, v1.layer3, v1.layer4):
        assert stage[0].conv1.stride == (2, 2) and stage[0].conv2.stride == (1, 1)
    for stage in (v1.layer1, v1.layer2, v1.layer3, v1.layer4):
        for block in stage[1:]:
            assert block.conv1.stride == block.conv2.stride == (1, 1)


def test_bad_variant_is_refused():
    with pytest.raises(ConvzooError, match="v1.5"):
        convzoo.create_model("resnet18", variant="v2")


def test_v1_equals_torchvision_with_strides_moved(twin_pair):
    """The paper's v1 is torchvision's network with each stage's stride moved from conv2 to conv1
    of its first bottleneck: do that surgery on torchvision's model and compare."""
    tv, ours = twin_pair("resnet50", variant="v1")
    for stage in (tv.layer2, tv.layer3, tv.layer4):
        stage[0].conv1.stride, stage[0].conv2.stride = (2, 2), (1, 1)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), tv(x), rtol=1e-5, atol=1e-5)
        v15 = convzoo.create_model("resnet50").eval()
        v15.load_state_dict(ours.state_dict(), strict=True)
        assert not torch.allclose(v15(x), ours(x), atol=1e-4)


def test_train_mode_matches_torchvision_and_updates_running_stats(twin_pair):
    tv, ours = twin_pair("resnet18")
    tv.train()
    ours.train()
    x = torch.randn(2, 3, 48, 48)
    torch.testing.assert_close(ours(x), tv(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours.bn1.running_mean, tv.bn1.running_mean)


def test_zero_init_residual_makes_blocks_identities_at_start():
    model = convzoo.create_model("resnet50", zero_init_residual=True).eval()
    block = model.layer1[1]  # no projection: output = relu(0 + input)
    bottlenecks = [b for s in (model.layer1, model.layer2, model.layer3, model.layer4) for b in s]
    assert all(torch.count_nonzero(b.bn3.weight) == 0 for b in bottlenecks)
    x = torch.rand(1, 256, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(block(x.clone()), x)


def test_tiny_inputs_run_and_card():
    card = convzoo.model_card("resnet34")
    assert (card.first_conv, card.classifier, card.min_input_size) == ("conv1", "fc", 1)
    model = convzoo.create_model("resnet18", num_classes=5, in_chans=1).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, 1, 1)).shape == (1, 5)
        assert model.forward_features(torch.randn(1, 1, 64, 64)).shape == (1, 512, 2, 2)
    assert model.get_classifier() is model.fc
