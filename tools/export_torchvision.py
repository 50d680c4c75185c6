"""Export randomly initialised torchvision CNNs to ONNX for q8serve tests.

Owns: the large-model test fixtures that are generated at CI/test time
(never committed; nothing is written unless --out is given):

  <out>/<name>.onnx          opset 13, input "input" [N,3,224,224] float32,
                             output "logits" [N,1000], dynamic batch axis
  <out>/<name>_input.npy     float32 [4,3,224,224] seeded standard normal
  <out>/<name>_golden.npy    PyTorch eval-mode float32 logits for that input
  <out>/torchvision_models.json   op types, logit statistics, versions

Models: resnet18, resnet50, mobilenet_v2, built with weights=None (no
download) after torch.manual_seed(0).

Why the weights are conditioned after construction: a freshly built
network has running_mean=0 / running_var=1 and weight=1 / bias=0 in every
BatchNorm, so in eval mode each BN is an identity and activations drift
layer by layer (with torch 1.13 / torchvision 0.14 and seed 0: resnet50
max|logit| ~112, mobilenet_v2 ~3e-9).  Worse, for i.i.d. noise inputs the
globally pooled features of such a random net are almost the same for
every image, so all inputs get the same argmax, and a test could not tell
batch items apart.  Purely random BN statistics (mean ~ N(0,0.1), var ~
U(0.5,1.5)) do not fix that (measured: max|logit| 0.17..0.9, identical
argmax for all 4 inputs, mobilenet_v2 saturating in ReLU6).  So:

  1. every BN gets seeded random affine parameters,
     weight ~ U(0.5, 1.0), bias ~ N(0, 0.1);
  2. every BN's running_mean / running_var is set to the exact batch
     statistics of its input on a separate seeded calibration batch (one
     train-mode forward with momentum=None), i.e. what a trained net's BN
     would hold; each BN output is then about unit-scale;
  3. the final Linear layer is centred and scaled on the calibration
     features so its logits have mean ~0 and std ~LOGIT_STD; this removes
     the input-independent offset that dominated the logits.

The script checks that the logits are finite, in a sane range and differ
between inputs, and fails otherwise.

Usage:
  /usr/bin/python3 tools/export_torchvision.py --out DIR
      [--models resnet18,resnet50,mobilenet_v2] [--seed 0] [--threads 2]
      [--verify]   # also run each .onnx with tools/onnx_numpy_ref.py (slow)
"""

import argparse
import collections
import json
import os
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_export import OPSET, export_onnx  # noqa: E402

BATCH = 4
ALL_MODELS = ("resnet18", "resnet50", "mobilenet_v2")

# Target standard deviation of the logits after classifier conditioning,
# and the acceptance checks applied to the golden logits.
LOGIT_STD = 2.0
LOGIT_ABS_MAX_RANGE = (1.0, 50.0)
MIN_BETWEEN_SAMPLE_RATIO = 0.3  # between-input std / overall std


def build(name):
    """Construct a torchvision model without pretrained weights."""
    ctor = getattr(torchvision.models, name)
    try:
        return ctor(weights=None)  # torchvision >= 0.13 API
    except TypeError:
        return ctor(pretrained=False)  # older torchvision


