"""A run's checkpoint: the state of one network and its position in training,
as bytes for the store. `Trainer` writes one per epoch and `BatchedTrainer`
one per member, in this one format, so a member resumes batched or alone.

The format is a `torch.save` dict (read back with `weights_only=True`):
`params` and `best` (the current and the best-validation parameters, per
layer weight then bias, on the CPU), `dropout_gen` and `shuffle_gen` (the
generators' states) and `progress` (`Position` as a dict). Every checkpoint in
a user's store has these keys: change them only with a reader of the old ones.
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


def save(
    params: Sequence[torch.Tensor],
    best: Sequence[torch.Tensor],
    dropout_gen: torch.Generator,
    shuffle_gen: torch.Generator,
    position: Position,
) -> bytes:
    """The checkpoint of one network; `params` and `best` may be views of a
    larger tensor (a stacked member): each is copied, so only its own numbers are saved."""
    buf = io.BytesIO()
    torch.save(
        {
            "params": [p.detach().to("cpu", copy=True) for p in params],
            "best": [p.detach().to("cpu", copy=True) for p in best],
            "dropout_gen": dropout_gen.get_state(),
            "shuffle_gen": shuffle_gen.get_state(),
            "progress": asdict(position),
        },
        buf,
    )
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
) -> Position:
    """Copy a checkpoint into a network's tensors (or views of them) and
    generators, in place; its position."""
    state = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    with torch.no_grad():
        for p, saved in zip(params, state["params"], strict=True):
            p.copy_(saved)
        for p, saved in zip(best, state["best"], strict=True):
            p.copy_(saved)
    dropout_gen.set_state(state["dropout_gen"])
    shuffle_gen.set_state(state["shuffle_gen"])
    return Position(**state["progress"])
