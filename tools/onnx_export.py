"""The project's one convention for exporting PyTorch models to ONNX.

Owns: opset 13 by default, input "input", output "logits", a dynamic batch
axis, constant folding, and an onnx.checker pass on the written file. Used by
the Fashion-MNIST training scripts, the transformer scripts and the
torchvision exporter so all produce models the server treats alike. Models
with several inputs (the text encoder: token ids and attention mask) or
extra dynamic axes (sequence length) pass their names and axes explicitly.
torch 1.13's exporter supports opsets 7..17 (17 adds LayerNormalization).
"""

import onnx
import torch

OPSET = 13
MAX_OPSET = 17  # the newest opset torch 1.13's exporter can write


def export_onnx(model, path, sample, opset=OPSET, input_names=("input",),
                dynamic_axes=None):
    """Export `model` (put in eval mode) traced on `sample`; return the checked ModelProto.

    `sample` is one tensor or a tuple of tensors (one per input name).
    `dynamic_axes` defaults to a dynamic batch axis on every input and on
    "logits".
    """
    model.eval()
    input_names = list(input_names)
    if dynamic_axes is None:
        dynamic_axes = {name: {0: "batch"} for name in input_names}
        dynamic_axes["logits"] = {0: "batch"}
    torch.onnx.export(
        model, sample, path,
        opset_version=opset,
        input_names=input_names,
        output_names=["logits"],
        dynamic_axes=dynamic_axes,
        do_constant_folding=True,
    )
    m = onnx.load(path)
    onnx.checker.check_model(m)
    return m
