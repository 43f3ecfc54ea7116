"""The CUDA path, run on the CPU (convlab/book/graph.py): the stand-in seam
runs the captured step's very sequence (warm-up, capture, undo, replay) with
the same arguments, dropout's generators included, so capture + batched
members + dropout + resume are driven here for every preset's shape and
compared, in float64, with separate eager runs. Then the fallback: a failure
inside the device path, and the run still finishes with the eager figures."""

from __future__ import annotations

import pytest
import torch

from convlab.book import graph
from convlab.book.stacked import BatchedTrainer
from convlab.book.trainer import Tensors, Trainer
from convlab.config import spec as specs
from convlab.runs import events
from convlab.runs.runner import Runner
from convlab.store import Store
from convlab.term.format import size

from helpers import DATA, small_tensors, toml_text

pytestmark = pytest.mark.usefixtures("single_thread")
CPU = torch.device("cpu")
PRESETS = ["shallow", "one-conv", "no-fc", "two-conv", "tanh", "relu", "extra-fc", "wide-300", "dropout", "ensemble"]


def float64(tensors: Tensors) -> Tensors:
    return Tensors(*(t.double() if t.is_floating_point() else t for t in vars(tensors).values()))


def tiny(preset: str):
    """The preset's network and rules on a tiny slice: 2 epochs of 3 mini-batches."""
    return specs.load(preset).with_train(epochs=2, train_limit=30, data="plain")


def eager_alone(spec, tensors: Tensors, seed: int):
    """The member's separate run: the engine's Trainer, in float64."""
    trainer = Trainer(spec, tensors, CPU, seed)
    trainer.net.double().init_(seed)  # drawn in float64, as the stacked members draw theirs
    trainer.params, trainer.weights = trainer.net.book_params(), trainer.net.weights()
    trainer.best = [p.detach().clone() for p in trainer.params]
    epochs = [e for e in trainer.run() if isinstance(e, events.Epoch)]
    return [p.detach() for p in trainer.params], epochs


def captured(spec, tensors: Tensors, seeds: list[int], epochs: int, resume_from: list[bytes] | None = None):
    """Members batched, the step captured by the CPU stand-in; `resume_from` the members' checkpoints."""
    trainer = BatchedTrainer(
        [spec.with_train(epochs=epochs)] * len(seeds), tensors, CPU, seeds, seam=graph.StandIn(CPU)
    )
    for m, blob in enumerate(resume_from or ()):
        trainer.restore(m, blob)
    pairs = list(trainer.run())
    assert trainer.step.captured and trainer.path.startswith("captured")
    return trainer, [[e for i, e in pairs if i == m and isinstance(e, events.Epoch)] for m in range(len(seeds))]


def test_capture_with_dropout_and_batched_members_runs(mnist):
    """The crash of issue 19: the warm-up before capture ran the step without
    dropout's generators, and a dropout network indexes them; the warm-up and
    capture now run with the replay's own arguments, and undo their draws."""
    spec = tiny("dropout")
    tensors = float64(small_tensors(mnist, 30, 50))
    trainer = BatchedTrainer([spec] * 3, tensors, CPU, [1, 2, 3], seam=graph.StandIn(CPU))
    before = [g.get_state() for g in trainer.dropout_gens]
    start = [p.detach().clone() for p in trainer.net.params]
    step = trainer._step_for(1)
    assert step.captured
    # capture left nothing behind: the parameters and the generators are where they started
    assert all(torch.equal(p, q) for p, q in zip(trainer.net.params, start))
    assert all(torch.equal(g.get_state(), s) for g, s in zip(trainer.dropout_gens, before))
    assert step.total.abs().sum() == 0


