"""The project's one convention for exporting PyTorch models to ONNX.

Owns: opset 13, input "input", output "logits", a dynamic batch axis,
constant folding, and an onnx.checker pass on the written file. Used by the
Fashion-MNIST training script and the torchvision exporter so both produce
models the server treats alike.
"""

import onnx
import torch

OPSET = 13


def export_onnx(model, path, sample):
    """Export `model` (put in eval mode) traced on `sample`; return the checked ModelProto."""
    model.eval()
    torch.onnx.export(
        model, sample, path,
        opset_version=OPSET,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        do_constant_folding=True,
    )
    m = onnx.load(path)
    onnx.checker.check_model(m)
    return m
