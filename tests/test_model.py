"""The book's layers, parameter for parameter: each fidelity rule of chapter 6
pinned by a small numeric test, and the golden fixtures of an independent
implementation matched at float64 and float32."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from convlab.book.model import BookLayer, Network, activation_function
from convlab.book.trainer import sgd_step
from convlab.config import spec as specs
from convlab.config.spec import Layer, parse_text

from helpers import FIXTURES, SHARED_FIXTURES


def fc(n_in: int, n_out: int, activation: str = "linear", dropout: float = 0.0, kind: str = "fc") -> BookLayer:
    return BookLayer(
        Layer(
            type=kind,
            activation="softmax" if kind == "softmax" else activation,
            n_out=n_out,
            dropout=dropout,
            in_shape=(n_in,),
            out_shape=(n_out,),
        )
    ).double()


def randomise(layer: BookLayer, seed: int = 0) -> BookLayer:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        layer.w.copy_(torch.randn(layer.w.shape, generator=g, dtype=torch.float64))
        layer.b.copy_(torch.randn(layer.b.shape, generator=g, dtype=torch.float64))
    return layer


pytestmark = pytest.mark.usefixtures("single_thread")


# ---------------------------------------------------------------- dropout


@pytest.mark.parametrize("kind, activation", [("fc", "sigmoid"), ("fc", "relu"), ("softmax", "softmax")])
def test_dropout_evaluation_scales_the_weights(kind, activation):
    p = 0.3
    layer = randomise(fc(7, 5 if kind == "fc" else 10, activation, p, kind))
    x = torch.randn(4, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    w, b = layer.w.detach(), layer.b.detach()
    z = (1 - p) * (x @ w) + b
    expected = {"sigmoid": torch.sigmoid, "relu": torch.relu, "softmax": lambda t: t}[activation](z)
    torch.testing.assert_close(layer(x, train=False, gen=None), expected, rtol=1e-12, atol=1e-12)
    # without dropout there is no scaling
    plain = randomise(fc(7, 5, activation if kind == "fc" else "linear"))
    torch.testing.assert_close(
        plain(x, train=False, gen=None), plain.act(x @ plain.w.detach() + plain.b.detach()), rtol=1e-12, atol=1e-12
    )


def test_dropout_training_masks_the_input_with_zeros_and_ones():
    n, p = 2000, 0.5
    gen = torch.Generator().manual_seed(0)
    x = torch.ones(8, n, dtype=torch.float64)

    # identity weights: the output is the mask itself, 0 or 1 (no 1/(1-p) rescaling)
    ident = fc(n, n, "linear", p)
    with torch.no_grad():
        ident.w.copy_(torch.eye(n, dtype=torch.float64))
        ident.b.zero_()
    mask = ident(x, train=True, gen=gen)
    assert set(torch.unique(mask).tolist()) == {0.0, 1.0}
    kept = mask.mean().item()
    assert abs(kept - (1 - p)) < 0.02
    assert not torch.equal(mask[0], mask[1])  # a fresh mask for every example

    # one output summing all inputs: it counts the kept *inputs* (a mask on the
    # output would give 0 or n; a rescaled mask would give about n)
    total = fc(n, 1, "linear", p)
    with torch.no_grad():
        total.w.fill_(1.0)
        total.b.zero_()
    counts = total(x, train=True, gen=gen).flatten()
    assert torch.all(counts == counts.round())
    assert torch.all((counts > 0.4 * n) & (counts < 0.6 * n)), counts

    # with p = 0.25 about three quarters are kept
    quarter = fc(n, 1, "linear", 0.25)
    with torch.no_grad():
        quarter.w.fill_(1.0)
        quarter.b.zero_()
    assert abs(quarter(x, train=True, gen=gen).mean().item() / n - 0.75) < 0.02


def test_dropout_in_training_is_seeded():
    layer = randomise(fc(50, 20, "relu", 0.5))
    x = torch.randn(6, 50, dtype=torch.float64)
    a = layer(x, train=True, gen=torch.Generator().manual_seed(5))
    b = layer(x, train=True, gen=torch.Generator().manual_seed(5))
    c = layer(x, train=True, gen=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_no_dropout_means_training_and_evaluation_agree():
    layer = randomise(fc(30, 10, "tanh"))
    x = torch.randn(3, 30, dtype=torch.float64)
    assert torch.equal(layer(x, train=True, gen=None), layer(x, train=False, gen=None))


# ---------------------------------------------------------------- conv-pool


def _manual_conv_pool(x: np.ndarray, w: np.ndarray, b: np.ndarray, pool: int, act) -> np.ndarray:
    """Valid cross-correlation, non-overlapping max-pool with the border
    ignored, then + bias, then the activation: loops, independent of torch."""
    n, c, h, _ = x.shape
    maps, _, k, _ = w.shape
    side = h - k + 1
    conv = np.zeros((n, maps, side, side))
    for i in range(side):
        for j in range(side):
            patch = x[:, :, i : i + k, j : j + k]
            conv[:, :, i, j] = np.einsum("ncuv,mcuv->nm", patch, w)
    out_side = side // pool
    pooled = conv[:, :, : out_side * pool, : out_side * pool].reshape(n, maps, out_side, pool, out_side, pool)
    return act(pooled.max(axis=(3, 5)) + b[None, :, None, None])


@pytest.mark.parametrize(
    "activation, act",
    [
        ("sigmoid", lambda z: 1 / (1 + np.exp(-z))),
        ("tanh", np.tanh),
        ("relu", lambda z: np.maximum(z, 0)),
    ],
)
def test_conv_pool_is_conv_then_pool_then_bias_then_activation(activation, act):
    # 2 input maps of 13×13: the 9×9 convolution leaves a border row and
    # column that the 2×2 pool must ignore
    layer = Layer(
        type="conv_pool", activation=activation, maps=3, filter=5, pool=2, in_shape=(2, 13, 13), out_shape=(3, 4, 4)
    )
    book = randomise(BookLayer(layer).double(), seed=3)
    with torch.no_grad():
        book.b.mul_(3.0)  # large biases, so a bias in the wrong place would show
    x = torch.rand(4, 2, 13, 13, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    got = book(x, train=False, gen=None)
    assert got.shape == (4, 3, 4, 4)
    expected = _manual_conv_pool(x.numpy(), book.w.detach().numpy(), book.b.detach().numpy(), 2, act)
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-10, atol=1e-12)
    # and it is the same layer in training mode: conv-pool layers have no dropout
    assert torch.equal(got, book(x, train=True, gen=torch.Generator().manual_seed(0)))


def test_every_activation_a_preset_may_name_has_its_function():
    """The names live in config.spec.ACTIVATIONS (what a preset may choose), the functions in the model."""
    z = torch.linspace(-3, 3, 13, dtype=torch.float64)
    expected = {"sigmoid": torch.sigmoid(z), "tanh": torch.tanh(z), "relu": z.clamp(min=0), "linear": z}
    assert set(specs.ACTIVATIONS) == set(expected)
    for name in specs.ACTIVATIONS:
        assert torch.equal(activation_function(name)(z), expected[name]), name
    assert torch.equal(activation_function("softmax")(z), z)  # the softmax layer returns logits


def test_conv_weight_layout_is_cross_correlation():
    """A filter with a single 1 at its top-left copies the input's top-left
    5×5-window corner: cross-correlation, not a flipped convolution."""
    layer = Layer(
        type="conv_pool", activation="linear", maps=1, filter=5, pool=1, in_shape=(1, 8, 8), out_shape=(1, 4, 4)
    )
    book = BookLayer(layer).double()
    with torch.no_grad():
        book.w.zero_()
        book.w[0, 0, 0, 0] = 1.0
        book.b.zero_()
    x = torch.arange(64, dtype=torch.float64).reshape(1, 1, 8, 8)
    torch.testing.assert_close(book(x, False, None)[0, 0], x[0, 0, :4, :4])


# ---------------------------------------------------------------- initialisation


def test_initialisation_statistics():
    spec = specs.load("relu")
    net = Network(spec.layers)
    net.init_(seed=0)
    conv1, conv2, full, soft = net.layers
    # conv: std sqrt(1/n_out) with n_out = maps·5·5/(2·2)
    for layer, maps, tol in ((conv1, 20, 0.12), (conv2, 40, 0.03)):
        w = layer.w.detach().double()
        assert w.std().item() == pytest.approx(math.sqrt(1 / (maps * 25 / 4)), rel=tol)
        assert abs(w.mean().item()) < 3 * math.sqrt(1 / (maps * 25 / 4)) / math.sqrt(w.numel())
    # FC: std sqrt(1/n_out)
    w = full.w.detach().double()
    assert w.shape == (640, 100)
    assert w.std().item() == pytest.approx(math.sqrt(1 / 100), rel=0.03)
    # biases ~ N(0, 1)
    b = torch.cat([conv1.b, conv2.b, full.b]).detach().double()
    assert b.std().item() == pytest.approx(1.0, rel=0.15) and abs(b.mean().item()) < 0.3
    # softmax starts at exactly zero
    assert torch.count_nonzero(soft.w) == 0 and torch.count_nonzero(soft.b) == 0
    # FC(1000) of the dropout preset: std sqrt(1/1000)
    wide = Network(specs.load("dropout").layers)
    wide.init_(seed=1)
    assert wide.layers[3].w.detach().double().std().item() == pytest.approx(math.sqrt(1 / 1000), rel=0.02)


def test_initialisation_is_seeded():
    layers = specs.load("relu").layers
    a, b, c = Network(layers), Network(layers), Network(layers)
    a.init_(7)
    b.init_(7)
    c.init_(8)
    assert all(torch.equal(p, q) for p, q in zip(a.book_params(), b.book_params()))
    assert not torch.equal(a.layers[0].w, c.layers[0].w)


def test_layouts_are_the_books():
    net = Network(specs.load("relu").layers)
    assert [tuple(p.shape) for p in net.book_params()] == [
        (20, 1, 5, 5),
        (20,),
        (40, 20, 5, 5),
        (40,),
        (640, 100),
        (100,),
        (100, 10),
        (10,),
    ]
    assert sum(p.numel() for p in net.parameters()) == 85_670


# ---------------------------------------------------------------- cost and L2


def book_cost(
    net: Network,
    x: torch.Tensor,
    y: torch.Tensor,
    lmbda: float,
    n_batches: int,
    train: bool = False,
    gen: torch.Generator | None = None,
) -> torch.Tensor:
    """The book's cost, the reference engine.sgd_step is checked against: mean NLL
    + 0.5·λ·Σ‖W‖² / (number of training mini-batches), over weights only (biases
    are not regularised)."""
    nll = F.cross_entropy(net(x, train, gen), y)
    l2 = sum((w**2).sum() for w in net.weights())
    return nll + 0.5 * lmbda * l2 / n_batches


def _tiny_net(seed: int = 0) -> Network:
    spec = parse_text(
        'name = "tiny"\n[train]\nactivation = "tanh"\n'
        '[[layers]]\ntype = "conv_pool"\nmaps = 2\n'
        '[[layers]]\ntype = "fc"\nn_out = 6\n'
        '[[layers]]\ntype = "softmax"\n'
    )
    net = Network(spec.layers).double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.book_params():  # random softmax weights too, so every gradient is non-zero
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.5)
    return net


def _batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(5, 1, 28, 28, dtype=torch.float64, generator=g), torch.randint(0, 10, (5,), generator=g)


def test_cost_is_nll_plus_l2_over_the_number_of_minibatches():
    net = _tiny_net()
    x, y = _batch()
    lmbda, n = 3.0, 7
    logits = net(x)
    nll = -torch.log_softmax(logits, 1)[torch.arange(5), y].mean()
    l2 = sum((layer.w**2).sum() for layer in net.layers)  # weights only, no biases
    expected = nll + 0.5 * lmbda * l2 / n
    torch.testing.assert_close(book_cost(net, x, y, lmbda, n), expected, rtol=1e-13, atol=0)
    # the biases are not in the penalty
    before = book_cost(net, x, y, lmbda, n) - book_cost(net, x, y, 0.0, n)
    with torch.no_grad():
        for b in [layer.b for layer in net.layers]:
            b.mul_(10)
    after = book_cost(net, x, y, lmbda, n) - book_cost(net, x, y, 0.0, n)
    torch.testing.assert_close(before, after)


def test_sgd_step_l2_gradient_and_undecayed_biases():
    eta, lmbda, n = 0.5, 4.0, 8  # n = number of training mini-batches
    net = _tiny_net()
    x, y = _batch()
    params = net.book_params()
    before = [p.detach().clone() for p in params]
    nll = F.cross_entropy(net(x), y)
    grads = torch.autograd.grad(nll, params)

    sgd_step(net, params, net.weights(), x, y, eta, lmbda / n, None)

    for layer_i in range(3):
        w0, b0 = before[2 * layer_i], before[2 * layer_i + 1]
        gw, gb = grads[2 * layer_i], grads[2 * layer_i + 1]
        # weights: W ← W − η(g + λ/n·W)
        torch.testing.assert_close(
            params[2 * layer_i].detach(), w0 - eta * (gw + lmbda / n * w0), rtol=1e-12, atol=1e-14
        )
        # biases: b ← b − η·g, no decay
        torch.testing.assert_close(params[2 * layer_i + 1].detach(), b0 - eta * gb, rtol=1e-12, atol=1e-14)
        assert not torch.allclose(b0 - eta * (gb + lmbda / n * b0), params[2 * layer_i + 1].detach())


def test_sgd_step_is_gradient_descent_on_the_books_cost():
    """p ← p − η·∂C/∂p with C = book_cost, for every weight and bias."""
    eta, lmbda, n = 0.1, 0.1, 3
    net = _tiny_net(seed=1)
    x, y = _batch(seed=1)
    params = net.book_params()
    grads = torch.autograd.grad(book_cost(net, x, y, lmbda, n), params)
    expected = [p.detach() - eta * g for p, g in zip(params, grads)]
    sgd_step(net, params, net.weights(), x, y, eta, lmbda / n, None)
    for p, e in zip(params, expected):
        torch.testing.assert_close(p.detach(), e, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- golden fixtures


def test_the_golden_fixtures_are_the_shared_ones_unchanged():
    """tests/golden is a copy of ../shared/fixtures: every file matches SHA256SUMS,
    and, where the shared folder is beside the repository, its files too."""
    import hashlib

    sums = dict(line.split()[::-1] for line in (FIXTURES / "SHA256SUMS").read_text().splitlines())
    assert {"golden.json", "golden_relu_l2.npz", "golden_relu_l2_theano_ties.npz"} <= set(sums)
    for name, digest in sums.items():
        assert hashlib.sha256((FIXTURES / name).read_bytes()).hexdigest() == digest, name
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"{SHARED_FIXTURES} is not beside this checkout: the copy was checked against SHA256SUMS only")
    for name in sums:
        assert (SHARED_FIXTURES / name).read_bytes() == (FIXTURES / name).read_bytes(), name


def _golden(case: str):
    meta = json.loads((FIXTURES / "golden.json").read_text())[case]
    arrays = np.load(FIXTURES / f"golden_{case}.npz")
    return meta, {k: arrays[k] for k in arrays.files}


def _golden_toml(meta: dict, pool_gradient: str) -> str:
    """golden.json's layer list as a preset (shapes given explicitly, so the
    spec checker confirms them)."""
    lines = [
        'name = "golden"',
        "",
        "[train]",
        f"eta = {meta['eta']!r}",
        f"lmbda = {meta['lmbda']!r}",
        f'pool_gradient = "{pool_gradient}"',
    ]
    for entry in meta["layers"]:
        kind = entry[0]
        lines += ["", "[[layers]]"]
        if kind == "conv":
            lines += [
                'type = "conv_pool"',
                f"maps = {int(entry[1])}",
                f"in_maps = {int(entry[2])}",
                f'activation = "{entry[3]}"',
            ]
        elif kind == "fc":
            lines += [
                'type = "fc"',
                f"n_in = {int(entry[1])}",
                f"n_out = {int(entry[2])}",
                f'activation = "{entry[3]}"',
                f"dropout = {float(entry[4])!r}",
            ]
        elif kind == "softmax":
            lines += [
                'type = "softmax"',
                f"n_in = {int(entry[1])}",
                f"n_out = {int(entry[2])}",
                f"dropout = {float(entry[3])!r}",
            ]
        else:  # pragma: no cover - a new layer kind in the fixtures
            raise AssertionError(f"unknown layer kind {kind!r} in golden.json")
    return "\n".join(lines) + "\n"


def _golden_net(meta, arrays, dtype, pool_gradient="theano"):
    spec = parse_text(_golden_toml(meta, pool_gradient), label="golden.toml")
    net = Network(spec.layers, spec.train.pool_gradient).to(dtype)
    params = net.book_params()
    assert [list(p.shape) for p in params] == meta["params"]
    with torch.no_grad():
        for i, p in enumerate(params):
            p.copy_(torch.from_numpy(arrays[f"before_{i}"]))
    x = torch.from_numpy(arrays["x"]).to(dtype).reshape(-1, 1, 28, 28)
    y = torch.from_numpy(arrays["y"]).long()
    return spec, net, x, y


TOLERANCE = {torch.float64: dict(rtol=1e-10, atol=1e-10), torch.float32: dict(rtol=1e-4, atol=1e-5)}


def _check_golden_step(case: str, dtype, pool_gradient: str):
    """Logits, cost and every parameter after one SGD step, against the fixture."""
    meta, arrays = _golden(case)
    spec, net, x, y = _golden_net(meta, arrays, dtype, pool_gradient)
    assert spec.train.lmbda == meta["lmbda"] and spec.train.pool_gradient == pool_gradient
    tol = TOLERANCE[dtype]

    np.testing.assert_allclose(net(x).detach().double().numpy(), arrays["logits_eval"], **tol)
    cost = book_cost(net, x, y, meta["lmbda"], meta["num_training_batches"]).item()
    assert cost == pytest.approx(float(arrays["cost"]), rel=tol["rtol"])

    params = net.book_params()
    sgd_step(net, params, net.weights(), x, y, meta["eta"], meta["lmbda"] / meta["num_training_batches"], None)
    for i, p in enumerate(params):
        after, before = arrays[f"after_{i}"], arrays[f"before_{i}"]
        # the step must move each tensor by far more than the tolerance, or the comparison says nothing
        assert np.abs(after - before).max() > 1e-4
        np.testing.assert_allclose(
            p.detach().double().numpy(),
            after,
            rtol=tol["rtol"],
            atol=tol["atol"] * 1e-2 if dtype == torch.float64 else 1e-6,
            err_msg=f"parameter {i} after one SGD step",
        )


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_golden_relu_l2(dtype):
    """golden_relu_l2.npz was computed with PyTorch's pool gradient (one element per window)."""
    _check_golden_step("relu_l2", dtype, "torch")
    assert parse_text(_golden_toml(_golden("relu_l2")[0], "torch")).params == 85_670


@pytest.mark.parametrize("case", ["relu_l2_theano_ties", "sigmoid_theano_ties"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_golden_theano_pool_gradient(case, dtype):
    """The book's rule: every tied maximum of a window gets the window's gradient."""
    _check_golden_step(case, dtype, "theano")


@pytest.mark.parametrize(
    "case, rule", [("relu_l2_theano_ties", "torch"), ("sigmoid_theano_ties", "torch"), ("relu_l2", "theano")]
)
def test_the_two_pool_rules_differ_on_these_images(case, rule):
    """Each fixture pins its own rule: the other one misses the first conv
    layer's weights by far more than float64's tolerance."""
    with pytest.raises(AssertionError, match="parameter 0 after one SGD step"):
        _check_golden_step(case, torch.float64, rule)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_golden_dropout_eval(dtype):
    meta, arrays = _golden("dropout_eval")
    spec, net, x, _ = _golden_net(meta, arrays, dtype)
    assert [l.dropout for l in spec.layers] == [0.0, 0.0, 0.5, 0.5, 0.5]
    np.testing.assert_allclose(net(x).detach().double().numpy(), arrays["logits_eval"], **TOLERANCE[dtype])
