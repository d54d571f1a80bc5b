"""Start-up time of an image-folder data bundle: how long ``build_datasets`` takes on a folder.

Makes (once) a folder of ``--images`` small images in 10 class folders, half JPEG and half PNG,
then times ``build_datasets(folder, card)`` ``--repeat`` times and prints the median. Run it on
the code before and after a change, on the same machine, side by side::

    PYTHONPATH=src python benchmarks/data_startup.py --images 10000 --folder /tmp/startup-10k
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from convzoo.data import build_datasets
from convzoo.weights import model_card  # importing weights registers the networks


def make_folder(root: Path, images: int, size: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(images):
        folder = root / f"class{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        arr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(arr).save(folder / f"{i}.{'jpg' if i % 2 else 'png'}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=10_000)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--folder", type=Path, default=Path("/tmp/convzoo-startup"))
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--strict", action="store_true")
    args = p.parse_args()
    if not args.folder.is_dir():
        make_folder(args.folder, args.images, args.size)
    card = model_card("lenet5")
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        bundle = build_datasets(args.folder, card, strict=args.strict)
        times.append(time.perf_counter() - t0)
    n = len(bundle.train) + len(bundle.val)
    print(f"{n} images, strict={args.strict}: median {statistics.median(times):.3f} s {times}")


if __name__ == "__main__":
    main()
