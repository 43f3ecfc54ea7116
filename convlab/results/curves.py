"""The validation curves a comparison draws: each row's best run, epoch by
epoch, and a mean ± sd band over a group's runs. The terminal (term/plots.py),
the lab and the HTML report draw these same series."""

from __future__ import annotations

from convlab.results.report import Row
from convlab.results.stats import mean_sd
from convlab.store import Run, Store
from convlab.term.format import swept_header, swept_value
from convlab.term.text import IN_LINE_WIDTH, shown

Points = list[tuple[int, float]]
Band = list[tuple[int, float, float]]  # (epoch, low, high)


def curve_rows(store: Store, rows: list[Row]) -> list[tuple[Row, str, Points]]:
    """Each row with its best run's validation accuracy per epoch (a vote has
    no curve of its own; its best member stands in, so labelled)."""
    out = []
    for row in rows:
        if row.best is None:
            continue
        points = [(e.epoch, e.val_acc) for e in store.epochs(row.best.id) if e.val_acc is not None]
        if points:
            who = f"best member, run {row.best.id}" if row.kind == "ensemble" else f"run {row.best.id}"
            point = "".join(f" {swept_header(f)}={swept_value(v)}" for f, v in row.swept.items())  # a sweep's
            out.append((row, f"{shown(row.preset, IN_LINE_WIDTH)}{point} ({who})", points))  # a legend's text
    return out


def eta_points(epochs) -> Points | None:
    """(epoch, η) of stored epochs when η changed during the run (a schedule or
    a step decay); None when it stayed the run's one η, so nothing is drawn."""
    points = [(e.epoch, e.eta) for e in epochs if e.eta is not None]
    return points if len({eta for _, eta in points}) > 1 else None


def curve_series(store: Store, rows: list[Row]) -> list[tuple[str, Points]]:
    return [(label, points) for _, label, points in curve_rows(store, rows)]


def mean_sd_band(store: Store, runs: list[Run]) -> Band:
    """Per epoch that two or more of the runs reached: mean ± sd of their validation accuracy."""
    by_epoch: dict[int, list[float]] = {}
    for run in runs:
        for e in store.epochs(run.id):
            if e.val_acc is not None:
                by_epoch.setdefault(e.epoch, []).append(e.val_acc)
    band = []
    for epoch, values in sorted(by_epoch.items()):
        if len(values) > 1:
            mean, sd = mean_sd(values)
            band.append((epoch, mean - sd, mean + sd))
    return band
