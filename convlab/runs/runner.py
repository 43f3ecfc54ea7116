"""Runs a spec to the end and keeps everything in the store: its repeats (one
run per seed) or ensemble members, then the vote. Also resumes an interrupted
group from its members' last finished epochs.

`Runner` decides *what* to train (the groups and their unfinished members);
the scheduler (scheduler.py) decides *how many at once* and *where*; a
`jobs.JobTrainer` turns the trainer's events into store rows. Every event, with
its run id, also goes to `emit` (the CLI prints them; `--json` writes them as lines).

Every group it opens or reopens is this process's until its training ends: it
holds the group's lock (convlab/store/liveness.py), so `run`, `run --resume`,
`sweep` and `reproduce` never complete one group in two processes at once.
MNIST is read once per Runner and handed to whatever trains in this process.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from convlab.config.spec import TRAIN_IMAGES, Spec
from convlab.data import mnist as mnist_data
from convlab.errors import UserError
from convlab.results.stats import best_of, mean_sd
from convlab.runs import events
from convlab.runs.ensemble import store_vote
from convlab.runs.jobs import Job, Member
from convlab.runs.scheduler import Scheduler, WorkerDied
from convlab.store import Run, Store
from convlab.term.text import shown

Emit = Callable[[events.Event], None]
DONE = ("finished", "pruned")  # a member that trains no more: pruning is the search's final verdict


@dataclass
class GroupResult:
    """A group once trained: its runs and its vote; `event()` is its events.Summary."""

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
            preset=self.spec.name,
            group=self.group_id,
            runs=[r.id for r in self.runs],
            book_figure=self.spec.book_figure,
            best_run=best.id if best else None,
            best_val=best.best_val if best else None,
            test_at_best=best.test_at_best if best else None,
            test_mean=ms[0] if ms else None,
            test_sd=ms[1] if ms else None,
            ensemble_run=self.ensemble.id if self.ensemble else None,
            ensemble_accuracy=self.ensemble.test_at_best if self.ensemble else None,
        )


@dataclass(frozen=True)
class Plan:
    """A group to complete: its spec and the seed of member 0."""

    spec: Spec
    group_id: int
    base_seed: int


class Runner:
    def __init__(
        self,
        store: Store,
        device: str | None = None,
        data_dir: str | None = None,
        emit: Emit = lambda e: None,
        should_stop: Callable[[], bool] = lambda: False,
        workers: int | None = None,
        threads: int | None = None,
        backend: Any = None,
        batch_members: bool | None = None,
        judge: Any = None,
    ):
        self.store, self.device_name, self.data_dir = store, device, data_dir
        self.batch_members = batch_members  # None: batch on CUDA only (convlab/book/stacked.py)
        self.emit, self.should_stop = emit, should_stop
        self.workers, self.threads, self.backend = workers, threads, backend
        self.judge = judge  # a search's pruner (jobs.Judge), asked after every epoch; None: never pruned
        self._mnist: mnist_data.MNIST | None = None

    # ------------------------------------------------------------ entry points

    def start(self, spec: Spec, seed: int | None = None) -> GroupResult:
        """A new group: `repeats` runs (or `ensemble` members) of `spec`."""
        plan = self.open_group(spec, seed)
        try:
            return self.train([plan])[0]
        finally:
            self.store.drop_group_if_empty(plan.group_id)  # it failed before its first run

    def resume(self, run_id: int | str) -> GroupResult:
        """Continue the group of `run_id`: finished members are kept,
        unfinished ones continue from their last finished epoch, missing ones start.
        A second resume while it trains is refused."""
        return self.train([self.reopen_group(run_id)])[0]

    def open_group(self, spec: Spec, seed: int | None = None) -> Plan:
        """A new group of `spec`, held by this process until `train` ends."""
        check_train_limit(spec)
        self._check_data()
        device = self._device()
        group_id = self.store.create_group(spec)
        self.hold_group(group_id)  # new: nobody else can hold it yet
        base_seed = secrets.randbelow(2**31) if seed is None else seed
        self.emit(
            events.Group(
                group=group_id, preset=spec.name, members=spec.members, ensemble=spec.train.ensemble, device=str(device)
            )
        )
        return Plan(spec, group_id, base_seed)

    def reopen_group(self, run_id: int | str) -> Plan:
        """The group of `run_id`, to complete, held by this process until `train` ends;
        refused while another process holds it."""
        self.store.mark_stale()
        run = self.store.run(run_id)
        if run.group_id is not None and not self.hold_group(run.group_id):
            raise UserError(f"run {run.id}: its group is being trained by another process; wait for it, or stop it")
        try:
            return self._reopen(run)
        except BaseException:
            self.release_group(run.group_id)
            raise

    def _reopen(self, run: Run) -> Plan:
        if run.status == "running":
            raise UserError(f"run {run.id} is still running (pid {run.pid} on {run.host}); stop it first")
        if run.kind == "ensemble":
            raise UserError(f"run {run.id} is an ensemble vote, not a training run; resume one of its members")
        if run.status == "diverged":
            raise UserError(f"run {run.id} diverged ({run.error}); resuming it would diverge again")
        if run.status == "pruned":
            raise UserError(f"run {run.id} was {run.error}; a pruned trial is final, nothing to resume")
        if run.group_id is None:
            raise UserError(f"run {run.id} belongs to no group and cannot be resumed")
        members = self._member_runs(run.group_id)
        if self.group_done(run.spec, run.group_id):
            raise UserError(f"run {run.id} and its group are already finished; nothing to resume")
        self._check_data()
        self._device()
        first = min(members, key=lambda r: r.member)
        return Plan(run.spec, run.group_id, first.seed - first.member)

    def hold_group(self, group_id: int) -> bool:
        """Make the group this process's (its lock); False when another process holds it."""
        return self.store.hold(f"group-{group_id}") is not None

    def release_group(self, group_id: int | None) -> None:
        if group_id is not None:
            self.store.release(f"group-{group_id}")

    def train(self, plans: list[Plan]) -> list[GroupResult]:
        """Every unfinished member of every plan, handed to the scheduler at
        once (so a sweep or a reproduction keeps every worker busy), then
        each group's vote and summary. The plans' groups must be held (open_group,
        reopen_group, hold_group); they are released when this ends."""
        try:
            self._check_data()
            jobs = [job for plan in plans for job in self.jobs_of(plan)]
            scheduler = Scheduler(
                self.store,
                workers=self.workers,
                device=self.device_name,
                data_dir=self.data_dir,
                threads=self.threads,
                emit=self.emit,
                should_stop=self.should_stop,
                backend=self.backend,
                mnist=self._mnist,
                judge=self.judge,
            )
            scheduler.run(jobs)
            return [self._summarise(plan) for plan in plans]
        finally:
            for plan in plans:
                self.release_group(plan.group_id)

    def jobs_of(self, plan: Plan) -> list[Job]:
        """One job per unfinished member; or, when members are batched (on CUDA,
        or asked for), one job of them all, trained as one model by one worker."""
        existing = {r.member: r for r in self._member_runs(plan.group_id)}
        members = [
            Member(m, plan.base_seed + m, existing[m].id if m in existing else None)
            for m in range(plan.spec.members)
            if m not in existing or existing[m].status not in DONE
        ]
        if members and self._batching(plan.spec):
            return [Job(plan.spec, plan.group_id, tuple(members))]
        return [Job(plan.spec, plan.group_id, (m,)) for m in members]

    def _batching(self, spec: Spec) -> bool:
        from convlab.book.stacked import batchable

        cuda = self._device().type == "cuda"
        wanted = cuda if self.batch_members is None else self.batch_members
        return wanted and batchable([spec]) is None

    def group_done(self, spec: Spec, group_id: int) -> bool:
        return group_done(self.store, spec, group_id)

    # ------------------------------------------------------------ the work

    def _summarise(self, plan: Plan) -> GroupResult:
        summary = GroupResult(plan.spec, plan.group_id, self._member_runs(plan.group_id))
        if plan.spec.train.ensemble > 1:
            done = [r for r in self.store.group_runs(plan.group_id) if r.kind == "ensemble"]
            summary.ensemble = done[0] if done else self._vote(plan.spec, plan.group_id, summary.runs)
        self.emit(summary.event())
        return summary

    def _member_runs(self, group_id: int) -> list[Run]:
        return [r for r in self.store.group_runs(group_id) if r.kind == "train"]

    def _vote(self, spec: Spec, group_id: int, members: list[Run]) -> Run:
        run = store_vote(self.store, spec, members, self._mnist.test, group_id=group_id)
        wrong = int((self.store.predictions(run.id) != self._mnist.test.labels).sum())
        self.emit(events.Ensemble(run=run.id, members=run.members, accuracy=run.test_at_best, mistakes=wrong))
        return run

    def _check_data(self) -> None:
        if self._mnist is None:
            self._mnist = mnist_data.load_mnist(self.data_dir)

    def _device(self):
        from convlab.book.trainer import pick_device

        return pick_device(self.device_name)


