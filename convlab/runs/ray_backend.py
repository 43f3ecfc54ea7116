"""The scheduler's Ray backend (`--ray [ADDRESS]` or CONVLAB_RAY): each member
of a job is a Ray task asking for one CPU (or one GPU), on any node.

Remote workers never touch the store. They stream the run's events (every
epoch with its checkpoint and filters, the final predictions) back through a
Ray queue to this process, which writes the store exactly as a local run
does; so the lab shows remote runs live. MNIST travels once, as one object
in Ray's object store (each node fetches it once), not once per run.

A worker that dies leaves its run *interrupted* at its last stored epoch
(tasks are not retried: the launcher resumes from the checkpoint it holds);
Ctrl-C cancels every remote task the same way.
"""

from __future__ import annotations

import os
import queue
import socket
from dataclasses import dataclass
from typing import Any

from convlab.errors import UserError
from convlab.runs.events import Epoch

INSTALL = "pip install 'nndl-convlab[ray]'"
CONNECT_TIMEOUT = 5.0  # seconds for a cluster's address to answer (--ray-timeout)
DEFAULT_PORTS = {"ray": 10001, "": 6379}  # Ray Client (ray://), the GCS


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError(f"--ray needs Ray, which is not installed; {INSTALL}") from None
    return ray


class RayBackend:
    def __init__(self, address: str = "auto", timeout: float = CONNECT_TIMEOUT):
        self.address = address  # "auto": a running cluster if there is one, else a local one
        self.timeout = timeout
        self.workers: dict[int, Hello] = {}

    def probe(self) -> None:
        """One TCP connection to the address the user gave, within `timeout`: Ray
        itself retries an address that does not answer for minutes, deaf to Ctrl-C."""
        if self.address in ("auto", "local"):
            return
        scheme, _, rest = self.address.rpartition("://")
        host, colon, port = rest.rpartition(":")
        if not colon:
            host, port = rest, str(DEFAULT_PORTS.get(scheme, 6379))
        if not port.isdigit() or not 0 < int(port) < 65536 or not host:
            raise UserError(f"--ray {self.address}: not an address; write HOST:PORT or ray://HOST:PORT")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=self.timeout).close()
        except OSError as exc:
            timed_out = isinstance(exc, TimeoutError)
            reason = f"no answer within {self.timeout:g} s" if timed_out else (exc.strerror or str(exc)).lower()
            raise UserError(
                f"--ray {self.address}: no Ray cluster there ({reason}); "
                "check the address, start one with `ray start --head`, or raise --ray-timeout"
            ) from None

    def connect(self, workers: int | None):
        ray = import_ray()
        if not ray.is_initialized():
            self.probe()
            local = {"num_cpus": workers} if workers and self.address == "auto" else {}
            try:
                ray.init(
                    address=None if self.address == "auto" else self.address,
                    include_dashboard=False,
                    logging_level="ERROR",
                    log_to_driver=False,
                    **local,
                )
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise UserError(f"--ray {self.address}: cannot reach a Ray cluster ({exc})") from None
        return ray

    def run(self, jobs: list, scheduler) -> None:
        ray = self.connect(scheduler.workers)
        launch = _Launch(ray, jobs, scheduler)
        self.workers = launch.hellos  # run id -> its worker (pid, node), for whoever asks
        launch.run()