def random_input(seed):
    """Seeded standard-normal float32 image batch [BATCH,3,224,224]."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((BATCH, 3, 224, 224)).astype(np.float32)


@torch.no_grad()
def condition(model, seed, calib):
    """Re-initialise BatchNorms and the classifier (see module docstring).

    seed drives a dedicated generator for the BN affine parameters, so the
    result does not depend on how much randomness construction consumed;
    calib is the calibration batch (numpy) used for BN statistics and for
    centring/scaling the final Linear layer.  Returns the number of BNs.
    """
    gen = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        c = bn.num_features
        bn.weight.copy_(torch.rand(c, generator=gen) * 0.5 + 0.5)
        bn.bias.copy_(torch.randn(c, generator=gen) * 0.1)
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: one batch -> its exact stats

    # One train-mode forward fills every running_mean / running_var; the
    # hook captures what the classifier sees.  Dropout is active here but
    # it only acts after the last BN and we recompute the classifier input
    # statistics in eval mode below.
    fc = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    captured = {}
    hook = fc.register_forward_hook(
        lambda mod, inp, out: captured.__setitem__("x", inp[0]))
    model.train()
    model(torch.from_numpy(calib))
    model.eval()
    model(torch.from_numpy(calib))  # eval-mode classifier input
    hook.remove()
    for bn in bns:
        bn.momentum = 0.1  # restore the default; irrelevant in eval mode

    # Centre the classifier on the calibration features and scale it so
    # the logits have standard deviation LOGIT_STD.
    feats = captured["x"]
    fc.bias.sub_(fc.weight @ feats.mean(0))
    scale = LOGIT_STD / float(fc(feats).std())
    fc.weight.mul_(scale)
    fc.bias.mul_(scale)
    return len(bns)


def logit_stats(logits):
    """Summary numbers that tell whether the logits are well conditioned."""
    top2 = np.sort(logits, axis=1)[:, -2:]
    return {
        "abs_max": float(np.abs(logits).max()),
        "std": float(logits.std()),
        "mean": float(logits.mean()),
        # How much the logits vary between inputs, relative to overall.
        "between_input_std_ratio": float(logits.std(axis=0).mean() / logits.std()),
        "top1_top2_margin_min": float((top2[:, 1] - top2[:, 0]).min()),
        "argmax": [int(i) for i in logits.argmax(axis=1)],
    }


def export_one(name, out_dir, seed, verify):
    t0 = time.time()
    torch.manual_seed(seed)
    model = build(name)
    # Calibration batch uses a different seed from the golden input.
    n_bn = condition(model, seed, random_input(seed + 1))
    model.eval()

    x = random_input(seed)
    with torch.no_grad():
        golden = model(torch.from_numpy(x)).numpy().astype(np.float32)
    if not np.isfinite(golden).all():
        raise SystemExit(f"{name}: non-finite logits")
    stats = logit_stats(golden)
    lo, hi = LOGIT_ABS_MAX_RANGE
    if not lo <= stats["abs_max"] <= hi:
        raise SystemExit(f"{name}: badly conditioned logits, max|logit| "
                         f"{stats['abs_max']:.4g} outside [{lo}, {hi}]")
    if (stats["between_input_std_ratio"] < MIN_BETWEEN_SAMPLE_RATIO
            or len(set(stats["argmax"])) < 2):
        raise SystemExit(f"{name}: logits barely depend on the input "
                         f"({stats['between_input_std_ratio']:.3f}, argmax "
                         f"{stats['argmax']})")

    np.save(os.path.join(out_dir, f"{name}_input.npy"), x)
    np.save(os.path.join(out_dir, f"{name}_golden.npy"), golden)
    path = os.path.join(out_dir, f"{name}.onnx")
    m = export_onnx(model, path, torch.from_numpy(x[:1]))
    ops = collections.Counter(n.op_type for n in m.graph.node)
    entry = {
        "onnx": f"{name}.onnx",
        "input": f"{name}_input.npy",
        "golden": f"{name}_golden.npy",
        "params": int(sum(p.numel() for p in model.parameters())),
        "batchnorm_layers": n_bn,
        "onnx_bytes": os.path.getsize(path),
        "onnx_op_counts": dict(sorted(ops.items())),
        "logits": stats,
    }
    if verify:
        import onnx_numpy_ref
        ref = onnx_numpy_ref.run(m, {"input": x})["logits"]
        entry["numpy_onnx_max_abs_diff"] = float(np.abs(ref - golden).max())
    entry["seconds"] = round(time.time() - t0, 2)
    print(f"{name}: {entry['params']} params, {entry['onnx_bytes']} bytes, "
          f"ops {entry['onnx_op_counts']}, max|logit| {stats['abs_max']:.3f}, "
          f"std {stats['std']:.3f}, between-input ratio "
          f"{stats['between_input_std_ratio']:.2f}, argmax {stats['argmax']}, "
          f"min top1-top2 margin "
          f"{stats['top1_top2_margin_min']:.3f}"
          + (f", numpy-ONNX max|diff| {entry['numpy_onnx_max_abs_diff']:.3g}"
             if verify else "")
          + f" ({entry['seconds']}s)", flush=True)
    return entry


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True,
                    help="output directory (created if missing)")
    ap.add_argument("--models", default=",".join(ALL_MODELS),
                    help="comma-separated subset of " + ",".join(ALL_MODELS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--verify", action="store_true",
                    help="cross-check each .onnx with the numpy interpreter")
    args = ap.parse_args()

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in ALL_MODELS]
    if unknown:
        ap.error(f"unknown model(s) {unknown}; choose from {ALL_MODELS}")

    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    meta = {
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
        "opset": OPSET,
        "seed": args.seed,
        "input_shape": [BATCH, 3, 224, 224],
        "models": {n: export_one(n, args.out, args.seed, args.verify) for n in names},
    }
    meta["total_seconds"] = round(time.time() - t0, 2)
    with open(os.path.join(args.out, "torchvision_models.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"exported {len(names)} model(s) to {args.out} in "
          f"{meta['total_seconds']}s")


if __name__ == "__main__":
    main()
