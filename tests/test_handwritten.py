"""The hand-written step (convlab/book/handwritten.py) against autograd through
Network.forward: same loss, same gradients (float64, to rounding), same
dropout masks from the same generator, on every preset's layers, with tied
maxima in the pools (blank image rows). Which networks it covers and which
it leaves to autograd, and a torch without the private kernels it calls."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from convlab.book import handwritten
from convlab.book.model import Network
from convlab.book.trainer import Trainer
from convlab.config import spec as specs
from convlab.config.spec import parse_text
from convlab.runs import events

from helpers import small_tensors

PRESETS = ["shallow", "one-conv", "no-fc", "two-conv", "tanh", "relu", "extra-fc", "dropout"]


def _net(spec, seed: int = 3) -> Network:
    net = Network(spec.layers, spec.train.pool_gradient).double()
    net.init_(seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # non-zero softmax weights, so every gradient is non-zero
        for p in net.book_params():
            p.add_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.1)
    return net


def _batch(n: int = 10, blank: int = 9):
    """A mini-batch as the engine takes it: a slice of a larger training set
    (so it starts inside its storage), with blank rows."""
    g = torch.Generator().manual_seed(1)
    data = torch.rand(3 * n, 1, 28, 28, dtype=torch.float64, generator=g)
    data[:, :, :blank] = 0.0  # blank rows: conv outputs tie across whole pooling windows
    return data[n : 2 * n], torch.randint(0, 10, (n,), generator=g)


def _assert_same_as_autograd(net: Network) -> None:
    x, y = _batch()
    assert handwritten.supports(net, x)
    loss = F.cross_entropy(net(x, train=True, gen=torch.Generator().manual_seed(7)), y)
    expected = torch.autograd.grad(loss, net.book_params())
    got_loss, got = handwritten.loss_and_grads(net, x, y, torch.Generator().manual_seed(7))
    torch.testing.assert_close(got_loss, loss.detach(), rtol=1e-12, atol=1e-14)
    assert len(got) == len(expected)
    for i, (a, b) in enumerate(zip(got, expected)):
        assert a.shape == b.shape, f"gradient {i}"
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=f"gradient {i}")
        assert b.abs().max() > 0


@pytest.mark.parametrize("preset", PRESETS)
def test_same_loss_and_gradients_as_autograd(preset):
    _assert_same_as_autograd(_net(specs.load(preset)))


def _two_conv(pool: int, activation: str = "sigmoid", first_maps: int = 2):
    return parse_text(
        f'name = "t"\n[[layers]]\ntype = "conv_pool"\nmaps = {first_maps}\n[[layers]]\n'
        f'type = "conv_pool"\nmaps = 3\npool = {pool}\nactivation = "{activation}"\n'
        f'[[layers]]\ntype = "softmax"\n'
    )


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_a_larger_pool_after_the_first_layer(activation):
    """12 − 5 + 1 = 8 outputs a side, pooled 4 × 4: the several-maps path's windows are not only 2×2."""
    _assert_same_as_autograd(_net(_two_conv(4, activation)))


def test_a_later_conv_layer_with_one_input_map():
    """A first layer of one map: the second conv layer takes the one-map path and
    needs its input's gradient (our col2im), which no preset reaches."""
    _assert_same_as_autograd(_net(_two_conv(2, "tanh", first_maps=1)))


def test_ties_get_the_books_pool_gradient_not_torchs():
    """On blank rows the two pool rules differ; the hand-written step follows the book's."""
    spec = specs.load("relu")
    x, y = _batch(blank=20)  # the second conv layer's windows then tie too
    theano, torch_rule = _net(spec), Network(spec.layers, "torch").double()
    with torch.no_grad():  # positive conv biases: the ReLUs pass the tied (blank) regions on
        theano.layers[0].b.fill_(1.0)
        theano.layers[1].b.fill_(1.0)
    torch_rule.load_state_dict(theano.state_dict())
    _, got = handwritten.loss_and_grads(theano, x, y, None)
    other = torch.autograd.grad(F.cross_entropy(torch_rule(x, train=True), y), torch_rule.book_params())
    # the second conv's weights: its inputs over blank rows are relu(b), equal, not zero
    assert not torch.allclose(got[2], other[2])


def test_what_it_leaves_to_autograd():
    x = torch.zeros(2, 1, 28, 28)
    relu = specs.load("relu")
    assert handwritten.supports(Network(relu.layers, "theano"), x)
    assert not handwritten.supports(Network(relu.layers, "torch"), x)  # PyTorch's pool rule
    assert handwritten.supports(Network(_two_conv(4).layers), x)  # 8 by 4: whole windows
    assert handwritten.supports(Network(_two_conv(3).layers), x) is False  # 8 by 3: a border the pool ignores
    if torch.cuda.is_available():  # pragma: no cover - a GPU run
        assert not handwritten.supports(Network(relu.layers), x.cuda())


class _AtenWithout:
    """torch.ops.aten as a torch release without one of its private kernels
    (`raises`: with it, but refusing every call) would show it."""

    def __init__(self, name: str, raises: bool = False):
        self.name, self.raises = name, raises

    def __getattr__(self, name: str):
        if name != self.name:
            return getattr(torch.ops.aten, name)
        if not self.raises:
            raise AttributeError(f"'_OpNamespace' 'aten' object has no attribute '{name}'")

        def refuse(*args, **kwargs):
            raise RuntimeError(f"aten::{name}: no such overload")

        return refuse


def _first_epoch(mnist, spec):
    """One epoch of 15 mini-batches by the trainer; its loss, accuracy and parameters."""
    trainer = Trainer(spec, small_tensors(mnist, 150, 200), torch.device("cpu"), seed=5)
    epoch = next(e for e in trainer.run() if isinstance(e, events.Epoch))
    return (epoch.train_loss, epoch.val_acc), [p.detach().clone() for p in trainer.params], trainer


@pytest.mark.parametrize(
    "missing", [("_slow_conv2d_backward", False), ("_slow_conv2d_backward", True), ("_log_softmax_backward_data", True)]
)
def test_a_torch_without_a_private_kernel_trains_by_autograd(mnist, monkeypatch, missing):
    """pyproject admits torch 2.2 to 3: where a private kernel of this step is
    missing or refuses its arguments, the network takes the autograd step and
    trains to the autograd path's numbers, exactly."""
    spec = specs.load("relu").with_train(epochs=1)  # two conv layers: the second needs _slow_conv2d_backward
    with monkeypatch.context() as m:
        m.setattr(handwritten, "supports", lambda net, x: False)
        expected, expected_params, _ = _first_epoch(mnist, spec)
    hand, _, trainer = _first_epoch(mnist, spec)
    assert handwritten.supports(trainer.net, trainer.tensors.train_x[:10])  # with every kernel: the hand-written step
    monkeypatch.setattr(handwritten, "aten", _AtenWithout(*missing))
    got, params, trainer = _first_epoch(mnist, spec)
    assert not handwritten.supports(trainer.net, trainer.tensors.train_x[:10])
    assert got == expected and hand[0] == pytest.approx(expected[0], rel=1e-4)
    assert all(torch.equal(p, q) for p, q in zip(params, expected_params))
