"""What the commands that train share: Ctrl-C / SIGTERM turned into a clean
stop (StopFlag), the guard that maps the outcome to an exit status, and the
--threads option."""

from __future__ import annotations

import contextlib
import signal
import sys
from typing import Any, Callable

from convlab.errors import UserError


class StopFlag:
    """SIGINT / SIGTERM ask the engine to stop before its next mini-batch."""

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


def train_guarded(work: Callable[[], Any], stop: StopFlag, printer, interrupted: Callable[[], str],
                  failed: Callable[[Exception], str]) -> int:
    """Run `work` (training) with Ctrl-C / SIGTERM turned into a clean stop.
    Returns the exit status: 0, 128+signal when stopped, 1 when a run failed
    (the store already says so). A UserError passes through (exit 2)."""
    from convlab.engine import Interrupted

    with stop.installed():
        try:
            work()
        except Interrupted:
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


def set_threads(threads: int | None) -> None:
    from convlab.spec import check_option

    if threads is None:
        return
    check_option("--threads", "threads", threads)
    import torch

    torch.set_num_threads(threads)
