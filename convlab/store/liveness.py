"""Which runs are alive, proven by an OS file lock rather than assumed from a pid.

The process that trains a run holds an exclusive `flock` on a small file next
to the store (`<store>.locks/run-<id>.lock`) and writes its pid and start time
into it. The kernel drops the lock when the process dies, however it dies, so
"the lock is held" means "the run's process is alive", and a pid read from a
held lock file belongs to that process. Nothing here trusts the pid column of
the store, which any crash, copy or hand edit can leave pointing elsewhere.

Groups have a lock of their own, held for the whole of `convlab run` (or a
resume), so two processes never complete the same group at once.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; every run looks alive, none is signalled
    fcntl = None

ACQUIRE_WAIT = 2.0  # seconds: a liveness probe may hold a lock for a moment


def lock_dir(store_path: str | os.PathLike) -> Path:
    path = Path(store_path)
    return path.with_name(path.name + ".locks")


def lock_path(store_path: str | os.PathLike, key: str) -> Path:
    return lock_dir(store_path) / f"{key}.lock"


class Lock:
    """An exclusive lock held by this process until `release` (or its death)."""

    def __init__(self, path: Path, fd: int):
        self.path, self.fd = path, fd

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the descriptor releases the flock
            self.fd = -1


def acquire(store_path: str | os.PathLike, key: str, wait: float = ACQUIRE_WAIT) -> Lock | None:
    """The lock `key` (e.g. "run-7"), or None when another process holds it.
    Waits up to `wait` seconds, since a probe takes a shared lock for an instant."""
    path = lock_path(store_path, key)
    path.parent.mkdir(exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait
    while fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                os.close(fd)
                return None
            time.sleep(0.05)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {start_time(os.getpid())}\n".encode(), 0)
    return Lock(path, fd)


def held(store_path: str | os.PathLike, key: str) -> bool:
    """Whether some live process holds the lock `key` (this one included)."""
    if fcntl is None:
        return True
    try:
        fd = os.open(lock_path(store_path, key), os.O_RDONLY)
    except OSError:
        return False  # never created: nobody ever held it
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)  # also drops the shared lock, if we got it


def holder(store_path: str | os.PathLike, key: str) -> int | None:
    """The pid of the live process holding `key`, or None. The pid comes from
    the lock file (written by the holder) and must still have the start time
    written beside it, so a pid reused by another program is never returned."""
    if not held(store_path, key):
        return None
    try:
        pid_text, started = lock_path(store_path, key).read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    if pid <= 1 or pid == os.getpid() or start_time(pid) != started:
        return None
    return pid


def stop_holder(store_path: str | os.PathLike, key: str) -> int | None:
    """SIGTERM to the process proven to hold `key`; its pid, or None if there is none."""
    pid = holder(store_path, key)
    if pid is None:
        return None
    try:
        os.kill(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return None
    return pid


def start_time(pid: int) -> str:
    """When `pid` started, in the kernel's clock ticks ("-" where /proc is absent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "-"
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the name in (...) may hold spaces
