"""PyTorch runner for bench/side_by_side.py (Debian python3-torch, CPU).

prepare: builds the same float network that q8serve serves (torchvision
  models rebuilt with tools/export_torchvision.py's seed and BN conditioning,
  so the weights equal the exported ONNX; the Fashion CNN from the ONNX
  initializers, BatchNorm already folded), quantizes it with FX post-training
  static quantization for the 'onednn' quantized engine, calibrated on the
  same NAME_calibration.npy that q8serve calibrates on, and saves both as
  frozen TorchScript (trace + freeze, the usual deployment form):
    OUT/NAME_torch_fp32.pt, OUT/NAME_torch_int8.pt, and
    OUT/NAME_torch_prepare.json (int8 vs fp32 top-1 agreement)
run: loads one .pt, sets torch.set_num_threads(THREADS) and the onednn
  engine (a float model also goes through torch.jit.optimize_for_inference,
  which moves its convolutions to oneDNN: Debian's torch has no MKL and a
  reference BLAS, so its default float conv path is several times slower
  than what PyTorch users get elsewhere), and times it like engine_bench (warm-up, ROUNDS windows of at
  least WINDOW seconds, mean per run of each window); prints one JSON line
  per batch: {"runner": "torch", "model": PT, "batch": B, "ms": [...]}.

Usage:
  /usr/bin/python3 torch_runner.py prepare NAME MODELS_DIR OUT_DIR
  /usr/bin/python3 torch_runner.py run PT DIMS THREADS BATCHES ROUNDS WINDOW
"""

import copy
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))

torch.backends.quantized.engine = "onednn"


def fashion_cnn(onnx_path):
    """The Fashion CNN with the ONNX file's weights (BN folded into the convs)."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(onnx_path)
    w = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in m.graph.initializer}
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    gemms = [n for n in m.graph.node if n.op_type == "Gemm"]
    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
    with torch.no_grad():
        for layer, node in zip([net[0], net[3], net[7], net[9]], convs + gemms):
            layer.weight.copy_(w[node.input[1]])
            layer.bias.copy_(w[node.input[2]])
    return net.eval()


def torchvision_model(name):
    import export_torchvision as tv
    seed = 0  # export_torchvision.py's default, used by the exported ONNX
    torch.manual_seed(seed)
    model = tv.build(name)
    tv.condition(model, seed, tv.random_input(seed + 1))
    return model.eval()


def prepare(name, models_dir, out_dir):
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    torch.set_num_threads(os.cpu_count() or 1)
    model = fashion_cnn(os.path.join(models_dir, f"{name}.onnx")) if name.startswith("fashion") \
        else torchvision_model(name)
    calib = torch.from_numpy(np.load(os.path.join(models_dir, f"{name}_calibration.npy")).astype(np.float32))
    example = calib[:1]
    with torch.no_grad():
        ref = model(calib).argmax(1)
        # prepare_fx fuses Conv+BN in the modules it is given: work on a copy
        # so that `model` stays the float network.
        prepared = prepare_fx(copy.deepcopy(model), get_default_qconfig_mapping("onednn"), (example,))
        for i in range(0, calib.shape[0], 16):
            prepared(calib[i:i + 16])
        qmodel = convert_fx(prepared).eval()
        # Sanity: the int8 network must agree with the float one on most inputs.
        # One sample at a time: torch 1.13's onednn int8 MobileNetV2 fails for
        # batches > 1 (see run()).
        got = torch.cat([qmodel(calib[i:i + 1]) for i in range(calib.shape[0])]).argmax(1)
        assert bool((model(calib).argmax(1) == ref).all()), "the float model changed during quantization"
        agree = float((ref == got).float().mean())
        for tag, net in (("fp32", model), ("int8", qmodel)):
            script = torch.jit.freeze(torch.jit.trace(net, example).eval())
            script(example)
            script.save(os.path.join(out_dir, f"{name}_torch_{tag}.pt"))
    line = json.dumps({"runner": "torch-prepare", "model": name, "int8_fp32_top1_agreement": agree})
    with open(os.path.join(out_dir, f"{name}_torch_prepare.json"), "w") as f:
        f.write(line + "\n")
    print(line, flush=True)


def run(pt, dims, threads, batches, rounds, window):
    torch.set_num_threads(int(threads))
    model = torch.jit.load(pt).eval()
    if pt.endswith("_fp32.pt"):
        model = torch.jit.optimize_for_inference(model)
    rng = np.random.default_rng(7)
    for b in [int(v) for v in batches.split(",")]:
        x = torch.from_numpy(rng.standard_normal([b] + [int(d) for d in dims.split(",")]).astype(np.float32))
        ms = []
        with torch.no_grad():
            try:
                model(x)
            except RuntimeError as e:  # e.g. onednn int8 depthwise conv at batch > 1 in torch 1.13
                print(json.dumps({"runner": "torch", "model": pt, "batch": b, "error": str(e).splitlines()[0]}),
                      flush=True)
                continue
            for _ in range(3):
                model(x)
            for _ in range(int(rounds)):
                n, start, elapsed = 0, time.perf_counter(), 0.0
                while elapsed < float(window) or n < 2:
                    model(x)
                    n += 1
                    elapsed = time.perf_counter() - start
                ms.append(elapsed * 1000 / n)
        print(json.dumps({"runner": "torch", "model": pt, "batch": b, "ms": ms}), flush=True)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "prepare" and len(sys.argv) == 5:
        prepare(*sys.argv[2:])
    elif len(sys.argv) >= 2 and sys.argv[1] == "run" and len(sys.argv) == 8:
        run(*sys.argv[2:])
    else:
        sys.exit(__doc__)
