"""Max-pooling (non-overlapping, border ignored) with either gradient rule (config.spec.POOL_GRADIENTS).

- "theano": the book's. network3.py pools with Theano's `pool_2d`, whose
  gradient goes to *every* element equal to its window's maximum. Ties are
  common: where an image is blank, a conv layer's outputs are equal across a
  window.
- "torch": PyTorch's `max_pool2d`, which sends it to one of them.

The Theano rule is written with slices of the input, one per window position,
so every operation is a plain elementwise one: on the relu preset's first
pool faster than `F.max_pool2d`, on its small second pool slower (there the
Python of a custom autograd function costs more than the arithmetic);
bench/bench_ops.py measures both.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F


def max_pool(x: torch.Tensor, k: int, rule: str = "theano") -> torch.Tensor:
    if rule == "torch":
        return F.max_pool2d(x, k)
    if k == 2 and x.shape[2] % 2 == 0 and x.shape[3] % 2 == 0 and x.is_contiguous():
        return TheanoMaxPool2.apply(x)
    return TheanoMaxPool.apply(x, k)


def _hits_times_grad(v: torch.Tensor, out: torch.Tensor, grad: torch.Tensor, g: torch.Tensor, k: int) -> None:
    """g[window position] = grad where v equals its window's maximum `out`, else 0.
    v, g: (n, c, rows, k, cols, k); out, grad: (n, c, rows, cols)."""
    for a, b in itertools.product(range(k), range(k)):
        # x − max ≤ 0, so sign(x − max) + 1 is 1 exactly where x is the maximum
        # (two cheap float ops; a boolean comparison is several times slower here)
        hit = torch.sub(v[:, :, :, a, :, b], out).sign_().add_(1)
        torch.mul(hit, grad, out=g[:, :, :, a, :, b])


class TheanoMaxPool2(torch.autograd.Function):
    """2×2 windows over an even, contiguous input: the presets' case, with the fewest operations."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        band = x.view(n, c, h // 2, 2 * w)  # each band: two image rows side by side
        rows = torch.maximum(band[..., :w], band[..., w:]).view(n, c, h // 2, w // 2, 2)
        out = torch.maximum(rows[..., 0], rows[..., 1])
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, out = ctx.saved_tensors
        n, c, h, w = x.shape
        g = torch.empty_like(x)
        shape = (n, c, h // 2, 2, w // 2, 2)
        _hits_times_grad(x.view(shape), out, grad.contiguous(), g.view(shape), 2)
        return g


def _windows(x: torch.Tensor, k: int) -> torch.Tensor:
    """x cut to whole windows, viewed as (n, c, rows, k, cols, k)."""
    n, c, h, w = x.shape
    rows, cols = h // k, w // k
    return x[:, :, : rows * k, : cols * k].contiguous().view(n, c, rows, k, cols, k)


class TheanoMaxPool(torch.autograd.Function):
    """Any window size; the border that does not fill a window is ignored."""

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
            torch.maximum(out, band[..., a * width : (a + 1) * width], out=out)
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
        _hits_times_grad(v, out, grad.contiguous(), g, k)
        n, c, rows, _, cols, _ = v.shape
        g = g.view(n, c, rows * k, cols * k)
        if g.shape == x.shape:
            return g, None
        grad_x = torch.zeros_like(x)  # the border ignored by the pool gets nothing
        grad_x[:, :, : rows * k, : cols * k] = g
        return grad_x, None
