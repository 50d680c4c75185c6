"""Train and export a MobileNet-style depthwise-separable CNN on Fashion-MNIST.

Owns: the committed fixtures of the cross-layer-equalization work
(issue #13 items 6 and 7):

  fashion_mobilenet.onnx         opset 13, input "input" [N,1,28,28] float32
                                 (raw pixels/255), output "logits" [N,10],
                                 dynamic batch axis; BatchNorm folded into
                                 the convs by the exporter
  fashion_mobilenet_golden.npy   PyTorch eval-mode float32 logits for the
                                 committed tests/data/fashion_test_images.npy
                                 (the first 1000 test images), [1000,10]
  fashion_mobilenet.json         accuracy, parameter count, ONNX op types,
                                 seed, epochs, and the per-conv spread of
                                 per-output-channel weight ranges after BN
                                 folding (max/min of max|W[o]| over o)

Architecture: a 3x3 stem conv, then depthwise-separable blocks (depthwise
3x3 conv + BN + ReLU -> pointwise 1x1 conv + BN + ReLU), global average
pooling and a linear classifier. Plain ReLU, not ReLU6: ReLU is positively
homogeneous (relu(x/s) = relu(x)/s for s > 0), so cross-layer equalization
can rescale across it exactly; a ReLU6 clip at a fixed 6 is not (the clip
would move to 6*s), and q8serve's equalization leaves such links alone.

Weight-range spread: after BN folding the per-output-channel ranges of
this model differ by at most ~7x (stem 5.8x, first depthwise 6.9x, the rest
2-3x; the json has them), not the orders of magnitude of long-trained
ImageNet MobileNets (Nagel et al. 2019, section 3.1). Two attempts to grow
them within the time budget did not: L2 5e-4 on all parameters over the
full 60 000 images (largest 11.6x) and an L1 penalty 2e-4 on the BN gammas
(network slimming; largest 6.2x). The 1000x case is covered by the
synthetic models of tests/unit/engine/equalize_cross_layer_test.cc.

Training is seeded and uses deterministic kernels (same weights on the same
torch build); 2 epochs over the first 30 000 training images, about
2 CPU-minutes (one thread; longer wall time on a busy machine). The exported file is checked with
onnx.checker and with the numpy ONNX interpreter against the PyTorch logits.

Usage:
  /usr/bin/python3 tools/train_mobilenet_fashion.py [--out tests/data]
      [--epochs 2] [--train-images 30000] [--threads 1] [--seed 0]
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fashion_mnist  # noqa: E402
import onnx_numpy_ref  # noqa: E402
from onnx_export import OPSET, export_onnx  # noqa: E402
from train_fashion_models import (NUM_COMMITTED, accuracy, count_params,  # noqa: E402
                                  op_summary, predict, seed_everything, train)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "tests", "data")
NAME = "fashion_mobilenet"

# (channels out, stride) of each depthwise-separable block after the stem
# (a stride-2 stem: 14x14 and 7x7 maps keep training within minutes on 2 cores).
BLOCKS = [(32, 1), (64, 2), (64, 1), (128, 1)]
STEM = 16


def separable(cin, cout, stride):
    """Depthwise 3x3 + BN + ReLU, then pointwise 1x1 + BN + ReLU."""
    return [
        nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin, bias=False),
        nn.BatchNorm2d(cin),
        nn.ReLU(),
        nn.Conv2d(cin, cout, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
    ]


def make_mobilenet():
    layers = [nn.Conv2d(1, STEM, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(STEM), nn.ReLU()]
    cin = STEM
    for cout, stride in BLOCKS:
        layers += separable(cin, cout, stride)
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 10)]
    return nn.Sequential(*layers)


def channel_range_spread(m):
    """Per Conv initializer of the exported graph: max/min over output
    channels of max|W[o]| (after BN folding), plus whether it is depthwise."""
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in m.graph.initializer}
    out = {}
    for node in m.graph.node:
        if node.op_type != "Conv":
            continue
        w = inits[node.input[1]]
        r = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        out[node.name] = {
            "depthwise": bool(group > 1 and group == w.shape[0]),
            "channels": int(w.shape[0]),
            "range_min": float(r.min()),
            "range_max": float(r.max()),
            "spread": float(r.max() / max(r.min(), 1e-30)),
        }
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--train-images", type=int, default=30000,
                    help="first N training images used (keeps the run within minutes)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    x_train, y_train = fashion_mnist.load_train()
    x_train, y_train = x_train[:args.train_images], y_train[:args.train_images]
    x_test, y_test = fashion_mnist.load_test()
    x_fix = np.ascontiguousarray(x_test[:NUM_COMMITTED])
    y_fix = np.ascontiguousarray(y_test[:NUM_COMMITTED])
    committed = os.path.join(REPO_ROOT, "tests", "data", "fashion_test_images.npy")
    if os.path.exists(committed) and not np.array_equal(np.load(committed), x_fix):
        raise SystemExit("tests/data/fashion_test_images.npy is not the first 1000 test images")

    seed_everything(args.seed)
    model = make_mobilenet()
    t0 = time.time()
    print(f"training {NAME} ({count_params(model)} params, {args.epochs} epochs)", flush=True)
    train(NAME, model, x_train, y_train, args.epochs, lr=2e-3, seed=args.seed)
    train_seconds = time.time() - t0
    model.eval()

    golden = predict(model, x_fix)
    acc_fix = accuracy(golden, y_fix)
    acc_full = accuracy(predict(model, x_test), y_test)
    print(f"{NAME}: test accuracy {acc_fix:.4f} on first {NUM_COMMITTED}, "
          f"{acc_full:.4f} on all {len(y_test)} ({train_seconds:.0f}s)", flush=True)
    np.save(os.path.join(args.out, f"{NAME}_golden.npy"), golden)

    m = export_onnx(model, os.path.join(args.out, f"{NAME}.onnx"), torch.from_numpy(x_fix[:1]))
    ops, counts = op_summary(m)
    spread = channel_range_spread(m)
    for name, s in spread.items():
        print(f"  {name:>12} {'dw' if s['depthwise'] else '  '} {s['channels']:>4} ch: "
              f"range {s['range_min']:.3g}..{s['range_max']:.3g} spread {s['spread']:.1f}x")

    ref = onnx_numpy_ref.run(m, {"input": x_fix})["logits"]
    ref1 = onnx_numpy_ref.run(m, {"input": x_fix[:1]})["logits"]
    diff = max(float(np.abs(ref - golden).max()), float(np.abs(ref1 - golden[:1]).max()))
    print(f"{NAME}: numpy-ONNX vs torch max|diff| {diff:.3g}", flush=True)
    if diff > 1e-3:
        raise SystemExit(f"{NAME}: exported ONNX disagrees with torch")

    meta = {
        "torch_version": torch.__version__,
        "onnx_version": onnx.__version__,
        "opset": OPSET,
        "seed": args.seed,
        "epochs": args.epochs,
        "train_images": len(y_train),
        "optimizer": "Adam lr=0.002 cosine decay, batch 128",
        "blocks": [{"channels": c, "stride": s} for c, s in BLOCKS],
        "activation": "ReLU (positively homogeneous; see the script's docstring)",
        "params": count_params(model),
        "test_accuracy_first_1000": acc_fix,
        "test_accuracy_full_10000": acc_full,
        "golden": f"{NAME}_golden.npy",
        "golden_images": "fashion_test_images.npy",
        "onnx_nodes": ops,
        "onnx_op_counts": counts,
        "numpy_onnx_max_abs_diff": diff,
        "weight_range_spread_after_bn_folding": spread,
    }
    with open(os.path.join(args.out, f"{NAME}.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
