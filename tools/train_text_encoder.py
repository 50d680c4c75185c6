"""Train and export a small transformer text encoder on a synthetic negation task.

Owns: tests/data/text_encoder.onnx (opset 13) and its fixtures
text_test_{ids,mask,labels}.npy, text_encoder_golden.npy,
text_calib_{ids,mask}.npy, and the "text_encoder" entry of
tests/data/transformer_models.json.

The task (binary sentiment; generate() below is the whole definition):
a sequence is [CLS] followed by 8..23 body tokens drawn from 40 distractor
words. One sentiment word (8 positive, 8 negative ids) sits somewhere in
the body. With probability 1/2 a negation word (3 ids) stands 1..3 positions
before it and flips its polarity; independently with probability 1/2 a
*decoy* negation stands where it does not apply (after the sentiment word,
or 5 or more positions before it). The label is the effective polarity.
Whether a negation applies depends only on where it stands, so a
bag-of-words model cannot know it when exactly one negation is present: its
ceiling is about 75 %, which the script measures (logistic regression and an
MLP on token counts) and records next to the transformer's accuracy.

Inputs: "input_ids" int64 [batch, sequence] and "attention_mask" int64
[batch, sequence] (1 token, 0 padding), both axes dynamic; output "logits"
[batch, 2]. The committed test set is padded to 24 with PAD=0, mask 0.
Model: token embeddings + fixed sinusoidal positions, 2 pre-norm encoder blocks
(dim 64, 4 heads, GELU MLP 128; tools/tiny_transformer.py), additive mask
bias -1e4 on padded keys, masked mean pooling over tokens, final LayerNorm,
a Linear head. Seeded and deterministic.

Usage: /usr/bin/python3 tools/train_text_encoder.py [--out tests/data] [--epochs 10]
"""

import argparse
import math
import os

# Idle OpenMP threads sleep instead of spinning: on a shared 2-core box
# spinning libgomp barriers took 88 % of the training time (perf).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_numpy_ref  # noqa: E402
from onnx_export import OPSET, export_onnx  # noqa: E402
from tiny_transformer import Block, Linear, seed_everything, warmup_cosine  # noqa: E402
from train_tiny_vit import update_json  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "tests", "data")

PAD, CLS = 0, 1
POSITIVE = list(range(2, 10))
NEGATIVE = list(range(10, 18))
NEGATION = list(range(18, 21))
DISTRACTOR = list(range(21, 61))
VOCAB = 64
MAX_LEN = 24  # [CLS] + at most 23 body tokens
# Rows of the position table (like BERT's max_position_embeddings): more than
# the data's MAX_LEN because q8serve checks a model's shapes at load with its
# dynamic axes at 32 and 48 (engine/plan/shape_inference.h), and a table of
# 24 rows sliced to 32 fails there. Rows < 24 are all training ever used.
MAX_POSITIONS = 64
WINDOW = 3    # a negation applies when it stands 1..WINDOW positions before
DECOY_GAP = 5  # a decoy before the sentiment word stands at least this far


