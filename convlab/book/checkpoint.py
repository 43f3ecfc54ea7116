"""A run's checkpoint: the state of one network and its position in training,
as bytes for the store. `Trainer` writes one per epoch and `BatchedTrainer`
one per member, in this one format, so a member resumes batched or alone.

The format is a `torch.save` dict (read back with `weights_only=True`):
`params` and `best` (the current and the best-validation parameters, per
layer weight then bias, on the CPU), `dropout_gen` and `shuffle_gen` (the
generators' states) and `progress` (`Position` as a dict). Every checkpoint in
a user's store has these keys: change them only with a reader of the old ones.
Options beyond the book add their own, only when a run uses them: `velocity`
(momentum's v, per param) and `distort_gen` (the elastic distortions' generator).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch


@dataclass
class Position:
    """What a run carries from one epoch to the next, besides its parameters."""

    epoch: int = 0  # last finished epoch
    best_val: float = -1.0
    best_epoch: int = 0
    test_at_best: float | None = None
    since_best: int = 0
    halvings: int = 0  # η halved this many times (eta_schedule = "halve_on_plateau")
    plateau: int = 0  # epochs without a new best since then


def save(
    params: Sequence[torch.Tensor],
    best: Sequence[torch.Tensor],
    dropout_gen: torch.Generator,
    shuffle_gen: torch.Generator,
    position: Position,
    velocity: Sequence[torch.Tensor] | None = None,
    distort_gen: torch.Generator | None = None,
) -> bytes:
    """The checkpoint of one network; `params` and `best` may be views of a
    larger tensor (a stacked member): each is copied, so only its own numbers are saved."""
    state = {
        "params": [p.detach().to("cpu", copy=True) for p in params],
        "best": [p.detach().to("cpu", copy=True) for p in best],
        "dropout_gen": dropout_gen.get_state(),
        "shuffle_gen": shuffle_gen.get_state(),
        "progress": asdict(position),
    }
    if velocity is not None:
        state["velocity"] = [v.detach().to("cpu", copy=True) for v in velocity]
    if distort_gen is not None:
        state["distort_gen"] = distort_gen.get_state()
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def best_params(blob: bytes) -> list[torch.Tensor]:
    """A checkpoint's best-validation parameters (per layer weight then bias), on the CPU."""
    return torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)["best"]


def restore(
    blob: bytes,
    params: Sequence[torch.Tensor],
    best: Sequence[torch.Tensor],
    dropout_gen: torch.Generator,
    shuffle_gen: torch.Generator,
    velocity: Sequence[torch.Tensor] | None = None,
    distort_gen: torch.Generator | None = None,
) -> Position:
    """Copy a checkpoint into a network's tensors (or views of them) and
    generators, in place; its position. A checkpoint without a velocity (or
    a distortion generator) leaves the caller's as they are."""
    state = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    with torch.no_grad():
        for p, saved in zip(params, state["params"], strict=True):
            p.copy_(saved)
        for p, saved in zip(best, state["best"], strict=True):
            p.copy_(saved)
        if velocity is not None and "velocity" in state:
            for v, saved in zip(velocity, state["velocity"], strict=True):
                v.copy_(saved)
    dropout_gen.set_state(state["dropout_gen"])
    if distort_gen is not None and "distort_gen" in state:
        distort_gen.set_state(state["distort_gen"])
    shuffle_gen.set_state(state["shuffle_gen"])
    return Position(**state["progress"])
