"""Members batched (convlab/book/stacked.py): M networks trained as one stacked
model give each member exactly what its separate run gives: the same
parameters after several SGD steps (float64, 1e-10), with its own seed, η, λ
and dropout masks; and through the runner, each member is its own run."""

from __future__ import annotations

import pytest
import torch

from convlab.book.model import Network
from convlab.book.stacked import BatchedTrainer, StackedNetwork, batchable, stacked_sgd_step
from convlab.book.trainer import DROPOUT_SEED_OFFSET, Tensors, Trainer, sgd_step
from convlab.config.spec import parse_text
from convlab.runs import events

from helpers import small_tensors

pytestmark = pytest.mark.usefixtures("single_thread")
CPU = torch.device("cpu")


def small_spec(dropout: float = 0.0, pool_gradient: str = "theano", lmbda: float = 0.1):
    return parse_text(
        f'''
name = "small"
[train]
activation = "relu"
eta = 0.05
lmbda = {lmbda}
epochs = 2
pool_gradient = "{pool_gradient}"
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
''',
        label="small.toml",
    )


def batches(mnist, n: int):
    x = torch.from_numpy(mnist.train.images[: 10 * n]).double().reshape(-1, 1, 28, 28)
    y = torch.from_numpy(mnist.train.labels[: 10 * n]).long()
    return [(x[i * 10 : (i + 1) * 10], y[i * 10 : (i + 1) * 10]) for i in range(n)]


def separate(spec, seed, eta, decay, steps, dropout: bool):
    """The member's own run: one float64 network, the engine's SGD step, its own dropout generator."""
    net = Network(spec.layers, spec.train.pool_gradient).double()
    net.init_(seed)
    gen = torch.Generator().manual_seed(seed + DROPOUT_SEED_OFFSET) if dropout else None
    params = net.book_params()
    for x, y in steps:
        sgd_step(net, params, net.weights(), x, y, eta, decay, gen)
    return [p.detach() for p in params]


def batched(spec, seeds, etas, decays, steps, dropout: bool):
    net = StackedNetwork(spec, seeds, CPU, dtype=torch.float64)
    gens = [torch.Generator().manual_seed(s + DROPOUT_SEED_OFFSET) for s in seeds] if dropout else None
    col = lambda v, p: torch.tensor(v, dtype=torch.float64).view(-1, *([1] * (p.dim() - 1)))
    neg_eta = [col([-e for e in etas], p) for p in net.params]
    keep = [col([1 - e * d for e, d in zip(etas, decays)], w) for w in net.weights]
    for x, y in steps:
        stacked_sgd_step(net, x, y, neg_eta, keep, gens)
    return [[p.detach() for p in net.member_params(m)] for m in range(len(seeds))]


@pytest.mark.parametrize("pool_gradient", ["theano", "torch"])
def test_batched_members_equal_separate_runs(mnist, pool_gradient):
    """Three members, each with its own seed, η and λ, six steps of the
    book's SGD: every parameter equals its separate run's to 1e-10."""
    spec = small_spec(pool_gradient=pool_gradient)
    steps = batches(mnist, 6)
    seeds, etas, decays = [3, 11, 4], [0.05, 0.1, 0.03], [0.1 / 500, 0.0, 1.0 / 500]
    together = batched(spec, seeds, etas, decays, steps, dropout=False)
    for m, seed in enumerate(seeds):
        alone = separate(spec, seed, etas[m], decays[m], steps, dropout=False)
        for i, (a, b) in enumerate(zip(together[m], alone)):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10, msg=f"member {m}, parameter {i}")
    # the members did move apart from their starts and from each other
    assert not torch.allclose(together[0][0], together[1][0])
    start = StackedNetwork(spec, seeds, CPU, dtype=torch.float64).member_params(0)
    assert (together[0][2] - start[2]).abs().max() > 1e-3


def test_each_member_draws_its_own_dropout_masks(mnist):
    """With dropout each member equals its separate run (so its masks came
    from its own generator, in its run's order), and a member is untouched
    by which other members share its batch."""
    spec = small_spec(dropout=0.5, lmbda=0.0)
    steps = batches(mnist, 5)
    a = batched(spec, [5, 6], [0.05, 0.05], [0.0, 0.0], steps, dropout=True)
    b = batched(spec, [5, 9], [0.05, 0.05], [0.0, 0.0], steps, dropout=True)
    for m, seed in enumerate([5, 6]):
        alone = separate(spec, seed, 0.05, 0.0, steps, dropout=True)
        for i, (p, q) in enumerate(zip(a[m], alone)):
            torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-10, msg=f"member {m}, parameter {i}")
    assert all(torch.equal(p, q) for p, q in zip(a[0], b[0]))
    # the masks matter: without them the same steps give other parameters
    no_masks = separate(spec, 5, 0.05, 0.0, steps, dropout=False)
    assert not torch.allclose(a[0][4], no_masks[4])