@pytest.mark.parametrize("preset", PRESETS)
def test_captured_batched_members_resumed_equal_separate_eager_runs(mnist, preset):
    """For every preset's shape: three members batched with the step captured
    (dropout masks from each member's own generator), stopped after epoch 1 and
    resumed from their checkpoints into a new captured model, end with exactly
    the parameters and figures of three separate eager runs (float64)."""
    spec = tiny(preset)
    tensors = float64(small_tensors(mnist, 30, 50))
    seeds = [3, 11, 4]
    first, first_epochs = captured(spec, tensors, seeds, epochs=1)
    blobs = [e[0].checkpoint for e in first_epochs]
    second, second_epochs = captured(spec, tensors, seeds, epochs=2, resume_from=blobs)
    for m, seed in enumerate(seeds):
        params, alone = eager_alone(spec, tensors, seed)
        together = first_epochs[m] + second_epochs[m]
        assert [e.epoch for e in together] == [1, 2]
        for a, b in zip(together, alone):
            assert (a.val_acc, a.best_val, a.best_epoch) == (b.val_acc, b.best_val, b.best_epoch)
            assert a.val_loss == pytest.approx(b.val_loss, rel=1e-9)
            assert a.train_loss == pytest.approx(b.train_loss, rel=1e-5)  # Trainer sums its loss in float32
        for i, (p, q) in enumerate(zip(second.net.member_params(m), params)):
            torch.testing.assert_close(p.detach(), q, rtol=1e-10, atol=1e-10, msg=f"{preset}: member {m}, param {i}")


def test_the_seam_chooses_cuda_only_on_cuda():
    assert type(graph.seam_for(CPU)) is graph.Seam
    assert graph.Seam(CPU).why_not_capture(False) == "CUDA graphs need a CUDA device"
    assert type(graph.seam_for(torch.device("cuda"))) is graph.CudaSeam  # chosen, not touched: no CUDA call
    assert graph.Seam(CPU).peak_memory() > 0 and graph.Seam(CPU).name()


# ---------------------------------------------------------------- the fallback


class FailingStandIn(graph.StandIn):
    """The stand-in seam whose captured step raises at its `fail_at`-th replay
    (as a CUDA kernel or a graph replay might); 0: at capture."""

    def __init__(self, device, fail_at: int, error: Exception):
        super().__init__(device)
        self.fail_at, self.error, self.calls = fail_at, error, 0

    def capture(self, body, gens):
        if self.fail_at == 0:
            raise self.error
        replay = super().capture(body, gens)

        def failing() -> None:
            self.calls += 1
            if self.calls == self.fail_at:
                raise self.error
            replay()

        return failing


def train_group(tmp_path, name: str, monkeypatch=None, seam=None, batch: bool = True):
    """Three repeats of a tiny dropout network through the real runner and store;
    with `seam`, the batched path's device seam is that one."""
    if seam is not None:
        monkeypatch.setattr(graph, "seam_for", lambda device: seam)
    spec = specs.parse_text(
        toml_text(
            [{"type": "conv_pool", "maps": 3}, {"type": "fc", "n_out": 12, "dropout": 0.5}, {"type": "softmax"}],
            {"activation": "relu", "eta": 0.05, "epochs": 2, "train_limit": 40, "repeats": 3},
            name="tiny-dropout",
        ),
        label="tiny-dropout.toml",
    )
    store = Store(tmp_path / f"{name}.sqlite")
    seen: list[events.Event] = []
    runner = Runner(store, device="cpu", data_dir=str(DATA), workers=1, batch_members=batch, emit=seen.append)
    result = runner.start(spec, seed=5)
    return store, result, seen


@pytest.mark.parametrize("fail_at", [0, 5], ids=["at capture", "in epoch 2"])
def test_a_failing_device_path_falls_back_to_eager_runs_with_the_same_figures(tmp_path, monkeypatch, fail_at):
    """The captured, batched step raises (at capture, or at a replay in epoch 2):
    each member continues eagerly and unbatched from its last checkpoint, a
    warning says why in one line, the run's record names both paths, and every
    run finishes with the figures of a plain eager run of its seed."""
    error = RuntimeError("CUDA error: an illegal memory access was encountered\nCUDA kernel errors might be …")
    store, result, seen = train_group(tmp_path, "fails", monkeypatch, FailingStandIn(CPU, fail_at, error))
    monkeypatch.undo()
    plain_store, plain, _ = train_group(tmp_path, "plain", batch=False)

    warnings = [e for e in seen if isinstance(e, events.RunWarning)]
    restart = 1 if fail_at == 0 else 2
    assert [w.run for w in warnings] == [r.id for r in result.runs]
    for w in warnings:
        assert "\n" not in w.message and "RuntimeError: CUDA error: an illegal memory access" in w.message
        assert f"continues eagerly and unbatched from epoch {restart}" in w.message
    assert [r.status for r in result.runs] == ["finished"] * 3
    for run, alone in zip(result.runs, plain.runs):
        run = store.run(run.id)
        assert run.path == f"captured, batched 3 → eager from epoch {restart}"
        assert plain_store.run(alone.id).path == "eager"
        # from capture on, the eager run's very steps; after a batched epoch 1, its float32 rounding
        # (a grouped convolution) may flip a digit or two of 10,000
        close = 0.0 if fail_at == 0 else 0.03
        assert run.seed == alone.seed and abs(run.best_val - alone.best_val) <= close
        assert abs(run.test_at_best - alone.test_at_best) <= close
        ours, theirs = store.epochs(run.id), plain_store.epochs(alone.id)
        assert len(ours) == len(theirs) == 2
        assert all(abs(a.val_acc - b.val_acc) <= close for a, b in zip(ours, theirs))


