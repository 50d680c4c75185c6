"""Export q8serve's model zoo: torchvision classifiers, a segmentation net,
an LSTM classifier and a small transformer encoder, with PyTorch goldens.

Owns: the fixtures of the model-zoo integration test
(tests/integration/model_zoo_test.cc), generated at test time into --out
(never committed; big):

  <out>/<name>.onnx               opset 13 (tools/onnx_export.py conventions),
                                  dynamic batch axis only
  <out>/<name>_in<k>.npy          the check inputs, one file per graph input
  <out>/<name>_golden.npy         PyTorch eval-mode float32 outputs for them
  <out>/<name>_calib.npy          calibration inputs (single-input models)
  <out>/<name>_calib.npz          calibration inputs of multi-input models, one array
                                  per graph input name (numpy.savez_compressed)
  <out>/zoo.json                  the manifest the test reads

A model whose manifest entry carries the current fingerprint (this script,
its helper modules, torch/torchvision versions, seed) and whose files are
all present is not exported again: re-running the fixture over the same
--out (the build tree's zoo/) costs seconds.

Weights are random (weights=None, torch.manual_seed(seed)), conditioned as
in tools/export_torchvision.py so outputs are O(1) and depend on the input:
BatchNorm statistics are set from a calibration-like batch and the final
Linear is re-drawn, centred and scaled on that batch. Without this, a fresh
ViT's zero-initialised head gives all-zero logits and fresh BatchNorms are
identities that let activations drift.

Image inputs are real pictures: Fashion-MNIST (tools/fashion_mnist.py)
resized to 128x128, replicated to 3 channels and normalised with the
ImageNet mean/std, i.e. what a torchvision classifier expects. ViT-B/16 is
built for that size (image_size=128: 8x8 patches, 65 tokens instead of 197,
which torchvision allows with weights=None); Swin-T takes any size (at 128
its 7x7 windows pad 32x32 to 35x35 in the first stage). Check inputs
come from the test split, calibration inputs from the training split. The
LSTM reads the 28 rows of a Fashion-MNIST image as 28 time steps. The
transformer reads seeded random token ids with a padding mask.

Usage:
  /usr/bin/python3 tools/export_zoo.py --out DIR [--models a,b] [--seed 0]
  (default: every model)
"""

import argparse
import collections
import hashlib
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fashion_mnist  # noqa: E402
from export_torchvision import condition  # noqa: E402
from onnx_export import OPSET  # noqa: E402

CHECK_BATCH = 8  # inputs compared against PyTorch and between fp32 and int8
CALIB_SMALL = 16  # calibration samples for models under BIG_FLOPS
CALIB_BIG = 6
LOGIT_STD = 2.0

# name -> (constructor, kind, big). kind: "cls" image classifier, "seg",
# "lstm", "text". big: fewer calibration samples (CI time).
TORCHVISION = {
    "resnet18": False, "resnet50": True, "resnext50_32x4d": True,
    "mobilenet_v2": False, "mobilenet_v3_small": False, "mobilenet_v3_large": False,
    "efficientnet_b0": False, "regnet_y_400mf": False, "shufflenet_v2_x1_0": False,
    "squeezenet1_1": False, "densenet121": True, "googlenet": False, "mnasnet1_0": False,
    "convnext_tiny": True, "vit_b_16": True, "swin_t": True,
}
ALL_MODELS = tuple(TORCHVISION) + ("lraspp_mobilenet_v3_large", "lstm_fashion", "transformer_encoder")
DEFAULT_MODELS = ALL_MODELS

# Image side of every image model: 128 keeps the CI time of the whole zoo
# low on 2 cores. The CNNs and Swin accept any size; ViT's position
# embedding fixes its size at construction (image_size below).
IMAGE_SIDE = 128


def image_side(_name):
    return IMAGE_SIDE


