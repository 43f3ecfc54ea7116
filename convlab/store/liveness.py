"""Which runs are alive, proven by an OS file lock rather than assumed from a pid.

The process that trains a run holds an exclusive `flock` on a small file next
to the store (`<store>.locks/run-<id>.lock`) and writes its pid and start time
into it. The kernel drops the lock when the process dies, however it dies, so
"the lock is held" means "the run's process is alive", and a pid read from a
held lock file belongs to that process. Nothing here trusts the pid column of
the store, which any crash, copy or hand edit can leave pointing elsewhere.

Groups have a lock of their own, held for the whole of `convlab run` (or a
resume), so two processes never complete the same group at once.

The locks folder may sit in a folder others can write: a lock file is never
opened through a symbolic link (O_NOFOLLOW), a locks folder that is a link or
belongs to another user is refused, and a pid is signalled only when that
process, of this user, has the lock file open.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import time
from pathlib import Path

from convlab.errors import UserError

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
    fd = _open_lock(path)
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
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {start_time(os.getpid())}\n".encode(), 0)
    except OSError as exc:  # a full disk: the holder could not be proven
        os.close(fd)
        raise UserError(
            f"{path}: cannot write this lock file ({exc.strerror}); free some space and run it again"
        ) from None
    return Lock(path, fd)


def _open_lock(path: Path) -> int:
    """The lock file's descriptor, never through a link, in a folder of this user's."""
    folder = path.parent
    try:
        folder.mkdir(exist_ok=True)
        info = os.lstat(folder)
    except OSError as exc:
        raise UserError(
            f"{folder}: cannot create the store's locks folder ({exc.strerror}); choose another --store"
        ) from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        what = "a link or not a folder" if not stat.S_ISDIR(info.st_mode) else "owned by another user"
        raise UserError(f"{folder}: the store's locks folder is {what}; remove it, or choose another --store")
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UserError(f"{path}: a symbolic link where a lock file belongs; remove it") from None
        raise UserError(
            f"{path}: cannot open this lock file ({exc.strerror}); check the folder's permissions"
        ) from None


def held(store_path: str | os.PathLike, key: str) -> bool:
    """Whether some live process holds the lock `key` (this one included)."""
    if fcntl is None:
        return True
    try:
        fd = os.open(lock_path(store_path, key), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False  # never created (or a link, which no run of ours ever held)
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
    path = lock_path(store_path, key)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            pid_text, started = os.read(fd, 100).decode().split()
        finally:
            os.close(fd)
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    if pid <= 1 or pid == os.getpid() or start_time(pid) != started or not has_open(pid, path):
        return None
    return pid


def has_open(pid: int, path: Path) -> bool:
    """Whether `pid`, a process of this user, has the file at `path` open: the
    proof that it is the lock's holder and not a pid someone wrote there."""
    try:
        target = os.stat(path)
        if os.stat(f"/proc/{pid}").st_uid != os.getuid():
            return False
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            opened = os.stat(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if (opened.st_dev, opened.st_ino) == (target.st_dev, target.st_ino):
            return True
    return False


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
