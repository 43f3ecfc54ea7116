"""The training step captured once as a CUDA graph and replayed (CUDA only).

At a mini-batch of 10 a GPU spends its time waiting for the host to launch
some hundred small kernels a step; a CUDA graph launches them all at once.
The step (forward, backward, update, the loss summed into a device buffer,
for every member of a batched model: convlab/book/stacked.py passes it in) reads its images from static buffers
and its η and L2 factors from device tensors, so one capture serves a whole
run. Elsewhere (`supported` says why not) the same step runs eagerly.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

WARMUP_STEPS = 3  # on a side stream before capture, as torch.cuda.graphs asks


def supported(device: torch.device, dropout: bool) -> str | None:
    """Why the step cannot be captured here, or None."""
    if device.type != "cuda":
        return "CUDA graphs need a CUDA device"
    if dropout and not hasattr(torch.cuda.CUDAGraph, "register_generator_state"):
        return f"torch {torch.__version__} cannot replay dropout's own generators in a graph"
    return None


Body = Callable[[torch.Tensor, torch.Tensor, list[torch.Tensor], list[torch.Tensor], "list | None"], torch.Tensor]


class Step:
    """`step(x, y)` runs `body` (one SGD step of every member, returning their
    losses) and adds the losses to `total`; captured on CUDA, eager elsewhere.
    `params` are the tensors the body updates in place."""

    def __init__(
        self,
        body: Body,
        params: list[torch.Tensor],
        neg_eta: list[torch.Tensor],
        keep: list[torch.Tensor],
        gens: list[torch.Generator] | None,
        batch_shape: tuple[int, ...],
        device: torch.device,
        capture: bool = True,
    ):
        self.body, self.params, self.neg_eta, self.keep, self.gens = body, params, neg_eta, keep, gens
        self.total = torch.zeros(neg_eta[0].shape[0], device=device, dtype=params[0].dtype)
        self.graph = None
        if capture and supported(device, bool(gens)) is None:
            self.x = torch.zeros(batch_shape, device=device, dtype=params[0].dtype)
            self.y = torch.zeros(batch_shape[0], device=device, dtype=torch.long)
            self._capture()

    def set_constants(self, neg_eta: list[float], keep: list[float]) -> None:
        """A new epoch's η and L2 factors, written into the tensors the graph reads."""
        for t in self.neg_eta:
            t.copy_(torch.tensor(neg_eta, dtype=t.dtype).view(t.shape))
        for t in self.keep:
            t.copy_(torch.tensor(keep, dtype=t.dtype).view(t.shape))

    def _body(self, x: torch.Tensor, y: torch.Tensor, gens) -> None:
        self.total += self.body(x, y, self.neg_eta, self.keep, gens)

    def _capture(self) -> None:
        before = [p.detach().clone() for p in self.params]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARMUP_STEPS):  # without dropout, so no generator moves
                self._body(self.x, self.y, None)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        for gen in self.gens or ():
            self.graph.register_generator_state(gen)
        with torch.cuda.graph(self.graph):
            self._body(self.x, self.y, self.gens)
        with torch.no_grad():  # the warm-up steps trained: undo them
            torch._foreach_copy_(self.params, before)
        self.total.zero_()

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if self.graph is None:
            self._body(x, y, self.gens)
            return
        self.x.copy_(x)
        self.y.copy_(y)
        self.graph.replay()
