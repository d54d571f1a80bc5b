"""LeCun's idx format (MNIST, Fashion-MNIST): a reader that checks what the header promises.

Kept as our own: torchvision's ``read_sn3_pascalvincent_tensor`` reads the same format but not
gzip files (Debian's ``dataset-fashion-mnist`` ships ``.gz``) and checks the header with
``assert``; this one reads either and says in one line what is wrong with a damaged file.
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from convzoo.errors import ConvzooError

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an idx file (LeCun's MNIST format, also Fashion-MNIST's), plain or gzip-compressed.

    Format (yann.lecun.com/exdb/mnist): two zero bytes, a type code (0x08 = uint8), the number of
    dimensions, then each dimension as a big-endian int32, then the data in C order.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:
        raise ConvzooError(f"{path}: cannot read ({err})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ConvzooError(f"{path}: not an idx file (bad magic number)")
    code, ndim = data[2], data[3]
    if code not in _DTYPES:
        raise ConvzooError(f"{path}: unknown idx data type 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ConvzooError(f"{path}: truncated idx header")
    shape = struct.unpack(f">{ndim}i", data[4:header])
    dtype = np.dtype(_DTYPES[code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise ConvzooError(
            f"{path}: idx file holds {len(data) - header} data bytes, its header says {expected}"
        )
    return (
        np.frombuffer(data, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def load_idx_pair(dirs: Sequence[Path], split: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Images and labels of ``split`` ("train"/"test") from the first folder that has both."""
    img_stem, lab_stem = IDX_FILES[split]
    for d in dirs:
        img, lab = _find_idx(d, img_stem), _find_idx(d, lab_stem)
        if img and lab:
            images, labels = read_idx(img), read_idx(lab)
            if images.shape[0] != labels.shape[0]:
                raise ConvzooError(
                    f"{img} holds {images.shape[0]} images but {lab} {labels.shape[0]} labels"
                )
            return images, labels
    return None
