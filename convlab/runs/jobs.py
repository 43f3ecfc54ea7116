"""Jobs, the unit the scheduler hands out, and `JobTrainer`, which trains a
job's members here and turns the trainer's events into store rows.

A job holds members of one group: one member, or, when members are batched
(convlab/book/stacked.py: several members of one architecture as one model),
all of them. `JobTrainer` runs in the command's process, in a scheduler's
worker process, or, for Ray, records the events a remote worker streams back
(ray_backend.py): every store write of a training run is here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from convlab.config.spec import Spec
from convlab.data import mnist as mnist_data
from convlab.errors import UserError
from convlab.inspect import weights
from convlab.runs import events
from convlab.store import Store, mistakes_of
from convlab.versions import library_versions

Emit = Callable[[events.Event], None]
# Whether a run stops after the epoch it just stored: (store, group id, run id) -> bool.
# A search's pruner (convlab/runs/search.py); it reads the store, so it works in any process.
Judge = Callable[[Store, int, int], bool]
PROGRESS_WRITE_EVERY = 0.5  # seconds between progress rows in the store


@dataclass(frozen=True)
class Member:
    member: int  # index in its group
    seed: int
    run_id: int | None = None  # an unfinished run to continue from its checkpoint, or None for a new one


@dataclass(frozen=True)
class Job:
    """Members of one group that one worker trains."""

    spec: Spec
    group_id: int
    members: tuple[Member, ...]


class JobTrainer:
    """Trains jobs here, one member after another, writing the store."""

    def __init__(
        self,
        store: Store,
        device: str | None = None,
        data_dir: str | None = None,
        emit: Emit = lambda e: None,
        should_stop: Callable[[], bool] = lambda: False,
        mnist: mnist_data.MNIST | None = None,
        judge: Judge | None = None,
    ):
        self.store, self.device_name, self.data_dir = store, device, data_dir
        self.emit, self.should_stop, self.judge = emit, should_stop, judge
        self.mnist = mnist  # the command's copy, or read here on first use (a worker process)
        self._tensors: dict[tuple, Any] = {}
        self._progress: dict[int, ProgressRecord] = {}

    def data(self) -> mnist_data.MNIST:
        if self.mnist is None:
            self.mnist = mnist_data.load_mnist(self.data_dir)
        return self.mnist

    def train(self, job: Job) -> None:
        from convlab.book.trainer import TrainingStopped, pick_device

        if self.should_stop():  # handed out after the stop (a pool queues one ahead): never opened
            raise TrainingStopped
        device = pick_device(self.device_name)
        if len(job.members) > 1:
            self._train_batched(job, device)
            return
        for member in job.members:
            self._train_member(job, member, device)

    def _train_batched(self, job: Job, device) -> None:
        """A job of several members as one batched model (convlab/book/stacked.py);
        members that resume from different epochs train as separate batches.
        When the batched (or captured) path itself fails, each unfinished member
        continues eagerly and alone from its last checkpoint (`_fall_back`)."""
        from convlab.book import graph
        from convlab.book.stacked import BatchedTrainer
        from convlab.book.trainer import TrainingDiverged, TrainingStopped

        opened = {m: self.open_run(job, m, str(device)) for m in job.members}
        by_epoch: dict[int, list[Member]] = {}
        for m, (_, saved) in opened.items():
            by_epoch.setdefault(saved[0] if saved else 0, []).append(m)
        tensors = self._tensors_for(job.spec, device)
        for batch in by_epoch.values():
            run_ids = [opened[m][0] for m in batch]
            path = "batched"
            try:
                seam = graph.seam_for(device)
                trainer = BatchedTrainer([job.spec] * len(batch), tensors, device, [m.seed for m in batch], seam=seam)
                path = trainer.path
                for i, m in enumerate(batch):
                    saved = opened[m][1]
                    if saved is not None:
                        trainer.restore(i, saved[1])
                    self.record(
                        run_ids[i],
                        started_event(
                            job,
                            m,
                            run_ids[i],
                            device,
                            trainer.n_batches,
                            trainer.images,
                            saved[0] if saved else None,
                            path=path,
                            device_name=seam.name(),
                        ),
                    )
                for i, event in trainer.run(self.should_stop):
                    self.record(run_ids[i], event)
            except TrainingStopped:
                for run_id in self._unfinished(run_ids):
                    self.stopped(run_id, job.group_id)
                raise
            except TrainingDiverged as exc:
                bad = {run_ids[i] for i in exc.members} if exc.members is not None else set(run_ids)
                for run_id in self._unfinished(run_ids):
                    if run_id in bad:
                        self.diverged(run_id, exc)
                    else:  # a healthy member of the batch: stopped with it, resumable on its own
                        self.stopped(run_id, job.group_id, "stopped: another member of its batch diverged")
                raise
            except Exception as exc:
                if out_of_memory(exc):
                    self._out_of_memory(job, self._unfinished(run_ids), device, path)
                self._fall_back(job, batch, run_ids, device, path, exc)

    def _fall_back(self, job: Job, batch: list[Member], run_ids: list[int], device, path: str, exc: Exception) -> None:
        """The batched path failed: each unfinished member continues eagerly and
        unbatched from its last checkpoint, after a warning that says why."""
        why = one_line(exc)
        for member, run_id in zip(batch, run_ids):
            if run_id not in self._unfinished([run_id]):
                continue
            saved = self.store.checkpoint(run_id)
            start = saved[0] + 1 if saved else 1
            self.emit(
                events.RunWarning(
                    run=run_id,
                    message=f"run {run_id}: the {path} path failed ({why}); "
                    f"it continues eagerly and unbatched from epoch {start}",
                )
            )
            again = Member(member.member, member.seed, run_id)
            self._train_member(job, again, device, path=f"{path} → eager from epoch {start}")

    def _unfinished(self, run_ids: list[int]) -> list[int]:
        return [r for r in run_ids if self.store.run(r).status != "finished"]

    def _train_member(self, job: Job, member: Member, device, path: str | None = None) -> None:
        from convlab.book.trainer import Trainer, TrainingDiverged, TrainingStopped

        trainer = Trainer(job.spec, self._tensors_for(job.spec, device), device, member.seed)
        if self.should_stop():  # stopped while the data loaded: the run is never opened
            raise TrainingStopped
        run_id, saved = self.open_run(job, member, str(device))
        if saved is not None:
            trainer.restore(saved[1])
        self.record(
            run_id,
            started_event(
                job,
                member,
                run_id,
                device,
                trainer.n_batches,
                trainer.images,
                saved[0] if saved else None,
                path=path or trainer.path,
                device_name=trainer.seam.name(),
            ),
        )
        try:
            for event in trainer.run(self.should_stop):
                self.record(run_id, event)
                if isinstance(event, events.Epoch) and self.prunes(job, run_id, event):
                    return
        except TrainingStopped:
            self.stopped(run_id, job.group_id)
            raise
        except TrainingDiverged as exc:
            self.diverged(run_id, exc)
            raise
        except Exception as exc:
            if out_of_memory(exc):
                self._out_of_memory(job, [run_id], device, path or trainer.path)
            self.failed(run_id, exc)
            raise

    def _out_of_memory(self, job: Job, run_ids: list[int], device, path: str) -> None:
        """The device's memory ran out: the runs are interrupted (resumable), and one line says what to lower."""
        for run_id in run_ids:
            self.stopped(run_id, job.group_id, f"out of memory on {device} ({path})")
        first = run_ids[0] if run_ids else "?"
        together = f" and {len(run_ids) - 1} more batched with it" if len(run_ids) > 1 else ""
        raise UserError(
            f"run {first}{together}: out of memory on {device} ({path}); lower --workers, or train the "
            f"repeats unbatched (--no-batch-members); then `convlab run --resume {first}`"
        )

    # ------------------------------------------------------------ the store side
    # (also used by the Ray backend, whose remote workers never see the store)

    def open_run(self, job: Job, member: Member, device: str) -> tuple[int, tuple[int, bytes] | None]:
        """The member's run row (new, or an unfinished one claimed by this
        process) and its last checkpoint, if any."""
        if member.run_id is None:
            return self.store.create_run(
                job.spec,
                group_id=job.group_id,
                member=member.member,
                seed=member.seed,
                device=device,
                versions=library_versions(),
            ), None
        self.store.claim(member.run_id, device)
        return member.run_id, self.store.checkpoint(member.run_id)

    def record(self, run_id: int, event: events.Event) -> None:
        """One trainer event into the store, then to `emit`."""
        event.run = run_id
        progress = self._progress.setdefault(run_id, ProgressRecord(self.store, run_id))
        if isinstance(event, events.Started):
            self.store.set_path(run_id, event.path, event.device_name)
        elif isinstance(event, events.Progress):
            progress.step(event)
        elif isinstance(event, events.Epoch):
            progress.evaluated()
            self.store.add_epoch(run_id, event)
        elif isinstance(event, events.Finished):
            test = self.data().test
            kept = weights.of_finished_run(self.store, run_id, event.best_epoch)  # gc keeps them
            self.store.save_outcome(run_id, event.predictions, mistakes_of(event.predictions, test), kept)
            event.mistakes = int((event.predictions != test.labels).sum())
            self.store.finish(run_id, "finished")
        self.emit(event)

    def prunes(self, job: Job, run_id: int, event: events.Epoch) -> bool:
        """Ask the judge after a stored epoch; a run it stops is stored 'pruned' with
        the epochs it trained. Its last planned epoch is never judged: it is complete."""
        if self.judge is None or event.epoch >= job.spec.train.epochs:
            return False
        if not self.judge(self.store, job.group_id, run_id):
            return False
        self.store.finish(run_id, "pruned", error=f"pruned by its search after epoch {event.epoch}")
        self.emit(events.Pruned(run=run_id, group=job.group_id, epoch=event.epoch))
        return True

    def stopped(self, run_id: int, group_id: int, why: str = "stopped by request") -> None:
        self.store.finish(run_id, "interrupted", error=why)
        self.emit(events.Interrupted(run=run_id, group=group_id))

    def diverged(self, run_id: int, exc: BaseException) -> None:
        """The loss became NaN: stored as 'diverged', with the hint, never resumed."""
        self.store.finish(run_id, "diverged", error=str(exc))
        self.emit(events.Diverged(run=run_id, epoch=exc.epoch, batch=exc.batch, error=str(exc)))

    def failed(self, run_id: int, exc: BaseException) -> None:
        self.store.finish(run_id, "failed", error=f"{type(exc).__name__}: {exc}")
        self.emit(events.Failed(run=run_id, error=f"{type(exc).__name__}: {exc}"))

    def _tensors_for(self, spec: Spec, device):
        """Built once per (data, limit, device) and shared by the jobs this trainer takes."""
        from convlab.book.trainer import prepare

        key = (spec.train.data, spec.train.train_limit, spec.train.batch_size, str(device))
        if key not in self._tensors:
            self._tensors = {key: prepare(spec, self.data(), device)}
        return self._tensors[key]


def started_event(
    job: Job,
    member: Member,
    run_id: int,
    device,
    batches: int,
    images: int,
    resumed_from: int | None,
    path: str = "eager",
    device_name: str | None = None,
) -> events.Started:
    spec = job.spec
    return events.Started(
        run=run_id,
        group=job.group_id,
        member=member.member,
        preset=spec.name,
        seed=member.seed,
        device=str(device),
        epochs=spec.train.epochs,
        batches=batches,
        images=images,
        resumed_from=resumed_from,
        path=path,
        device_name=device_name,
    )


def out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def one_line(exc: BaseException, width: int = 160) -> str:
    """An exception as one line: its type and the first line of its message, cut to `width`."""
    text = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}".rstrip(": ")
    return text if len(text) <= width else text[: width - 1] + "…"


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
        self.record = {
            "epoch": event.epoch,
            "batch": event.batch,
            "batches": event.batches,
            "images_per_s": event.images_per_s,
            "eta_s": event.seconds_left,
        }
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
