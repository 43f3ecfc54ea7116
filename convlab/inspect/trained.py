"""A finished run's network rebuilt from its kept parameters (weights.py):
the engine's `Network` with the run's spec, in evaluation mode on the CPU.
A vote (ensemble) gives its members' networks."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from convlab.book.model import Network
from convlab.config.spec import Spec
from convlab.errors import UserError
from convlab.inspect import weights

if TYPE_CHECKING:
    from convlab.store import Run, Store  # not imported: an exported model loads without the store


# what torch.load and the checkpoint's reader raise on bytes that are no checkpoint
UNREADABLE = (
    pickle.UnpicklingError,
    RuntimeError,
    ValueError,
    KeyError,
    EOFError,
    TypeError,
    AttributeError,
    IndexError,
)


@dataclass
class Trained:
    run: Run
    spec: Spec
    net: Network
    epoch: int  # the best-validation epoch whose parameters these are


def network(spec: Spec, state: dict[str, np.ndarray], pool_gradient: str | None = None) -> Network:
    """The engine's network for `spec` with the parameters of `state`; the pool's
    gradient rule is the spec's unless given (it changes no forward value)."""
    net = Network(spec.layers, pool_gradient or spec.train.pool_gradient)
    try:
        net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    except RuntimeError as exc:
        raise UserError(f"the parameters do not fit the network of {spec.name!r} ({str(exc)[:120]})") from None
    net.eval()
    return net.requires_grad_(False)


def state_of(store: Store, run: Run) -> tuple[int, dict[str, np.ndarray]]:
    """(best epoch, parameters) of a finished training run."""
    if run.status != "finished":
        raise UserError(
            f"run {run.id} is {run.status}: only a finished run has trained weights to read; "
            + ("wait until it finishes" if run.status == "running" else f"resume it (convlab run --resume {run.id})")
        )
    kept = store.weights(run.id)
    if kept is None:
        saved = store.checkpoint(run.id)  # finished before weights were kept, checkpoint not yet dropped
        if saved is None:
            raise UserError(
                f"run {run.id} finished before convlab kept trained weights (store version 4) and its checkpoint "
                f"was dropped by gc; train it again (convlab run {run.preset}) to inspect or export it"
            )
        try:
            kept = (run.best_epoch or saved[0], weights.from_checkpoint(saved[1]))
        except UNREADABLE as exc:  # a damaged or foreign blob: the store's, not the user's mistake
            raise UserError(
                f"run {run.id}: its checkpoint cannot be read ({type(exc).__name__}); "
                f"train it again (convlab run {run.preset}) to inspect or export it"
            ) from None
    return kept[0], weights.decode(kept[1])


def load(store: Store, run_id: int | str, pool_gradient: str | None = None) -> list[Trained]:
    """The run's network, or a vote's member networks (in member order)."""
    run = store.run(run_id)
    runs = [store.run(m) for m in run.members] if run.kind == "ensemble" else [run]
    if run.kind == "ensemble" and run.status != "finished":
        state_of(store, run)  # its one-line error
    out = []
    for r in runs:
        epoch, state = state_of(store, r)
        out.append(Trained(r, r.spec, network(r.spec, state, pool_gradient), epoch))
    return out


def load_model(path: str | Path):
    """The engine's network (a torch.nn.Module, evaluation mode, on the CPU) of
    an exported model file, with `.spec` (config.spec.Spec) and `.meta`; reads no store."""
    from convlab.config.spec import spec_from_dict

    spec_dict, state, meta = weights.read_file(Path(path))
    net = network(spec_from_dict(spec_dict), state)
    net.spec, net.meta = spec_from_dict(spec_dict), meta
    return net
