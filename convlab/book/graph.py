"""The device seam: every CUDA-specific call of training behind one small object.

`Seam` holds what a device does beyond arithmetic: a side stream for the
warm-up, capturing a step as a graph and replaying it (with the dropout
generators registered), synchronising, the peak memory and the device's name.
`seam_for(device)` gives the CUDA one on CUDA and the host one elsewhere (no
capture there: `why_not_capture` says why). `StandIn` is the CPU stand-in of
the CUDA seam: it runs the same sequence eagerly (warm-up, capture = the body
run once, undo, replay = the body called again), so the tests drive every
branch of `Step` on the CPU; the real CUDA calls stay the thin `CudaSeam`,
which bench/device_check.py exercises.

`Step` is the training step (forward, backward, update, the loss summed into
a device buffer, for every member of a batched model: convlab/book/stacked.py
passes it in) captured once and replayed: at a mini-batch of 10 a GPU waits
for the host to launch some hundred small kernels a step, a graph launches
them at once. It reads its images from static buffers and its η and L2
factors from tensors, so one capture serves a whole run.
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Callable, Iterator

import torch

WARMUP_STEPS = 3  # on a side stream before capture, as torch.cuda.graphs asks


class Seam:
    """The host's seam (CPU, MPS): no capture; peak memory is the process's peak RSS."""

    def __init__(self, device: torch.device):
        self.device = device

    def why_not_capture(self, dropout: bool) -> str | None:
        """Why a step cannot be captured here, or None."""
        return "CUDA graphs need a CUDA device"

    @contextlib.contextmanager
    def side_stream(self) -> Iterator[None]:
        yield

    def capture(self, body: Callable[[], None], gens: list[torch.Generator]) -> Callable[[], None]:
        """`body` recorded once; returns what replays it."""
        raise RuntimeError(self.why_not_capture(bool(gens)))

    def synchronize(self) -> None:
        pass

    def reset_peak(self) -> None:
        pass

    def peak_memory(self) -> int | None:
        """Bytes: the process's peak resident set (it cannot be reset: the process's whole life)."""
        try:
            import resource
        except ImportError:  # Windows
            return None
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if platform.system() == "Darwin" else peak * 1024  # bytes on macOS, KiB on Linux

    def name(self) -> str:
        return cpu_name() if self.device.type == "cpu" else self.device.type


class CudaSeam(Seam):
    """The real CUDA calls; peak memory is torch.cuda.max_memory_allocated."""

    def why_not_capture(self, dropout: bool) -> str | None:
        if dropout and not hasattr(torch.cuda.CUDAGraph, "register_generator_state"):
            return f"torch {torch.__version__} cannot replay dropout's own generators in a graph"
        return None

    @contextlib.contextmanager
    def side_stream(self) -> Iterator[None]:
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            yield
        torch.cuda.current_stream(self.device).wait_stream(side)

    def capture(self, body: Callable[[], None], gens: list[torch.Generator]) -> Callable[[], None]:
        graph = torch.cuda.CUDAGraph()
        for gen in gens:
            graph.register_generator_state(gen)
        with torch.cuda.graph(graph):
            body()
        return graph.replay

    def synchronize(self) -> None:
        torch.cuda.synchronize(self.device)

    def reset_peak(self) -> None:
        torch.cuda.reset_peak_memory_stats(self.device)

    def peak_memory(self) -> int | None:
        return torch.cuda.max_memory_allocated(self.device)

    def name(self) -> str:
        return torch.cuda.get_device_name(self.device)


class StandIn(Seam):
    """The CUDA seam's stand-in on the CPU: capture runs the body once (as a
    graph's capture records it) and replay calls it again, with the same arguments."""

    def why_not_capture(self, dropout: bool) -> str | None:
        return None

    def capture(self, body: Callable[[], None], gens: list[torch.Generator]) -> Callable[[], None]:
        body()
        return body


def seam_for(device: torch.device) -> Seam:
    return CudaSeam(device) if device.type == "cuda" else Seam(device)


def cpu_name() -> str:
    """The processor's model name where the system says it, else its architecture."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


Body = Callable[[torch.Tensor, torch.Tensor, list[torch.Tensor], list[torch.Tensor], "list | None"], torch.Tensor]


class Step:
    """`step(x, y)` runs `body` (one SGD step of every member, returning their
    losses) and adds the losses to `total`; captured where `seam` can (and
    `capture` asks), eager otherwise. `params` are the tensors the body updates in place."""

    def __init__(
        self,
        body: Body,
        params: list[torch.Tensor],
        neg_eta: list[torch.Tensor],
        keep: list[torch.Tensor],
        gens: list[torch.Generator] | None,
        batch_shape: tuple[int, ...],
        seam: Seam,
        capture: bool = True,
    ):
        self.body, self.params, self.neg_eta, self.keep, self.gens = body, params, neg_eta, keep, gens
        device = params[0].device
        self.total = torch.zeros(neg_eta[0].shape[0], device=device, dtype=params[0].dtype)
        self.replay: Callable[[], None] | None = None
        if capture and seam.why_not_capture(bool(gens)) is None:
            self.x = torch.zeros(batch_shape, device=device, dtype=params[0].dtype)
            self.y = torch.zeros(batch_shape[0], device=device, dtype=torch.long)
            self._capture(seam)

    @property
    def captured(self) -> bool:
        return self.replay is not None

    def set_constants(self, neg_eta: list[float], keep: list[float]) -> None:
        """A new epoch's η and L2 factors, written into the tensors the graph reads."""
        for t in self.neg_eta:
            t.copy_(torch.tensor(neg_eta, dtype=t.dtype).view(t.shape))
        for t in self.keep:
            t.copy_(torch.tensor(keep, dtype=t.dtype).view(t.shape))

    def _body(self) -> None:
        self.total += self.body(self.x, self.y, self.neg_eta, self.keep, self.gens)

    def _capture(self, seam: Seam) -> None:
        """Warm up and capture with the very arguments of a replay (dropout's
        generators included), then undo what they trained and drew."""
        before = [p.detach().clone() for p in self.params]
        states = [g.get_state() for g in self.gens or ()]
        with seam.side_stream():
            for _ in range(WARMUP_STEPS):
                self._body()
        self._set_states(states)  # capture starts from the generators' own positions
        self.replay = seam.capture(self._body, list(self.gens or ()))
        with torch.no_grad():
            torch._foreach_copy_(self.params, before)
        self._set_states(states)  # a capture that ran the body (the stand-in) drew masks too
        self.total.zero_()

    def _set_states(self, states: list[torch.Tensor]) -> None:
        for gen, state in zip(self.gens or (), states):
            gen.set_state(state)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if self.replay is None:
            self.total += self.body(x, y, self.neg_eta, self.keep, self.gens)
            return
        self.x.copy_(x)
        self.y.copy_(y)
        self.replay()
