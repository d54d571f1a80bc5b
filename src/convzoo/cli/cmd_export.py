"""`convzoo export`: a network or a training checkpoint as ONNX or TorchScript, verified."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a network or checkpoint to ONNX or TorchScript, outputs checked",
        description="Write the network as ONNX (checked with onnxruntime) or TorchScript "
        "(checked after reloading); the batch dimension of the ONNX file is dynamic.",
    )
    p.add_argument(
        "source", metavar="NAME_or_CHECKPOINT", help="model name or training run/checkpoint"
    )
    p.add_argument("--format", default="onnx", choices=["onnx", "torchscript"])
    p.add_argument("--out", default=None, help="output file (default: NAME.onnx / NAME.pt)")
    p.add_argument("--batch-size", type=int, default=1, help="batch of the example input")
    p.add_argument("--image-size", type=int, default=None, help="square input size")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset")
    p.add_argument("--no-verify", action="store_true", help="skip the output check")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from convzoo.errors import ConvzooError
    from convzoo.export import default_input, export, load_network

    if args.batch_size < 1:
        raise ConvzooError(f"batch size must be at least 1, got {args.batch_size}")
    model, name = load_network(args.source)
    x = default_input(model, args.batch_size, args.image_size)
    suffix = ".onnx" if args.format == "onnx" else ".pt"
    out = Path(args.out) if args.out else Path(f"{name}{suffix}")
    kwargs = {"opset": args.opset} if args.format == "onnx" else {}
    result = export(model, out, x, format=args.format, verify=not args.no_verify, **kwargs)
    size = out.stat().st_size / 2**20
    check = (
        f"max |diff| vs PyTorch {result.max_abs_diff:.2e} (tolerance {result.atol:g} abs + "
        f"{result.rtol:g} rel)"
        if result.max_abs_diff is not None
        else "not verified"
    )
    print(f"wrote {out} ({args.format}, {size:.1f} MB); {check}")
    return 0
