"""Train and export a tiny Vision Transformer on Fashion-MNIST.

Owns: tests/data/tiny_vit_op13.onnx (LayerNorm decomposed by the exporter
into ReduceMean/Sub/Pow/Sqrt/Div), tests/data/tiny_vit_op17.onnx
(LayerNormalization nodes), tests/data/tiny_vit_golden.npy (PyTorch
eval-mode float32 logits for tests/data/fashion_test_images.npy, the first
1000 test images) and the "tiny_vit" entry of
tests/data/transformer_models.json.

The model: 7x7 patches embedded by a Conv with stride 7 (16 tokens), learned
position embeddings, pre-norm encoder blocks (LayerNorm, 4-head
self-attention, GELU MLP; tools/tiny_transformer.py), a final LayerNorm, mean
pooling over tokens and a Linear head. Input "input" [batch,1,28,28] raw
pixels/255 as for fashion_cnn, output "logits" [batch,10]. Seeded,
deterministic kernels: reruns on the same torch build give the same weights.
torch 1.13's exporter writes opsets 7..17; 17 is its newest.

Usage: /usr/bin/python3 tools/train_tiny_vit.py [--out tests/data] [--epochs 5]
"""

import argparse
import json
import os

# Idle OpenMP threads sleep instead of spinning: on a shared 2-core box
# spinning libgomp barriers took 88 % of the training time (perf).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fashion_mnist  # noqa: E402
import onnx_numpy_ref  # noqa: E402
from onnx_export import MAX_OPSET, OPSET, export_onnx  # noqa: E402
from tiny_transformer import Block, Linear, seed_everything, warmup_cosine  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "tests", "data")
NUM_COMMITTED = 1000  # tests/data/fashion_test_images.npy holds the first 1000


class TinyViT(nn.Module):
    def __init__(self, patch=7, dim=64, depth=2, heads=4, mlp_dim=128, classes=10):
        super().__init__()
        tokens = (28 // patch) ** 2
        self.embed = nn.Conv2d(1, dim, kernel_size=patch, stride=patch)
        self.pos = nn.Parameter(torch.randn(1, tokens, dim) * 0.02)
        self.blocks = nn.ModuleList([Block(dim, heads, mlp_dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = Linear(dim, classes)

    def forward(self, x):
        x = self.embed(x).flatten(2).transpose(1, 2) + self.pos  # [B, T, D]
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x).mean(dim=1))


@torch.no_grad()
def predict(model, images, batch=500):
    model.eval()
    return np.concatenate([model(torch.from_numpy(images[i:i + batch])).numpy()
                           for i in range(0, len(images), batch)]).astype(np.float32)


def train(model, x_train, y_train, epochs, lr, seed, batch_size=128):
    """AdamW, warm-up + cosine. No augmentation: a few epochs underfit already
    (with 1-pixel shifts and label smoothing, 3 epochs gave 84.3 %)."""
    x = torch.from_numpy(x_train)
    y = torch.from_numpy(y_train)
    n = len(x)
    steps = epochs * ((n + batch_size - 1) // batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    sched = warmup_cosine(opt, steps, warmup_steps=300)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(n, generator=gen)
        total, correct = 0.0, 0
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            xb, yb = x[idx], y[idx]
            opt.zero_grad()
            logits = model(xb)
            loss = loss_fn(logits, yb)
            loss.backward()
            opt.step()
            sched.step()
            if (i // batch_size) % 100 == 99:
                print(f"    step {i // batch_size + 1}: loss {float(loss):.4f} "
                      f"({time.time() - t0:.0f}s)", flush=True)
            total += float(loss) * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
        print(f"  epoch {epoch + 1}/{epochs}: loss {total / n:.4f} train-acc "
              f"{correct / n:.4f} ({time.time() - t0:.1f}s)", flush=True)


def update_json(path, name, entry):
    meta = {}
    if os.path.exists(path):
        with open(path) as f:
            meta = json.load(f)
    meta.setdefault("models", {})[name] = entry
    meta["torch_version"] = torch.__version__
    meta["onnx_version"] = onnx.__version__
    with open(path, "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)

    x_train, y_train = fashion_mnist.load_train()
    x_test, y_test = fashion_mnist.load_test()
    x_fix = np.ascontiguousarray(x_test[:NUM_COMMITTED])

    seed_everything(args.seed)
    model = TinyViT()
    params = int(sum(p.numel() for p in model.parameters()))
    print(f"tiny_vit: {params} params, {args.epochs} epochs", flush=True)
    t0 = time.time()
    train(model, x_train, y_train, args.epochs, args.lr, args.seed)
    train_s = time.time() - t0
    full = predict(model, x_test)
    acc = float((full.argmax(1) == y_test).mean())
    golden = full[:NUM_COMMITTED]
    print(f"tiny_vit: trained in {train_s:.0f}s, test accuracy {acc:.4f} on "
          f"{len(y_test)}", flush=True)
    np.save(os.path.join(args.out, "tiny_vit_golden.npy"), golden)

    files = {}
    for opset in (OPSET, MAX_OPSET):
        fname = f"tiny_vit_op{opset}.onnx"
        m = export_onnx(model, os.path.join(args.out, fname),
                        torch.from_numpy(x_fix[:1]), opset=opset)
        ops = sorted({n.op_type for n in m.graph.node})
        # Independent check of the file with the numpy interpreter, batch 1 and 64.
        ref = onnx_numpy_ref.run(m, {"input": x_fix[:64]})["logits"]
        ref1 = onnx_numpy_ref.run(m, {"input": x_fix[:1]})["logits"]
        diff = float(max(np.abs(ref - golden[:64]).max(), np.abs(ref1 - golden[:1]).max()))
        print(f"{fname}: ops {ops}; numpy-ONNX vs torch max|diff| {diff:.3g}", flush=True)
        if diff > 1e-3:
            raise SystemExit(f"{fname}: exported ONNX disagrees with torch")
        files[f"opset{opset}"] = {"file": fname, "op_types": ops,
                                  "nodes": len(m.graph.node),
                                  "numpy_onnx_max_abs_diff": diff}

    update_json(os.path.join(args.out, "transformer_models.json"), "tiny_vit", {
        "exports": files,
        "golden": "tiny_vit_golden.npy",
        "golden_inputs": "fashion_test_images.npy (first 1000 test images)",
        "input": {"name": "input", "shape": ["batch", 1, 28, 28], "dtype": "float32",
                  "preprocessing": "raw uint8 pixels / 255"},
        "output": {"name": "logits", "shape": ["batch", 10]},
        "architecture": "patch 7 (16 tokens), dim 64, depth 2, 4 heads, MLP 128 GELU, "
                        "pre-norm, mean pooling",
        "params": params,
        "epochs": args.epochs,
        "optimizer": f"AdamW lr={args.lr} wd=0.05, warm-up 300 steps + cosine, batch 128",
        "seed": args.seed,
        "train_seconds_2_threads": round(train_s),
        "test_accuracy_full_10000": acc,
        "golden_abs_max": float(np.abs(golden).max()),
    })


if __name__ == "__main__":
    main()