# Constructor arguments beyond weights=None.
def torchvision_kwargs(name):
    if name == "googlenet":
        return {"aux_logits": False, "init_weights": True}
    if name == "vit_b_16":
        return {"image_size": IMAGE_SIDE}
    return {}


def fingerprint(name, seed):
    """What an export depends on: a cached export with another fingerprint is redone."""
    h = hashlib.sha256()
    here = os.path.dirname(os.path.abspath(__file__))
    for f in ("export_zoo.py", "export_torchvision.py", "onnx_export.py", "fashion_mnist.py"):
        with open(os.path.join(here, f), "rb") as fh:
            h.update(fh.read())
    h.update(f"{torch.__version__}/{torchvision.__version__}/{seed}/{name}".encode())
    return h.hexdigest()[:16]


def fashion_images(split, n, offset=0, side=224):
    """n Fashion-MNIST images as ImageNet-normalised float32 [n,3,side,side]."""
    x, _ = fashion_mnist.load(split)
    x = torch.from_numpy(x[offset:offset + n])
    x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return ((x - mean) / std).numpy().astype(np.float32)


class SegOut(nn.Module):
    """torchvision segmentation nets return a dict; ONNX needs a tensor."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)["out"]


class LstmClassifier(nn.Module):
    """Reads [N,28,28] as 28 time steps of 28 features; classifies from the last hidden state."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(28, 64, batch_first=True)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out[:, -1])


TEXT_VOCAB, TEXT_LEN, TEXT_DIM = 1000, 16, 64


