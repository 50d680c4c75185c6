"""Tiny numpy interpreter for the ONNX graphs q8serve's tools export.

Owns: an independent, dependency-free (numpy + onnx protobuf only) way to
run an exported .onnx file, so the tools can check that the file on disk
computes the same logits as the PyTorch model it came from.  No ONNX
Runtime is available on this machine and onnx 1.12 has no reference
evaluator, hence this file.

It covers only the operators that appear in our exports (Conv,
BatchNormalization, Relu, Clip, Sigmoid, Softmax, MaxPool, AveragePool,
GlobalAveragePool, Flatten, Reshape, Transpose, Gemm, MatMul,
Add/Sub/Mul/Div, Constant, Shape, Gather, Unsqueeze, Concat, Identity, and
QuantizeLinear/DequantizeLinear for q8serve's QDQ exports) with the
attributes opset 13 gives them.  Anything else raises NotImplementedError
naming the op.  Float computation is done in float64 for a precise
reference (quantized tensors stay integer); outputs are cast back to the
graph's declared element type.  --float32 computes in float32 instead: a
second, equally valid rounding of the same model, which shows how much a
quantized network's output moves when values near rounding boundaries of
QuantizeLinear tip the other way.

Library use:   onnx_numpy_ref.run(model_or_path, {"input": array}) -> dict
Command line:  /usr/bin/python3 tools/onnx_numpy_ref.py MODEL.onnx IN.npy [GOLDEN.npy]
                   [--out OUT.npy] [--float32] [--check]
               (--out saves the first output, e.g. for a C++ test to compare;
                --check first runs onnx.checker with full shape/type inference)
"""

import argparse
import math
import sys

import numpy as np
import onnx
from onnx import numpy_helper


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def _attrs(node):
    """Node attributes as a plain dict of python / numpy values."""
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, onnx.TensorProto):
            v = numpy_helper.to_array(v)
        elif isinstance(v, bytes):
            v = v.decode()
        out[a.name] = v
    return out


def _windows(x, kernel, strides, dilations):
    """Strided view of x [N,C,H,W] as [N,C,OH,OW,KH,KW] sliding windows."""
    n, c, h, w = x.shape
    kh, kw = kernel
    sh, sw = strides
    dh, dw = dilations
    oh = (h - (kh - 1) * dh - 1) // sh + 1
    ow = (w - (kw - 1) * dw - 1) // sw + 1
    s = x.strides
    return np.lib.stride_tricks.as_strided(
        x, shape=(n, c, oh, ow, kh, kw),
        strides=(s[0], s[1], s[2] * sh, s[3] * sw, s[2] * dh, s[3] * dw),
        writeable=False)


def _pad2d(x, pads, value):
    """pads in ONNX order [top, left, bottom, right] for a 4-D NCHW tensor."""
    t, l, b, r = pads
    if not any(pads):
        return x
    return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=value)


def _spatial_args(a, kernel):
    """Common pooling/conv attributes, 2-D only."""
    if len(kernel) != 2:
        raise NotImplementedError("only 2-D spatial ops are supported")
    if a.get("auto_pad", "NOTSET") not in ("NOTSET", ""):
        raise NotImplementedError(f"auto_pad={a['auto_pad']}")
    pads = list(a.get("pads", [0, 0, 0, 0]))
    # ONNX pads are [x1_begin, x2_begin, x1_end, x2_end].
    pads = [pads[0], pads[1], pads[2], pads[3]]
    strides = list(a.get("strides", [1, 1]))
    dilations = list(a.get("dilations", [1, 1]))
    return pads, strides, dilations


def _ceil_extra_pad(size, k, s, d, pb, pe):
    """Extra end padding so that floor division emulates ceil_mode=1."""
    eff = (k - 1) * d + 1
    span = size + pb + pe - eff
    out_ceil = -(-span // s) + 1
    # PyTorch/ONNX rule: the last window must start inside the padded input.
    if (out_ceil - 1) * s >= size + pb:
        out_ceil -= 1
    need = (out_ceil - 1) * s + eff - (size + pb + pe)
    return max(0, need)


# --------------------------------------------------------------------------
# Operators: each takes (inputs list, attrs dict) and returns a list
# --------------------------------------------------------------------------

def op_conv(ins, a):
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) > 2 and ins[2] is not None else None
    pads, strides, dilations = _spatial_args(a, w.shape[2:])
    g = int(a.get("group", 1))
    xp = _pad2d(x, pads, 0.0)
    cols = _windows(xp, w.shape[2:], strides, dilations)  # N,C,OH,OW,KH,KW
    n, c, oh, ow, kh, kw = cols.shape
    m = w.shape[0]
    if g == 1:
        y = np.tensordot(cols, w, axes=([1, 4, 5], [1, 2, 3]))  # N,OH,OW,M
        y = y.transpose(0, 3, 1, 2)
    else:
        cpg, mpg = c // g, m // g
        cg = cols.reshape(n, g, cpg, oh, ow, kh, kw)
        wg = w.reshape(g, mpg, cpg, kh, kw)
        if cpg == 1:
            # Depthwise: a broadcast multiply-add is far faster than einsum.
            y = np.zeros((n, g, mpg, oh, ow), dtype=x.dtype)
            for i in range(kh):
                for j in range(kw):
                    y += cg[:, :, :, :, :, i, j] * wg[None, :, :, 0, i, j, None, None]
        else:
            y = np.einsum("ngchwij,gmcij->ngmhw", cg, wg, optimize=True)
        y = y.reshape(n, m, oh, ow)
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return [np.ascontiguousarray(y)]


