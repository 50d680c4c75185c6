"""Export small PyTorch recurrent and interpolation models to ONNX for q8serve tests.

Owns: the fixtures of tests/unit/engine/recurrent_torch_test.cc, generated at
test time (never committed; nothing is written unless --out is given). For
each model NAME:

  <out>/NAME.onnx            opset 13, static shapes, inputs in0, in1, ...
                             and outputs out0, out1, ...
  <out>/NAME_in<k>.npy       float32 inputs, seeded
  <out>/NAME_out<k>.npy      PyTorch eval-mode float32 outputs

Models (seed 0, weights=PyTorch's default initialisation):
  lstm_bi2     nn.LSTM(8, 16, num_layers=2, bidirectional=True, batch_first=True)
               with explicit h0/c0 inputs; outputs y, h_n, c_n
  gru          nn.GRU(8, 16) (PyTorch exports linear_before_reset=1), input h0;
               outputs y, h_n
  rnn_relu_bi  nn.RNN(8, 16, nonlinearity="relu", bidirectional=True), input h0;
               outputs y, h_n
  interpolate  F.interpolate of one [2, 3, 6, 5] input: nearest x2, bilinear x2
               (align_corners False and True), bicubic x1.5 (False), bicubic x2
               (True), bilinear x0.5 (False)

Usage:
  /usr/bin/python3 tools/export_recurrent_resize.py --out DIR
"""

import argparse
import os

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

OPSET = 13


class Recurrent(nn.Module):
    def __init__(self, rnn, with_state):
        super().__init__()
        self.rnn = rnn
        self.with_state = with_state

    def forward(self, x, *state):
        # Explicit initial states: without them PyTorch builds zeros from Shape(x)
        # at run time, a shape subgraph the engine does not evaluate yet.
        if self.with_state:
            y, (h, c) = self.rnn(x, (state[0], state[1]))
            return y, h, c
        y, h = self.rnn(x, state[0])
        return y, h


class Interpolate(nn.Module):
    def forward(self, x):
        return (
            F.interpolate(x, scale_factor=2.0, mode="nearest"),
            F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False),
            F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True),
            F.interpolate(x, scale_factor=1.5, mode="bicubic", align_corners=False),
            # align_corners with a scale whose output size is exact: ONNX's reference maps
            # with scale * input as the output length, PyTorch with the integer size.
            F.interpolate(x, scale_factor=2.0, mode="bicubic", align_corners=True),
            F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False),
        )


def models():
    g = torch.Generator().manual_seed(1)

    def randn(*shape):
        return torch.randn(*shape, generator=g)

    torch.manual_seed(0)
    lstm = Recurrent(nn.LSTM(8, 16, num_layers=2, bidirectional=True, batch_first=True), True)
    gru = Recurrent(nn.GRU(8, 16), False)
    rnn = Recurrent(nn.RNN(8, 16, nonlinearity="relu", bidirectional=True), False)
    return [
        ("lstm_bi2", lstm, (randn(3, 5, 8), randn(4, 3, 16), randn(4, 3, 16))),
        ("gru", gru, (randn(5, 3, 8), randn(1, 3, 16))),
        ("rnn_relu_bi", rnn, (randn(5, 3, 8), randn(2, 3, 16))),
        ("interpolate", Interpolate(), (randn(2, 3, 6, 5),)),
    ]


def export(name, model, inputs, out_dir):
    model.eval()
    with torch.no_grad():
        outputs = model(*inputs)
    path = os.path.join(out_dir, name + ".onnx")
    torch.onnx.export(
        model, inputs, path,
        opset_version=OPSET,
        input_names=["in%d" % k for k in range(len(inputs))],
        output_names=["out%d" % k for k in range(len(outputs))],
        do_constant_folding=True,
    )
    onnx.checker.check_model(onnx.load(path))
    for k, t in enumerate(inputs):
        np.save(os.path.join(out_dir, "%s_in%d.npy" % (name, k)), t.numpy().astype(np.float32))
    for k, t in enumerate(outputs):
        np.save(os.path.join(out_dir, "%s_out%d.npy" % (name, k)), t.numpy().astype(np.float32))
    ops = sorted({n.op_type for n in onnx.load(path).graph.node})
    print("%s: %s" % (name, ", ".join(ops)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    for name, model, inputs in models():
        export(name, model, inputs, args.out)


if __name__ == "__main__":
    main()