def group_done(store: Store, spec: Spec, group_id: int) -> bool:
    """Every member finished and, for an ensemble, the vote stored."""
    runs = store.group_runs(group_id)
    members = [r for r in runs if r.kind == "train"]
    return (
        len(members) >= spec.members
        and all(r.status in DONE for r in members)
        and (spec.train.ensemble == 1 or any(r.kind == "ensemble" for r in runs))
    )


def check_train_limit(spec: Spec) -> None:
    """A slice larger than the training set would train on the whole set while
    every table showed the slice: refused before anything is stored."""
    limit, data = spec.train.train_limit, spec.train.data
    if limit > TRAIN_IMAGES[data]:
        raise UserError(
            f"{shown(spec.name, 60)}: a train limit of {limit:,} images is more than the {TRAIN_IMAGES[data]:,} "
            f'of the {data} training set; lower --train-limit (train.train_limit), or train on data = "expanded"'
        )


def failure_line(run_id: int | None, exc: Exception) -> str:
    """The one line `convlab run` ends with when training raised `exc`."""
    from convlab.book.trainer import TrainingDiverged

    if isinstance(exc, TrainingDiverged):
        return f"run {run_id} diverged: {exc}"
    if isinstance(exc, WorkerDied):  # names its own runs: the last one printed may be another's
        return str(exc)
    return f"run {run_id} failed: {type(exc).__name__}: {exc}"
