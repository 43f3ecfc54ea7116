"""Max-pooling by either gradient rule, against a loop over the windows:
the same forward as F.max_pool2d; Theano's backward gives the window's
gradient to every tied maximum, torch's to exactly one; the border that
does not fill a window gets nothing."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from convlab.book.pooling import max_pool


def _theano_reference(x: torch.Tensor, out: torch.Tensor, grad: torch.Tensor, k: int) -> torch.Tensor:
    ref = torch.zeros_like(x)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            window = x[:, :, i * k : (i + 1) * k, j * k : (j + 1) * k]
            hit = (window == out[:, :, i : i + 1, j : j + 1]).to(x.dtype)
            ref[:, :, i * k : (i + 1) * k, j * k : (j + 1) * k] = hit * grad[:, :, i : i + 1, j : j + 1]
    return ref


@pytest.mark.parametrize("shape, k", [((3, 4, 24, 24), 2), ((2, 3, 9, 9), 2), ((2, 2, 11, 7), 3)])
def test_theano_rule_sends_the_gradient_to_every_tied_maximum(shape, k):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape, dtype=torch.float64, generator=g)
    x[:, :, :4, :4] = 0.5  # a blank patch: whole windows tied
    x[:, :, 5, 0] = x[:, :, 5, 1] = 9.0  # two tied maxima of one window
    x.requires_grad_()
    out = max_pool(x, k, "theano")
    torch.testing.assert_close(out, F.max_pool2d(x, k), rtol=0, atol=0)
    grad = torch.randn(out.shape, dtype=torch.float64, generator=g)
    (got,) = torch.autograd.grad(out, x, grad)
    torch.testing.assert_close(got, _theano_reference(x.detach(), out.detach(), grad, k), rtol=0, atol=0)
    # ties really happened, so the rules differ
    (torch_rule,) = torch.autograd.grad(max_pool(x, k, "torch"), x, grad)
    assert torch.count_nonzero(got) > torch.count_nonzero(torch_rule)
    assert torch.count_nonzero(torch_rule) == out.numel()  # one element per window


def test_without_ties_both_rules_agree():
    x = torch.randn(2, 3, 12, 12, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    a = torch.autograd.grad(max_pool(x, 2, "theano"), x, grad)[0]
    b = torch.autograd.grad(max_pool(x, 2, "torch"), x, grad)[0]
    assert torch.equal(a, b)
