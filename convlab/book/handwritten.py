"""One SGD step's loss and gradients written by hand (no autograd), for the CPU.

Why: at a mini-batch of 10 the engine's step is dominated by fixed costs,
not arithmetic: oneDNN's convolution (slower here than PyTorch's own im2col
kernel, `_slow_conv2d`, at both conv layers' shapes), pooling on tensors
whose innermost dimension is a 2-wide window, and autograd's bookkeeping for
~40 small operations. bench/bench_engine.py measures this path against
autograd's, bench/bench_network3.py against the book's network3.py.

- The first conv layer (one input map) is an im2col of ours and one GEMM,
  with the im2col's columns ordered by (a, b, n, i, j): window row a and
  column b of pooled output (i, j) of image n, that is conv output
  (k·i + a, k·j + b). The GEMM's result, viewed (maps, k·k, N·ph·pw), holds
  each pooling window's k·k members in k·k contiguous blocks: the pool is a
  max over dim 1, and the book's pool gradient (every element equal to its
  window's maximum gets the window's gradient, the "theano" rule of
  convlab/book/pooling.py) is a few elementwise operations on contiguous memory.
  Its input needs no gradient, so no col2im.
- Layers with several input maps take their input as NHWC memory (the layer
  before writes it so) and build patch rows in pooling-window order, each
  patch in (p, q, c) order so that one copy moves runs of f·C floats: one
  GEMM gives (k·k, N·ph·pw·maps), pooled as above. The weights' gradient is
  one GEMM with the saved patches; the input's gradient is PyTorch's im2col
  kernel (`_slow_conv2d_backward`, input part only), whose col2im is faster
  than any of ours, given everything in channels-last memory.
- FC and softmax layers: addmm/mm, dropout masks drawn as Network.forward
  draws them (same shapes, same order, same generator).

The numbers are the autograd path's up to rounding (the golden fixtures pin
this path through trainer.sgd_step; tests/test_handwritten.py compares it
with autograd in float64 on every preset's layers). What it covers:
conv-pool layers first (valid convolution whose output the pool divides
exactly; the "theano" pool rule), then FC
and softmax layers, any of the book's activations, dropout. Anything else,
and any device but the CPU, takes the autograd path (`supports`).

The step calls private ATen kernels (`_slow_conv2d_backward`,
`_log_softmax_backward_data`), which a torch release may drop or change: a
network's first step is tried here once, and if it raises (a kernel missing
or refusing its arguments) autograd takes every step of that network. The
decision depends on the torch build only, never on the data, so a resumed
run takes the path its first part took.
"""

from __future__ import annotations

import weakref

import torch

aten = torch.ops.aten
MEAN = 1  # ATen's reduction code for a mean


def supports(net, x: torch.Tensor) -> bool:
    """Whether this network's step can be taken here (decided once per network,
    by its layers and one trial step on `x`)."""
    if x.device.type != "cpu":
        return False
    ok = _decided.get(net)
    if ok is None:
        ok = _decided[net] = _network_ok(net) and _runs_here(net, x)
    return ok


_decided: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # network → whether it is covered


def _network_ok(net) -> bool:
    seen_dense = False
    for layer in net.layers:
        s = layer.spec
        if s.type == "conv_pool":
            if seen_dense or layer.pool_gradient != "theano":
                return False
            _, h, w = s.in_shape
            if (h - s.filter + 1) % s.pool or (w - s.filter + 1) % s.pool:
                return False  # a border the pool ignores: the autograd path handles it
        else:
            seen_dense = True
    return True


def _runs_here(net, x: torch.Tensor) -> bool:
    """Whether this torch takes the step: one trial on `x`, with labels of
    its own and a generator of its own (the run's dropout stream is not touched)."""
    try:
        loss_and_grads(net, x, torch.zeros(len(x), dtype=torch.long), torch.Generator().manual_seed(0))
    except Exception:  # noqa: BLE001 - whatever this torch lacks, autograd takes the step
        return False
    return True


