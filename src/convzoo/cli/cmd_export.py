"""`convzoo export`: a network or a training run as ONNX, OpenVINO IR, .pt2 or TorchScript,
reloaded and checked against PyTorch."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import Any

import torch

from convzoo.cli._args import add_input_size_argument, positive_int
from convzoo.errors import ConvzooError
from convzoo.export import (
    FORMATS,
    PRECISIONS_OF,
    SUFFIXES,
    agreement_of_export,
    check_opset,
    default_input,
    export,
    load_for_export,
)
from convzoo.inspect.memory import check_fits_in_memory
from convzoo.optimize import MIN_OPSET


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a network or run to ONNX, OpenVINO, .pt2 or TorchScript, outputs checked",
        description="Write the network as ONNX (checked with ONNX Runtime; class names, "
        "mean/std, input size and convzoo version in its metadata), OpenVINO IR (NAME.xml + "
        "NAME.bin), a torch.export program (.pt2) or TorchScript (deprecated by PyTorch). "
        "Each file is reloaded and its outputs compared with PyTorch's. int8 variants are "
        "quantized from calibration images. Example: convzoo export lenet5 --weights digits "
        "--format openvino --precision int8 --calibration digits",
    )
    p.add_argument("source", metavar="NAME_or_RUN", help="model name or training run/checkpoint")
    p.add_argument("--format", default="onnx", choices=FORMATS, help="default onnx")
    p.add_argument(
        "--precision",
        default="fp32",
        choices=["fp32", "bf16", "int8"],
        help="fp32 (default); bf16 (openvino, pt2); int8 (onnx, openvino, pt2: needs "
        "--calibration for real accuracy)",
    )
    p.add_argument(
        "--weights",
        default=None,
        metavar="ENTRY|FILE|URL|RUN",
        help="weights for a model name (as predict and finetune take them); without, the "
        "network is randomly initialised and the output says so",
    )
    p.add_argument(
        "--calibration",
        default=None,
        metavar="DATA",
        help="int8: images that set the ranges (digits, fashion-mnist, ... or an image "
        "folder); without, random inputs (the file runs, its accuracy is not measured)",
    )
    p.add_argument(
        "--calibration-images",
        type=positive_int,
        default=256,
        help="int8: images used (default 256)",
    )
    p.add_argument("--out", default=None, help="output file (default: NAME + the format's suffix)")
    p.add_argument("--batch-size", type=positive_int, default=1, help="batch of the example input")
    add_input_size_argument(p, type=positive_int, default=None, help="square input size")
    p.add_argument("--opset", type=int, default=MIN_OPSET, help=f"ONNX opset (default {MIN_OPSET})")
    p.add_argument("--no-verify", action="store_true", help="skip the output check")
    p.set_defaults(func=run)


def _calibration(
    spec: str | None, model: torch.nn.Module, x: torch.Tensor, images: int
) -> tuple[list[torch.Tensor], list[torch.Tensor], str]:
    """(calibration batches, held-out batches, what they are). From a data set: the training
    part calibrates, the validation part measures the agreement."""
    if spec is None:
        batches = [torch.randn(16, *x.shape[1:]) for _ in range(max(1, images // 16))]
        return batches, [], "random inputs (no --calibration: accuracy not measured)"
    from convzoo.data import build_datasets  # torchvision datasets and PIL: data exports only

    card = model.card
    bundle = build_datasets(spec, card, augment=False, input_size=x.shape[-1])
    generator = torch.Generator().manual_seed(0)
    loader = torch.utils.data.DataLoader(
        bundle.train, batch_size=32, shuffle=True, generator=generator
    )
    calib: list[torch.Tensor] = []
    for xb, _ in loader:
        calib.append(xb)
        if sum(len(b) for b in calib) >= images:
            break
    held = [xb for xb, _ in torch.utils.data.DataLoader(bundle.val, batch_size=64)]
    n = sum(len(b) for b in calib)
    return calib, held, f"{n} images of {spec} (agreement on its held-out part)"


def run(args: argparse.Namespace) -> int:
    if args.precision not in PRECISIONS_OF[args.format]:
        raise ConvzooError(
            f"--format {args.format} is written in {' or '.join(PRECISIONS_OF[args.format])}, "
            f"not {args.precision}"
        )
    if args.format == "onnx":
        check_opset(args.opset)  # before anything is built
    elif args.opset != MIN_OPSET:
        raise ConvzooError("--opset applies to --format onnx only")
    loaded = load_for_export(args.source, args.weights)
    model = loaded.model
    card: Any = model.card
    check_fits_in_memory(  # an absurd --input-size: one line with the figure, not the allocator's
        loaded.name,
        args.input_size,
        args.batch_size,
        training=False,
        model_kwargs={"num_classes": card.num_classes, "in_chans": card.in_chans},
    )
    x = default_input(model, args.batch_size, args.input_size)
    out = Path(args.out) if args.out else Path(f"{loaded.name}{SUFFIXES[args.format]}")
    kwargs: dict = {"verify": not args.no_verify}
    if args.format != "torchscript":
        kwargs["precision"] = args.precision
    if args.format == "onnx":
        kwargs["opset"] = args.opset
    if args.format in ("onnx", "openvino"):
        kwargs["metadata"] = loaded.metadata(args.precision)
    calib: list[torch.Tensor] = []
    held: list[torch.Tensor] = []
    calib_note = ""
    if args.precision == "int8":
        calib, held, calib_note = _calibration(args.calibration, model, x, args.calibration_images)
        kwargs["calibration"] = calib
        if held:
            # Checked on real images: int8 ranges set on real data clip a random input, and
            # the check would measure the clipping, not the export.
            x = torch.cat(held)[: args.batch_size]
    with warnings.catch_warnings():
        if args.format == "torchscript":
            warnings.simplefilter("always", FutureWarning)
        result = export(model, out, x, format=args.format, **kwargs)
    if args.precision == "int8" and not args.no_verify:
        agreement_of_export(result, model, held or calib)
    size = sum(f.stat().st_size for f in result.files) / 2**20
    check = (
        f"max |diff| vs PyTorch {result.max_abs_diff:.2e} (tolerance {result.atol:g} abs + "
        f"{result.rtol:g} rel)"
        if result.max_abs_diff is not None
        else "not verified"
    )
    files = " + ".join(str(f) for f in result.files)
    print(f"wrote {files} ({args.format} {result.precision}, {size:.1f} MB); {check}")
    if loaded.weights is None:
        print(
            f"note: the weights are random: {loaded.name} was built untrained; give --weights "
            "ENTRY|FILE|URL|RUN (`convzoo weights list` shows the entries)"
        )
    else:
        print(f"weights: {loaded.weights}")
    if result.top1_agreement is not None:
        print(
            f"int8: top-1 agreement with fp32 {result.top1_agreement:.2%} on "
            f"{result.agreement_images} images; calibrated on {calib_note}"
        )
    return 0
