"""Max-pooling (non-overlapping, border ignored) with either gradient rule.

- "theano": the book's. network3.py pools with Theano's `pool_2d`, whose
  gradient goes to *every* element equal to its window's maximum. Ties are
  common: where an image is blank, a conv layer's outputs are equal across a
  window.
- "torch": PyTorch's `max_pool2d`, which sends it to one of them.

The Theano rule is written with slices of the input, one per window position,
so every operation is a plain elementwise one. Measured at one thread (CPU
time, bench/bench_ops.py) on the relu preset's shapes, forward and backward
together: 10×20×24×24 about 0.38 ms against `F.max_pool2d`'s 0.82 ms;
10×40×8×8 about 0.16 against 0.21 ms.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

RULES = ("theano", "torch")


def max_pool(x: torch.Tensor, k: int, rule: str = "theano") -> torch.Tensor:
    if rule == "torch":
        return F.max_pool2d(x, k)
    return TheanoMaxPool.apply(x, k)


def _windows(x: torch.Tensor, k: int) -> torch.Tensor:
    """x cut to whole windows, viewed as (n, c, rows, k, cols, k)."""
    n, c, h, w = x.shape
    rows, cols = h // k, w // k
    return x[:, :, :rows * k, :cols * k].contiguous().view(n, c, rows, k, cols, k)


class TheanoMaxPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, k: int) -> torch.Tensor:
        v = _windows(x, k)
        n, c, rows, _, cols, _ = v.shape
        # rows first (k contiguous slices of each band), then columns: plain
        # elementwise maxima, several times faster here than amax or max_pool2d
        band = v.view(n, c, rows, k * cols * k)
        width = cols * k
        out = band[..., :width].clone()
        for a in range(1, k):
            torch.maximum(out, band[..., a * width:(a + 1) * width], out=out)
        pairs = out.view(n, c, rows, cols, k)
        out = pairs[..., 0].clone()
        for b in range(1, k):
            torch.maximum(out, pairs[..., b], out=out)
        ctx.save_for_backward(x, out)
        ctx.k = k
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, out = ctx.saved_tensors
        k = ctx.k
        v = _windows(x, k)
        g = torch.empty(v.shape, dtype=grad.dtype, device=grad.device)
        grad = grad.contiguous()
        for a, b in itertools.product(range(k), range(k)):
            # 1 where the element equals its window's maximum, else 0: x − max ≤ 0,
            # so sign(x − max) + 1 is exactly that (and costs two fast float ops)
            hit = torch.sub(v[:, :, :, a, :, b], out).sign_().add_(1)
            torch.mul(hit, grad, out=g[:, :, :, a, :, b])
        n, c, rows, _, cols, _ = v.shape
        g = g.view(n, c, rows * k, cols * k)
        if g.shape == x.shape:
            return g, None
        grad_x = torch.zeros_like(x)  # the border ignored by the pool gets nothing
        grad_x[:, :, :rows * k, :cols * k] = g
        return grad_x, None
