"""One scheduler for everything that trains several networks: a group's
repeats and ensemble members, `reproduce`, sweeps and the lab's queue.

Callers say *what* to train (jobs); the scheduler decides how many at once
and where: here in this process (one worker), in up to N local worker
processes (spawned, one torch thread each on a CPU, sharing the device on a
GPU), or on a Ray cluster (ray_backend.py). Local workers write the store
themselves, as a lone run does (SQLite WAL takes several writers); their
events come back over a queue for the caller to print.

Each job carries its members' seeds, so a group's numbers do not depend on
how many workers train it. Ctrl-C or SIGTERM sets a shared stop flag: every
worker stops before its next mini-batch and marks its run interrupted, jobs
not yet started are dropped, and `TrainingStopped` reaches the caller. A
worker whose parent died (SIGKILL, a closed terminal) does the same on its own,
then exits: nobody is left to hand it work.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from convlab.config.cores import available_cores
from convlab.errors import UserError
from convlab.runs.jobs import Job, JobTrainer

POLL = 0.2  # seconds between looks at the workers' events and the stop flag
PARENT_POLL = 1.0  # seconds between a worker's looks at whether its parent lives
STOP_GRACE = 60.0  # seconds a worker whose parent died gives its run to stop cleanly


def default_workers(device_name: str | None) -> int:
    """A CPU: one worker per core. A GPU: one (give --workers N to share it)."""
    from convlab.book.trainer import pick_device

    return available_cores() if pick_device(device_name).type == "cpu" else 1


def threads_per_run(threads: int | None) -> int:
    """--threads, else OMP_NUM_THREADS, else 1: at the book's mini-batch of 10
    a second thread gains little idle and loses many times over when anything
    else holds a core (bench/bench_threads.py measures it)."""
    if threads is None:
        env = os.environ.get("OMP_NUM_THREADS", "")
        threads = int(env) if env.isdigit() else 1
    if threads < 1:
        raise UserError(f"--threads {threads}: must be at least 1")
    return threads


def check_workers(workers: int | None) -> None:
    if workers is not None and workers < 1:
        raise UserError(f"--workers {workers}: must be at least 1")


class WorkerDied(RuntimeError):
    """A local worker process ended (killed) without finishing its run."""

    def __init__(self, runs: list[int]):
        self.runs = runs
        names = ", ".join(map(str, runs)) or "its run"
        first = runs[0] if runs else "RUN"
        super().__init__(
            f"a worker process ended without finishing; run{'s' * (len(runs) > 1)} {names} "
            f"{'are' if len(runs) > 1 else 'is'} interrupted and resume{'s' * (len(runs) < 2)} with "
            f"`convlab run --resume {first}`"
        )


class Scheduler:
    def __init__(
        self,
        store,
        *,
        workers: int | None = None,
        device: str | None = None,
        data_dir: str | None = None,
        threads: int | None = None,
        emit: Callable[[Any], None] = lambda e: None,
        should_stop: Callable[[], bool] = lambda: False,
        backend: Any = None,
        mnist: Any = None,
        judge: Any = None,
    ):
        check_workers(workers)
        self.judge = judge  # a search's pruner (jobs.Judge), picklable: it travels to the workers
        self.store, self.workers, self.device, self.data_dir = store, workers, device, data_dir
        self.threads = threads_per_run(threads)
        self.emit, self.should_stop, self.backend = emit, should_stop, backend
        self.mnist = mnist  # the command's MNIST, read once: training here and the Ray backend use it

    def run(self, jobs: list[Job]) -> None:
        """Train every job; returns when all are done. Raises TrainingStopped when
        stopped, or the first failure once the other workers finished."""
        if not jobs:
            return
        if self.backend is not None:
            self.backend.run(jobs, self)
            return
        n = min(self.workers or default_workers(self.device), len(jobs))
        if n == 1:
            self._here(jobs)
        else:
            self._pool(jobs, n)

    def _here(self, jobs: list[Job]) -> None:
        import torch

        torch.set_num_threads(self.threads)
        trainer = JobTrainer(
            self.store, self.device, self.data_dir, self.emit, self.should_stop, self.mnist, judge=self.judge
        )
        for job in jobs:
            trainer.train(job)

    def _pool(self, jobs: list[Job], n: int) -> None:
        from convlab.book.trainer import TrainingStopped

        ctx = multiprocessing.get_context("spawn")  # fork would copy torch's threads and a CUDA context
        events, stop = ctx.Queue(), ctx.Event()
        args = (
            str(self.store.path.resolve()),
            self.device,
            self.data_dir,
            self.threads,
            events,
            stop,
            os.getpid(),
            self.judge,
        )
        failure: BaseException | None = None
        with ProcessPoolExecutor(n, mp_context=ctx, initializer=_init_worker, initargs=args) as pool:
            pending: list[Future] = [pool.submit(_train_job, job) for job in jobs]
            while pending:
                self._relay(events, POLL)
                if self.should_stop() and not stop.is_set():
                    stop.set()
                for future in [f for f in pending if f.done()]:
                    pending.remove(future)
                    exc = None if future.cancelled() else future.exception()
                    if exc is not None and failure is None:
                        failure = exc
                        if isinstance(exc, TrainingStopped):  # a worker was stopped: stop them all
                            stop.set()
                if stop.is_set() or failure is not None:
                    for future in pending:
                        future.cancel()  # not started yet: dropped
            self._relay(events, POLL)
        if stop.is_set() and (failure is None or isinstance(failure, TrainingStopped)):
            raise TrainingStopped
        if isinstance(failure, BrokenProcessPool):
            lost = self.store.orphaned()  # the runs whose worker died (the pool ends the others' too)
            self.store.mark_stale()
            raise WorkerDied(lost) from None
        if failure is not None:
            raise failure

    def _relay(self, events, wait: float) -> None:
        """Pass the workers' events to `emit`, waiting up to `wait` for the first."""
        while True:
            try:
                self.emit(events.get(timeout=wait))
            except queue.Empty:
                return
            wait = 0.02