class _Launch:
    """One scheduler.run on Ray: submit, relay events into the store, settle."""

    def __init__(self, ray, jobs: list, scheduler):
        from ray.util.queue import Queue

        from convlab.runs.jobs import JobTrainer

        self.ray, self.scheduler = ray, scheduler
        self.recorder = JobTrainer(
            scheduler.store,
            scheduler.device,
            scheduler.data_dir,
            scheduler.emit,
            mnist=scheduler.mnist,
            judge=scheduler.judge,  # a search's pruner: asked here, where the epochs are stored
        )
        self.events = Queue()
        gpus = ray.cluster_resources().get("GPU", 0)
        self.device = scheduler.device or ("cuda" if gpus else "cpu")
        if self.device == "auto":
            self.device = "cuda" if gpus else "cpu"
        self.resources = {"num_gpus": 1, "num_cpus": 0} if self.device.startswith("cuda") else {"num_cpus": 1}
        self.data = ray.put(self.recorder.data())  # once per launch; each node fetches it once
        self.tasks: dict[Any, tuple] = {}  # object ref -> (key, job, member)
        self.runs: dict[str, int] = {}  # key -> run id, once the worker said hello
        self.hellos: dict[int, Hello] = {}  # run id -> where it trains (worker pid, node)
        self.jobs = jobs

    def run(self) -> None:
        from convlab.book.trainer import TrainingStopped

        remote = self.ray.remote(max_retries=0)(train_member)
        for job in self.jobs:
            for member in job.members:
                key = f"{job.group_id}/{member.member}"
                saved = self.scheduler.store.checkpoint(member.run_id) if member.run_id else None
                ref = remote.options(**self.resources).remote(
                    job.spec, member.seed, saved, self.data, self.device, self.scheduler.threads, self.events, key
                )
                self.tasks[ref] = (key, job, member)
        failure: BaseException | None = None
        died = False
        try:
            while self.tasks:
                if self.scheduler.should_stop():
                    self._cancel_all()
                    raise TrainingStopped
                ready, _ = self.ray.wait(list(self.tasks), num_returns=len(self.tasks), timeout=0.2)
                self._relay()  # a finished task's events are all queued before it returns
                for ref in ready:
                    outcome = self._settle(ref)
                    died = died or outcome == "died"
                    if isinstance(outcome, BaseException) and failure is None:
                        failure = outcome
        except KeyboardInterrupt:  # a second Ctrl-C
            self._cancel_all()
            raise
        if failure is not None:
            raise failure
        if died:
            raise RuntimeError(
                "a Ray worker died; its run is interrupted and resumes from its last epoch "
                "with `convlab run --resume RUN`"
            )

    def _relay(self) -> None:
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return
            self._event(event)

    def _event(self, item: tuple[str, Any]) -> None:
        """(key, Hello) when a worker starts a member, then (key, trainer event)."""
        key, event = item
        if isinstance(event, Hello):
            from convlab.runs.jobs import started_event

            _, job, member = next(v for v in self.tasks.values() if v[0] == key)
            run_id, saved = self.recorder.open_run(job, member, f"{event.device} (ray, {event.node})")
            self.runs[key] = run_id
            self.hellos[run_id] = event
            self.recorder.record(  # stores how and where it trains, then emits
                run_id,
                started_event(
                    job,
                    member,
                    run_id,
                    event.device,
                    event.batches,
                    event.images,
                    saved[0] if saved else None,
                    device_name=event.device_name,
                ),
            )
        elif key in self.runs:
            self.recorder.record(self.runs[key], event)
            if isinstance(event, Epoch) and self.recorder.prunes(self._job(key), self.runs[key], event):
                self._drop(key)

    def _job(self, key: str):
        return next(job for k, job, _ in self.tasks.values() if k == key)

    def _drop(self, key: str) -> None:
        """A pruned member: its task is cancelled and whatever it still streams is
        ignored, so the store holds exactly the epochs up to the pruner's verdict."""
        ref = next(ref for ref, (k, _, _) in self.tasks.items() if k == key)
        self.ray.cancel(ref, force=True)
        del self.tasks[ref], self.runs[key]

    def _settle(self, ref) -> Any:
        """A task ended: fine, failed in training, or its worker died."""
        from ray.exceptions import RayTaskError

        key, job, member = self.tasks.pop(ref)
        run_id = self.runs.get(key)
        try:
            self.ray.get(ref)
            return None
        except RayTaskError as exc:
            from convlab.book.trainer import TrainingDiverged

            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            if run_id is not None and isinstance(cause, TrainingDiverged):  # as a local run: never resumed
                self.recorder.diverged(run_id, cause)
            elif run_id is not None:
                self.recorder.failed(run_id, cause)
            return cause
        except Exception:  # the worker process died or was cancelled
            if run_id is not None:
                self.recorder.stopped(run_id, job.group_id, "its Ray worker died; resumable from its last epoch")
            return "died"

    def _cancel_all(self) -> None:
        for ref in list(self.tasks):
            self.ray.cancel(ref, force=True)
        self._relay()
        for key, job, _ in self.tasks.values():
            if key in self.runs:
                self.recorder.stopped(self.runs[key], job.group_id)
        self.tasks.clear()


# ---------------------------------------------------------------- on a Ray worker


@dataclass(frozen=True)
class Hello:
    """A worker took a member: where it trains, and the sizes its Started event needs."""

    pid: int
    node: str
    device: str
    batches: int
    images: int
    device_name: str | None = None


def train_member(
    spec, seed: int, saved: tuple[int, bytes] | None, mnist, device: str, threads: int, events, key: str
) -> None:
    """Train one member and stream its events to `events`; nothing else leaves the worker."""
    import socket

    import ray
    import torch

    from convlab.book.trainer import Trainer, pick_device, prepare

    torch.set_num_threads(threads)
    dev = pick_device(device)
    trainer = Trainer(spec, prepare(spec, mnist, dev), dev, seed)
    if saved is not None:
        trainer.restore(saved[1])
    # Fire-and-forget calls to the queue's actor (Ray keeps one caller's calls in
    # order): a task blocked in ray.get would lend its CPU to another task, and
    # the cluster would train more runs at once than it has CPUs.
    put = events.actor.put.remote
    put(
        (
            key,
            Hello(os.getpid(), socket.gethostname(), str(dev), trainer.n_batches, trainer.images, trainer.seam.name()),
        )
    )
    last = None
    for event in trainer.run():
        last = put((key, event))
    ray.get(last)  # every event is queued before the task returns
