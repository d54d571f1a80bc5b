"""`convzoo weights list [NAME]` and `convzoo weights download NAME [--entry imagenet]`."""

from __future__ import annotations

import argparse
import json

from convzoo.weights import DEFAULT_ENTRY, fetch_weights, get_weight_entry, weight_entries


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights", help="list and download pretrained weights")
    wsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    pl = wsub.add_parser("list", help="the weight entries (of one network or of all)")
    pl.add_argument("name", nargs="?", help="a network of the zoo, e.g. resnet18")
    pl.add_argument("--json", action="store_true", help="machine-readable output")
    pd = wsub.add_parser("download", help="download weights into the cache (CONVZOO_HOME)")
    pd.add_argument("name", help="a network of the zoo, e.g. resnet18")
    pd.add_argument("--entry", default=DEFAULT_ENTRY, help="weight entry (default: imagenet)")
    pd.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


# A file is "cached" only if its hash matches; one that is there with another hash is "damaged"
# (it is never loaded, and the next use downloads it again).
_STATE_WORDS = {"cached": "cached", "damaged": "DAMAGED", "missing": "-"}


def _top1(metrics: dict) -> str:
    for values in metrics.values():
        if isinstance(values, dict) and "acc@1" in values:
            top5 = values.get("acc@5")
            return f"{values['acc@1']:.2f}/" + (f"{top5:.2f}" if top5 is not None else "-")
    return "-"


def run(args: argparse.Namespace) -> int:
    if args.action == "download":
        entry = get_weight_entry(args.name, args.entry)
        path = fetch_weights(entry, progress=not args.quiet)
        check = "SHA-256 prefix" if entry.sha256_is_prefix else "SHA-256"
        print(f"{args.name} {entry.name}: {path} ({check} {entry.sha256} verified)")
        return 0
    entries = weight_entries(args.name)
    if args.json:
        print(
            json.dumps(
                [
                    {**e.to_dict(), "cache": e.cache_state(), "path": str(e.cache_path())}
                    for e in entries
                ],
                indent=2,
            )
        )
        return 0
    if not entries:
        where = args.name or "the zoo"
        print(f"no published weights for {where}; load your own with weights=PATH")
        return 0
    rows = [
        (
            e.model,
            e.name,
            _top1(e.metrics),
            f"{e.transforms.get('resize_size')}/{e.transforms.get('crop_size')}",
            _STATE_WORDS[e.cache_state()],
            e.url,
        )
        for e in entries
    ]
    head = ("model", "entry", "top-1/top-5", "resize/crop", "cache", "url")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    for r in (head, tuple("-" * w for w in widths), *rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip())
    print(
        "\nMetrics as the publisher states them (ImageNet-1k val for torchvision's weights). "
        "torchvision publishes only a SHA-256 prefix (in the file name); that prefix is what is "
        "checked; entries of our own carry the full SHA-256. cache: 'cached' when the file is "
        "there and its hash matches, 'DAMAGED' when it is there with another hash (it is not "
        "used; the next use downloads it again)."
    )
    return 0
