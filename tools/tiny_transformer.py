"""Pre-norm transformer encoder blocks shared by the tiny ViT and the text encoder.

Owns: multi-head self-attention written out with Linear/reshape/transpose/
matmul/softmax (so the exported ONNX has the BERT-style graph a user's model
has: 3-D weight MatMuls for Q, K, V, output projection and FFN, 4-D
activation x activation MatMuls for Q.K^T and attention.V), the MLP with
GELU, and the pre-norm block. nn.MultiheadAttention is avoided because its
export is a different, fused graph.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Linear(nn.Linear):
    """nn.Linear whose *training* forward runs as a 1x1 convolution.

    Debian's torch 1.13 links the generic reference BLAS (about 2 GFLOP/s
    here) while convolutions go through oneDNN (3-5x faster on this box).
    Eval mode, and so the ONNX export, uses F.linear (MatMul + Add).
    """

    def forward(self, x):
        if not self.training:
            return F.linear(x, self.weight, self.bias)
        shape = x.shape
        flat = x.reshape(-1, shape[-1]).t()[None]  # [1, in, rows]
        y = F.conv1d(flat, self.weight[:, :, None], self.bias)[0].t()
        return y.reshape(*shape[:-1], y.shape[-1])


class SelfAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        assert dim % heads == 0
        self.heads = heads
        self.head_dim = dim // heads
        self.q = Linear(dim, dim)
        self.k = Linear(dim, dim)
        self.v = Linear(dim, dim)
        self.proj = Linear(dim, dim)
        self.scale = 1.0 / math.sqrt(self.head_dim)

    def _split(self, t):
        # [B, S, D] -> [B, H, S, hd]
        return t.reshape(t.shape[0], -1, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x, bias=None):
        """x [B, S, D]; bias None or additive [B, 1, 1, S] (0 keep, -1e4 pad)."""
        q = self._split(self.q(x))
        k = self._split(self.k(x))
        v = self._split(self.v(x))
        att = torch.matmul(q, k.transpose(-1, -2)) * self.scale
        if bias is not None:
            att = att + bias
        att = att.softmax(dim=-1)
        out = torch.matmul(att, v).transpose(1, 2)
        out = out.reshape(out.shape[0], -1, self.heads * self.head_dim)
        return self.proj(out)


class Block(nn.Module):
    """x + Attn(LN(x)); x + MLP(LN(x)) with a GELU MLP."""

    def __init__(self, dim, heads, mlp_dim):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        self.fc1 = Linear(dim, mlp_dim)
        self.act = nn.GELU()
        self.fc2 = Linear(mlp_dim, dim)

    def forward(self, x, bias=None):
        x = x + self.attn(self.ln1(x), bias)
        return x + self.fc2(self.act(self.fc1(self.ln2(x))))


def seed_everything(seed):
    """Fix every RNG the training scripts touch; deterministic torch kernels."""
    import random

    import numpy as np
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def warmup_cosine(opt, total_steps, warmup_steps):
    """Linear warm-up then cosine decay to 0 (transformers need the warm-up)."""
    def f(step):
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))
    return torch.optim.lr_scheduler.LambdaLR(opt, f)