def test_batched_trainer_events_and_checkpoints_are_each_members(mnist):
    """A BatchedTrainer run gives per-member events like Trainer's, and a
    member's checkpoint restores into a plain Trainer that then continues
    exactly as that member would alone (float64 data, so to 1e-10)."""
    spec = small_spec().with_train(epochs=2)
    f32 = small_tensors(mnist, 200, 300)
    tensors = Tensors(*(t.double() if t.is_floating_point() else t for t in vars(f32).values()))
    trainer = BatchedTrainer([spec, spec], tensors, CPU, seeds=[1, 2])
    pairs = list(trainer.run())
    epochs = [(m, e) for m, e in pairs if isinstance(e, events.Epoch)]
    assert [(m, e.epoch) for m, e in epochs] == [(0, 1), (1, 1), (0, 2), (1, 2)]
    finished = [(m, e) for m, e in pairs if isinstance(e, events.Finished)]
    assert [m for m, _ in finished] == [0, 1] and finished[0][1].predictions.shape == (300,)
    assert {m for m, e in pairs if isinstance(e, events.Progress)} == {0, 1}
    epochs = [e for _, e in epochs]

    # member 1 after epoch 1, continued alone by a Trainer in float64, ends where the batch ended
    alone = Trainer(spec, tensors, CPU, seed=999)
    alone.net.double()
    alone.params, alone.weights = alone.net.book_params(), alone.net.weights()
    alone.best = [p.detach().clone() for p in alone.params]
    alone.restore(epochs[1].checkpoint)
    rest = [e for e in alone.run() if isinstance(e, events.Epoch)]
    assert rest[0].epoch == 2
    assert rest[0].val_acc == epochs[3].val_acc and rest[0].best_val == epochs[3].best_val
    assert rest[0].train_loss == pytest.approx(epochs[3].train_loss, rel=1e-6)  # Trainer sums in float32
    assert rest[0].val_loss == pytest.approx(epochs[3].val_loss, rel=1e-9)  # each member's own validation NLL
    assert epochs[2].val_loss != epochs[3].val_loss
    for p, q in zip(alone.params, trainer.net.member_params(1)):  # both hold their best-validation parameters
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-10, atol=1e-10)


def test_what_cannot_be_batched():
    spec = small_spec()
    assert batchable([spec, spec.with_train(eta=0.2, lmbda=0.0)]) is None  # a sweep over η and λ
    assert "reshuffling" in batchable([spec.with_train(shuffle=True)])
    assert "early stopping" in batchable([spec.with_train(patience=3)])
    assert "architecture" in batchable([spec, small_spec(dropout=0.5)])


def test_cli_batch_members_stores_each_member_as_its_own_run(run_cli, write_toml, tmp_path):
    """`convlab run --batch-members`: the group's repeats train as one model on
    the CPU, and each is a finished run of its own, with its own seed, epochs
    and predictions, matching the runs trained one after another."""
    preset = write_toml(
        "tiny.toml",
        [{"type": "conv_pool", "maps": 3}, {"type": "fc", "n_out": 12}, {"type": "softmax"}],
        {"activation": "relu", "eta": 0.05, "epochs": 1},
    )
    from convlab.store import Store

    results = {}
    for flag in ("--batch-members", "--no-batch-members"):
        store = tmp_path / f"{flag}.sqlite"
        out = run_cli(
            "run", preset, "--repeats", "3", "--seed", "7", "--train-limit", "300", flag, "--json", store=store
        )
        assert out.returncode == 0, out.stderr
        # separate members train in two worker processes: their `started` lines arrive in either order
        started = sorted((e for e in out.events() if e["event"] == "started"), key=lambda e: e["member"])
        assert [e["seed"] for e in started] == [7, 8, 9]
        runs = [Store(store).run(e["run"]) for e in started]
        assert [r.status for r in runs] == ["finished"] * 3 and [r.member for r in runs] == [0, 1, 2]
        results[flag] = [(r.seed, r.best_val, r.test_at_best) for r in runs]
    # float32: a grouped convolution rounds differently, so allow a digit or two of 10,000 to flip
    for (s1, v1, t1), (s2, v2, t2) in zip(results["--batch-members"], results["--no-batch-members"]):
        assert s1 == s2 and abs(v1 - v2) <= 0.03 and abs(t1 - t2) <= 0.03
    assert len({t for _, _, t in results["--batch-members"]}) > 1  # three different networks
