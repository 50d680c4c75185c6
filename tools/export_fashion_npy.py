"""Writes the Fashion-MNIST arrays the quantization tests and benchmarks use.

Owns: turning the Debian dataset package's IDX files into .npy files:
  calib_images.npy / calib_labels.npy  first N training images (default 625:
                                       500 to calibrate + 125 held out)
  test_images.npy / test_labels.npy    the full 10 000-image test split
Run at test time (a ctest fixture), never committed.

Usage: /usr/bin/python3 tools/export_fashion_npy.py --out DIR [--calib N]
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fashion_mnist  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--calib", type=int, default=625)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    x_train, y_train = fashion_mnist.load_train()
    x_test, y_test = fashion_mnist.load_test()
    np.save(os.path.join(args.out, "calib_images.npy"), np.ascontiguousarray(x_train[: args.calib], np.float32))
    np.save(os.path.join(args.out, "calib_labels.npy"), np.ascontiguousarray(y_train[: args.calib], np.int64))
    np.save(os.path.join(args.out, "test_images.npy"), np.ascontiguousarray(x_test, np.float32))
    np.save(os.path.join(args.out, "test_labels.npy"), np.ascontiguousarray(y_test, np.int64))
    print(f"wrote {args.calib} calibration and {len(y_test)} test images to {args.out}")


if __name__ == "__main__":
    main()
