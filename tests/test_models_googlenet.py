"""GoogLeNet (Szegedy et al. 2014): Table 1's widths, output sizes, parameters and operations;
the naive modules of Figure 2a; the auxiliary heads; torchvision's twin ``googlenet_tv``."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import convzoo
from convzoo.errors import ConvzooError
from convzoo.models.googlenet import GoogLeNetOutputs

# Table 1 of the paper, copied by hand: per inception module #1x1, #3x3 reduce, #3x3,
# #5x5 reduce, #5x5, pool proj; output channels; output size (224 input).
TABLE1_MODULES = {
    "3a": ((64, 96, 128, 16, 32, 32), 256, 28),
    "3b": ((128, 128, 192, 32, 96, 64), 480, 28),
    "4a": ((192, 96, 208, 16, 48, 64), 512, 14),
    "4b": ((160, 112, 224, 24, 64, 64), 512, 14),
    "4c": ((128, 128, 256, 24, 64, 64), 512, 14),
    "4d": ((112, 144, 288, 32, 64, 64), 528, 14),
    "4e": ((256, 160, 320, 32, 128, 128), 832, 14),
    "5a": ((256, 160, 320, 32, 128, 128), 832, 7),
    "5b": ((384, 192, 384, 48, 128, 128), 1024, 7),
}
# Table 1's "params" (K) and "ops" (M) columns. The params column counts weights only (no
# biases) in units of 1024: conv2's 112K is exactly (64*64 + 9*64*192) / 1024.
TABLE1_PARAMS_K = {
    "conv1": 2.7, "conv2": 112, "3a": 159, "3b": 380, "4a": 364, "4b": 437, "4c": 463,
    "4d": 580, "4e": 840, "5a": 1072, "5b": 1388, "fc": 1000,
}  # fmt: skip
TABLE1_OPS_M = {
    "conv1": 34, "conv2": 360, "3a": 128, "3b": 304, "4a": 73, "4b": 88, "4c": 100, "4d": 119,
    "4e": 170, "5a": 54, "5b": 71, "fc": 1,
}  # fmt: skip
# Rows where the table disagrees with its own widths (we follow the widths, which also match
# torchvision and Caffe's bvlc_googlenet): conv1's 2.7K / 34M would fit a 7x7 conv on less than
# one input channel (3 channels give 9.2K / 118M); 4c's params (463K; its widths give 497.5K,
# while its ops, 100M, agree with the widths); 5a's 1072K / 54M (the widths give 1018K / 51M).
# The table's params column sums to 6,797.7K; our weights sum to 6,826.4K (0.4% more).
PARAMS_OFF = {"conv1", "4c", "5a"}
OPS_OFF = {"conv1", "5a"}


def _module_params(cin: int, cfg: tuple[int, ...], biases: bool = True) -> int:
    c1, c3r, c3, c5r, c5, pp = cfg
    weights = cin * c1 + cin * c3r + 9 * c3r * c3 + cin * c5r + 25 * c5r * c5 + cin * pp
    return weights + ((c1 + c3r + c3 + c5r + c5 + pp) if biases else 0)


def _aux_params(cin: int, num_classes: int) -> int:
    return cin * 128 + 128 + 2048 * 1024 + 1024 + 1024 * num_classes + num_classes


def formula_params(aux: bool, num_classes: int = 1000) -> int:
    """Stem (with biases), the nine modules from Table 1's widths, fc, and the aux heads."""
    total = 7 * 7 * 3 * 64 + 64 + 64 * 64 + 64 + 9 * 64 * 192 + 192
    cin = 192
    for cfg, cout, _ in TABLE1_MODULES.values():
        total += _module_params(cin, cfg)
        cin = cout
    total += 1024 * num_classes + num_classes
    if aux:
        total += _aux_params(512, num_classes) + _aux_params(528, num_classes)
    return total


def formula_params_naive(aux: bool) -> int:
    """Naive modules: 1x1, 3x3 and 5x5 straight on the input; the pool passes all channels."""
    total = 7 * 7 * 3 * 64 + 64 + 64 * 64 + 64 + 9 * 64 * 192 + 192
    cin, widths = 192, {}
    for stage, ((c1, _, c3, _, c5, _), _, _) in TABLE1_MODULES.items():
        total += cin * c1 + c1 + 9 * cin * c3 + c3 + 25 * cin * c5 + c5
        cin = c1 + c3 + c5 + cin
        widths[stage] = cin
    total += cin * 1000 + 1000
    if aux:
        total += _aux_params(widths["4a"], 1000) + _aux_params(widths["4d"], 1000)
    return total


