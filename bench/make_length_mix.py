"""Writes a mixed-length request mix for q8bench --request_mix: an .npz with
one group per request, "r0000/input_ids" + "r0000/attention_mask" (int64
[1, L], every position a real token: [CLS] then random body tokens of the
text encoder's vocabulary), lengths drawn per request.

  /usr/bin/python3 bench/make_length_mix.py OUT.npz [--requests 256]
      [--min 4] [--max 64] [--distribution uniform|short] [--seed 1]

"short" draws lengths as most text traffic looks: many short requests, a long
tail (a geometric distribution with mean ~16 tokens above --min, cut at --max).
"""
import argparse

import numpy as np

CLS, FIRST_BODY, VOCAB = 1, 21, 64  # tools/train_text_encoder.py's vocabulary


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--requests", type=int, default=256)
    ap.add_argument("--min", type=int, default=4)
    ap.add_argument("--max", type=int, default=64)
    ap.add_argument("--distribution", choices=("uniform", "short"), default="uniform")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    if args.distribution == "uniform":
        lengths = rng.integers(args.min, args.max + 1, size=args.requests)
    else:
        lengths = np.minimum(args.min + rng.geometric(1 / 16, size=args.requests) - 1, args.max)
    arrays = {}
    for i, length in enumerate(lengths):
        ids = rng.integers(FIRST_BODY, VOCAB, size=(1, int(length))).astype(np.int64)
        ids[0, 0] = CLS
        arrays[f"r{i:04d}/input_ids"] = ids
        arrays[f"r{i:04d}/attention_mask"] = np.ones((1, int(length)), np.int64)
    np.savez(args.out, **arrays)
    print(f"{args.out}: {args.requests} requests, lengths {lengths.min()}..{lengths.max()}, "
          f"{len(set(lengths.tolist()))} distinct, mean {lengths.mean():.1f}")


if __name__ == "__main__":
    main()