class TextEncoder(nn.Module):
    """Token ids (INT64) + padding mask (BOOL, True = pad) -> 4 class logits from the first position."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(TEXT_VOCAB, TEXT_DIM)
        self.pos = nn.Parameter(torch.randn(1, TEXT_LEN, TEXT_DIM) * 0.1)
        layer = nn.TransformerEncoderLayer(TEXT_DIM, nhead=4, dim_feedforward=128, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.fc = nn.Linear(TEXT_DIM, 4)

    def forward(self, ids, mask):
        return self.fc(self.encoder(self.embed(ids) + self.pos, src_key_padding_mask=mask)[:, 0])


def text_inputs(seed, n):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, TEXT_VOCAB, size=(n, TEXT_LEN), dtype=np.int64)
    lengths = rng.integers(4, TEXT_LEN + 1, size=n)
    mask = np.arange(TEXT_LEN)[None, :] >= lengths[:, None]
    ids[mask] = 0
    return [ids, mask]


@torch.no_grad()
def redraw_classifier(model, seed, calib_inputs):
    """Re-draw the final Linear, centre and scale it on the calibration batch (logit std LOGIT_STD).

    A model without Linear (SqueezeNet: Conv 1x1, ReLU, average pool) gets its
    last Conv scaled instead; ReLU and pooling commute with a positive scale.
    """
    xs = [torch.from_numpy(a) for a in calib_inputs]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        conv = [m for m in model.modules() if isinstance(m, nn.Conv2d)][-1]
        scale = LOGIT_STD / float(model(*xs).std())
        conv.weight.mul_(scale)
        conv.bias.mul_(scale)
        return
    fc = linears[-1]
    gen = torch.Generator().manual_seed(seed + 7)
    fc.weight.copy_(torch.randn(fc.weight.shape, generator=gen) / fc.in_features ** 0.5)
    fc.bias.zero_()
    captured = {}
    hook = fc.register_forward_hook(lambda mod, inp, out: captured.__setitem__("x", inp[0]))
    model(*xs)
    hook.remove()
    feats = captured["x"]
    fc.bias.sub_(fc.weight @ feats.mean(0))
    scale = LOGIT_STD / float(fc(feats).std())
    fc.weight.mul_(scale)
    fc.bias.mul_(scale)


def build(name, seed):
    """Returns (model, kind, check inputs list, calibration inputs or None, input names, dynamic axes)."""
    torch.manual_seed(seed)
    if name in TORCHVISION:
        model = getattr(torchvision.models, name)(weights=None, **torchvision_kwargs(name))
        side = image_side(name)
        calib = fashion_images("train", CALIB_BIG if TORCHVISION[name] else CALIB_SMALL, side=side)
        cond = fashion_images("train", 16, offset=1000, side=side)
        if any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):
            condition(model, seed, cond)  # BN stats + classifier centring
        model.eval()
        redraw_classifier(model, seed, [cond])
        return model, "cls", [fashion_images("test", CHECK_BATCH, side=side)], calib
    if name == "lraspp_mobilenet_v3_large":
        net = torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None,
                                                                        num_classes=21)
        side = image_side(name)
        cond = fashion_images("train", 16, offset=1000, side=side)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for bn in [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]:
                bn.weight.copy_(torch.rand(bn.num_features, generator=gen) * 0.5 + 0.5)
                bn.bias.copy_(torch.randn(bn.num_features, generator=gen) * 0.1)
                bn.reset_running_stats()
                bn.momentum = None
            net.train()
            net(torch.from_numpy(cond))
        model = SegOut(net).eval()
        return model, "seg", [fashion_images("test", 4, side=side)], fashion_images("train", CALIB_SMALL, side=side)
    if name == "lstm_fashion":
        model = LstmClassifier().eval()
        x, _ = fashion_mnist.load("train")
        cond = x[1000:1256, 0]
        redraw_classifier(model, seed, [cond])
        xt, _ = fashion_mnist.load("test")
        return model, "lstm", [xt[:64, 0].copy()], x[:256, 0].copy()
    if name == "transformer_encoder":
        model = TextEncoder().eval()
        redraw_classifier(model, seed, text_inputs(seed + 100, 256))
        # Calibration: ids + mask of other seeded sequences, one array per graph input (an .npz).
        return model, "text", text_inputs(seed, 64), text_inputs(seed + 200, 256)
    raise SystemExit(f"unknown model {name}")


NOISE_DB = 30.0
# Debian's torch runs on a generic BLAS: ViT-B/16 costs ~3 CPU-s per image even
# at 128x128, so these two skip the noise reference (8 more forward passes;
# the table shows n/a). Their int8 cosines (0.99+) need no chaos yardstick.
NO_NOISE_REFERENCE = ("vit_b_16", "swin_t")


@torch.no_grad()
def noise_reference(model, inputs, golden):
    """How far PyTorch's own fp32 outputs move under seeded Gaussian input noise at NOISE_DB SNR.

    Random-weight networks are chaotic: a perturbation about the size of
    int8 rounding of one activation changes their outputs a lot. The zoo
    table prints this next to the int8 numbers so they can be read against
    the model's own sensitivity. Returns mean/min per-sample cosine and
    top-1 agreement (argmax over axis 1, per pixel for segmentation).
    """
    x = torch.from_numpy(inputs[0])
    gen = torch.Generator().manual_seed(1)
    x = x + torch.randn(x.shape, generator=gen) * x.std() * 10 ** (-NOISE_DB / 20)
    y = model(x).numpy()
    a, b = golden.reshape(golden.shape[0], -1), y.reshape(y.shape[0], -1)
    cos = (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))
    top1 = float((golden.argmax(1) == y.argmax(1)).mean())
    return {"snr_db": NOISE_DB, "mean_cosine": float(cos.mean()), "min_cosine": float(cos.min()), "top1": top1}


def export(model, kind, inputs, path):
    names = ["input"] if len(inputs) == 1 else (["ids", "mask"] if kind == "text" else None)
    dyn = {n: {0: "batch"} for n in names + ["logits"]}
    sample = tuple(torch.from_numpy(a[:1]) for a in inputs)
    torch.onnx.export(model, sample, path, opset_version=OPSET, input_names=names, output_names=["logits"],
                      dynamic_axes=dyn, do_constant_folding=True)
    import onnx
    m = onnx.load(path)
    onnx.checker.check_model(m)
    return m, names


def export_one(name, out, seed):
    t0, cpu0 = time.time(), time.process_time()
    model, kind, inputs, calib = build(name, seed)
    with torch.no_grad():
        golden = model(*[torch.from_numpy(a) for a in inputs]).numpy().astype(np.float32)
    if not np.isfinite(golden).all():
        raise SystemExit(f"{name}: non-finite outputs")
    noise = noise_reference(model, inputs, golden) if kind != "text" and name not in NO_NOISE_REFERENCE else None
    m, names = export(model, kind, inputs, os.path.join(out, f"{name}.onnx"))
    files = []
    for k, a in enumerate(inputs):
        files.append(f"{name}_in{k}.npy")
        np.save(os.path.join(out, files[-1]), a)
    np.save(os.path.join(out, f"{name}_golden.npy"), golden)
    entry = {
        "kind": kind,
        "onnx": f"{name}.onnx",
        "input_names": names,
        "inputs": files,
        "golden": f"{name}_golden.npy",
        "params": int(sum(p.numel() for p in model.parameters())),
        "op_counts": dict(sorted(collections.Counter(n.op_type for n in m.graph.node).items())),
        "golden_abs_max": float(np.abs(golden).max()),
    }
    if noise is not None:
        entry["noise_reference"] = noise
    if isinstance(calib, list):
        # Several inputs: calibration/inputs.npz, keyed by the graph input names.
        entry["calibration"] = f"{name}_calib.npz"
        np.savez_compressed(os.path.join(out, entry["calibration"]), **dict(zip(names, calib)))
    elif calib is not None:
        entry["calibration"] = f"{name}_calib.npy"
        np.save(os.path.join(out, entry["calibration"]), calib)
    entry["fingerprint"] = fingerprint(name, seed)
    entry["seconds"] = round(time.time() - t0, 2)
    entry["cpu_seconds"] = round(time.process_time() - cpu0, 2)  # all threads
    top = golden.reshape(golden.shape[0], golden.shape[1], -1).argmax(1)
    print(f"{name}: {entry['params']} params, max|out| {entry['golden_abs_max']:.3f}, "
          f"distinct top-1 {len(set(map(tuple, top.tolist())))}/{golden.shape[0]}, "
          f"ops {entry['op_counts']} ({entry['seconds']}s)", flush=True)
    return entry


def cached_entries(out):
    """The models of an earlier manifest in `out` (empty when there is none or it is unreadable)."""
    try:
        with open(os.path.join(out, "zoo.json")) as f:
            return json.load(f).get("models", {})
    except (OSError, ValueError):
        return {}


def files_present(out, entry):
    files = [entry["onnx"], entry["golden"]] + list(entry["inputs"])
    if "calibration" in entry:
        files.append(entry["calibration"])
    return all(os.path.isfile(os.path.join(out, f)) for f in files)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in ALL_MODELS]
    if unknown:
        ap.error(f"unknown model(s) {unknown}; choose from {ALL_MODELS}")
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    meta = {"torch_version": torch.__version__, "torchvision_version": torchvision.__version__, "opset": OPSET,
            "seed": args.seed, "models": {}}
    previous = cached_entries(args.out)
    for n in names:  # the manifest is rewritten after each model: a partial export is usable
        entry = previous.get(n)
        if entry is not None and entry.get("fingerprint") == fingerprint(n, args.seed) and files_present(args.out, entry):
            print(f"{n}: cached ({entry['seconds']}s when exported)", flush=True)
        else:
            entry = export_one(n, args.out, args.seed)
        meta["models"][n] = entry
        meta["total_seconds"] = round(time.time() - t0, 2)
        with open(os.path.join(args.out, "zoo.json"), "w") as f:
            json.dump(meta, f, indent=2)
            f.write("\n")
    print(f"exported {len(names)} model(s) to {args.out} in {meta['total_seconds']}s")


if __name__ == "__main__":
    main()
