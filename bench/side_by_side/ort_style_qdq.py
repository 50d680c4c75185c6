"""A QDQ model as ONNX Runtime's own static quantizer would write it.

Issue #14 compares served q8serve with ONNX Runtime int8 "on a QDQ model that
ONNX Runtime itself would produce", not only on q8serve's export. PyPI (and
with it onnxruntime.quantization) is out of reach here, so this script
reproduces what `quantize_static(quant_format=QDQ, per_channel=True)` writes
with its defaults, from ONNX Runtime's documentation and registry:

  * calibration: MinMax over the calibration rows, run by ONNX Runtime itself
    (ort_calibrate.js on the model with every activation added as an output);
    ranges widened to include 0;
  * activations: int8, asymmetric (ActivationSymmetric=False):
    scale = (max - min) / 255, zero point = round(-128 - min / scale);
  * weights: int8, symmetric per output channel (WeightSymmetric=True,
    range [-127, 127]); biases int32 with scale = input scale x weight scale;
  * quantized ops: Conv, Gemm, MatMul, Add, Mul, GlobalAveragePool, MaxPool,
    AveragePool (MaxPool's output keeps its input's parameters); every input
    and output of such a node gets one QuantizeLinear -> DequantizeLinear
    pair, shared by all its readers; other ops (Flatten) stay float;
  * a Relu/Clip whose input has no other reader is removed and its
    producer's output quantized with the Relu's range (QDQRemovableActivation).

ONNX Runtime then fuses DequantizeLinear -> op -> QuantizeLinear into
QLinearConv, QLinearAdd, ... at session creation.

Usage (needs NODE_PATH reaching onnxruntime-node):
  /usr/bin/python3 ort_style_qdq.py FLOAT.onnx CALIB.npy OUT.onnx [--uint8]
--uint8: activations as uint8 (QuantType.QUInt8, the U8S8 form ONNX Runtime's
documentation recommends for speed on x86-64) instead of the default int8.
Prints one JSON line: {"quantized_tensors", "removed_activations",
"top1_agreement"} (top-1 of the QDQ model vs the float model on the
calibration rows, both run by ONNX Runtime).
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

HERE = os.path.dirname(os.path.abspath(__file__))
QUANTIZED_OPS = {"Conv", "Gemm", "MatMul", "Add", "Mul", "GlobalAveragePool", "MaxPool", "AveragePool"}
SAME_AS_INPUT = {"MaxPool"}
REMOVABLE = {"Relu", "Clip"}


def ort_json(script, *args):
    p = subprocess.run(["node", os.path.join(HERE, script), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if p.returncode != 0:
        raise SystemExit(f"{script} failed: {p.stderr[-2000:]}")
    return json.loads(p.stdout)


def calibrate(model, calib, work):
    """Ranges of every activation, as ONNX Runtime computes them."""
    augmented = onnx.ModelProto()
    augmented.CopyFrom(model)
    have = {o.name for o in augmented.graph.output}
    for node in augmented.graph.node:
        for t in node.output:
            if t and t not in have:
                augmented.graph.output.append(helper.make_tensor_value_info(t, TensorProto.FLOAT, None))
                have.add(t)
    path = os.path.join(work, "augmented.onnx")
    onnx.save(augmented, path)
    result = ort_json("ort_calibrate.js", path, calib)
    return {k: (min(v[0], 0.0), max(v[1], 0.0)) for k, v in result["ranges"].items()}, result["top1"]


def activation_params(lo, hi, unsigned):
    """ONNX Runtime's asymmetric parameters: [lo, hi] onto [-128, 127] (int8)
    or [0, 255] (uint8)."""
    qmin, qmax, dtype = (0, 255, np.uint8) if unsigned else (-128, 127, np.int8)
    scale = (hi - lo) / (qmax - qmin) if hi > lo else 1.0
    zero = int(np.clip(round(qmin - lo / scale), qmin, qmax))
    return np.float32(scale), dtype(zero)


def main():
    src, calib, out = sys.argv[1:4]
    unsigned = "--uint8" in sys.argv[4:]
    model = onnx.load(src)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    with tempfile.TemporaryDirectory() as work:
        ranges, float_top1 = calibrate(model, calib, work)
    ranges.update({i.name: ranges.get(i.name, (0.0, 0.0)) for i in graph.input})
    if graph.input[0].name not in ranges or ranges[graph.input[0].name] == (0.0, 0.0):
        x = np.load(calib)
        ranges[graph.input[0].name] = (min(float(x.min()), 0.0), max(float(x.max()), 0.0))

    readers = {}
    for node in graph.node:
        for t in node.input:
            readers.setdefault(t, []).append(node)
    outputs = {o.name for o in graph.output}

    # QDQRemovableActivation: drop Relu/Clip after a quantized producer whose
    # output it alone reads; the producer writes the Relu's tensor instead.
    producer = {t: n for n in graph.node for t in n.output}
    removed = 0
    kept = []
    for node in graph.node:
        x = node.input[0] if node.input else None
        p = producer.get(x)
        if (node.op_type in REMOVABLE and p is not None and p.op_type in QUANTIZED_OPS and
                len(readers.get(x, [])) == 1 and x not in outputs):
            p.output[0] = node.output[0]
            producer[node.output[0]] = p
            removed += 1
            continue
        kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)

    # Which activations get a Q/DQ pair: inputs and outputs of quantized ops.
    to_quantize = []
    params = {}
    for node in graph.node:
        if node.op_type not in QUANTIZED_OPS:
            continue
        acts = [t for t in node.input[:2 if node.op_type in ("Conv", "Gemm") else len(node.input)]
                if t and t not in inits]
        if node.op_type in ("Conv", "Gemm"):
            acts = acts[:1]
        for t in acts + list(node.output[:1]):
            if t not in params:
                to_quantize.append(t)
                params[t] = activation_params(*ranges[t], unsigned)
        if node.op_type in SAME_AS_INPUT:
            params[node.output[0]] = params[node.input[0]]

    new_nodes, new_inits = [], []
    rename = {}  # activation -> its dequantized name, for readers
    for t in to_quantize:
        scale, zero = params[t]
        s_name, z_name = f"{t}_scale", f"{t}_zero_point"
        new_inits += [numpy_helper.from_array(np.array(scale, np.float32), s_name),
                      numpy_helper.from_array(np.array(zero), z_name)]
        src_name = t
        if t in outputs:  # the graph output keeps its name: the producer's tensor is renamed
            src_name = f"{t}_QuantizeLinear_Input"
            for n in graph.node:
                for k, o in enumerate(n.output):
                    if o == t:
                        n.output[k] = src_name
        dq = t if t in outputs else f"{t}_DequantizeLinear_Output"
        new_nodes.append((t, [helper.make_node("QuantizeLinear", [src_name, s_name, z_name], [f"{t}_quantized"]),
                              helper.make_node("DequantizeLinear", [f"{t}_quantized", s_name, z_name], [dq])]))
        if t not in outputs:
            rename[t] = dq

    # Weights and biases of Conv/Gemm: int8 per output channel, int32 bias.
    for node in graph.node:
        if node.op_type in QUANTIZED_OPS:
            for k, t in enumerate(node.input):
                if t in rename:
                    node.input[k] = rename[t]
        if node.op_type not in ("Conv", "Gemm") or node.input[1] not in inits:
            continue
        w = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        axis = 0 if node.op_type == "Conv" or trans_b else 1
        wc = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
        w_scale = np.maximum(np.abs(wc).max(axis=1), 1e-12) / 127.0
        shape = [1] * w.ndim
        shape[axis] = -1
        q = np.clip(np.round(w / w_scale.reshape(shape)), -127, 127).astype(np.int8)
        base = node.input[1]
        new_inits += [numpy_helper.from_array(q, f"{base}_quantized"),
                      numpy_helper.from_array(w_scale.astype(np.float32), f"{base}_scale"),
                      numpy_helper.from_array(np.zeros(w_scale.shape, np.int8), f"{base}_zero_point")]
        new_nodes.append((None, [helper.make_node("DequantizeLinear", [f"{base}_quantized", f"{base}_scale",
                                                                        f"{base}_zero_point"],
                                                  [f"{base}_DequantizeLinear_Output"], axis=axis)]))
        node.input[1] = f"{base}_DequantizeLinear_Output"
        if len(node.input) > 2 and node.input[2] in inits:
            b = numpy_helper.to_array(inits[node.input[2]]).astype(np.float64)
            x_scale = float(params[rename_inverse(rename, node.input[0])][0])
            b_scale = (x_scale * w_scale).astype(np.float32)
            bq = np.round(b / b_scale).astype(np.int32)
            bb = node.input[2]
            new_inits += [numpy_helper.from_array(bq, f"{bb}_quantized"),
                          numpy_helper.from_array(b_scale, f"{bb}_scale"),
                          numpy_helper.from_array(np.zeros(b_scale.shape, np.int32), f"{bb}_zero_point")]
            new_nodes.append((None, [helper.make_node("DequantizeLinear", [f"{bb}_quantized", f"{bb}_scale",
                                                                            f"{bb}_zero_point"],
                                                      [f"{bb}_DequantizeLinear_Output"], axis=0)]))
            node.input[2] = f"{bb}_DequantizeLinear_Output"

    # Readers of a quantized activation that are not quantized ops also read
    # the dequantized tensor (ONNX Runtime rewires every reader).
    for node in graph.node:
        if node.op_type not in QUANTIZED_OPS:
            for k, t in enumerate(node.input):
                if t in rename:
                    node.input[k] = rename[t]

    used = set()
    for node in graph.node:
        used.update(node.input)
    for _, nodes in new_nodes:
        for n in nodes:
            used.update(n.input)
    keep_inits = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep_inits + new_inits)
    # Order: Q/DQ of an activation right after its producer (or first, for
    # graph inputs); weight DQs first.
    ordered = [n for t, nodes in new_nodes if t is None for n in nodes]
    ordered += [n for t, nodes in new_nodes if t is not None and t in {i.name for i in graph.input} for n in nodes]
    by_tensor = {t: nodes for t, nodes in new_nodes if t is not None}
    for node in graph.node:
        ordered.append(node)
        for o in node.output:
            key = o[:-len("_QuantizeLinear_Input")] if o.endswith("_QuantizeLinear_Input") else o
            ordered.extend(by_tensor.get(key, []))
    del graph.node[:]
    graph.node.extend(ordered)
    if all(op.version < 13 for op in model.opset_import if op.domain in ("", "ai.onnx")):
        raise SystemExit("per-channel DequantizeLinear needs opset >= 13")
    onnx.checker.check_model(model)
    onnx.save(model, out)

    qdq = ort_json("ort_calibrate.js", out, calib)["top1"]
    agreement = float(np.mean(np.array(qdq) == np.array(float_top1)))
    print(json.dumps({"quantized_tensors": len(to_quantize), "removed_activations": removed,
                      "top1_agreement": agreement}))


def rename_inverse(rename, name):
    for k, v in rename.items():
        if v == name:
            return k
    return name


if __name__ == "__main__":
    main()
