"""The book's layers (network3.py), parameter for parameter.

Layouts are the book's: a fully-connected or softmax weight is (n_in, n_out)
and the layer computes x·W + b; a conv weight is (maps, in_maps, 5, 5).

- conv-pool: valid convolution, max-pool (border ignored), + bias, activation.
  W ~ N(0, sqrt(1/n_out)) with n_out = maps·5·5/(2·2); b ~ N(0, 1). The
  pool's gradient follows `pool_gradient` (convlab/book/pooling.py): "theano", the
  book's, by default.
- FC: W ~ N(0, sqrt(1/n_out)), b ~ N(0, 1). Dropout p multiplies the layer's
  *input* by a 0/1 mask keeping each unit with probability 1−p (no rescaling)
  in training; evaluation computes activation((1−p)·x·W + b).
- softmax: W = 0, b = 0 at the start; dropout on its input as for FC. Returns
  the logits z; the cost (cross-entropy in trainer.sgd_step) applies log-softmax.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from convlab.book.convolution import conv2d
from convlab.book.pooling import max_pool
from convlab.config.spec import Layer

# The function of each activation a preset may name (config.spec.ACTIVATIONS), and
# of the softmax layer, which returns logits.
_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "linear": lambda z: z,
    "softmax": lambda z: z,
}


def activation_function(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The function of a layer's `activation` (a name from config.spec.ACTIVATIONS, or "softmax")."""
    return _FUNCTIONS[name]


class BookLayer(nn.Module):
    def __init__(self, layer: Layer, pool_gradient: str = "theano"):
        super().__init__()
        self.spec, self.pool_gradient = layer, pool_gradient
        self.act = activation_function(layer.activation)
        if layer.type == "conv_pool":
            shape = (layer.maps, layer.in_shape[0], layer.filter, layer.filter)
            self.w = nn.Parameter(torch.empty(shape))
            self.b = nn.Parameter(torch.empty(layer.maps))
        else:
            self.w = nn.Parameter(torch.empty(layer.n_in, layer.n_out))
            self.b = nn.Parameter(torch.empty(layer.n_out))

    def init_(self, gen: torch.Generator) -> None:
        """The book's initialisation, drawn on the CPU so every device starts alike."""
        layer = self.spec
        with torch.no_grad():
            if layer.type == "softmax":
                self.w.zero_()
                self.b.zero_()
                return
            if layer.type == "conv_pool":
                n_out = layer.maps * layer.filter**2 / layer.pool**2
            else:
                n_out = layer.n_out
            std = math.sqrt(1.0 / n_out)
            self.w.copy_(torch.randn(self.w.shape, generator=gen, dtype=torch.float64) * std)
            self.b.copy_(torch.randn(self.b.shape, generator=gen, dtype=torch.float64))

    def forward(self, x: torch.Tensor, train: bool, gen: torch.Generator | None) -> torch.Tensor:
        layer = self.spec
        if layer.type == "conv_pool":
            z = max_pool(conv2d(x, self.w), layer.pool, self.pool_gradient) + self.b.view(1, -1, 1, 1)
            return self.act(z)
        x = x.flatten(1)
        p = layer.dropout
        if p and train:
            keep = torch.empty_like(x).bernoulli_(1.0 - p, generator=gen)
            z = torch.addmm(self.b, x * keep, self.w)
        elif p:
            z = torch.addmm(self.b, x, self.w, alpha=1.0 - p)
        else:
            z = torch.addmm(self.b, x, self.w)
        return self.act(z)


class Network(nn.Module):
    def __init__(self, layers: tuple[Layer, ...], pool_gradient: str = "theano"):
        super().__init__()
        self.layers = nn.ModuleList(BookLayer(layer, pool_gradient) for layer in layers)

    def init_(self, seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        for layer in self.layers:
            layer.init_(gen)

    def forward(self, x: torch.Tensor, train: bool = False, gen: torch.Generator | None = None) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, train, gen)
        return x

    def weights(self) -> list[nn.Parameter]:
        return [layer.w for layer in self.layers]

    def book_params(self) -> list[nn.Parameter]:
        """Per layer, weight then bias: the order of the golden fixtures."""
        return [p for layer in self.layers for p in (layer.w, layer.b)]

    def first_filters(self) -> torch.Tensor | None:
        """The first conv layer's filters as (maps, 5, 5), or None without one."""
        first = self.layers[0]
        if first.spec.type != "conv_pool":
            return None
        return first.w.detach()[:, 0]