def op_batchnorm(ins, a):
    x, scale, bias, mean, var = ins[:5]
    eps = a.get("epsilon", 1e-5)
    shp = (1, -1) + (1,) * (x.ndim - 2)
    inv = scale / np.sqrt(var + eps)
    return [(x - mean.reshape(shp)) * inv.reshape(shp) + bias.reshape(shp)]


def _pool(ins, a, kind):
    x = ins[0]
    kernel = list(a["kernel_shape"])
    pads, strides, dilations = _spatial_args(a, kernel)
    if a.get("ceil_mode", 0):
        h, w = x.shape[2:]
        pads[2] += _ceil_extra_pad(h, kernel[0], strides[0], dilations[0], pads[0], pads[2])
        pads[3] += _ceil_extra_pad(w, kernel[1], strides[1], dilations[1], pads[1], pads[3])
    if kind == "max":
        xp = _pad2d(x, pads, -np.inf)
        return [_windows(xp, kernel, strides, dilations).max(axis=(4, 5))]
    # Average pool: count_include_pad decides the divisor.
    xp = _pad2d(x, pads, 0.0)
    s = _windows(xp, kernel, strides, dilations).sum(axis=(4, 5))
    if a.get("count_include_pad", 0):
        return [s / (kernel[0] * kernel[1])]
    ones = _pad2d(np.ones((1, 1) + x.shape[2:], x.dtype), pads, 0.0)
    cnt = _windows(ones, kernel, strides, dilations).sum(axis=(4, 5))
    return [s / cnt]


def op_gemm(ins, a):
    A, B = ins[0], ins[1]
    C = ins[2] if len(ins) > 2 and ins[2] is not None else None
    if a.get("transA", 0):
        A = A.T
    if a.get("transB", 0):
        B = B.T
    y = a.get("alpha", 1.0) * (A @ B)
    if C is not None:
        y = y + a.get("beta", 1.0) * C
    return [y]


def op_flatten(ins, a):
    x = ins[0]
    axis = a.get("axis", 1)
    if axis < 0:
        axis += x.ndim
    lead = int(np.prod(x.shape[:axis])) if axis else 1
    return [x.reshape(lead, -1)]


def op_reshape(ins, a):
    x, shape = ins[0], [int(s) for s in ins[1]]
    if not a.get("allowzero", 0):
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return [x.reshape(shape)]


def op_clip(ins, a):
    x = ins[0]
    lo = ins[1] if len(ins) > 1 and ins[1] is not None else -np.inf
    hi = ins[2] if len(ins) > 2 and ins[2] is not None else np.inf
    return [np.clip(x, lo, hi)]


def op_unsqueeze(ins, a):
    x = ins[0]
    axes = ins[1] if len(ins) > 1 else a["axes"]
    nd = x.ndim + len(axes)
    for ax in sorted(int(v) % nd for v in axes):
        x = np.expand_dims(x, ax)
    return [x]


def op_slice(ins, a):
    """Opset >= 10 Slice: starts, ends, optional axes and steps as inputs."""
    x = ins[0]
    starts, ends = ins[1].astype(np.int64), ins[2].astype(np.int64)
    axes = ins[3].astype(np.int64) if len(ins) > 3 and ins[3] is not None else np.arange(len(starts))
    steps = ins[4].astype(np.int64) if len(ins) > 4 and ins[4] is not None else np.ones(len(starts), np.int64)
    index = [slice(None)] * x.ndim
    for s, e, ax, st in zip(starts, ends, axes, steps):
        index[int(ax) % x.ndim] = slice(int(s), int(e), int(st))  # python clamps like ONNX
    return [x[tuple(index)]]


def op_cast(ins, a):
    """Cast: floating results stay in the compute precision (see _as_compute)."""
    return [_as_compute(np.asarray(ins[0]).astype(_np_dtype(a["to"])))]


