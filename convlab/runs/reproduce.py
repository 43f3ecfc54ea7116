"""`convlab reproduce`: every chapter-6 preset in the book's order, then the
book-versus-convlab table and an export.

A reproduction is recorded in the store (two small tables of its own, which
`Store` writes): its plan (each preset with the schedule it runs)
and, as soon as the runner creates it, the group of runs of each preset. Run
again with the same plan, it resumes the latest unfinished reproduction:
finished presets are skipped, an interrupted group continues from its runs'
last finished epochs (`Runner.resume`), and the presets not yet begun start.

`--quick` shortens every schedule to one epoch on the first few thousand
training images, with two repeats and an ensemble of three, so the whole
chapter runs in minutes on a CPU; the figures are then far below the book's,
but every step (repeats, best-of-N, the vote, the table, the export) runs.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from convlab.config.spec import Spec, list_presets, schedule_changes
from convlab.errors import UserError
from convlab.results import report
from convlab.runs import events
from convlab.store import Store


@dataclass(frozen=True)
class Quick:
    """The shortened schedule of `--quick`."""

    epochs: int = 1
    train_limit: int = 2000
    repeats: int = 2  # enough for a mean ± sd and a best-of-N
    ensemble: int = 3  # enough for a vote with a majority


QUICK = Quick()
SEED_STEP = 100  # preset i starts at seed base + 100·i; its repeats take base + 100·i + member


def plan(
    names: list[str] | None = None, quick: bool = False, epochs: int | None = None, train_limit: int | None = None
) -> list[Spec]:
    """The presets to run, in the chapter's order, with their schedules: by
    default the chapter's own (presets beyond the book are run by name only)."""
    specs = list_presets()
    if not names:
        specs = [s for s in specs if s.row]
    else:
        known = {s.name for s in specs}
        for name in names:
            if name not in known:
                raise UserError(f"--preset {name}: not a shipped preset; `convlab presets` lists them")
        specs = [s for s in specs if s.name in names]
    out = []
    for spec in specs:
        t = spec.train
        changes: dict[str, Any] = {}
        if quick:
            changes = {
                "epochs": QUICK.epochs,
                "train_limit": QUICK.train_limit,
                "repeats": min(t.repeats, QUICK.repeats),
                "ensemble": min(t.ensemble, QUICK.ensemble),
            }
        changes.update(schedule_changes(epochs=epochs, train_limit=train_limit))
        out.append(spec.with_train(**changes) if changes else spec)
    return out


def _plan_key(specs: list[Spec]) -> str:
    """What makes two reproductions the same: each preset and its schedule."""
    return json.dumps([[s.name, s.to_dict()["train"]] for s in specs], sort_keys=True)


class Reproduction:
    """One reproduction's record in the store: which group holds each preset."""

    def __init__(self, store: Store, rid: int, seed: int, specs: list[Spec]):
        self.store, self.id, self.seed, self.specs = store, rid, seed, specs

    @classmethod
    def open(
        cls, store: Store, specs: list[Spec], quick: bool, seed: int | None = None, new: bool = False
    ) -> tuple[Reproduction, bool]:
        """The latest unfinished reproduction of this plan (resumed = True), or a new one."""
        key = _plan_key(specs)
        if not new:
            found = store.unfinished_reproduction(key)
            if found is not None:
                return cls(store, found[0], found[1], specs), True
        seed = secrets.randbelow(2**30) if seed is None else seed
        return cls(store, store.create_reproduction(key, quick, seed), seed, specs), False

    def groups(self) -> dict[str, int]:
        return self.store.reproduction_groups(self.id)

    def record(self, preset: str, group_id: int) -> None:
        self.store.record_reproduction_group(self.id, preset, group_id)

    def finish(self) -> None:
        self.store.finish_reproduction(self.id)

    def is_done(self, spec: Spec) -> bool:
        """Every member finished and, for an ensemble, the vote stored."""
        from convlab.runs.runner import group_done

        group_id = self.groups().get(spec.name)
        return group_id is not None and group_done(self.store, spec, group_id)

    def rows(self) -> list[report.Row]:
        """The comparison rows of the reproduction's groups, in the chapter's order."""
        runs = [r for g in self.groups().values() for r in self.store.group_runs(g)]
        return report.sort_rows(report.rows_of(self.store, runs), "row")


def run(
    store: Store,
    specs: list[Spec],
    *,
    quick: bool = False,
    seed: int | None = None,
    new: bool = False,
    device: str | None = None,
    data_dir: str | None = None,
    emit: Callable[[events.Event], None] = lambda e: None,
    say: Callable[[str], None] = print,
    should_stop: Callable[[], bool] = lambda: False,
    **workers: Any,
) -> Reproduction:
    """Run (or resume) a reproduction of `specs` to the end: every unfinished
    preset's runs go to the scheduler together (`workers`: Runner's workers,
    threads, backend). Every group is held by this process while it trains
    (another process training one of them is refused). Raises
    trainer.TrainingStopped when `should_stop` asks; the store then holds all
    that is needed to resume."""
    from convlab.runs.runner import Runner

    store.mark_stale()
    rep, resumed = Reproduction.open(store, specs, quick, seed, new)
    runner = Runner(store, device=device, data_dir=data_dir, emit=emit, should_stop=should_stop, **workers)
    done = sum(rep.is_done(s) for s in specs)
    say(f"reproduction {rep.id}: {len(specs)} presets, {done} done" + (", resuming" if resumed else ""))
    plans: dict[int, Any] = {}  # preset index -> its plan, its group held by this process
    try:
        # first the groups to continue: one another process trains is refused before any group is created
        for i, spec in enumerate(specs):
            if rep.is_done(spec):
                say(f"{spec.name}: done (group {rep.groups()[spec.name]}), skipped")
                continue
            group_id = rep.groups().get(spec.name)
            members = [r for r in store.group_runs(group_id) if r.kind == "train"] if group_id is not None else []
            if members:
                say(f"{spec.name}: resuming group {group_id}")
                plans[i] = runner.reopen_group(members[0].id)
        for i, spec in enumerate(specs):
            if i not in plans and not rep.is_done(spec):
                plans[i] = runner.open_group(spec, seed=rep.seed + SEED_STEP * i)
                rep.record(spec.name, plans[i].group_id)  # before its first run starts
    except BaseException:
        for plan in plans.values():
            runner.release_group(plan.group_id)
        raise
    runner.train([plans[i] for i in sorted(plans)])
    rep.finish()
    return rep
