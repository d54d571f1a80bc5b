"""Peak memory of `convzoo predict` on N images against N (issue 10 section 7b).

Each size runs in a fresh process (peak RSS is a high-water mark): ResNet-18 with a random
state dict (no download), JPEG photos of noise at 320x240, resized and cropped to 224. The old
code kept every transformed image (0.6 MB each at 224x224x3 float32) until the end; streamed,
the peak must not grow with N.

    python benchmarks/predict_memory.py 100 1000
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

# predict() exists before and after the change: run the child with PYTHONPATH=<old>/src to
# measure the code before it.
CHILD = """
import json, resource, sys
from convzoo.predict import load_predictor, predict
pred = load_predictor(sys.argv[1], model_name="resnet18")
n = len(predict(pred, [sys.argv[2]], topk=5, batch_size=16))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"images": n, "peak_rss_mb": round(peak, 1)}))
"""


def main(sizes: list[int]) -> None:
    import numpy as np
    import torch
    import torchvision
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        weights = root / "r18.pth"
        torch.save(torchvision.models.resnet18().state_dict(), weights)
        rng = np.random.default_rng(0)
        for n in sizes:
            folder = root / f"imgs{n}"
            folder.mkdir()
            for i in range(n):
                arr = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
                Image.fromarray(arr).save(folder / f"{i:05d}.jpg", quality=85)
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(weights), str(folder)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            print(json.dumps({"n": n, **json.loads(out.strip().splitlines()[-1])}))


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100, 1000])
