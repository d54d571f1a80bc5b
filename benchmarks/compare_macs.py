"""Total multiply-adds of every network: convzoo vs fvcore, ptflops, thop, FlopCounterMode.

Each tool runs on the same network (real weights, CPU, eval mode) and the card's input size.
Columns (all in millions of multiply-adds, M = 10^6):

- ``convzoo all``: every operator by the rule of ``convzoo.inspect.costs``;
- ``convzoo conv+fc``: conv and linear layers only;
- ``FlopCounterMode / 2``: ``torch.utils.flop_counter`` (conv, matmul only), halved;
- ``fvcore``: ``FlopCountAnalysis.total()`` (its "flops" are multiply-adds; conv, matmul,
  batch norm and a few others by default, with warnings for the operators it skips);
- ``ptflops``: ``get_model_complexity_info(..., backend="pytorch")`` MACs (module hooks:
  conv, linear, pooling, BN, activations; functional ``+``/``cat`` not seen);
- ``thop``: ``profile`` MACs (module hooks; zero for activations and functional operators).

Needs the ``bench`` extra: ``pip install -e ".[bench]"``.
Usage: ``python benchmarks/compare_macs.py [--models vgg16,resnet50]``
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import warnings

import torch
from torch.utils.flop_counter import FlopCounterMode

import convzoo
from convzoo.inspect import summarize


def _quiet():
    return contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO())


def count(name: str) -> dict[str, float]:
    from fvcore.nn import FlopCountAnalysis
    from ptflops import get_model_complexity_info
    from thop import profile

    card = convzoo.model_card(name)
    table = summarize(name)
    res = {
        "convzoo_all": table.total_macs,
        "convzoo_convfc": sum(r.macs for r in table.rows if r.kind in ("conv", "linear")),
    }
    model = convzoo.create_model(name, num_classes=card.num_classes).eval()
    x = torch.randn(1, *card.input_size)
    with torch.no_grad():
        fcm = FlopCounterMode(display=False)
        with fcm:
            model(x)
        res["flopcounter"] = fcm.get_total_flops() / 2
        out, err = _quiet()
        with out, err, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logging.disable(logging.WARNING)
            fa = FlopCountAnalysis(model, x)
            fa.unsupported_ops_warnings(False)
            fa.uncalled_modules_warnings(False)
            res["fvcore"] = fa.total()
            logging.disable(logging.NOTSET)
        with _quiet()[0], _quiet()[1]:
            macs, _ = get_model_complexity_info(
                model,
                tuple(card.input_size),
                as_strings=False,
                print_per_layer_stat=False,
                verbose=False,
                backend="pytorch",
            )
        res["ptflops"] = macs
        m2 = convzoo.create_model(name, num_classes=card.num_classes).eval()
        with _quiet()[0], _quiet()[1]:
            macs, _ = profile(m2, inputs=(x,), verbose=False)
        res["thop"] = macs
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", help="comma-separated names (default: every registered one)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    names = args.models.split(",") if args.models else convzoo.list_models()
    keys = ("convzoo_all", "convzoo_convfc", "flopcounter", "fvcore", "ptflops", "thop")
    print(
        "| network | convzoo all | convzoo conv+fc | FlopCounterMode / 2 | fvcore | ptflops | "
        "thop |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in names:
        r = count(name)
        print(f"| {name} | " + " | ".join(f"{r[k] / 1e6:,.2f}" for k in keys) + " |", flush=True)


if __name__ == "__main__":
    main()