# ---------------------------------------------------------------- in a worker process

_worker: dict[str, Any] = {}


def _init_worker(
    store_path: str, device: str | None, data_dir: str | None, threads: int, events, stop, parent: int, judge=None
) -> None:
    """Once per worker process: the terminal's Ctrl-C is the launcher's to
    handle (it sets `stop`); a SIGTERM sent to this worker stops its run; so
    does the death of `parent`, after which the worker exits."""
    import torch

    from convlab.store import Store

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    terminated = []
    signal.signal(signal.SIGTERM, lambda *_: terminated.append(True))
    torch.set_num_threads(threads)
    _worker["idle"] = idle = threading.Event()
    idle.set()
    threading.Thread(target=_watch_parent, args=(parent, terminated, idle), daemon=True).start()
    _worker["trainer"] = JobTrainer(
        Store(store_path),
        device,
        data_dir,
        emit=lambda e: events.put(light(e)),
        should_stop=lambda: bool(terminated) or stop.is_set(),
        judge=judge,
    )


def light(event):
    """The event without its bulk (filters, checkpoint, predictions): the worker stored them."""
    return dataclasses.replace(event, **{name: None for name in event.BULK}) if event.BULK else event


def _train_job(job: Job) -> None:
    _worker["idle"].clear()
    try:
        _worker["trainer"].train(job)
    finally:
        _worker["idle"].set()


def _watch_parent(parent: int, terminated: list, idle: threading.Event) -> None:
    """Once `parent` is gone (the pipes of a pool never close, since every worker
    holds both ends): stop the run in hand, which marks it interrupted, and exit."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL)
    terminated.append(True)
    idle.wait(STOP_GRACE)
    os._exit(1)
