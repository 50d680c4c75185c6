"""Train and export the small Fashion-MNIST test models for q8serve.

Owns: the committed test fixtures in tests/data/ that come from
Fashion-MNIST:

  fashion_cnn.onnx, fashion_mlp.onnx     exported models (opset 13,
                                         input "input" [N,1,28,28] float32
                                         raw pixels/255, output "logits"
                                         [N,10], dynamic batch axis)
  fashion_test_images.npy                first 1000 test images, float32
                                         [1000,1,28,28] in [0,1]
  fashion_test_labels.npy                their labels, int64 [1000]
  fashion_{cnn,mlp}_golden.npy           PyTorch eval-mode float32 logits
                                         for those images, [1000,10]
  fashion_models.json                    accuracies, parameter counts,
                                         ONNX op types, versions, seed,
                                         epochs

Training is seeded and run with deterministic algorithms, so re-running on
the same torch build reproduces the same weights.  After export every graph
is checked with onnx.checker and, as an independent cross-check, run by the
small numpy ONNX interpreter in tools/onnx_numpy_ref.py and compared with
the PyTorch golden logits.

Usage:
  /usr/bin/python3 tools/train_fashion_models.py [--out tests/data]
      [--epochs-cnn 5] [--epochs-mlp 5] [--threads 2] [--seed 0]
"""

import argparse
import collections
import json
import os
import random
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn

# Allow running as "python3 tools/train_fashion_models.py" from anywhere.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fashion_mnist  # noqa: E402
import onnx_numpy_ref  # noqa: E402
from onnx_export import OPSET, export_onnx  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "tests", "data")
NUM_COMMITTED = 1000  # how many test images are committed with goldens


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------

def make_cnn():
    """Two conv+BN+ReLU+pool blocks followed by a two-layer classifier."""
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, kernel_size=3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def make_mlp():
    """Plain three-layer perceptron on the flattened 28x28 image."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 256),
        nn.ReLU(),
        nn.Linear(256, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


# Per-model training recipe: constructor, epochs option name, learning rate.
MODELS = collections.OrderedDict([
    ("fashion_cnn", dict(make=make_cnn, lr=1e-3)),
    ("fashion_mlp", dict(make=make_mlp, lr=1e-3)),
])


# --------------------------------------------------------------------------
# Training / evaluation helpers
# --------------------------------------------------------------------------

def seed_everything(seed):
    """Fix every RNG we touch and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def count_params(model):
    return int(sum(p.numel() for p in model.parameters()))


@torch.no_grad()
def predict(model, images, batch=1000):
    """Eval-mode float32 logits for a numpy image array, as numpy."""
    model.eval()
    out = []
    for i in range(0, len(images), batch):
        out.append(model(torch.from_numpy(images[i:i + batch])).numpy())
    return np.concatenate(out).astype(np.float32)


def accuracy(logits, labels):
    return float((logits.argmax(axis=1) == labels).mean())


def train(name, model, x_train, y_train, epochs, lr, seed, batch_size=128):
    """Adam with a cosine learning-rate decay over all steps.

    Shuffling uses a dedicated seeded torch.Generator so the order does not
    depend on how much randomness model construction consumed.
    """
    x = torch.from_numpy(x_train)
    y = torch.from_numpy(y_train)
    n = len(x)
    steps_per_epoch = (n + batch_size - 1) // batch_size
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=epochs * steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(n, generator=gen)
        total_loss, correct = 0.0, 0
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            xb, yb = x[idx], y[idx]
            opt.zero_grad()
            logits = model(xb)
            loss = loss_fn(logits, yb)
            loss.backward()
            opt.step()
            sched.step()
            total_loss += float(loss) * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
        print(f"  [{name}] epoch {epoch + 1}/{epochs}: loss {total_loss / n:.4f} "
              f"train-acc {correct / n:.4f} ({time.time() - t0:.1f}s)", flush=True)


# --------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------

