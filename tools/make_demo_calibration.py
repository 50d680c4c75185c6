"""Writes the calibration data of the serve_demo repository.

Owns: deploy/demo/calibration_inputs.npy (float32 [300,1,28,28]) and
deploy/demo/calibration_labels.npy (int64 [300]): 30 Fashion-MNIST
*training* images per class (the first 30 of each class in file order, so
reruns give identical bytes), interleaved by class. scripts/serve_demo.sh
copies them to <repo>/fashion_cnn/1/calibration/ so that q8serve quantizes
the demo model to int8 at startup (and checks top-1 on the held-out 20%).
Training images, not test images: the demo's accuracy check must not see
the data the model is evaluated on elsewhere.

Usage: /usr/bin/python3 tools/make_demo_calibration.py [--out DIR] [--per_class N]
"""

import argparse
import os

import numpy as np

import fashion_mnist


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(here, "..", "deploy", "demo"))
    parser.add_argument("--per_class", type=int, default=30)
    args = parser.parse_args()

    images, labels = fashion_mnist.load_train()
    picked = [np.flatnonzero(labels == c)[: args.per_class] for c in range(10)]
    # Interleave classes so any prefix (max_samples, the eval split) is balanced.
    order = np.stack(picked, axis=1).reshape(-1)
    x = np.ascontiguousarray(images[order], dtype=np.float32)
    y = np.ascontiguousarray(labels[order], dtype=np.int64)
    os.makedirs(args.out, exist_ok=True)
    np.save(os.path.join(args.out, "calibration_inputs.npy"), x)
    np.save(os.path.join(args.out, "calibration_labels.npy"), y)
    print(f"wrote {x.shape} float32 and {y.shape} int64 to {os.path.normpath(args.out)}")


if __name__ == "__main__":
    main()
