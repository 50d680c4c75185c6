"""Fashion-MNIST loader for q8serve tooling.

Owns: reading the Fashion-MNIST gzip IDX files with plain numpy (no
torchvision dataset download, no network).  Images are returned as float32
in [0, 1] with shape [N, 1, 28, 28]; labels as int64 with shape [N].

The data directory defaults to /usr/share/datasets/fashion-mnist and can be
overridden with the environment variable Q8_FASHION_MNIST_DIR.
"""

import gzip
import os
import struct

import numpy as np

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
ENV_VAR = "Q8_FASHION_MNIST_DIR"

# File names of the standard distribution, keyed by split.
_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

# IDX type codes (third byte of the magic number) -> numpy big-endian dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def data_dir():
    """Return the directory holding the IDX files (env var overrides)."""
    return os.environ.get(ENV_VAR) or DEFAULT_DIR


def read_idx(path):
    """Read one (optionally gzip-compressed) IDX file into a numpy array.

    IDX header: two zero bytes, a type-code byte, a byte giving the number
    of dimensions, then one big-endian uint32 per dimension, then the data.
    """
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic)")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{type_code:02x}")
    dtype = _IDX_DTYPES[type_code]
    header_len = 4 + 4 * ndim
    shape = struct.unpack(">" + "I" * ndim, raw[4:header_len])
    count = int(np.prod(shape)) if ndim else 1
    expected = header_len + count * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(
            f"{path}: size {len(raw)} does not match header (expected {expected})")
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=header_len)
    # Convert to native byte order and give it its own writable buffer.
    return data.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def load(split="train", directory=None):
    """Load a split ("train" or "test").

    Returns (images, labels): images float32 [N, 1, 28, 28] in [0, 1],
    labels int64 [N].
    """
    if split not in _FILES:
        raise ValueError(f"split must be one of {sorted(_FILES)}, got {split!r}")
    directory = directory or data_dir()
    img_name, lbl_name = _FILES[split]
    images = read_idx(os.path.join(directory, img_name))
    labels = read_idx(os.path.join(directory, lbl_name))
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"unexpected image array shape {images.shape}")
    if labels.shape != (images.shape[0],):
        raise ValueError(
            f"label count {labels.shape} does not match image count {images.shape[0]}")
    images = (images.astype(np.float32) / np.float32(255.0))[:, None, :, :]
    return np.ascontiguousarray(images), labels.astype(np.int64)


def load_train(directory=None):
    """Convenience wrapper: the 60 000-image training split."""
    return load("train", directory)


def load_test(directory=None):
    """Convenience wrapper: the 10 000-image test split."""
    return load("test", directory)


if __name__ == "__main__":
    for s in ("train", "test"):
        x, y = load(s)
        print(f"{s}: images {x.shape} {x.dtype} range [{x.min()}, {x.max()}], "
              f"labels {y.shape} {y.dtype} classes {np.bincount(y).tolist()}")
