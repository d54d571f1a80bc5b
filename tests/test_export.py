"""Batch-norm folding, optimize(), ONNX and TorchScript export, for every network of the zoo."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from torch import nn

import convzoo
from convzoo.cli import main
from convzoo.errors import ConvzooError
from convzoo.export import (
    EXPORT_ATOL,
    EXPORT_RTOL,
    OPTIMIZE_ATOL,
    OPTIMIZE_RTOL,
    export_onnx,
    export_torchscript,
    fold_batchnorm,
    load_for_export,
    load_network,
    onnx_session,
    optimize,
    outputs_close,
)
from convzoo.registry import count_parameters

ALL = convzoo.list_models()
# Over 40 M parameters or over 100 layers: seconds each to build, copy and run on 2 cores.
HEAVY = {n for n in ALL if n.startswith(("vgg", "resnet101", "resnet152", "googlenet_naive"))}
ALL_MARKED = [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in ALL]


def _layer_kind(m: nn.Module) -> tuple:
    if isinstance(m, nn.Conv2d):
        return ("Conv2d", m.kernel_size, m.stride, m.padding, m.groups)
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        return (type(m).__name__, m.kernel_size, m.stride, m.padding, m.ceil_mode)
    return (type(m).__name__,)


def meta_model(name: str) -> nn.Module:
    """A registered network's structure only: on the meta device, no memory, no initialisation."""
    with torch.device("meta"):
        return convzoo.create_model(name)


def layer_kinds(model: nn.Module) -> frozenset:
    """The kinds of the network's leaf layers."""
    return frozenset(_layer_kind(m) for m in model.modules() if not list(m.children()))


def one_per_layer_kinds(names: list[str]) -> list[str]:
    """The smallest network of each set of layer kinds (a conv's kernel, stride, padding and
    groups; a pool's window): VGG-16 and VGG-19 export the same operators as VGG-11, repeated,
    and a ResNet-152 those of ResNet-50. Exporting the deeper copies cost the suite about
    three minutes of worker time and covered no operator the smallest one does not."""
    smallest: dict[frozenset, tuple[int, str]] = {}
    for name in names:
        model = meta_model(name)
        kinds, size = layer_kinds(model), count_parameters(model)
        if kinds not in smallest or size < smallest[kinds][0]:
            smallest[kinds] = (size, name)
    return sorted(name for _, name in smallest.values())


ONNX_COVERAGE = one_per_layer_kinds(ALL)


def assert_outputs_close(got, ref, atol, rtol):
    """max|got - ref| <= atol + rtol * max|ref| (the rule export.py states and applies)."""
    got, ref = torch.as_tensor(got).float(), ref.float()
    assert got.shape == ref.shape
    diff = (got - ref).abs().max().item()
    bound = atol + rtol * ref.abs().max().item()
    assert diff <= bound, f"max |diff| {diff:.3g} > {bound:.3g}"


def test_outputs_close_rule():
    ref = torch.tensor([100.0, 0.0])
    assert outputs_close(ref + 0.005, ref, 1e-4, 1e-4) == (True, pytest.approx(0.005))
    assert not outputs_close(ref + 0.02, ref, 1e-4, 1e-4)[0]
    assert not outputs_close(ref[:1], ref, 1, 1)[0]


def small_input(name: str, batch: int = 2) -> torch.Tensor:
    """The smallest input the network takes (at least 32), so every test stays light."""
    card = convzoo.model_card(name)
    size = max(card.min_input_size, 32)
    return torch.randn(batch, card.in_chans, size, size)