def _per_axis(scale, x, axis):
    """A 1-D per-axis parameter reshaped to broadcast along `axis` of x."""
    scale = np.asarray(scale)
    if scale.ndim == 0:
        return scale
    shape = [1] * x.ndim
    shape[axis % x.ndim] = scale.size
    return scale.reshape(shape)


def op_quantize_linear(ins, a):
    """saturate(round_half_to_even(x / scale) + zero_point); the zero
    point's dtype (uint8 default, int8) sets the output type and range."""
    x, scale = ins[0], ins[1]
    zp = ins[2] if len(ins) > 2 and ins[2] is not None else np.zeros((), np.uint8)
    axis = a.get("axis", 1)
    q = np.rint(x / _per_axis(scale, x, axis)) + _per_axis(zp, x, axis).astype(x.dtype)
    info = np.iinfo(zp.dtype)
    return [np.clip(q, info.min, info.max).astype(zp.dtype)]


def op_dequantize_linear(ins, a):
    """(x - zero_point) * scale, per tensor or per `axis` slice."""
    x, scale = ins[0], ins[1]
    zp = ins[2] if len(ins) > 2 and ins[2] is not None else np.zeros((), x.dtype)
    axis = a.get("axis", 1)
    xf = x.astype(scale.dtype) - _per_axis(zp, x, axis).astype(scale.dtype)
    return [xf * _per_axis(scale, x, axis)]


def op_softmax(ins, a):
    """Opset 13: softmax along one axis (default -1), no 2-D coercion."""
    x = ins[0]
    axis = a.get("axis", -1)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return [e / e.sum(axis=axis, keepdims=True)]