def op_summary(m):
    """Ordered list of node op types plus a count per op type."""
    ops = [n.op_type for n in m.graph.node]
    return ops, dict(collections.Counter(ops))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT,
                    help="output directory (default: <repo>/tests/data)")
    ap.add_argument("--epochs-cnn", type=int, default=5)
    ap.add_argument("--epochs-mlp", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2,
                    help="torch intra-op threads (keep small on shared boxes)")
    ap.add_argument("--no-verify", action="store_true",
                    help="skip the numpy ONNX interpreter cross-check")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)

    x_train, y_train = fashion_mnist.load_train()
    x_test, y_test = fashion_mnist.load_test()
    x_fix = np.ascontiguousarray(x_test[:NUM_COMMITTED])
    y_fix = np.ascontiguousarray(y_test[:NUM_COMMITTED])
    np.save(os.path.join(args.out, "fashion_test_images.npy"), x_fix)
    np.save(os.path.join(args.out, "fashion_test_labels.npy"), y_fix)

    epochs = {"fashion_cnn": args.epochs_cnn, "fashion_mlp": args.epochs_mlp}
    meta = {
        "torch_version": torch.__version__,
        "onnx_version": onnx.__version__,
        "numpy_version": np.__version__,
        "opset": OPSET,
        "seed": args.seed,
        "input": {"name": "input", "shape": ["batch", 1, 28, 28],
                  "dtype": "float32", "range": [0.0, 1.0],
                  "preprocessing": "raw uint8 pixels / 255, no mean/std"},
        "output": {"name": "logits", "shape": ["batch", 10], "dtype": "float32"},
        "committed_images": NUM_COMMITTED,
        "committed_images_source": "first 1000 images of t10k (test split)",
        "models": {},
    }

    for idx, (name, spec) in enumerate(MODELS.items()):
        # Re-seed per model so each model's weights do not depend on the
        # other models being trained first.
        seed_everything(args.seed + idx)
        model = spec["make"]()
        t0 = time.time()
        print(f"training {name} ({count_params(model)} params, "
              f"{epochs[name]} epochs)", flush=True)
        train(name, model, x_train, y_train, epochs[name], spec["lr"],
              seed=args.seed + idx)
        print(f"{name}: trained in {time.time() - t0:.1f}s", flush=True)
        model.eval()

        golden = predict(model, x_fix)
        acc_fix = accuracy(golden, y_fix)
        acc_full = accuracy(predict(model, x_test), y_test)
        print(f"{name}: test accuracy {acc_fix:.4f} on first {NUM_COMMITTED}, "
              f"{acc_full:.4f} on all {len(y_test)}", flush=True)
        np.save(os.path.join(args.out, f"{name}_golden.npy"), golden)

        onnx_path = os.path.join(args.out, f"{name}.onnx")
        m = export_onnx(model, onnx_path, torch.from_numpy(x_fix[:1]))
        ops, counts = op_summary(m)
        print(f"{name}: ONNX nodes {ops}", flush=True)

        entry = {
            "file": f"{name}.onnx",
            "golden": f"{name}_golden.npy",
            "params": count_params(model),
            "epochs": epochs[name],
            "optimizer": f"Adam lr={spec['lr']} cosine decay, batch 128",
            "test_accuracy_first_1000": acc_fix,
            "test_accuracy_full_10000": acc_full,
            "onnx_nodes": ops,
            "onnx_op_counts": counts,
            "onnx_initializers": len(m.graph.initializer),
        }

        if not args.no_verify:
            # Independent check of the exported file: run it with the numpy
            # interpreter (at two batch sizes, exercising the dynamic axis).
            ref = onnx_numpy_ref.run(m, {"input": x_fix})["logits"]
            ref1 = onnx_numpy_ref.run(m, {"input": x_fix[:1]})["logits"]
            diff = float(np.abs(ref - golden).max())
            diff1 = float(np.abs(ref1 - golden[:1]).max())
            same_argmax = float((ref.argmax(1) == golden.argmax(1)).mean())
            print(f"{name}: numpy-ONNX vs torch max|diff| {diff:.3g} "
                  f"(batch 1: {diff1:.3g}), argmax agreement {same_argmax:.4f}",
                  flush=True)
            if diff > 1e-3 or diff1 > 1e-3:
                raise SystemExit(f"{name}: exported ONNX disagrees with torch")
            entry["numpy_onnx_max_abs_diff"] = max(diff, diff1)
            entry["golden_abs_max"] = float(np.abs(golden).max())

        meta["models"][name] = entry

    with open(os.path.join(args.out, "fashion_models.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")

    total = 0
    for fn in sorted(os.listdir(args.out)):
        size = os.path.getsize(os.path.join(args.out, fn))
        total += size
        print(f"  {size:>10}  {fn}")
    print(f"  {total:>10}  total in {args.out}")


if __name__ == "__main__":
    main()
