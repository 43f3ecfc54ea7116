"""What the commands that train share: Ctrl-C / SIGTERM turned into a clean
stop (StopFlag), the guard that maps the outcome to an exit status, and the
reading of their shared options (declared in options.training)."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable
from typing import Any

from convlab.config.paths import ray_address
from convlab.errors import UserError


class StopFlag:
    """SIGINT / SIGTERM ask the trainer to stop before its next mini-batch."""

    def __init__(self):
        self.signum = 0

    def __call__(self) -> bool:
        return self.signum != 0

    def _handle(self, signum, frame) -> None:
        if self.signum:  # a second Ctrl-C: stop at once
            raise KeyboardInterrupt
        self.signum = signum

    @contextlib.contextmanager
    def installed(self):
        old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)


def train_guarded(
    work: Callable[[], Any], stop: StopFlag, printer, interrupted: Callable[[], str], failed: Callable[[Exception], str]
) -> int:
    """Run `work` (training) with Ctrl-C / SIGTERM turned into a clean stop.
    Returns the exit status: 0, 128+signal when stopped, 1 when a run failed
    (the store already says so). A UserError passes through (exit 2)."""
    from convlab.book.trainer import TrainingStopped

    with stop.installed():
        try:
            work()
        except TrainingStopped:
            printer.close()
            print(f"convlab: {interrupted()}", file=sys.stderr)
            return 128 + stop.signum
        except UserError:
            raise
        except Exception as exc:
            printer.close()
            print(f"convlab: {failed(exc)}", file=sys.stderr)
            return 1
        finally:
            printer.close()
    return 0


def schedule(args) -> dict[str, int]:
    """--epochs and --train-limit as changes to every run's [train] table, and
    --seed: each checked before anything is stored."""
    from convlab.config.spec import check_option, schedule_changes

    if args.seed is not None:
        check_option("--seed", "seed", args.seed)
    return schedule_changes(epochs=args.epochs, train_limit=args.train_limit)


def connect_timeout(seconds: float | None) -> float:
    from convlab.runs.ray_backend import CONNECT_TIMEOUT

    if seconds is None:
        return CONNECT_TIMEOUT
    if not 0 < seconds <= 600:  # NaN fails too
        raise UserError(f"--ray-timeout {seconds:g}: must be a number of seconds above 0 and at most 600")
    return seconds


def worker_options(args) -> dict[str, Any]:
    """Runner keywords from --workers, --threads and --ray (or CONVLAB_RAY)."""
    from convlab.config.spec import check_option

    for option, key in (("--workers", "workers"), ("--threads", "threads")):
        if getattr(args, key) is not None:  # a bad value fails before any training
            check_option(option, key, getattr(args, key))
    address = ray_address(args.ray)
    backend = None
    if address:
        from convlab.runs.ray_backend import RayBackend, import_ray

        import_ray()  # missing: one line saying what to install, before anything is stored
        backend = RayBackend(address, timeout=connect_timeout(args.ray_timeout))
        backend.probe()  # an address that does not answer: one line, before anything is stored
    return {"workers": args.workers, "threads": args.threads, "backend": backend}
