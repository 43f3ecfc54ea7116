"""The two figures the book reports over repeats, defined once: best of N (the
test accuracy of the run with the best validation accuracy) and mean ± sd."""

from __future__ import annotations

import statistics


def best_of(runs: list):
    """The run with the best validation accuracy, as the book picked its figures;
    ties go to the earlier run."""
    done = [r for r in runs if r.best_val is not None]
    return max(done, key=lambda r: (r.best_val, -r.id)) if done else None


def mean_sd(values: list[float | None]) -> tuple[float, float] | None:
    """Mean and sample standard deviation (n − 1); sd 0 for a single value."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0