def test_config_table_is_table1():
    from convzoo.models.googlenet import inception_cfgs

    assert {k: v for k, v in inception_cfgs.items()} == {
        k: cfg for k, (cfg, _, _) in TABLE1_MODULES.items()
    }


def test_parameters_match_formula():
    assert convzoo.parameter_count("googlenet", aux_logits=False) == formula_params(False)
    assert convzoo.parameter_count("googlenet") == formula_params(True)
    assert convzoo.parameter_count("googlenet", num_classes=10) == formula_params(True, 10)
    assert convzoo.parameter_count("googlenet", aux_logits=False) == 6_998_552


def test_naive_parameters_match_formula():
    assert convzoo.parameter_count("googlenet_naive") == formula_params_naive(True)
    assert convzoo.parameter_count("googlenet_naive", aux_logits=False) == formula_params_naive(
        False
    )


def _meta(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return convzoo.create_model(name, **kwargs).eval()


def _rows(model: nn.Module) -> dict[str, list[nn.Module]]:
    rows = {"conv1": [model.conv1], "conv2": [model.conv2, model.conv3]}
    rows |= {s: [getattr(model, f"inception{s}")] for s in TABLE1_MODULES}
    rows["fc"] = [model.fc]
    return rows


def _row_macs(model: nn.Module) -> dict[str, int]:
    """Multiply-adds per Table 1 row (convs and linears, as the paper's ops column)."""
    macs: dict[str, int] = {}
    handles = []
    for row, parts in _rows(model).items():

        def hook(mod, inp, out, row=row):
            if isinstance(mod, nn.Conv2d):
                k = mod.kernel_size[0] * mod.kernel_size[1]
                macs[row] = macs.get(row, 0) + out.numel() * mod.in_channels * k
            elif isinstance(mod, nn.Linear):
                macs[row] = macs.get(row, 0) + out.numel() * mod.in_features

        for part in parts:
            handles += [m.register_forward_hook(hook) for m in part.modules()]
    with torch.no_grad():
        model(torch.empty(1, 3, 224, 224, device="meta"))
    for h in handles:
        h.remove()
    return macs


def test_table1_params_column():
    model = _meta("googlenet", aux_logits=False)
    for row, parts in _rows(model).items():
        weights = sum(
            p.numel() for part in parts for n, p in part.named_parameters() if "weight" in n
        )
        close = weights / 1024 == pytest.approx(TABLE1_PARAMS_K[row], rel=0.02)
        assert close != (row in PARAMS_OFF), (row, weights / 1024, TABLE1_PARAMS_K[row])
    weights = sum(p.numel() for n, p in model.named_parameters() if "weight" in n)
    assert weights / 1024 == pytest.approx(sum(TABLE1_PARAMS_K.values()), rel=0.01)


def test_table1_ops_column():
    macs = _row_macs(_meta("googlenet", aux_logits=False))
    for row, ops in TABLE1_OPS_M.items():
        close = macs[row] / 1e6 == pytest.approx(ops, rel=0.02, abs=0.5)
        assert close != (row in OPS_OFF), (row, macs[row] / 1e6, ops)
    # "...1.5 billion multiply-adds at inference time" (Sec. 5); 1.58e9 with conv1's true cost.
    assert sum(macs.values()) == pytest.approx(1.5e9, rel=0.06)


def _module_outputs(model: nn.Module, size: int = 224) -> dict[str, tuple[int, ...]]:
    shapes = {}
    handles = [
        getattr(model, f"inception{s}").register_forward_hook(
            lambda m, i, o, s=s: shapes.__setitem__(s, tuple(o.shape[1:]))
        )
        for s in TABLE1_MODULES
    ]
    with torch.no_grad():
        out = model.forward_features(torch.empty(1, 3, size, size, device="meta"))
    for h in handles:
        h.remove()
    shapes["features"] = tuple(out.shape[1:])
    return shapes


@pytest.mark.parametrize("name", ["googlenet", "googlenet_tv"])
def test_module_outputs_follow_table1(name):
    shapes = _module_outputs(_meta(name))
    for stage, (_, cout, size) in TABLE1_MODULES.items():
        assert shapes[stage] == (cout, size, size)
    assert shapes["features"] == (1024, 7, 7)


def test_naive_widths_grow():
    shapes = _module_outputs(_meta("googlenet_naive"))
    widths = [shapes[s][0] for s in TABLE1_MODULES]
    assert widths == [416, 832, 1280, 1728, 2176, 2640, 3344, 4048, 4944]
    # Each naive module passes its whole input on through the pool branch.
    cin = 192
    for stage, ((c1, _, c3, _, c5, _), _, _) in TABLE1_MODULES.items():
        assert shapes[stage][0] == cin + c1 + c3 + c5
        cin = shapes[stage][0]


def test_naive_modules_cost_far_more():
    naive = sum(_row_macs(_meta("googlenet_naive", aux_logits=False)).values())
    reduced = sum(_row_macs(_meta("googlenet", aux_logits=False)).values())
    assert naive > 7 * reduced  # 12.6e9 against 1.58e9 multiply-adds


def test_paper_network_structure():
    model = _meta("googlenet")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert sum(isinstance(m, nn.LocalResponseNorm) for m in model.modules()) == 2
    for stage in TABLE1_MODULES:
        five = getattr(model, f"inception{stage}").branch3[1].conv
        assert five.kernel_size == (5, 5) and five.padding == (2, 2)
    assert model.dropout.p == 0.4 and model.aux1.dropout.p == 0.7
    tv = _meta("googlenet_tv")
    assert tv.inception3a.branch3[1].conv.kernel_size == (3, 3)


def test_outputs_train_and_eval():
    model = convzoo.create_model("googlenet", num_classes=7)
    x = torch.randn(2, 3, 64, 64)
    model.train()
    out = model(x)
    assert isinstance(out, GoogLeNetOutputs)
    assert [t.shape for t in out] == [(2, 7)] * 3
    calls = []
    for aux in (model.aux1, model.aux2):
        aux.register_forward_hook(lambda *a: calls.append(1))
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 7)
    assert calls == []  # aux heads skipped in eval mode
    plain = convzoo.create_model("googlenet", aux_logits=False).train()
    assert plain.aux1 is None and isinstance(plain(x), torch.Tensor)