def test_out_of_memory_interrupts_the_runs_with_one_line_and_they_resume(tmp_path, monkeypatch):
    """Out of device memory: no fallback (it would run out again), one line naming
    the run and what to lower, the runs interrupted; a resume finishes them."""
    from convlab.errors import UserError

    oom = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    with pytest.raises(UserError) as caught:
        train_group(tmp_path, "oom", monkeypatch, FailingStandIn(CPU, 5, oom))
    line = str(caught.value)
    assert "\n" not in line and "out of memory on cpu (captured, batched 3)" in line
    assert "--workers" in line and "--no-batch-members" in line and "convlab run --resume" in line
    store = Store(tmp_path / "oom.sqlite")
    runs = store.runs()
    assert [r.status for r in runs] == ["interrupted"] * 3 and all("out of memory" in r.error for r in runs)
    assert all(r.epochs_done == 1 for r in runs)
    monkeypatch.undo()
    result = Runner(store, device="cpu", data_dir=str(DATA), workers=1, batch_members=True).resume(runs[0].id)
    assert [r.status for r in result.runs] == ["finished"] * 3


# ---------------------------------------------------------------- device figures


def test_every_run_stores_its_device_figures_and_show_compare_and_export_print_them(tmp_path, run_cli):
    """Device name, versions, peak memory, images per second per epoch and the
    path: stored with each run, printed by `show` and `compare`, exported."""
    import csv
    import io

    import convlab

    store, result, _ = train_group(tmp_path, "figures", batch=True)
    for run in result.runs:
        run = store.run(run.id)
        assert run.path == "batched 3" and run.device_name == graph.cpu_name() and run.peak_memory > 10 * 2**20
        assert run.versions["torch"] == torch.__version__ and run.versions["convlab"] == convlab.__version__
        rates = [e.images_per_s for e in store.epochs(run.id)]
        assert len(rates) == 2 and all(r > 0 for r in rates)
    first = store.run(result.runs[0].id)
    peak = f"peak memory {size(first.peak_memory)}"
    line = f"batched 3 on {first.device_name} · torch {torch.__version__}"

    shown = run_cli("show", str(first.id), store=store.path)
    assert shown.returncode == 0, shown.stderr
    device = next(x for x in shown.stdout.splitlines() if x.startswith("  device: "))
    assert line in device and peak in device and "images/s" in device
    assert "images/s" in next(x for x in shown.stdout.splitlines() if x.strip().startswith("epoch  loss"))

    compared = run_cli("compare", "--no-curves", store=store.path)
    assert compared.returncode == 0, compared.stderr
    rows = compared.stdout.split("device figures", 1)[1].splitlines()[1:]
    assert rows[0].startswith(f"  tiny-dropout (runs {result.runs[0].id}–{result.runs[-1].id}): {line}")

    out = tmp_path / "runs.csv"
    exported = run_cli("export", "--format", "csv", "-o", str(out), store=store.path)
    assert exported.returncode == 0, exported.stderr
    records = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {r["path"] for r in records} == {"batched 3"} and {r["device_name"] for r in records} == {first.device_name}
    assert all(float(r["images_per_s"]) > 0 and int(r["peak_memory"]) > 0 for r in records)
