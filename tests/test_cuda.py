"""The GPU paths: every network, training with AMP and channels-last, optimize(), bench, predict.

CI has no GPU, so these are skipped there; they run wherever torch sees CUDA (the lent GPU
machine runs them with ``benchmarks/gpu_run.sh``). The flag handling they rely on is also
tested on CPU at the end of this file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import Subset

import convzoo
from convzoo.bench.harness import BenchSettings, cuda_math_flags, run_benchmark, validate
from convzoo.errors import ConvzooError
from convzoo.outputs import main_logits
from convzoo.registry import list_models

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _relative_error(got: torch.Tensor, ref: torch.Tensor) -> float:
    return ((got.double().cpu() - ref.double()).abs().max() / ref.double().abs().max()).item()


@needs_cuda
@pytest.mark.parametrize("name", list_models())
def test_every_network_on_cuda_computes_what_it_computes_on_cpu(name):
    torch.manual_seed(0)
    model = convzoo.create_model(name).eval()
    x = torch.randn(2, *model.card.input_size)
    with torch.no_grad():
        ref = main_logits(model(x))
        gpu = model.cuda()
        with cuda_math_flags(torch.device("cuda"), "fp32", cudnn_benchmark=False):
            fp32 = main_logits(gpu(x.cuda()))
        # bf16 weights and activations, channels-last: the fast inference settings of bench.
        fast = gpu.to(torch.bfloat16, memory_format=torch.channels_last)
        bf16 = main_logits(fast(x.cuda().to(torch.bfloat16, memory_format=torch.channels_last)))
    assert fp32.device.type == "cuda"
    # Strict fp32 on both sides: only the order of the sums differs.
    assert _relative_error(fp32, ref) < 1e-4
    assert torch.isfinite(bf16).all()
    # bf16 keeps 8 bits of mantissa; through up to 152 layers of random weights a few percent.
    assert _relative_error(bf16.float(), ref) < 0.1


@needs_cuda
@pytest.mark.parametrize("name", ["lenet5", "resnet18", "googlenet"])
def test_training_on_cuda_with_amp_and_channels_last(tmp_path, name):
    from convzoo.data import build_datasets
    from convzoo.train import TrainConfig, find_checkpoint, fit

    torch.manual_seed(0)
    model = convzoo.create_model(name, num_classes=10)
    size = 32 if name == "lenet5" else 64
    data = build_datasets("digits", model.card, augment=False, input_size=size)
    train, val = Subset(data.train, range(128)), Subset(data.val, range(64))
    # GoogLeNet (no batch norm) diverges on 64-pixel digits at the default lr 0.05.
    cfg = TrainConfig(
        *(name, "digits"),
        epochs=2,
        batch_size=32,
        lr=0.01,
        clip_grad=1.0,
        amp=True,
        channels_last=True,
        device="cuda",
        seed=0,
        input_size=size,
    )
    result = fit(model, train, val, cfg, tmp_path / "run", classes=data.classes, quiet=True)
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == 2 and all(torch.isfinite(torch.tensor(r["train_loss"])) for r in rows)
    assert result.status == "finished"
    # The checkpoint written on the GPU loads on the CPU into a fresh network.
    fresh = find_checkpoint(tmp_path / "run", prefer="last").build_model("cpu")
    assert next(fresh.parameters()).device.type == "cpu"
    for key, value in fresh.state_dict().items():
        assert torch.equal(value, model.state_dict()[key].cpu()), key


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_optimize_on_cuda_compiles_and_agrees(dtype):
    from convzoo.export import optimize

    torch.manual_seed(0)
    model = convzoo.create_model("resnet18").eval().cuda()
    x = torch.randn(4, 3, 224, 224, device="cuda")
    with torch.no_grad(), cuda_math_flags(torch.device("cuda"), "fp32", False):
        ref = model(x)
        fast = optimize(model, x, dtype=dtype)
        got = fast(x)
    assert fast.report.fallback_reason is None, fast.report.fallback_reason
    assert _relative_error(got.float(), ref.cpu()) < (1e-3 if dtype == torch.float32 else 5e-2)


@needs_cuda
def test_bench_on_cuda_records_gpu_and_restores_flags(tmp_path):
    before = (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32)
    settings = BenchSettings(
        names=["resnet18", "googlenet_tv"],
        batch_sizes=[1, 4],
        device="cuda",
        mode="both",
        precision="tf32",
        channels_last=True,
        against="torchvision",
        budget_s=0.05,
        min_reps=3,
    )
    rows = run_benchmark(settings, tmp_path, progress=False)
    assert [r["status"] for r in rows] == ["ok"] * 8
    assert all(r["peak_memory_mb"] > 0 and r["speed_vs_torchvision"] > 0 for r in rows)
    assert all(r["forward_ms"] > 0 for r in rows if r["mode"] == "train")
    meta = json.loads((tmp_path / "results.json").read_text())
    assert meta["machine"]["gpu"]["name"] and meta["machine"]["gpu"]["cudnn"]
    assert meta["machine"]["cuda_math"] == {
        "cudnn_benchmark": True,
        "cudnn_allow_tf32": True,
        "matmul_allow_tf32": True,
    }
    assert (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32) == before


@needs_cuda
def test_predict_on_cuda_equals_cpu(tmp_path):
    from PIL import Image

    from convzoo.predict import load_predictor, predict

    img = tmp_path / "digit.png"
    Image.fromarray((torch.rand(28, 28) * 255).to(torch.uint8).numpy(), "L").save(img)
    on_cpu = predict(load_predictor("lenet5", weights="digits", progress=False), [img])
    on_gpu = predict(load_predictor("lenet5", weights="digits", device="cuda"), [img])
    assert [p["class"] for p in on_gpu[0]["top"]] == [p["class"] for p in on_cpu[0]["top"]]
    for a, b in zip(on_gpu[0]["top"], on_cpu[0]["top"], strict=True):
        assert a["prob"] == pytest.approx(b["prob"], abs=1e-4)


@needs_cuda
@pytest.mark.slow
def test_torchrun_on_one_gpu_uses_nccl(tmp_path):
    env = {**os.environ, "CONVZOO_OFFLINE": "1"}
    cmd = [
        *(sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "1"),
        *("-m", "convzoo", "train", "lenet5", "--epochs", "1", "--device", "cuda"),
        *("--out", str(tmp_path / "run"), "--quiet"),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads((tmp_path / "run" / "config.json").read_text())
    assert meta["device"] == "cuda"
    assert Path(tmp_path / "run" / "last").exists()


# ---- what the GPU paths rely on, checked on any machine ------------------------------------


def test_cuda_math_flags_are_set_inside_and_restored_after():
    flags = (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32)
    matmul = torch.backends.cuda.matmul.allow_tf32
    # Setting these flags needs no GPU, so the context is checked on CPU machines too.
    with cuda_math_flags(torch.device("cuda"), "tf32", cudnn_benchmark=True):
        assert torch.backends.cudnn.benchmark is True
        assert torch.backends.cudnn.allow_tf32 is True
        assert torch.backends.cuda.matmul.allow_tf32 is True
    with cuda_math_flags(torch.device("cuda"), "fp32", cudnn_benchmark=False):
        assert torch.backends.cudnn.allow_tf32 is False
        assert torch.backends.cuda.matmul.allow_tf32 is False
        assert torch.backends.cudnn.benchmark is False
    assert (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32) == flags
    assert torch.backends.cuda.matmul.allow_tf32 == matmul


def test_tf32_is_refused_on_cpu_with_one_message():
    with pytest.raises(ConvzooError, match="tf32 is a mode of NVIDIA GPUs"):
        validate(BenchSettings(names=["lenet5"], precision="tf32"))


@pytest.mark.slow
def test_python_dash_m_convzoo_runs_the_cli():
    proc = subprocess.run(
        [sys.executable, "-m", "convzoo", "list"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "resnet18" in proc.stdout