def with_random_bn_stats(model: nn.Module) -> nn.Module:
    """Non-trivial BN statistics and affine parameters: a fresh BN (mean 0, var 1, gamma 1,
    beta 0) is nearly the identity, and folding it would test nothing."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    return model.eval()


def bns_called(model: nn.Module, x: torch.Tensor) -> list[str]:
    called: list[str] = []
    handles = [
        m.register_forward_pre_hook(lambda *_, n=n: called.append(n))
        for n, m in model.named_modules()
        if isinstance(m, nn.BatchNorm2d)
    ]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return called


def test_fold_matches_the_formula_on_one_conv_bn():
    conv = nn.Conv2d(3, 4, 3, bias=False)
    bn = with_random_bn_stats(nn.Sequential(nn.BatchNorm2d(4)))[0]
    model = nn.Sequential(conv, bn).eval()
    x = torch.randn(1, 3, 8, 8)
    ref = model(x)
    assert fold_batchnorm(model, x) == 1
    assert isinstance(model[1], nn.Identity)
    # w' = w * gamma / sqrt(var + eps); b' = beta - mean * gamma / sqrt(var + eps)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    torch.testing.assert_close(model[0].weight, conv.weight * scale[:, None, None, None])
    torch.testing.assert_close(model[0].bias, bn.bias - bn.running_mean * scale)
    torch.testing.assert_close(model(x), ref, atol=1e-5, rtol=1e-5)


def test_shared_conv_is_not_folded():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)
            self.bn = nn.BatchNorm2d(3)

        def forward(self, x):
            y = self.conv(x)
            return self.bn(y) + self.conv(x)  # the conv is used twice

    model = with_random_bn_stats(Shared())
    x = torch.randn(1, 3, 4, 4)
    ref = model(x)
    assert fold_batchnorm(model, x) == 0
    torch.testing.assert_close(model(x), ref)


def test_fold_refuses_training_mode():
    with pytest.raises(ConvzooError, match="eval"):
        fold_batchnorm(
            nn.Sequential(nn.Conv2d(1, 1, 1), nn.BatchNorm2d(1)), torch.randn(1, 1, 2, 2)
        )


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_MARKED)
def test_optimize_without_compile_matches_original(name):
    """BN folded + channels-last for every network; outputs within the stated tolerance."""
    model = with_random_bn_stats(convzoo.create_model(name))
    x = small_input(name)
    with torch.no_grad():
        ref = model(x)
    fast = optimize(model, x, compile=False, check=False)
    # Every BN that runs at inference follows a conv in the zoo, so all are folded (GoogLeNet's
    # auxiliary heads run in training only and keep theirs).
    assert fast.report.folded_bn == len(bns_called(model, x))
    assert not bns_called(fast.eager, x)
    assert fast.report.channels_last and not fast.report.compiled
    out = fast(x)
    assert_outputs_close(out, ref, OPTIMIZE_ATOL, OPTIMIZE_RTOL)
    # An inference-only copy: the original keeps its BN and its gradients.
    assert any(p.requires_grad for p in model.parameters())
    assert not out.requires_grad
    with pytest.raises(RuntimeError, match="inference only"):
        fast.train()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lenet5", "resnet18"])
def test_optimize_with_compile_matches_original(name):
    model = with_random_bn_stats(convzoo.create_model(name))
    x = small_input(name, batch=1)
    fast = optimize(model, x)  # check=True compares on x already
    assert fast.report.compiled, fast.report.fallback_reason
    assert fast.report.compile_options["freezing"] is True
    with torch.no_grad():
        x2 = small_input(name, batch=1)
        assert_outputs_close(fast(x2), model(x2), OPTIMIZE_ATOL, OPTIMIZE_RTOL)


def test_optimize_bf16_is_opt_in_and_close_to_fp32():
    from convzoo.export import OPTIMIZE_BF16_RTOL

    model = with_random_bn_stats(convzoo.create_model("resnet18"))
    x = small_input("resnet18", 1)
    fast = optimize(model, x, compile=False, dtype=torch.bfloat16)
    out = fast(x)
    assert out.dtype == torch.float32  # returned in the input's dtype
    assert next(fast.eager.parameters()).dtype == torch.bfloat16
    with torch.no_grad():
        assert_outputs_close(out, model(x), OPTIMIZE_ATOL, OPTIMIZE_BF16_RTOL)


def test_optimize_falls_back_cleanly_when_compile_fails(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(torch, "compile", broken)
    model = convzoo.create_model("lenet5").eval()
    x = small_input("lenet5", 1)
    with pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler"):
        fast = optimize(model, x)
    assert not fast.report.compiled and "no C++ compiler" in fast.report.fallback_reason
    assert_outputs_close(fast(x), model(x), OPTIMIZE_ATOL, OPTIMIZE_RTOL)


def test_optimize_refuses_a_non_image_example():
    with pytest.raises(ConvzooError, match="N, C, H, W"):
        optimize(convzoo.create_model("lenet5"), torch.randn(32, 32))


# ---- export ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ONNX_COVERAGE)
def test_onnx_export_matches_pytorch_in_onnxruntime(name, tmp_path):
    model = with_random_bn_stats(convzoo.create_model(name))
    x = small_input(name, batch=1)
    path = tmp_path / f"{name}.onnx"
    # One onnxruntime session checks both batch sizes: loading a VGG's 550 MB twice (export's
    # own check, then this one) cost the suite about a minute. Export's check is tested with
    # LeNet-5 through the command line.
    export_onnx(model, path, x, verify=False)
    session = onnx_session(path)
    # The batch dimension is dynamic: the traced batch and another one both match.
    for batch in (x, torch.cat([x, x.flip(-1), -x])):
        got = session.run(None, {"input": batch.numpy()})[0]
        with torch.no_grad():
            ref = model(batch)
        assert_outputs_close(torch.from_numpy(got), ref, EXPORT_ATOL, EXPORT_RTOL)
    del model, session
    path.unlink()  # VGG files are ~500 MB: do not keep them until the end of the session


@pytest.mark.parametrize("name", ["lenet5", "googlenet_tv"])
def test_torchscript_export_matches_pytorch(name, tmp_path):
    model = with_random_bn_stats(convzoo.create_model(name))
    x = small_input(name, batch=1)
    result = export_torchscript(model, tmp_path / "m.pt", x)
    loaded = torch.jit.load(str(tmp_path / "m.pt"))
    with torch.no_grad():
        assert_outputs_close(loaded(x), model(x), EXPORT_ATOL, EXPORT_RTOL)
    assert result.max_abs_diff is not None


@pytest.mark.slow
def test_cli_export_by_name(tmp_path, capsys):
    out = tmp_path / "lenet.onnx"
    assert main(["export", "lenet5", "--format", "onnx", "--out", str(out)]) == 0
    assert out.is_file() and "max |diff|" in capsys.readouterr().out
    out = tmp_path / "lenet.pt"
    assert main(["export", "lenet5", "--format", "torchscript", "--out", str(out)]) == 0
    assert out.is_file()


@pytest.mark.slow
def test_cli_export_from_a_weights_file_that_names_its_network(tmp_path):
    """A safetensors file whose header names its network (as save_state_dict writes it)."""
    from convzoo.weights import save_state_dict

    model = convzoo.create_model("lenet5", num_classes=7)
    f = save_state_dict(
        model.state_dict(),
        tmp_path / "lenet7.safetensors",
        {"model": {"name": "lenet5", "kwargs": {"num_classes": 7}}, "classes": list("abcdefg")},
    )
    loaded = load_for_export(str(f))
    assert loaded.name == "lenet5" and loaded.model.num_classes == 7
    assert loaded.categories == list("abcdefg") and loaded.weights == str(f)
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), model.eval()(x))
    out = tmp_path / "ckpt.onnx"
    assert main(["export", str(f), "--out", str(out)]) == 0
    got = onnx_session(out).run(None, {"input": x.numpy()})[0]
    assert got.shape == (1, 7)


def test_export_finds_checkpoints_with_the_one_finder(tmp_path, monkeypatch):
    """A run folder, its checkpoint folder and the files in it all go through
    convzoo.io.checkpoint.find_checkpoint: best/ before last/, a swap cut short (.last.old)."""
    import convzoo.export as export_module
    from convzoo.io import checkpoint as fmt
    from convzoo.train.checkpoint import save_checkpoint

    run = tmp_path / "run"
    nets = {}
    for family, seed in (("last", 1), ("best", 2)):
        torch.manual_seed(seed)
        nets[family] = convzoo.create_model("lenet5", num_classes=3)
        meta = {"model": {"name": "lenet5", "kwargs": {"num_classes": 3}}, "classes": list("xyz")}
        save_checkpoint(run / family, nets[family], meta)
    calls = []
    real = fmt.find_checkpoint
    monkeypatch.setattr(export_module, "find_checkpoint", lambda *a: calls.append(a) or real(*a))
    x = torch.randn(2, 1, 32, 32)
    for given, family in (
        (run, "best"),
        (run / "best", "best"),
        (run / "last", "last"),
        (run / "last" / "weights.safetensors", "last"),
        (run / "last" / "meta.json", "last"),
    ):
        loaded = load_for_export(str(given))
        assert loaded.weights == str(run / family / "weights.safetensors")
        assert loaded.categories == list("xyz")
        with torch.no_grad():
            torch.testing.assert_close(loaded.model(x), nets[family].eval()(x))
    assert len(calls) == 5
    (run / "best" / "meta.json").unlink()  # an incomplete best/: the last checkpoint
    (run / "last").rename(run / ".last.old")  # ... as a swap cut short leaves it
    assert load_for_export(str(run)).weights == str(run / ".last.old" / "weights.safetensors")
    assert not hasattr(export_module, "_find_checkpoint")


@pytest.mark.slow
def test_cli_export_from_a_convzoo_train_run(tmp_path):
    from convzoo.train.checkpoint import save_checkpoint

    model = with_random_bn_stats(convzoo.create_model("resnet18", num_classes=5))
    meta = {"model": {"name": "resnet18", "kwargs": {"num_classes": 5}}}
    save_checkpoint(tmp_path / "run" / "best", model, meta)
    loaded, name = load_network(str(tmp_path / "run"))
    assert name == "resnet18" and loaded.num_classes == 5
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
    out = tmp_path / "run.pt"
    assert (
        main(["export", str(tmp_path / "run"), "--format", "torchscript", "--out", str(out)]) == 0
    )
    assert torch.jit.load(str(out))(x).shape == (1, 5)


def test_cli_export_bad_input(tmp_path, capsys):
    assert main(["export", "resnet181", "--out", str(tmp_path / "x.onnx")]) == 2
    assert "unknown model" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["export", str(tmp_path / "empty")]) == 2
    assert "holds no checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:  # argparse refuses it, in one line
        main(["export", "lenet5", "--batch-size", "0"])
    assert stop.value.code == 2 and "at least 1" in capsys.readouterr().err


def test_missing_onnx_packages_is_one_clear_message(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "onnxscript", None)
    with pytest.raises(ConvzooError, match="pip install"), warnings.catch_warnings():
        export_onnx(convzoo.create_model("lenet5"), tmp_path / "x.onnx", torch.randn(1, 1, 32, 32))


def test_optimize_a_network_already_in_bf16_checks_with_the_bf16_tolerance():
    """`convzoo bench --precision bf16 --optimize` hands optimize() a bf16 network and input;
    it was checked with the fp32 tolerance and refused (found on the lent H200)."""
    from convzoo.export import OPTIMIZE_BF16_RTOL

    model = with_random_bn_stats(convzoo.create_model("resnet18"))
    x = small_input("resnet18", 2)
    with torch.no_grad():
        ref = model(x)
    half = model.to(torch.bfloat16)
    fast = optimize(half, x.to(torch.bfloat16), compile=False)
    assert fast.report.folded_bn > 0
    out = fast(x.to(torch.bfloat16))
    assert out.dtype == torch.bfloat16
    assert_outputs_close(out.float(), ref, OPTIMIZE_ATOL, OPTIMIZE_BF16_RTOL)


# ---- deploy formats, metadata, weights ---------------------------------------------------


@pytest.mark.slow
def test_onnx_metadata_says_what_a_deployment_needs(tmp_path, capsys):
    from convzoo.export import onnx_metadata

    out = tmp_path / "digits.onnx"
    assert main(["export", "lenet5", "--weights", "digits", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "weights: digits" in printed and "random" not in printed
    meta = onnx_metadata(out)
    assert json.loads(meta["class_names"]) == [str(i) for i in range(10)]
    assert json.loads(meta["mean"]) == [0.1307] and json.loads(meta["std"]) == [0.3081]
    assert json.loads(meta["input_size"]) == [1, 32, 32]
    assert meta["convzoo_version"] == convzoo.__version__ and meta["weights"] == "digits"
    # The shipped digits weights are in the file: it classifies as the PyTorch network does.
    model = convzoo.create_model("lenet5", weights="digits").eval()
    x = torch.randn(3, 1, 32, 32)
    got = onnx_session(out).run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        assert_outputs_close(got, model(x), EXPORT_ATOL, EXPORT_RTOL)


@pytest.mark.slow
def test_a_name_without_weights_says_the_weights_are_random(tmp_path, capsys):
    assert main(["export", "lenet5", "--out", str(tmp_path / "r.onnx")]) == 0
    assert "the weights are random" in capsys.readouterr().out


@pytest.mark.parametrize("opset", ["3", "17", "99"])
def test_an_opset_the_exporter_cannot_honour_is_refused(opset, tmp_path, capsys):
    out = tmp_path / "x.onnx"
    assert main(["export", "lenet5", "--opset", opset, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"opset {opset} cannot be written" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.slow
def test_exports_honour_the_umask(tmp_path):
    import os

    old = os.umask(0o027)
    try:
        assert main(["export", "lenet5", "--out", str(tmp_path / "m.onnx")]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "m.onnx").stat().st_mode & 0o777 == 0o640  # not mkstemp's 0600
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temporary left


@pytest.mark.slow
def test_weights_from_a_run_folder(tmp_path, capsys):
    from convzoo.train.checkpoint import save_checkpoint

    model = with_random_bn_stats(convzoo.create_model("lenet5"))
    save_checkpoint(tmp_path / "run" / "best", model, {"model": {"name": "lenet5", "kwargs": {}}})
    out = tmp_path / "run.onnx"
    assert main(["export", "lenet5", "--weights", str(tmp_path / "run"), "--out", str(out)]) == 0
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert_outputs_close(
            onnx_session(out).run(None, {"input": x.numpy()})[0], model(x), EXPORT_ATOL, EXPORT_RTOL
        )
    assert main(["export", "resnet18", "--weights", str(tmp_path / "run")]) == 2
    assert "holds lenet5, not resnet18" in capsys.readouterr().err


@pytest.mark.parametrize("layout", ["header", "header-nested", "checkpoint-folder"])
def test_metadata_is_data_never_a_download(tmp_path, layout):
    """A checkpoint's kwargs pass the allow-list: weights=URL in metadata is refused."""
    from convzoo.train.checkpoint import save_checkpoint
    from convzoo.weights import save_state_dict

    model = convzoo.create_model("lenet5")

    def write(kwargs):
        if layout == "checkpoint-folder":
            save_checkpoint(tmp_path / "ck", model, {"model": {"name": "lenet5", "kwargs": kwargs}})
            return tmp_path / "ck"
        meta = (
            {"model": "lenet5", "model_kwargs": kwargs}
            if layout == "header"
            else {"model": {"name": "lenet5", "kwargs": kwargs}}
        )
        return save_state_dict(model.state_dict(), tmp_path / "w.safetensors", meta)

    with pytest.raises(ConvzooError, match="refused: .* asks for weights="):
        load_network(str(write({"weights": "http://127.0.0.1:9/evil.pth"})))
    assert load_network(str(write({"num_classes": 10})))[1] == "lenet5"