def _act_backward(name: str, g: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """g·act'(z), from the activation's output: the kernels autograd itself uses."""
    if name == "relu":
        return aten.threshold_backward(g, out, 0)
    if name == "sigmoid":
        return aten.sigmoid_backward(g, out)
    if name == "tanh":
        return aten.tanh_backward(g, out)
    return g  # linear, and the softmax layer's logits


def _act_(name: str, z: torch.Tensor) -> torch.Tensor:
    if name == "relu":
        return z.relu_()
    if name == "sigmoid":
        return z.sigmoid_()
    if name == "tanh":
        return z.tanh_()
    return z


def _window_view(a: torch.Tensor, f: int, k: int) -> torch.Tensor:
    """a (C, N, H, W), contiguous, viewed (C, f, f, k, k, N, ph, pw): element
    [c, p, q, a, b, n, i, j] is a[c, n, k·i + a + p, k·j + b + q]."""
    C, N, H, W = a.shape
    ph, pw = (H - f + 1) // k, (W - f + 1) // k
    # a mini-batch is a slice of the training set: keep its place in the storage
    return a.as_strided((C, f, f, k, k, N, ph, pw), (N * H * W, W, 1, W, 1, H * W, k * W, k), a.storage_offset())


def _im2col(a: torch.Tensor, f: int, k: int) -> torch.Tensor:
    """(C·f·f, k·k·N·ph·pw): one strided copy, columns in pooling-window order."""
    v = _window_view(a, f, k)
    return v.reshape(v.shape[0] * f * f, -1)


def _col2im(g_cols: torch.Tensor, shape: torch.Size, f: int, k: int) -> torch.Tensor:
    """The adjoint of _im2col: each column's entries added back where they came from.
    One add per filter offset (p, q); within one, every target is distinct."""
    g = torch.zeros(shape, dtype=g_cols.dtype)
    C, N, H, W = shape
    ph, pw = (H - f + 1) // k, (W - f + 1) // k
    v = g_cols.view(C, f, f, k, k, N, ph, pw)
    for p in range(f):
        for q in range(f):
            target = g.as_strided((C, k, k, N, ph, pw), (N * H * W, W, 1, H * W, k * W, k), p * W + q)
            target.add_(v[:, p, q])
    return g


def _nhwc_cols(a: torch.Tensor, f: int, k: int) -> torch.Tensor:
    """a (N, H, W, C), contiguous → (k·k·N·ph·pw, f·f·C): row (a, b, n, i, j) is
    the patch under conv output (k·i + a, k·j + b) of image n, in (p, q, c)
    order. A patch row's (q, c) part is f·C contiguous floats: one copy with
    long runs (the (c, p, q)-ordered im2col copies runs of a few floats)."""
    N, H, W, C = a.shape
    ph, pw = (H - f + 1) // k, (W - f + 1) // k
    v = a.as_strided((k, k, N, ph, pw, f, f * C), (W * C, C, H * W * C, k * W * C, k * C, W * C, 1), a.storage_offset())
    return v.reshape(k * k * N * ph * pw, f * f * C)


def _conv_forward(layer, a: torch.Tensor):
    """One conv-pool layer, a (N, C, H, W) → its output (N, maps, ph, pw), a
    view of (N, ph, pw, maps) memory, and what backward needs."""
    s, w, b = layer.spec, layer.w, layer.b
    n, c, h, wd = a.shape
    maps, f, k = s.maps, s.filter, s.pool
    ph, pw = (h - f + 1) // k, (wd - f + 1) // k
    if c == 1:  # im2col in pooling-window order: the pool on contiguous memory
        cols = _im2col(a.transpose(0, 1), f, k)  # (1, N, H, W): a free view
        z = torch.mm(w.view(maps, -1), cols).view(maps, k * k, -1)
        pooled = z.amax(1)
        out = _act_(s.activation, pooled + b.view(maps, 1))  # (maps, N·ph·pw)
        nhwc = out.t().contiguous().view(n, ph, pw, maps)
        return nhwc.permute(0, 3, 1, 2), ("im2col", a.shape, cols, z, pooled, out)
    # several input maps: one GEMM over the NHWC patches, rows in pooling-window order
    # (the previous conv layer's output is NHWC memory already: the permute is free)
    a_nhwc = a.permute(0, 2, 3, 1).contiguous()
    cols = _nhwc_cols(a_nhwc, f, k)
    w_t = w.permute(0, 2, 3, 1).contiguous()  # (maps, f, f, C): the weights in the patches' order
    z = torch.mm(cols, w_t.view(maps, -1).t()).view(k * k, -1)  # (k·k, N·ph·pw·maps)
    pooled = z.amax(0)
    out = _act_(s.activation, pooled.view(-1, maps) + b)  # (N·ph·pw, maps)
    return out.view(n, ph, pw, maps).permute(0, 3, 1, 2), ("nhwc", a_nhwc, cols, w_t, z, pooled, out)


def _conv_backward(layer, g: torch.Tensor, saved, need_input: bool):
    """g (N, maps, ph, pw) → (grad w, grad b, grad of the input or None)."""
    s, w = layer.spec, layer.w
    maps, f, k = s.maps, s.filter, s.pool
    if saved[0] == "im2col":
        _, in_shape, cols, z, pooled, out = saved
        g = _act_backward(s.activation, g.transpose(0, 1).reshape(maps, -1), out)
        # the book's pool gradient: to every member equal to its window's maximum.
        # z − max ≤ 0, so sign(z − max) + 1 is 1 exactly at the maxima (cheaper than a comparison)
        gz = torch.sub(z, pooled.unsqueeze(1)).sign_().add_(1).mul_(g.unsqueeze(1)).view(maps, -1)
        g_in = None
        if need_input:
            n, c, h, wd = in_shape
            g_in = _col2im(torch.mm(w.view(maps, -1).t(), gz), (c, n, h, wd), f, k).transpose(0, 1)
        return torch.mm(gz, cols.t()).view(w.shape), g.sum(1), g_in
    _, a_nhwc, cols, w_t, z, pooled, out = saved
    n, h, wd, c = a_nhwc.shape
    g = _act_backward(s.activation, g.permute(0, 2, 3, 1).reshape(-1, maps), out)  # (N·ph·pw, maps)
    gz = torch.sub(z, pooled).sign_().add_(1).mul_(g.view(1, -1))  # the book's pool gradient, as above
    g_w = torch.mm(gz.view(-1, maps).t(), cols).view(maps, f, f, c).permute(0, 3, 1, 2).contiguous()
    g_in = None
    if need_input:  # PyTorch's col2im is faster than ours: its kernel, all in NHWC (channels-last)
        # memory, which the kernel takes without a copy (and gz's copy into that order moves
        # runs of `maps` floats, not single ones as into NCHW)
        ph, pw = (h - f + 1) // k, (wd - f + 1) // k
        gz_nhwc = torch.empty((n, ph, k, pw, k, maps), dtype=gz.dtype)
        gz_nhwc.copy_(gz.view(k, k, n, ph, pw, maps).permute(2, 3, 0, 4, 1, 5))
        gz_cl = gz_nhwc.view(n, ph * k, pw * k, maps).permute(0, 3, 1, 2)
        w_cl = w_t.permute(0, 3, 1, 2)
        a_cl = a_nhwc.permute(0, 3, 1, 2)
        g_in = aten._slow_conv2d_backward(gz_cl, a_cl, w_cl, [f, f], [1, 1], [0, 0], [True, False, False])[0]
    return g_w, g.sum(0), g_in


@torch.no_grad()
def loss_and_grads(
    net, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator | None, seed: float = 1.0
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Mean cross-entropy of `net(x, train=True)` and its gradients, in
    Network.book_params order (per layer weight, then bias); each gradient
    times `seed`, the backward's starting value (as autograd's grad_outputs)."""
    n = x.shape[0]
    saved = []  # per layer, what its backward needs
    a = x.contiguous()
    for layer in net.layers:
        s = layer.spec
        if s.type == "conv_pool":
            a, kept = _conv_forward(layer, a)
            saved.append(kept)
            continue
        a = a.reshape(n, -1)  # the book's flatten of (N, maps, h, w)
        keep = None
        if s.dropout:  # the mask drawn as Network.forward draws it: same shape, same order
            keep = torch.empty_like(a).bernoulli_(1.0 - s.dropout, generator=gen)
            a = a * keep
        out = _act_(s.activation, torch.addmm(layer.b, a, layer.w))
        saved.append((a, keep, out))
        a = out

    # the cost: mean negative log-likelihood of the last layer's output as logits
    # (autograd's own kernels for it, called directly: fewer operations than
    # gather, exp and an indexed subtraction)
    logp = torch.log_softmax(a, 1)
    loss, weight = aten.nll_loss_forward(logp, y, None, MEAN, -100)
    g_logp = aten.nll_loss_backward(torch.full((), seed, dtype=logp.dtype), logp, y, None, MEAN, -100, weight)
    g = aten._log_softmax_backward_data(g_logp, logp, 1, logp.dtype)

    grads: list[torch.Tensor] = [None] * (2 * len(net.layers))  # type: ignore[list-item]
    for li in range(len(net.layers) - 1, -1, -1):
        layer = net.layers[li]
        if layer.spec.type == "conv_pool":
            grads[2 * li], grads[2 * li + 1], g = _conv_backward(layer, g, saved[li], need_input=li > 0)
            continue
        inp, keep, out = saved[li]
        g = _act_backward(layer.spec.activation, g, out)
        grads[2 * li], grads[2 * li + 1] = torch.mm(inp.t(), g), g.sum(0)
        if li:
            g = torch.mm(g, layer.w.t())
            if keep is not None:
                g.mul_(keep)
            prev = net.layers[li - 1]
            if prev.spec.type == "conv_pool":  # back to (N, maps, ph, pw), a view
                g = g.view(n, *prev.spec.out_shape)
    return loss, grads
