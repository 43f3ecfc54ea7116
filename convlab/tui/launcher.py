"""Runs started from the lab: a queue of launches, `convlab run --json`
processes each supervised by a Textual worker. Up to `workers` runs train at
once (the lab's settings; one per core by default): a launch takes as many of
those slots as it has members to train in parallel (its process gets
`--workers` that many and hands them to the scheduler), and waits while too
few are free.

Training happens in its own process, so it never holds the UI's interpreter
lock and a crash in training cannot take the lab down. Each process writes
its JSON events to a file that the worker follows: the lab learns the run ids
of its jobs from them, and a run keeps training if the lab is closed (a pipe
would break under it). Everything the screens show comes from the store.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import sys
import tempfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

EXIT_INTERRUPTED = (128 + signal.SIGTERM, 128 + signal.SIGINT)
FOLLOW_EVERY = 0.2  # seconds between reads of a job's event file
TRAINING_NICE = 10  # training yields the CPU to the lab's UI, and trains at full speed otherwise


@dataclass
class Launch:
    """One `convlab run` command of the lab's queue: a new group of a preset,
    or a resume. (Its process hands the scheduler jobs of its own: runs/jobs.py.)"""

    number: int
    label: str  # what the user asked for: "relu", "resume run 7"
    args: list[str]  # after `convlab run`
    device: str = "auto"
    state: str = "waiting"  # waiting, training, finished, interrupted, failed, cancelled
    run_ids: list[int] = field(default_factory=list)
    group: int | None = None
    resumes: int | None = None  # the run id a resume job continues
    error: str | None = None
    warning: str | None = None  # the last `warning` event's line, until the lab has shown it
    process: asyncio.subprocess.Process | None = None
    cancel_asked: bool = False  # the user cancelled it (perhaps while its process was starting)
    slots: int = 1  # runs it trains at once (its --workers)
    verb: str = "run"  # the convlab command: run, sweep or search

    @property
    def active(self) -> bool:
        return self.state in ("waiting", "training")

    @property
    def run_id(self) -> int | None:
        """The run this job trains now (or trained last)."""
        return self.run_ids[-1] if self.run_ids else self.resumes


class Launcher:
    """A queue of jobs. `changed(job)` is called on the UI's event loop
    whenever a job starts, learns a run id or ends."""

    def __init__(
        self,
        store_path: str,
        changed: Callable[[Launch], None],
        run_worker: Callable,
        python: str = sys.executable,
        workers: int | None = None,
    ):
        from convlab.config.cores import available_cores  # not the scheduler: it brings numpy

        self.store_path = store_path
        self.changed = changed
        self.run_worker = run_worker  # App.run_worker
        self.python = python
        self.workers = workers or available_cores()  # runs trained at once
        self.jobs: list[Launch] = []
        self.waiting: deque[Launch] = deque()
        self.running: list[Launch] = []
        self.folder = Path(tempfile.mkdtemp(prefix="convlab-jobs-"))
        self._next = 1
        self.closed = False  # the lab is closing: nothing more starts

    # ------------------------------------------------------------ asking

    @property
    def current(self) -> Launch | None:
        """The job that started training first, of those training now."""
        return self.running[0] if self.running else None

    def launch(
        self,
        preset: str,
        *,
        epochs: int | None = None,
        train_limit: int | None = None,
        repeats: int | None = None,
        seed: int | None = None,
        device: str | None = None,
        label: str | None = None,
    ) -> Launch:
        args = [preset]
        for flag, value in (
            ("--epochs", epochs),
            ("--train-limit", train_limit),
            ("--repeats", repeats),
            ("--seed", seed),
            ("--device", device),
        ):
            if value is not None:
                args += [flag, str(value)]
        return self._submit(label or Path(preset).stem, args, device or "auto", _members(preset, repeats))

    def sweep(self, preset: str, axes: list[str], points: int, *, label: str | None = None, **options) -> Launch:
        """`convlab sweep PRESET --set AXIS …`: its `points` groups (each of its repeats) share the slots."""
        width = points * (options.get("repeats") or 1)
        return self._many("sweep", preset, [("--set", axis) for axis in axes], width, label, options)

    def search(self, preset: str, params: list[str], *, label: str | None = None, **options) -> Launch:
        """`convlab search PRESET --param RANGE …`: as many trials at once as it has slots."""
        pairs = [("--param", param) for param in params]
        return self._many("search", preset, pairs, options.get("trials") or 1, label, options)

    def _many(self, verb: str, preset: str, pairs: list, width: int, label: str | None, options: dict) -> Launch:
        args = [preset, *(part for pair in pairs for part in pair)]
        for flag in ("epochs", "train_limit", "repeats", "seed", "device", "trials", "sampler", "prune"):
            if options.get(flag) is not None:
                args += [f"--{flag.replace('_', '-')}", str(options[flag])]
        device = options.get("device") or "auto"
        return self._submit(label or f"{verb} {Path(preset).stem}", args, device, width, verb)

    def resume(self, run_id: int) -> Launch:
        job = self._submit(f"resume run {run_id}", ["--resume", str(run_id)], "auto")
        job.resumes = run_id
        return job

    def cancel(self, job: Launch) -> None:
        """A waiting job leaves the queue; a training one gets SIGTERM and its
        run becomes 'interrupted' (resumable)."""
        job.cancel_asked = True
        if job in self.waiting:
            self.waiting.remove(job)
            job.state = "cancelled"
            self.changed(job)
        elif job.state == "training" and job.process is not None and job.process.returncode is None:
            job.process.send_signal(signal.SIGTERM)

    def job_of_run(self, run_id: int) -> Launch | None:
        return next((j for j in reversed(self.jobs) if run_id in j.run_ids or j.resumes == run_id), None)

    def temp_preset(self, name: str, text: str) -> Path:
        """A preset changed in the settings form, written for one launch, under
        a safe file name inside the jobs folder whatever the preset's name."""
        path = self.folder / f"{safe_stem(name)}.toml"
        if path.resolve().parent != self.folder.resolve():  # cannot happen with a safe stem; never write elsewhere
            raise ValueError(f"{name!r} would be written outside {self.folder}")
        path.write_text(text, encoding="utf-8")
        return path

    def close_queue(self) -> None:
        """The lab quits: every waiting job is cancelled, and none starts later (a
        training job's worker, cancelled at exit, would otherwise start the next)."""
        self.closed = True
        while self.waiting:
            job = self.waiting.popleft()
            job.cancel_asked, job.state = True, "cancelled"
            self.changed(job)

    def close(self) -> None:
        """Remove the jobs folder (event files, presets written for launches). A
        run that keeps training has its files open and the store has its record."""
        self.close_queue()
        shutil.rmtree(self.folder, ignore_errors=True)

    def training(self) -> list[Launch]:
        return [j for j in self.jobs if j.state == "training"]

    # ------------------------------------------------------------ the queue

    def _submit(self, label: str, args: list[str], device: str, members: int = 1, verb: str = "run") -> Launch:
        job = Launch(self._next, label, args, device, slots=members, verb=verb)
        self._next += 1
        self.jobs.append(job)
        self.waiting.append(job)
        self.changed(job)
        self.start_ready()
        return job

    def start_ready(self) -> None:
        """Start waiting jobs, in order, while they fit in the free slots
        (a job wider than all the slots starts alone); none once the lab closes."""
        while self.waiting and not self.closed:
            job = self.waiting[0]
            job.slots = max(1, min(job.slots, self.workers))
            if self.running and job.slots > self.workers - sum(j.slots for j in self.running):
                return
            self.running.append(self.waiting.popleft())
            self.run_worker(self._run(job), name=f"job-{job.number}", group="launcher", exit_on_error=False)

    async def _run(self, job: Launch) -> None:
        try:
            await self._supervise(job)
        except OSError as exc:  # the process could not start or be followed
            job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            self.running.remove(job)
            self.changed(job)
            self.start_ready()

    def command(self, job: Launch) -> list[str]:
        return [
            self.python,
            "-m",
            "convlab",
            job.verb,
            *job.args,
            "--workers",
            str(job.slots),
            "--json",
            "--store",
            self.store_path,
        ]

    async def _supervise(self, job: Launch) -> None:
        events = self.folder / f"job-{job.number}.jsonl"
        errors = self.folder / f"job-{job.number}.err"
        with open(events, "wb") as out, open(errors, "wb") as err:
            # A new session: the terminal's Ctrl-C belongs to the lab, not to the run.
            job.process = await asyncio.create_subprocess_exec(
                *self.command(job), stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
            )
        _lower_priority(job.process.pid)
        job.state = "training"
        if job.cancel_asked:
            job.process.send_signal(signal.SIGTERM)
        self.changed(job)
        with open(events, "rb") as follow:
            partial = b""  # a line the run is still writing
            while True:
                done = job.process.returncode is not None
                *lines, partial = (partial + follow.read()).split(b"\n")
                for line in lines:
                    self._event(job, line)
                if done:
                    break
                try:
                    await asyncio.wait_for(job.process.wait(), FOLLOW_EVERY)
                except TimeoutError:
                    pass
        self._ended(job, job.process.returncode, errors.read_text(errors="replace").strip())

    def _event(self, job: Launch, line: bytes) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            return
        kind = event.get("event")
        if kind == "group":
            job.group, job.device = event["group"], event["device"]
        elif kind == "started" and event["run"] not in job.run_ids:
            job.run_ids.append(event["run"])
            self.changed(job)
        elif kind in ("failed", "diverged"):
            job.error = event.get("error")
        elif kind == "warning":  # a run survived a failure (its device path): the lab says so
            job.warning = event.get("message")
            self.changed(job)

    def _ended(self, job: Launch, code: int, stderr: str) -> None:
        last = stderr.splitlines()[-1] if stderr else ""
        if code == 0:
            job.state = "finished"
        elif job.cancel_asked and code in (*EXIT_INTERRUPTED, -signal.SIGTERM):
            # SIGTERM before the run began (still importing, loading MNIST) ends the process outright
            job.state = "interrupted" if job.run_ids else "cancelled"
        elif code in EXIT_INTERRUPTED:
            job.state = "interrupted"
        else:
            job.state = "failed"
            job.error = last.removeprefix("convlab: ") or job.error or f"exit status {code}"
        job.process = None


def safe_stem(name: str, width: int = 60) -> str:
    """A file name stem from any preset name: letters, digits, '.', '-' and '_'
    only, no leading dot, not empty, at most `width` characters ("../x" → "x")."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name)[:width].strip(".-")
    return stem or "preset"


def _members(preset: str, repeats: int | None) -> int:
    """How many runs a launch trains (a preset the lab cannot read: 1; the run says why)."""
    from convlab.config.spec import load
    from convlab.errors import UserError

    try:
        spec = load(preset)
    except UserError:
        return 1
    return spec.with_train(repeats=repeats).members if repeats and spec.train.ensemble == 1 else spec.members


def _lower_priority(pid: int) -> None:
    """Set before the run starts its threads (they inherit it): keys stay quick
    on a CPU that trains; with nothing else to run, the run loses nothing."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, TRAINING_NICE)
    except (AttributeError, OSError):  # not on this platform, or not allowed: keep the default
        pass