def test_torchscript_is_deprecated_with_a_future_warning(tmp_path):
    with pytest.warns(FutureWarning, match="prefer --format pt2"):
        export_torchscript(
            convzoo.create_model("lenet5"), tmp_path / "m.pt", torch.randn(1, 1, 32, 32)
        )


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lenet5", "resnet18"])
def test_pt2_program_reloads_and_matches(name, tmp_path):
    from convzoo.export import export_program

    model = with_random_bn_stats(convzoo.create_model(name))
    x = small_input(name, batch=1)
    result = export_program(model, tmp_path / "m.pt2", x)
    program = torch.export.load(str(tmp_path / "m.pt2")).module()
    batch = torch.cat([x, -x, x.flip(-1)])  # the batch dimension is dynamic
    with torch.no_grad():
        assert_outputs_close(program(batch), model(batch), EXPORT_ATOL, EXPORT_RTOL)
    assert result.max_abs_diff is not None and result.format == "pt2"


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_openvino_ir_reloads_and_matches(precision, tmp_path):
    import openvino as ov

    from convzoo.export import export_openvino
    from convzoo.optimize import TOLERANCES

    model = with_random_bn_stats(convzoo.create_model("resnet18"))
    x = small_input("resnet18", batch=1)
    result = export_openvino(
        model, tmp_path / "r.xml", x, precision=precision, metadata={"model": "resnet18"}
    )
    assert [p.name for p in result.files] == ["r.xml", "r.bin"]
    core = ov.Core()
    ir = core.read_model(str(tmp_path / "r.xml"))
    assert ir.get_rt_info(["convzoo", "model"]).astype(str) == "resnet18"
    hint = "bf16" if precision == "bf16" else "f32"
    compiled = core.compile_model(ir, "CPU", {"INFERENCE_PRECISION_HINT": hint})
    with torch.no_grad():
        atol, rtol = TOLERANCES[precision]
        assert_outputs_close(compiled(x.numpy())[0], model(x), atol, rtol)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_int8_export_keeps_99_percent_of_top1_on_held_out_digits(fmt, tmp_path, capsys):
    import re

    out = tmp_path / ("d.onnx" if fmt == "onnx" else "d.xml")
    argv = ["export", "lenet5", "--weights", "digits", "--format", fmt, "--precision", "int8"]
    assert main([*argv, "--calibration", "digits", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    agreement = float(re.search(r"top-1 agreement with fp32 ([\d.]+)%", printed).group(1))
    assert agreement >= 99.0 and "on 359 images" in printed
    if fmt == "onnx":
        import onnx

        ops = {n.op_type for n in onnx.load(str(out)).graph.node}
        assert "QuantizeLinear" in ops and "DequantizeLinear" in ops  # really int8


def test_precision_a_format_cannot_hold_is_refused(tmp_path, capsys):
    argv = ["export", "lenet5", "--format", "torchscript", "--precision", "int8"]
    assert main([*argv, "--out", str(tmp_path / "x.pt")]) == 2
    assert "torchscript is written in fp32" in capsys.readouterr().err


def test_the_onnx_coverage_keeps_every_layer_kind_of_the_zoo():
    """The rule that thins the ONNX export test keeps one network of each family variant and
    drops only deeper copies: the chosen set holds every layer kind of the whole registry."""
    assert {"lenet5", "vgg11", "vgg11_bn", "resnet18", "resnet50"} <= set(ONNX_COVERAGE)
    assert not {"vgg16", "vgg19", "resnet152"} & set(ONNX_COVERAGE)

    def kinds(names):
        return set().union(*(layer_kinds(meta_model(name)) for name in names))

    assert kinds(ONNX_COVERAGE) == kinds(ALL)