def test_aux_head_is_papers_at_224():
    """At 224 the aux head sees 14x14: average pool 5x5/3 -> 4x4, conv 1x1 + ReLU, fc 1024 +
    ReLU, (dropout, off in eval), linear; computed here from the head's own weights."""
    head = convzoo.create_model("googlenet").aux1.eval()
    x = torch.randn(1, 512, 14, 14)
    y = F.relu(head.conv.conv(F.avg_pool2d(x, 5, stride=3)))
    y = F.linear(
        F.relu(F.linear(y.flatten(1), head.fc1.weight, head.fc1.bias)), *head.fc2.parameters()
    )
    with torch.no_grad():
        torch.testing.assert_close(head(x), y)


def test_reset_classifier_resets_aux_heads():
    model = convzoo.create_model("googlenet")
    model.reset_classifier(3)
    assert model.fc.out_features == model.aux1.fc2.out_features == model.aux2.fc2.out_features == 3
    assert [t.shape[1] for t in model.train()(torch.randn(2, 3, 64, 64))] == [3, 3, 3]


def test_googlenet_tv_has_6_624_904_parameters():
    assert convzoo.parameter_count("googlenet_tv", aux_logits=False) == 6_624_904


def test_transform_input_matches_torchvision():
    tv = torchvision.models.googlenet(aux_logits=False, transform_input=True, init_weights=True)
    ours = convzoo.create_model("googlenet_tv", aux_logits=False, transform_input=True)
    ours.load_state_dict(tv.state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), tv.eval()(x), rtol=1e-5, atol=1e-5)
    # ImageNet-normalised input -> (x - 0.5) / 0.5 of the raw image, channel by channel.
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    raw = x * std.view(1, 3, 1, 1) + mean.view(1, 3, 1, 1)
    torch.testing.assert_close(ours._transform_input(x), (raw - 0.5) / 0.5)
    with pytest.raises(ConvzooError, match="in_chans"):
        convzoo.create_model("googlenet_tv", in_chans=1, transform_input=True)


def test_cards():
    assert convzoo.model_card("googlenet").min_input_size == 31
    assert convzoo.model_card("googlenet_tv").torchvision_twin == "googlenet"
    model = _meta("googlenet_naive", in_chans=1)
    assert model.get_classifier() is model.fc and model.conv1.conv.in_channels == 1
