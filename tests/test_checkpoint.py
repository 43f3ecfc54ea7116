"""One checkpoint format (convlab/book/checkpoint.py) for a network trained
alone and for each member of a stacked model: the keys every stored checkpoint
has, a blob written the way earlier convlab wrote it still restores, and a
checkpoint moves from one trainer to the other and continues the same run."""

from __future__ import annotations

import io
from dataclasses import asdict

import pytest
import torch

from convlab.book import checkpoint
from convlab.book.stacked import BatchedTrainer
from convlab.book.trainer import Tensors, Trainer
from convlab.config.spec import parse_text
from convlab.runs import events

from helpers import small_tensors

pytestmark = pytest.mark.usefixtures("single_thread")
CPU = torch.device("cpu")
KEYS = {"params", "best", "dropout_gen", "shuffle_gen", "progress"}


def small_spec(dropout: float = 0.0):
    """Two conv layers (the second with several input maps), an FC layer and softmax."""
    return parse_text(
        f"""
name = "small"
[train]
activation = "relu"
eta = 0.05
lmbda = 0.1
[[layers]]
type = "conv_pool"
maps = 3
[[layers]]
type = "conv_pool"
maps = 4
[[layers]]
type = "fc"
n_out = 12
dropout = {dropout}
[[layers]]
type = "softmax"
dropout = {dropout}
""",
        label="small.toml",
    )


def float64(tensors: Tensors) -> Tensors:
    return Tensors(*(t.double() if t.is_floating_point() else t for t in vars(tensors).values()))


def trainer64(spec, tensors: Tensors, seed: int) -> Trainer:
    """A Trainer in float64, to compare with a stacked member to rounding."""
    trainer = Trainer(spec, tensors, CPU, seed)
    trainer.net.double()
    trainer.params, trainer.weights = trainer.net.book_params(), trainer.net.weights()
    trainer.best = [p.detach().clone() for p in trainer.params]
    return trainer


def epochs_of(run) -> list[events.Epoch]:
    return [e for e in run if isinstance(e, events.Epoch)]


def test_both_trainers_write_the_stored_format(mnist):
    spec = small_spec().with_train(epochs=1)
    tensors = small_tensors(mnist, 100, 100)
    alone = epochs_of(Trainer(spec, tensors, CPU, seed=1).run())[0].checkpoint
    pairs = BatchedTrainer([spec, spec], tensors, CPU, [1, 2]).run()
    member = next(e for m, e in pairs if m == 1 and isinstance(e, events.Epoch)).checkpoint
    for blob in (alone, member):
        state = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
        assert set(state) == KEYS
        assert set(state["progress"]) == set(asdict(checkpoint.Position()))
        assert len(state["params"]) == len(state["best"]) == 2 * len(spec.layers)
    # a member's blob holds its own numbers only, not the stacked tensors it was a view of
    member_params = torch.load(io.BytesIO(member), weights_only=True)["params"]
    assert member_params[0].shape == (3, 1, 5, 5) and member_params[0].untyped_storage().nbytes() == 3 * 25 * 4


def test_a_checkpoint_written_by_earlier_convlab_restores(mnist):
    """The blob as convlab 0.2's Trainer wrote it (its own torch.save of the
    same dict): restored, the run continues exactly as the uninterrupted one."""
    spec = small_spec(dropout=0.5).with_train(epochs=2)
    tensors = small_tensors(mnist, 200, 200)
    straight = epochs_of(Trainer(spec, tensors, CPU, seed=4).run())
    first = Trainer(spec, tensors, CPU, seed=4)
    run = first.run()
    next(e for e in run if isinstance(e, events.Epoch))
    run.close()
    buf = io.BytesIO()
    torch.save(
        {
            "params": [p.detach().cpu() for p in first.params],
            "best": [p.cpu() for p in first.best],
            "dropout_gen": first.dropout_gen.get_state(),
            "shuffle_gen": first.shuffle_gen.get_state(),
            "progress": asdict(first.position),
        },
        buf,
    )
    again = Trainer(spec, tensors, CPU, seed=999)
    again.restore(buf.getvalue())
    assert again.position == first.position
    rest = epochs_of(again.run())
    assert [(e.epoch, e.train_loss, e.val_acc, e.test_acc) for e in rest] == [
        (e.epoch, e.train_loss, e.val_acc, e.test_acc) for e in straight[1:]
    ]


def test_a_runs_checkpoint_continues_as_a_stacked_member(mnist):
    """Trained alone for an epoch, then continued as member 0 of a stacked
    model (float64): the member's second epoch is the lone run's second epoch."""
    spec = small_spec().with_train(epochs=2)
    tensors = float64(small_tensors(mnist, 200, 300))
    straight = epochs_of(trainer64(spec, tensors, seed=3).run())
    first = trainer64(spec, tensors, seed=3)
    run = first.run()
    epoch1 = next(e for e in run if isinstance(e, events.Epoch))
    run.close()
    batched = BatchedTrainer([spec], tensors, CPU, seeds=[999])
    batched.restore(0, epoch1.checkpoint)
    assert batched.positions[0] == first.position
    rest = [e for _, e in batched.run() if isinstance(e, events.Epoch)]
    assert [e.epoch for e in rest] == [2]
    assert rest[0].val_acc == straight[1].val_acc and rest[0].best_val == straight[1].best_val
    assert rest[0].train_loss == pytest.approx(straight[1].train_loss, rel=1e-6)  # Trainer sums in float32
    assert rest[0].val_loss == pytest.approx(straight[1].val_loss, rel=1e-9)
