"""`convzoo list`: every registered network with its paper, year, input size and parameters."""

from __future__ import annotations

import argparse
import json
from typing import Any

import convzoo.weights  # noqa: F401  (registers the networks and the weights loader)
from convzoo.errors import ConvzooError
from convzoo.models._counts import default_parameter_count
from convzoo.registry import list_models, model_card


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list the networks of the zoo")
    p.add_argument("pattern", nargs="?", help="glob on the names, e.g. 'resnet*'")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def model_rows(pattern: str | None = None) -> list[dict[str, Any]]:
    rows = []
    for name in list_models(pattern):
        card = model_card(name)
        rows.append(
            {
                "name": name,
                "family": card.family,
                "paper": card.paper,
                "year": card.year,
                "input": "x".join(map(str, card.input_size)),
                "params": default_parameter_count(name),
                "torchvision": card.torchvision_twin or "",
            }
        )
    return rows


def run(args: argparse.Namespace) -> int:
    rows = model_rows(args.pattern)
    if not rows:
        raise ConvzooError(f"no model matches {args.pattern!r}; `convzoo list` shows them all")
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    headers = {
        "name": "name",
        "year": "year",
        "input": "input",
        "params": "params",
        "torchvision": "torchvision twin",
        "paper": "paper",
    }
    cells = [{**r, "params": f"{r['params']:,}", "year": str(r["year"])} for r in rows]
    widths = {k: max(len(h), *(len(c[k]) for c in cells)) for k, h in headers.items()}
    # The paper column takes what is left of a 100-column terminal.
    fixed = sum(w + 2 for k, w in widths.items() if k != "paper")
    widths["paper"] = max(20, min(widths["paper"], 100 - fixed))

    def line(values: dict[str, str]) -> str:
        out = []
        for k in headers:
            v = values[k]
            if len(v) > widths[k]:
                v = v[: widths[k] - 1] + "…"
            out.append(v.rjust(widths[k]) if k == "params" else v.ljust(widths[k]))
        return "  ".join(out).rstrip()

    print(line(headers))
    print(line({k: "-" * widths[k] for k in headers}))
    for c in cells:
        print(line(c))
    print(f"\n{len(rows)} networks. `convzoo summary NAME` shows one layer by layer.")
    return 0
