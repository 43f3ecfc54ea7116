"""Runs a spec to the end and keeps everything in the store: its repeats (one
run per seed) or ensemble members, then the vote. Also resumes an interrupted
group from its members' last finished epochs.

The runner turns engine events into store rows and passes every event, with
its run id, to `emit` (the CLI prints them; `--json` writes them as lines).
"""

from __future__ import annotations

import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from convlab import data as mnist_data, events
from convlab.ensemble import store_vote
from convlab.errors import UserError
from convlab.spec import Spec
from convlab.stats import best_of, mean_sd
from convlab.store import Run, Store, mistakes_of

Emit = Callable[[events.Event], None]
PROGRESS_WRITE_EVERY = 0.5  # seconds between progress rows in the store


@dataclass
class Summary:
    spec: Spec
    group_id: int
    runs: list[Run] = field(default_factory=list)
    ensemble: Run | None = None

    @property
    def best(self) -> Run | None:
        """The run with the best validation accuracy (the book's best of N)."""
        return best_of(self.runs)

    @property
    def test_mean_sd(self) -> tuple[float, float] | None:
        return mean_sd([r.test_at_best for r in self.runs])

    def event(self) -> events.Summary:
        best = self.best
        ms = self.test_mean_sd
        return events.Summary(
            preset=self.spec.name, group=self.group_id, runs=[r.id for r in self.runs],
            book_figure=self.spec.book_figure, best_run=best.id if best else None,
            best_val=best.best_val if best else None, test_at_best=best.test_at_best if best else None,
            test_mean=ms[0] if ms else None, test_sd=ms[1] if ms else None,
            ensemble_run=self.ensemble.id if self.ensemble else None,
            ensemble_accuracy=self.ensemble.test_at_best if self.ensemble else None)