def op_layer_norm(ins, a):
    """Opset 17: normalise over axes [axis, rank), then scale and bias."""
    x = ins[0]
    axes = tuple(range(a.get("axis", -1) % x.ndim, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + a.get("epsilon", 1e-5)) * ins[1]
    return [y + ins[2] if len(ins) > 2 and ins[2] is not None else y]


def _reduce(fn):
    """Reductions: axes from the attribute (opset < 18) or input 1; all axes
    when none are given (noop_with_empty_axes unset)."""
    def op(ins, a):
        x = ins[0]
        axes = a.get("axes")
        if len(ins) > 1 and ins[1] is not None:
            axes = ins[1]
        axes = None if axes is None or len(axes) == 0 else tuple(int(v) % x.ndim for v in axes)
        return [fn(x, axes, bool(a.get("keepdims", 1)))]
    return op


_erf = np.vectorize(math.erf, otypes=[np.float64])


OPS = {
    "Conv": op_conv,
    "BatchNormalization": op_batchnorm,
    "Relu": lambda i, a: [np.maximum(i[0], 0)],
    "Clip": op_clip,
    "Sigmoid": lambda i, a: [1.0 / (1.0 + np.exp(-i[0]))],
    "Softmax": op_softmax,
    "Transpose": lambda i, a: [np.transpose(i[0], a.get("perm"))],
    "QuantizeLinear": op_quantize_linear,
    "DequantizeLinear": op_dequantize_linear,
    "MaxPool": lambda i, a: _pool(i, a, "max"),
    "AveragePool": lambda i, a: _pool(i, a, "avg"),
    "GlobalAveragePool": lambda i, a: [i[0].mean(axis=tuple(range(2, i[0].ndim)),
                                                 keepdims=True)],
    "Flatten": op_flatten,
    "Reshape": op_reshape,
    "Gemm": op_gemm,
    "MatMul": lambda i, a: [i[0] @ i[1]],
    "Add": lambda i, a: [i[0] + i[1]],
    "Sub": lambda i, a: [i[0] - i[1]],
    "Mul": lambda i, a: [i[0] * i[1]],
    "Div": lambda i, a: [i[0] / i[1]],
    "Identity": lambda i, a: [i[0]],
    "Constant": lambda i, a: [np.asarray(a["value"])],
    "Shape": lambda i, a: [np.asarray(i[0].shape, dtype=np.int64)],
    "Gather": lambda i, a: [np.take(i[0], i[1].astype(np.int64), axis=a.get("axis", 0))],
    "Unsqueeze": op_unsqueeze,
    "Slice": op_slice,
    "Cast": op_cast,
    "Concat": lambda i, a: [np.concatenate(i, axis=a["axis"])],
    "LayerNormalization": op_layer_norm,
    "Erf": lambda i, a: [_erf(i[0]).astype(i[0].dtype)],
    "Tanh": lambda i, a: [np.tanh(i[0])],
    "Exp": lambda i, a: [np.exp(i[0])],
    "Log": lambda i, a: [np.log(i[0])],
    "Sqrt": lambda i, a: [np.sqrt(i[0])],
    "Abs": lambda i, a: [np.abs(i[0])],
    "Neg": lambda i, a: [-i[0]],
    "Pow": lambda i, a: [np.power(i[0], i[1])],
    "Softplus": lambda i, a: [np.logaddexp(0, i[0])],
    "LeakyRelu": lambda i, a: [np.where(i[0] < 0, a.get("alpha", 0.01) * i[0], i[0])],
    "HardSigmoid": lambda i, a: [np.clip(a.get("alpha", 0.2) * i[0] + a.get("beta", 0.5), 0, 1)],
    "HardSwish": lambda i, a: [i[0] * np.clip(i[0] / 6 + 0.5, 0, 1)],
    "ReduceMean": _reduce(lambda x, ax, k: x.mean(axis=ax, keepdims=k)),
    "ReduceSum": _reduce(lambda x, ax, k: x.sum(axis=ax, keepdims=k)),
    "ReduceMax": _reduce(lambda x, ax, k: x.max(axis=ax, keepdims=k)),
    "ReduceMin": _reduce(lambda x, ax, k: x.min(axis=ax, keepdims=k)),
    "ReduceProd": _reduce(lambda x, ax, k: x.prod(axis=ax, keepdims=k)),
    "ReduceL2": _reduce(lambda x, ax, k: np.sqrt((x * x).sum(axis=ax, keepdims=k))),
    "ReduceSumSquare": _reduce(lambda x, ax, k: (x * x).sum(axis=ax, keepdims=k)),
}


# --------------------------------------------------------------------------
# Graph execution
# --------------------------------------------------------------------------

_COMPUTE = np.float64  # see --float32


def _as_compute(v):
    """Floating tensors are computed in _COMPUTE; integers stay as they are."""
    v = np.asarray(v)
    return v.astype(_COMPUTE) if np.issubdtype(v.dtype, np.floating) else v


def _np_dtype(elem_type):
    """ONNX TensorProto element type -> numpy dtype (onnx 1.12 and later)."""
    if hasattr(onnx.helper, "tensor_dtype_to_np_dtype"):
        return onnx.helper.tensor_dtype_to_np_dtype(elem_type)
    return onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[elem_type]


def run(model, feeds, compute_dtype=np.float64):
    """Execute an ONNX model (ModelProto or path) on a dict of numpy inputs.

    Nodes are assumed to be in topological order, as the ONNX spec requires.
    Float tensors are computed in `compute_dtype` (float64 by default).
    Returns {output_name: numpy array} in the graph's declared output dtype.
    """
    global _COMPUTE
    _COMPUTE = compute_dtype
    if isinstance(model, str):
        model = onnx.load(model)
    g = model.graph
    env = {init.name: _as_compute(numpy_helper.to_array(init)) for init in g.initializer}
    for name, value in feeds.items():
        env[name] = _as_compute(value)
    for node in g.node:
        fn = OPS.get(node.op_type)
        if fn is None or (node.domain not in ("", "ai.onnx")):
            raise NotImplementedError(f"op {node.domain or 'ai.onnx'}::{node.op_type}")
        ins = [env[n] if n else None for n in node.input]
        outs = fn(ins, _attrs(node))
        for name, val in zip(node.output, outs):
            if name:
                env[name] = val
    result = {}
    for o in g.output:
        dt = _np_dtype(o.type.tensor_type.elem_type)
        result[o.name] = np.asarray(env[o.name]).astype(dt)
    return result


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("inputs", help=".npy fed to the first graph input")
    p.add_argument("golden", nargs="?", help=".npy to compare the first output with")
    p.add_argument("--out", help="save the first output here (.npy)")
    p.add_argument("--float32", action="store_true", help="compute in float32 instead of float64")
    p.add_argument("--check", action="store_true", help="validate with onnx.checker (full_check) first")
    args = p.parse_args(argv[1:])
    model = onnx.load(args.model)
    if args.check:
        onnx.checker.check_model(model, full_check=True)
    x = np.load(args.inputs)
    name = model.graph.input[0].name
    out = run(model, {name: x}, np.float32 if args.float32 else np.float64)
    y = out[model.graph.output[0].name]
    print(f"output {y.shape} {y.dtype}, |max| {np.abs(y).max():.4g}")
    if args.out:
        np.save(args.out, y)
    if args.golden:
        gold = np.load(args.golden)
        print(f"max|diff| vs golden {np.abs(y - gold).max():.4g}, argmax agreement "
              f"{(y.argmax(1) == gold.argmax(1)).mean():.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
