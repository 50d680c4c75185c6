"""Export the tiny ViT and text encoder architectures at a realistic size, for speed only.

Owns: the "ViT-Tiny-like" rows of BENCHMARKS.md's transformer section. The
committed models (16/24 tokens, dim 64, 2 blocks) are so small that every
primitive's fixed cost outweighs its arithmetic; this script writes the same
graphs (tools/tiny_transformer.py blocks, same exporter) at ViT-Tiny's width
(dim 192, 3 heads, MLP 768) and 4 blocks, with seeded random weights (speed
does not depend on training), plus the inputs bench/transformer_bench.sh
feeds them:

  vit_192_op13.onnx, vit_192_op17.onnx   4x4 patches of a 28x28 image: 49 tokens
  text_192.onnx                          64 tokens (opset 13), INT64 ids + mask
  *_calibration.npy / *_input*.npy       Fashion-MNIST images (calibration
                                         and requests); random token ids with
                                         padded tails for the text encoder

  /usr/bin/python3 tools/export_transformer_sizes.py --out build/transformer_bench
"""

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fashion_mnist  # noqa: E402
from onnx_export import MAX_OPSET, OPSET, export_onnx  # noqa: E402
from tiny_transformer import seed_everything  # noqa: E402
from train_text_encoder import VOCAB, TextEncoder  # noqa: E402
from train_tiny_vit import TinyViT  # noqa: E402

DIM, HEADS, MLP, DEPTH = 192, 3, 768, 4
TEXT_LEN = 64


def text_inputs(n, seed):
    """n random sequences of TEXT_LEN ids; each keeps 32..64 leading positions."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(2, VOCAB, size=(n, TEXT_LEN), dtype=np.int64)
    mask = np.zeros((n, TEXT_LEN), dtype=np.int64)
    for i, length in enumerate(rng.integers(TEXT_LEN // 2, TEXT_LEN + 1, size=n)):
        mask[i, :length] = 1
        ids[i, length:] = 0
    return ids, mask


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    seed_everything(args.seed)
    vit = TinyViT(patch=4, dim=DIM, depth=DEPTH, heads=HEADS, mlp_dim=MLP)
    x_train, _ = fashion_mnist.load_train()
    for opset in (OPSET, MAX_OPSET):
        name = f"vit_{DIM}_op{opset}"
        export_onnx(vit, os.path.join(args.out, f"{name}.onnx"), torch.from_numpy(x_train[:1]), opset=opset)
        np.save(os.path.join(args.out, f"{name}_calibration.npy"), x_train[:200])
        np.save(os.path.join(args.out, f"{name}_input0.npy"), x_train[-16:])

    text = TextEncoder(dim=DIM, depth=DEPTH, heads=HEADS, mlp_dim=MLP)
    ids, mask = text_inputs(16, args.seed)
    axes = {0: "batch", 1: "sequence"}
    name = f"text_{DIM}"
    export_onnx(text, os.path.join(args.out, f"{name}.onnx"),
                (torch.from_numpy(ids[:2]), torch.from_numpy(mask[:2])),
                input_names=("input_ids", "attention_mask"),
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "logits": {0: "batch"}})
    np.save(os.path.join(args.out, f"{name}_input0.npy"), ids)
    np.save(os.path.join(args.out, f"{name}_input1.npy"), mask)
    cal_ids, cal_mask = text_inputs(128, args.seed + 1)
    np.savez(os.path.join(args.out, f"{name}_calibration.npz"), input_ids=cal_ids, attention_mask=cal_mask)
    print(f"wrote {name} and vit_{DIM}_op{{{OPSET},{MAX_OPSET}}} to {args.out}")


if __name__ == "__main__":
    main()