class Runner:
    def __init__(self, store: Store, device: str | None = None, data_dir: str | None = None,
                 emit: Emit = lambda e: None, should_stop: Callable[[], bool] = lambda: False,
                 batch_members: bool | None = None):
        self.store, self.device_name, self.data_dir = store, device, data_dir
        self.batch_members = batch_members  # None: batch on CUDA only
        self.emit, self.should_stop = emit, should_stop
        self._mnist: mnist_data.MNIST | None = None
        self._tensors: dict[tuple, Any] = {}

    # ------------------------------------------------------------ entry points

    def start(self, spec: Spec, seed: int | None = None) -> Summary:
        """A new group: `repeats` runs (or `ensemble` members) of `spec`."""
        self._check_data()
        device = self._device()
        group_id = self.store.create_group(spec)
        self.store.hold(f"group-{group_id}")  # new: nobody else can hold it yet
        base_seed = secrets.randbelow(2**31) if seed is None else seed
        self.emit(events.Group(group=group_id, preset=spec.name, members=spec.members,
                               ensemble=spec.train.ensemble, device=str(device)))
        try:
            return self._complete(spec, group_id, base_seed, device)
        finally:
            self.store.drop_group_if_empty(group_id)  # it failed before its first run
            self.store.release(f"group-{group_id}")

    def resume(self, run_id: int | str) -> Summary:
        """Continue the group of `run_id`: finished members are kept,
        unfinished ones continue from their last finished epoch, missing ones start."""
        self.store.mark_stale()
        run = self.store.run(run_id)
        if run.status == "running":
            raise UserError(f"run {run.id} is still running (pid {run.pid} on {run.host}); stop it first")
        if run.kind == "ensemble":
            raise UserError(f"run {run.id} is an ensemble vote, not a training run; resume one of its members")
        if run.status == "diverged":
            raise UserError(f"run {run.id} diverged ({run.error}); resuming it would diverge again")
        if run.group_id is None:
            raise UserError(f"run {run.id} belongs to no group and cannot be resumed")
        if self.store.hold(f"group-{run.group_id}") is None:
            raise UserError(f"run {run.id}: its group is being trained by another process; wait for it, or stop it")
        try:
            return self._resume_group(run)
        finally:
            self.store.release(f"group-{run.group_id}")

    def _resume_group(self, run: Run) -> Summary:
        run = self.store.run(run.id)  # as it is now that the group is ours
        members = self._member_runs(run.group_id)
        voted = any(r.kind == "ensemble" for r in self.store.group_runs(run.group_id))
        if (all(r.status == "finished" for r in members) and len(members) == run.spec.members
                and (run.spec.train.ensemble == 1 or voted)):
            raise UserError(f"run {run.id} and its group are already finished; nothing to resume")
        self._check_data()
        device = self._device()
        first = min(members, key=lambda r: r.member)
        return self._complete(run.spec, run.group_id, first.seed - first.member, device)

    # ------------------------------------------------------------ the work

    def _complete(self, spec: Spec, group_id: int, base_seed: int, device) -> Summary:
        summary = Summary(spec, group_id)
        existing = {r.member: r for r in self._member_runs(group_id)}
        pending = [m for m in range(spec.members) if m not in existing or existing[m].status != "finished"]
        # on CUDA even one member goes through the batched trainer, for its captured step
        if pending and (len(pending) > 1 or device.type == "cuda") and self._batching(spec, device):
            self._train_batched(spec, group_id, pending, base_seed, device, existing)
        else:
            for member in pending:
                self._train_member(spec, group_id, member, base_seed + member, device, existing.get(member))
        summary.runs = self._member_runs(group_id)
        if spec.train.ensemble > 1:
            done = [r for r in self.store.group_runs(group_id) if r.kind == "ensemble"]
            summary.ensemble = done[0] if done else self._vote(spec, group_id, summary.runs)
        self.emit(summary.event())
        return summary

    def _batching(self, spec: Spec, device) -> bool:
        """Batch a group's members: asked for, or by default on CUDA, when the spec allows it."""
        from convlab.batched import batchable

        wanted = device.type == "cuda" if self.batch_members is None else self.batch_members
        return wanted and batchable([spec]) is None

    def _member_runs(self, group_id: int) -> list[Run]:
        return [r for r in self.store.group_runs(group_id) if r.kind == "train"]

    def _train_member(self, spec: Spec, group_id: int, member: int, seed: int, device, run: Run | None) -> None:
        from convlab.engine import Trainer

        trainer = Trainer(spec, self._tensors_for(spec, device), device, seed)
        run_id, saved = self._open_member(spec, group_id, member, seed, device, run)
        if saved is not None:
            trainer.restore(saved[1])
        self._announce(spec, group_id, member, seed, device, run_id, trainer.n_batches, saved)
        with self._recording([run_id], group_id):
            progress = ProgressRecord(self.store, run_id)
            for event in trainer.run(self.should_stop):
                self._record(run_id, event, progress)

    def _train_batched(self, spec: Spec, group_id: int, members: list[int], base_seed: int, device,
                       existing: dict[int, Run]) -> None:
        """Members that start from the same epoch train as one batched model
        (convlab/batched.py); each stays its own run in the store."""
        from convlab.batched import BatchedTrainer

        opened = {m: self._open_member(spec, group_id, m, base_seed + m, device, existing.get(m)) for m in members}
        by_epoch: dict[int, list[int]] = {}
        for m, (_, saved) in opened.items():
            by_epoch.setdefault(saved[0] if saved else 0, []).append(m)
        for batch in by_epoch.values():
            seeds = [base_seed + m for m in batch]
            trainer = BatchedTrainer([spec] * len(batch), self._tensors_for(spec, device), device, seeds)
            run_ids = [opened[m][0] for m in batch]
            for i, m in enumerate(batch):
                if opened[m][1] is not None:
                    trainer.restore(i, opened[m][1][1])
                self._announce(spec, group_id, m, seeds[i], device, run_ids[i], trainer.n_batches, opened[m][1])
            with self._recording(run_ids, group_id):
                progress = [ProgressRecord(self.store, run_id) for run_id in run_ids]
                for i, event in trainer.run(self.should_stop):
                    self._record(run_ids[i], event, progress[i])

    def _open_member(self, spec: Spec, group_id: int, member: int, seed: int, device, run: Run | None):
        """The member's run id (created, or claimed to resume) and its last checkpoint (epoch, blob) or None."""
        from convlab.engine import library_versions

        if run is None:
            return self.store.create_run(spec, group_id=group_id, member=member, seed=seed, device=str(device),
                                         versions=library_versions()), None
        self.store.claim(run.id, str(device))
        return run.id, self.store.checkpoint(run.id)

    def _announce(self, spec: Spec, group_id: int, member: int, seed: int, device, run_id: int, batches: int,
                  saved) -> None:
        self.emit(events.Started(run=run_id, group=group_id, member=member, preset=spec.name, seed=seed,
                                 device=str(device), epochs=spec.train.epochs, batches=batches,
                                 images=len(self._tensors_for(spec, device).train_y),
                                 resumed_from=saved[0] if saved else None))

    def _record(self, run_id: int, event: events.Event, progress: ProgressRecord) -> None:
        """One engine event into the store, then to `emit`."""
        event.run = run_id
        if isinstance(event, events.Progress):
            progress.step(event)
        elif isinstance(event, events.Epoch):
            progress.evaluated()
            self.store.add_epoch(run_id, event.to_dict(), event.filters, event.checkpoint)
        elif isinstance(event, events.Finished):
            self._save_outcome(run_id, event.predictions)
            event.mistakes = int((event.predictions != self._mnist.test.labels).sum())
            self.store.finish(run_id, "finished")
        self.emit(event)

    @contextmanager
    def _recording(self, run_ids: list[int], group_id: int):
        """Runs still open when training stops are marked interrupted, diverged or failed."""
        from convlab.engine import Diverged, Interrupted

        try:
            yield
        except Interrupted:
            for run_id in self._unfinished(run_ids):
                self.store.finish(run_id, "interrupted", error="stopped by request")
                self.emit(events.Interrupted(run=run_id, group=group_id))
            raise
        except Diverged as exc:
            bad = set(run_ids) if exc.members is None else {run_ids[m] for m in exc.members}
            for run_id in self._unfinished(run_ids):
                if run_id in bad:
                    self.store.finish(run_id, "diverged", error=str(exc))
                    self.emit(events.Diverged(run=run_id, epoch=exc.epoch, batch=exc.batch, error=str(exc)))
                else:  # a healthy member of a batched model: stopped with it, resumable on its own
                    self.store.finish(run_id, "interrupted", error="stopped: another member of its batch diverged")
                    self.emit(events.Interrupted(run=run_id, group=group_id))
            raise
        except Exception as exc:
            for run_id in self._unfinished(run_ids):
                self.store.finish(run_id, "failed", error=f"{type(exc).__name__}: {exc}")
                self.emit(events.Failed(run=run_id, error=f"{type(exc).__name__}: {exc}"))
            raise

    def _unfinished(self, run_ids: list[int]) -> list[int]:
        return [r for r in run_ids if self.store.run(r).status != "finished"]

    def _save_outcome(self, run_id: int, predictions: np.ndarray) -> None:
        self.store.save_outcome(run_id, predictions, mistakes_of(predictions, self._mnist.test))

    def _vote(self, spec: Spec, group_id: int, members: list[Run]) -> Run:
        run = store_vote(self.store, spec, members, self._mnist.test, group_id=group_id)
        wrong = int((self.store.predictions(run.id) != self._mnist.test.labels).sum())
        self.emit(events.Ensemble(run=run.id, members=run.members, accuracy=run.test_at_best, mistakes=wrong))
        return run

    # ------------------------------------------------------------ resources

    def _check_data(self) -> None:
        if self._mnist is None:
            self._mnist = mnist_data.load_mnist(self.data_dir)

    def _device(self):
        from convlab.engine import pick_device

        return pick_device(self.device_name)

    def _tensors_for(self, spec: Spec, device):
        """Built once per (data, limit, device) and shared by repeats."""
        from convlab.engine import prepare

        key = (spec.train.data, spec.train.train_limit, spec.train.batch_size, str(device))
        if key not in self._tensors:
            self._tensors = {key: prepare(spec, self._mnist, device)}
        return self._tensors[key]


