"""How many cores this process may use: the scheduler's default worker count,
and the lab's. A module of its own so that the lab, which only needs this
number at start-up, does not import the scheduler (and with it numpy)."""

from __future__ import annotations

import os


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