def generate(n, seed):
    """n sequences padded to MAX_LEN: (ids int64 [n,24], mask int64 [n,24], labels int64 [n])."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((n, MAX_LEN), np.int64)
    mask = np.zeros((n, MAX_LEN), np.int64)
    labels = np.zeros(n, np.int64)
    for i in range(n):
        length = int(rng.integers(8, MAX_LEN))  # body length 8..23
        body = rng.choice(DISTRACTOR, size=length)
        p = int(rng.integers(WINDOW, length))  # sentiment position, room for a window
        positive = bool(rng.integers(2))
        body[p] = rng.choice(POSITIVE if positive else NEGATIVE)
        negated = bool(rng.integers(2))
        if negated:
            body[p - int(rng.integers(1, WINDOW + 1))] = rng.choice(NEGATION)
        if rng.integers(2):
            spots = [q for q in range(length) if q > p or q <= p - DECOY_GAP]
            if spots:
                body[int(rng.choice(spots))] = rng.choice(NEGATION)
        ids[i, 0] = CLS
        ids[i, 1:length + 1] = body
        mask[i, :length + 1] = 1
        labels[i] = int(positive != negated)
    return ids, mask, labels


def sinusoidal_positions(length, dim):
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    return table[None]


class TextEncoder(nn.Module):
    def __init__(self, dim=64, depth=2, heads=4, mlp_dim=128, classes=2):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dim)
        # Fixed sinusoidal positions: relative offsets (is the negation 1..3
        # before?) are linear in them, which learned positions took several
        # epochs longer to find.
        self.register_buffer("pos", sinusoidal_positions(MAX_POSITIONS, dim))
        self.blocks = nn.ModuleList([Block(dim, heads, mlp_dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = Linear(dim, classes)

    def forward(self, input_ids, attention_mask):
        x = self.tok(input_ids) + self.pos[:, :input_ids.shape[1]]
        bias = (1.0 - attention_mask.to(torch.float32))[:, None, None, :] * -10000.0
        for block in self.blocks:
            x = block(x, bias)
        # Masked mean over tokens: the pooled vector sees every position from
        # the first step (the [CLS] vector alone plateaued at 50 % for an epoch).
        keep = attention_mask.to(torch.float32)[:, :, None]
        return self.head(self.norm((x * keep).sum(dim=1) / keep.sum(dim=1)))


@torch.no_grad()
def predict(model, ids, mask, batch=500):
    model.eval()
    return np.concatenate([model(torch.from_numpy(ids[i:i + batch]),
                                 torch.from_numpy(mask[i:i + batch])).numpy()
                           for i in range(0, len(ids), batch)]).astype(np.float32)


def train(model, ids, mask, labels, epochs, lr, seed, batch_size=128):
    n = len(ids)
    steps = epochs * ((n + batch_size - 1) // batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = warmup_cosine(opt, steps, warmup_steps=200)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    lengths = mask.sum(1)
    for epoch in range(epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(n, generator=gen).numpy()
        total, correct = 0.0, 0
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            s = int(lengths[idx].max())  # trim padding: variable sequence axis
            xb = torch.from_numpy(ids[idx, :s])
            mb = torch.from_numpy(mask[idx, :s])
            yb = torch.from_numpy(labels[idx])
            opt.zero_grad()
            logits = model(xb, mb)
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


def bag_of_words_baselines(tr, te, seed):
    """Test accuracy of logistic regression and a 2-layer MLP on token counts."""
    def counts(ids):
        c = np.zeros((len(ids), VOCAB), np.float32)
        np.add.at(c, (np.repeat(np.arange(len(ids)), ids.shape[1]), ids.ravel()), 1.0)
        c[:, PAD] = 0
        return torch.from_numpy(c)
    xtr, xte = counts(tr[0]), counts(te[0])
    ytr = torch.from_numpy(tr[2])
    out = {}
    for name, hidden in (("logistic_regression", 0), ("mlp_256", 256)):
        torch.manual_seed(seed)
        model = (nn.Linear(VOCAB, 2) if hidden == 0 else
                 nn.Sequential(nn.Linear(VOCAB, hidden), nn.ReLU(), nn.Linear(hidden, 2)))
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(8):
            perm = torch.randperm(len(xtr), generator=gen)
            for i in range(0, len(xtr), 256):
                idx = perm[i:i + 256]
                opt.zero_grad()
                nn.functional.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
                opt.step()
        with torch.no_grad():
            out[name] = float((model(xte).argmax(1).numpy() == te[2]).mean())
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--train", type=int, default=24000)
    ap.add_argument("--test", type=int, default=4000)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)

    # Disjoint generator seeds: train, test and calibration are independent draws.
    tr = generate(args.train, seed=1000 + args.seed)
    te = generate(args.test, seed=2000 + args.seed)
    cal = generate(256, seed=3000 + args.seed)
    bow = bag_of_words_baselines(tr, te, args.seed)
    print(f"bag-of-words baselines: {bow}", flush=True)

    seed_everything(args.seed)
    model = TextEncoder()
    params = int(sum(p.numel() for p in model.parameters()))
    print(f"text_encoder: {params} params, {args.epochs} epochs", flush=True)
    t0 = time.time()
    train(model, *tr, args.epochs, args.lr, args.seed)
    train_s = time.time() - t0
    golden = predict(model, te[0], te[1])
    acc = float((golden.argmax(1) == te[2]).mean())
    print(f"text_encoder: trained in {train_s:.0f}s, test accuracy {acc:.4f}", flush=True)

    for name, arr in (("text_test_ids", te[0]), ("text_test_mask", te[1]),
                      ("text_test_labels", te[2]), ("text_encoder_golden", golden),
                      ("text_calib_ids", cal[0]), ("text_calib_mask", cal[1])):
        np.save(os.path.join(args.out, f"{name}.npy"), arr)

    axes = {0: "batch", 1: "sequence"}
    sample = (torch.from_numpy(te[0][:2, :20]), torch.from_numpy(te[1][:2, :20]))
    m = export_onnx(model, os.path.join(args.out, "text_encoder.onnx"), sample,
                    input_names=("input_ids", "attention_mask"),
                    dynamic_axes={"input_ids": axes, "attention_mask": axes,
                                  "logits": {0: "batch"}})
    ops = sorted({n.op_type for n in m.graph.node})
    # Independent check with the numpy interpreter: padded to 32, and trimmed
    # to a shorter sequence axis (dynamic sequence length).
    ref = onnx_numpy_ref.run(m, {"input_ids": te[0][:64], "attention_mask": te[1][:64]})["logits"]
    short = te[1][:64].sum(1) <= 16
    ref16 = onnx_numpy_ref.run(m, {"input_ids": te[0][:64][short, :16],
                                   "attention_mask": te[1][:64][short, :16]})["logits"]
    diff = float(max(np.abs(ref - golden[:64]).max(),
                     np.abs(ref16 - golden[:64][short]).max()))
    print(f"text_encoder.onnx: ops {ops}; numpy-ONNX vs torch max|diff| {diff:.3g}", flush=True)
    if diff > 1e-3:
        raise SystemExit("text_encoder.onnx disagrees with torch")

    update_json(os.path.join(args.out, "transformer_models.json"), "text_encoder", {
        "exports": {f"opset{OPSET}": {"file": "text_encoder.onnx", "op_types": ops,
                                      "nodes": len(m.graph.node),
                                      "numpy_onnx_max_abs_diff": diff}},
        "golden": "text_encoder_golden.npy",
        "golden_inputs": "text_test_ids.npy + text_test_mask.npy",
        "labels": "text_test_labels.npy",
        "calibration": "text_calib_ids.npy + text_calib_mask.npy (256 training-distribution "
                       "sequences, generator seed 3000)",
        "inputs": [{"name": "input_ids", "shape": ["batch", "sequence"], "dtype": "int64"},
                   {"name": "attention_mask", "shape": ["batch", "sequence"], "dtype": "int64",
                    "meaning": "1 token, 0 padding"}],
        "output": {"name": "logits", "shape": ["batch", 2]},
        "task": "sentiment word polarity flipped by a negation 1..3 positions before it; "
                "decoy negations elsewhere; see tools/train_text_encoder.py",
        "vocab": VOCAB, "max_len": MAX_LEN, "position_table_rows": MAX_POSITIONS,
        "architecture": "dim 64, depth 2, 4 heads, MLP 128 GELU, pre-norm, masked mean pooling",
        "params": params,
        "train_sequences": args.train, "test_sequences": args.test,
        "epochs": args.epochs,
        "optimizer": f"AdamW lr={args.lr} wd=0.01, warm-up 200 steps + cosine, batch 128",
        "seed": args.seed,
        "train_seconds_2_threads": round(train_s),
        "test_accuracy": acc,
        "bag_of_words_test_accuracy": bow,
    })


if __name__ == "__main__":
    main()