class ProgressRecord:
    """The run's progress row in the store: where it is within the epoch, the
    epoch's training loss at each progress step so far (the lab plots them),
    and whether it is evaluating (after the last mini-batch, validation and
    test accuracy take a while), with how long the last evaluation took."""

    def __init__(self, store: Store, run_id: int):
        self.store, self.run_id = store, run_id
        self.record: dict[str, Any] = {}
        self.losses: list[list[float]] = []
        self.last_write = 0.0
        self.eval_started: float | None = None
        self.eval_s: float | None = None

    def step(self, event: events.Progress) -> None:
        if event.batch <= max(1, event.batches // 50):
            self.losses = []  # a new epoch
        if event.loss is not None:
            self.losses.append([round(event.epoch - 1 + event.batch / event.batches, 4), event.loss])
        self.record = {"epoch": event.epoch, "batch": event.batch, "batches": event.batches,
                       "images_per_s": event.images_per_s, "eta_s": event.seconds_left}
        self.record.update(losses=self.losses, eval_s=self.eval_s)
        last = event.batch == event.batches
        if last:
            self.eval_started = time.monotonic()
            self.record.update(evaluating=True, eval_started=time.time())
        if last or time.monotonic() - self.last_write > PROGRESS_WRITE_EVERY:
            self.store.set_progress(self.run_id, self.record)
            self.last_write = time.monotonic()

    def evaluated(self) -> None:
        """The epoch's evaluation ended: its time is kept for the estimates of the
        epochs to come and of later runs (the row stays 'evaluating' until the
        next step: after the last epoch the test predictions are made)."""
        if self.eval_started is not None:
            self.eval_s = round(time.monotonic() - self.eval_started, 2)
            self.eval_started = None
            self.record.update(eval_s=self.eval_s)
            self.store.set_progress(self.run_id, self.record)


def failure_line(run_id: int | None, exc: Exception) -> str:
    """The one line `convlab run` ends with when training raised `exc`."""
    from convlab.engine import Diverged

    if isinstance(exc, Diverged):
        return f"run {run_id} diverged: {exc}"
    return f"run {run_id} failed: {type(exc).__name__}: {exc}"
