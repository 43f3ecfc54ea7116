"""Searches: a preset's fields sampled from ranges, bad trials pruned early.

    convlab search relu --param train.eta=log:0.003..0.3 --param train.lmbda=0..10 --trials 20

Optuna (the `search` extra) samples each trial's values (random or TPE) and
judges, after each epoch, whether the trial is behind the others (median or
ASHA, on the epoch's validation accuracy). A search is a sweep whose points are
its trials (one home per concept): the `sweeps` row holds its definition
(`search`, JSON), each trial is a point and a group of one ordinary run, so
`compare --sweep`, `export --sweep` and the lab read it like a grid. A pruned
trial's run stops after the epoch the pruner named and is stored 'pruned'.

Trials are asked in rounds of `batch` (the workers at its start); a trial of
round r sees only the trials of rounds before r, as they are stored. Its values
come from a sampler seeded by (seed, trial number), and its pruning from the
same history, so the same seed gives the same trials, and a resumed search the
same trials as one never interrupted.

Resume rebuilds Optuna's study from the store instead of keeping Optuna's own
storage beside it: the store is the one record that is written in the same
transaction as each epoch, so a kill at any moment leaves nothing to reconcile,
and a store copied, moved or opened read-only elsewhere carries its searches
whole. Rebuilding costs a replay of the stored epochs, milliseconds a trial.
"""

from __future__ import annotations

import copy
import math
import secrets
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from convlab.config import spec as specs
from convlab.config.spec import Spec
from convlab.errors import UserError
from convlab.extras import require
from convlab.runs.sweep import _set_field, read_file
from convlab.store import Run, Store

SAMPLERS = ("random", "tpe")
PRUNERS = ("median", "asha", "none")
FILE_KEYS = {"preset", "title", "description", "trials", "sampler", "prune", "seed", "param"}
MAX_TRIALS = 1000  # as a sweep's grid: more is a typo more often than a plan
TRIAL_DONE = ("finished", "pruned", "diverged")  # a trial that trains no more
EXAMPLE = "train.eta=log:0.003..0.3, train.lmbda=0..10, layers[1].n_out=int:50..300 or train.activation=relu,sigmoid"


@dataclass(frozen=True)
class Param:
    """A searched field: a range (uniform, log-uniform, whole numbers) or a list of choices."""

    field: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] | None = None

    def text(self) -> str:
        if self.choices is not None:
            return ",".join(map(str, self.choices))
        kind = ("log:" if self.log else "") + ("int:" if self.integer else "")
        return f"{kind}{self.low:g}..{self.high:g}"

    def distribution(self):
        optuna = import_optuna()
        if self.choices is not None:
            return optuna.distributions.CategoricalDistribution(list(self.choices))
        if self.integer:
            return optuna.distributions.IntDistribution(int(self.low), int(self.high), log=self.log)
        return optuna.distributions.FloatDistribution(self.low, self.high, log=self.log)


@dataclass(frozen=True)
class Search:
    preset: str  # a preset name or a TOML file
    params: tuple[Param, ...]
    trials: int = 20
    sampler: str = "tpe"
    prune: str = "median"
    seed: int | None = None


def import_optuna():
    optuna = require("optuna", "search", "convlab search")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


# ---------------------------------------------------------------- reading a search


def parse_param(text: str) -> Param:
    """`train.eta=log:0.003..0.3` → Param; `int:` for whole numbers; `a,b,c` for choices."""
    field, eq, value = text.partition("=")
    field, value = field.strip(), value.strip()
    if not eq or not field or not value:
        raise UserError(f"--param {text}: give FIELD=RANGE, e.g. {EXAMPLE}")
    return range_of(field, value)


def range_of(field: str, value: Any) -> Param:
    """A field's range from its text (`log:LOW..HIGH`, `LOW..HIGH`, `int:…`, `A,B,C`) or a TOML list of choices."""
    where = f"--param {field}={value}"
    if isinstance(value, list):
        return _choices(field, tuple(value), where)
    if not isinstance(value, str):
        raise UserError(f'{where}: write a range as text, e.g. "log:0.003..0.3", or a list of choices')
    rest, log, integer = value, False, False
    while rest.startswith(("log:", "int:")):
        log, integer = log or rest.startswith("log:"), integer or rest.startswith("int:")
        rest = rest[4:]
    if ".." not in rest:
        if log or integer:
            raise UserError(f"{where}: log: and int: take a range LOW..HIGH")
        return _choices(field, tuple(_word(v.strip(), where) for v in rest.split(",")), where)
    low, high = (_number(v.strip(), where, integer) for v in rest.split("..", 1))
    if not low < high:
        raise UserError(f"{where}: the range is empty; write LOW..HIGH with LOW below HIGH")
    if log and low <= 0:
        raise UserError(f"{where}: a log: range must start above 0")
    return Param(field, low, high, log, integer)


def _number(text: str, where: str, integer: bool) -> float:
    try:
        value = float(text) if not integer else int(text)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise UserError(f"{where}: {text!r} is not {kind}; e.g. {EXAMPLE}") from None
    if not math.isfinite(value):
        raise UserError(f"{where}: {text!r} is not a finite number")
    return value


def _word(text: str, where: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):
        if text and all(c.isalnum() or c in "-_" for c in text):
            return text
        raise UserError(f"{where}: {text!r} is neither a range LOW..HIGH nor a choice; e.g. {EXAMPLE}") from None


def _choices(field: str, values: tuple, where: str) -> Param:
    if len(values) < 2 or len(set(map(repr, values))) < len(values):
        raise UserError(f"{where}: give two or more different choices, or a range LOW..HIGH")
    if not all(isinstance(v, str | int | float | bool) for v in values):
        raise UserError(f"{where}: a choice is a number, true/false or a word")
    return Param(field, choices=values)


def load_file(path: str | Path) -> Search:
    """A search file: preset, trials, sampler, prune, seed and a [param] table of FIELD = "RANGE"."""
    doc, table, preset = read_file(Path(path), FILE_KEYS, "param", "search", 'FIELD = "RANGE"')
    params = tuple(range_of(k, v) for k, v in table.items())
    options = {k: doc[k] for k in ("trials", "sampler", "prune", "seed") if k in doc}
    return Search(preset, params, **options)


def search_file(name: str) -> Path | None:
    """`name` as a search file (a .toml with a [param] table), else None."""
    path = Path(name)
    try:
        if path.suffix != ".toml" or not path.is_file():
            return None
    except OSError:
        return None
    return path if "param" in specs.read_toml(path) else None


# ---------------------------------------------------------------- checking


def definition(search: Search, changes: dict[str, Any], batch: int) -> dict[str, Any]:
    """The search as stored (JSON), every part checked: one line for the first problem.
    The preset's table is kept whole, so a resume trains what the start would have."""
    _check_options(search)
    if not search.params:
        raise UserError(f"search: give at least one --param FIELD=RANGE, e.g. {EXAMPLE}")
    fields = [p.field for p in search.params]
    if len(set(fields)) < len(fields):
        raise UserError(f"search: {next(f for f in fields if fields.count(f) > 1)} is searched twice; give it once")
    path, doc = specs.read_preset(search.preset)
    record = {
        "params": [asdict(p) for p in search.params],
        "trials": search.trials,
        "sampler": search.sampler,
        "prune": search.prune,
        "batch": batch,
        "changes": changes,
        "preset_file": str(path),
        "preset": doc,
    }
    for corner in _corners(search.params):  # every field at its low and high end, or each choice
        spec = trial_spec(record, corner)
        if spec.train.ensemble > 1:
            raise UserError(f"search: {spec.name} is an ensemble; search the preset of its members instead")
    return record


def _check_options(search: Search) -> None:
    if search.sampler not in SAMPLERS:
        raise UserError(f"--sampler {search.sampler}: not a sampler; choose {' or '.join(SAMPLERS)}")
    if search.prune not in PRUNERS:
        raise UserError(f"--prune {search.prune}: not a pruner; choose {', '.join(PRUNERS)}")
    if not isinstance(search.trials, int) or isinstance(search.trials, bool) or not 1 <= search.trials <= MAX_TRIALS:
        raise UserError(f"--trials {search.trials}: must be a whole number from 1 to {MAX_TRIALS:,}")
    if search.seed is not None:
        specs.check_option("--seed", "seed", search.seed)


def _corners(params: tuple[Param, ...]) -> list[dict[str, Any]]:
    """Every field at its low end, then its high end (each choice in turn), the others low."""
    ends = [p.choices if p.choices is not None else (p.low, p.high) for p in params]
    low = {p.field: e[0] for p, e in zip(params, ends)}
    return [{**low, p.field: v} for p, e in zip(params, ends) for v in e]


def trial_spec(record: dict[str, Any], fields: dict[str, Any]) -> Spec:
    """The preset with a trial's values, validated as a preset file is; one run."""
    path = Path(record["preset_file"])
    doc = copy.deepcopy(record["preset"])
    for field, value in fields.items():
        _set_field(doc, field, value, path.name)
    label = "--param " + ", ".join(f"{f}={v:g}" if isinstance(v, float) else f"{f}={v}" for f, v in fields.items())
    spec = specs._Checker(label).spec(doc, str(path))
    return spec.with_train(repeats=1, **record["changes"])


# ---------------------------------------------------------------- running

Say = Callable[[str], None]


def start(store: Store, runner, search: Search, changes: dict[str, Any], batch: int, say: Say = print) -> int:
    """Record a new search, held by this process, then train its trials."""
    record = definition(search, changes, batch)
    seed = secrets.randbelow(2**30) if search.seed is None else search.seed
    axes = [[p.field, [p.text()]] for p in search.params]
    name = trial_spec(record, _corners(search.params)[0]).name
    sweep_id = store.create_sweep(name, axes, seed, search=record)
    try:
        _train(store, runner, store.sweep(sweep_id), say)
    finally:
        store.drop_sweep_if_empty(sweep_id)
        store.release(f"sweep-{sweep_id}")
    return sweep_id


def resume(store: Store, runner, sweep_id: int | str, say: Say = print) -> int:
    """Continue a search: its unfinished trials complete, then new ones are asked."""
    store.mark_stale()
    record = store.sweep(sweep_id)
    if record["search"] is None:
        raise UserError(f"sweep {record['id']} is a grid, not a search; `convlab sweep --resume {record['id']}`")
    if record["status"] == "finished":
        raise UserError(f"search {record['id']} is already finished; nothing to resume")
    if not store.hold_sweep(record["id"]):
        raise UserError(f"search {record['id']} is being trained by another process; wait for it, or stop it")
    try:
        _train(store, runner, record, say)
    finally:
        store.release(f"sweep-{record['id']}")
    return record["id"]


def _train(store: Store, runner, record: dict[str, Any], say: Say) -> None:
    """Rounds until every trial is done: first the stored trials that are not
    (an interrupted round), then each new round of `batch` trials."""
    from convlab.book.trainer import TrainingDiverged

    runner.judge = Judge(record["id"])
    trained: set[int] = set()
    while True:
        plans = _unfinished(store, runner, record, trained) or _new_round(store, runner, record, say)
        if not plans:
            break
        trained.update(plan.group_id for plan in plans)
        try:
            runner.train(plans)
        except TrainingDiverged:  # an η too large: the trial is stored 'diverged', the search goes on
            pass
        for plan in plans:
            say(trial_line(store, record, plan.group_id))
    store.finish_sweep(record["id"])


def _unfinished(store: Store, runner, record: dict[str, Any], trained: set[int]) -> list:
    """Plans for the stored trials not done: an interrupted round, or trials a
    divergence beside them left unstarted. A trial that failed here is not
    retried in a loop: it ends the command, and `--resume` retries it."""
    from convlab.runs.sweep import _reopen_point

    plans = []
    for point in store.sweep_points(record["id"]):
        runs = [r for r in store.group_runs(point["group_id"]) if r.kind == "train"]
        if point["group_id"] in trained and any(r.status == "failed" for r in runs):
            raise RuntimeError(f"trial {point['point'] + 1} (run {runs[0].id}) failed: {runs[0].error}")
        if not trial_done(store, point["group_id"]):
            plan = _reopen_point(store, runner, record, point["group_id"])
            if plan is not None:
                plans.append(plan)
    return plans


def _new_round(store: Store, runner, record: dict[str, Any], say: Say) -> list:
    """The next round's trials, asked and stored as points before any trains."""
    search, points = record["search"], store.sweep_points(record["id"])
    first, batch = len(points), search["batch"]
    last = min(search["trials"], first - first % batch + batch)
    plans = []
    for number in range(first, last):
        fields = ask(store, record, number)
        plans.append(runner.open_group(trial_spec(search, fields), seed=record["seed"]))
        store.add_sweep_point(record["id"], number, fields, plans[-1].group_id)
        say(f"trial {number + 1}/{search['trials']} (group {plans[-1].group_id}): {_fields_text(fields)}")
    return plans


def trial_done(store: Store, group_id: int) -> bool:
    runs = [r for r in store.group_runs(group_id) if r.kind == "train"]
    return bool(runs) and all(r.status in TRIAL_DONE for r in runs)


# ---------------------------------------------------------------- Optuna's study, rebuilt from the store


def _distributions(search: dict[str, Any]) -> dict[str, Any]:
    return {p["field"]: Param(**{**p, "choices": _tuple(p["choices"])}).distribution() for p in search["params"]}


def _tuple(choices):
    return None if choices is None else tuple(choices)


def _sampler(search: dict[str, Any], seed: int, number: int):
    """A fresh sampler for each trial, seeded by (search seed, trial number): a trial's
    values depend on nothing but these and the history it is shown."""
    optuna = import_optuna()
    trial_seed = (seed * 1_000_003 + number) % 2**32
    if search["sampler"] == "random":
        return optuna.samplers.RandomSampler(seed=trial_seed)
    startup = min(10, max(3, search["trials"] // 4))  # random first: TPE needs a few trials to model
    return optuna.samplers.TPESampler(seed=trial_seed, n_startup_trials=startup)


def _pruner(search: dict[str, Any]):
    optuna = import_optuna()
    if search["prune"] == "median":  # behind the median of the finished trials at the same epoch
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    if search["prune"] == "asha":  # rungs at epochs 1, 3, 9, …: the best third goes on
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    return optuna.pruners.NopPruner()


def _history(store: Store, record: dict[str, Any], number: int) -> list[tuple[dict[str, Any], Run | None]]:
    """The trials trial `number` may see: those of the rounds before its own."""
    batch = record["search"]["batch"]
    seen = number - number % batch
    out = []
    for point in store.sweep_points(record["id"])[:seen]:
        runs = [r for r in store.group_runs(point["group_id"]) if r.kind == "train"]
        out.append((point["fields"], runs[0] if runs else None))
    return out


def _study(store: Store, record: dict[str, Any], number: int):
    """An in-memory study holding the history of trial `number`, replayed epoch
    by epoch through the pruner (ASHA keeps its rungs in the trials)."""
    optuna = import_optuna()
    search = record["search"]
    study = optuna.create_study(direction="maximize", pruner=_pruner(search), sampler=optuna.samplers.RandomSampler(0))
    dists = _distributions(search)
    for fields, run in _history(store, record, number):
        trial, _ = _replayed(store, study, dists, fields, run)
        if run is None or run.status not in TRIAL_DONE or run.status == "diverged" or run.best_val is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        elif run.status == "pruned":
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, run.best_val)
    return study


def _replayed(store: Store, study, dists: dict[str, Any], fields: dict[str, Any], run: Run | None):
    """A running trial with `fields`, its stored epochs reported and judged one by
    one, and the verdict at the last."""
    study.enqueue_trial(fields)
    trial, pruned = study.ask(dists), False
    for epoch in store.epochs(run.id) if run is not None else []:
        if epoch.val_acc is not None:
            trial.report(epoch.val_acc, epoch.epoch)
            pruned = trial.should_prune()
    return trial, pruned


def ask(store: Store, record: dict[str, Any], number: int) -> dict[str, Any]:
    """Trial `number`'s values, from its own seeded sampler and its history."""
    study = _study(store, record, number)
    study.sampler = _sampler(record["search"], record["seed"], number)
    return dict(study.ask(_distributions(record["search"])).params)


@dataclass(frozen=True)
class Judge:
    """The pruner's verdict on a trial's run after its latest stored epoch (jobs.Judge).
    Picklable and stateless: a worker process or the Ray launcher asks it alike."""

    sweep_id: int

    def __call__(self, store: Store, group_id: int, run_id: int) -> bool:
        record = store.sweep(self.sweep_id)
        if record["search"]["prune"] == "none":
            return False
        point = next(p for p in store.sweep_points(self.sweep_id) if p["group_id"] == group_id)
        study = _study(store, record, point["point"])
        return _replayed(store, study, _distributions(record["search"]), point["fields"], store.run(run_id))[1]


# ---------------------------------------------------------------- what it found


def best(store: Store, sweep_id: int) -> tuple[dict[str, Any], Run] | None:
    """The finished trial with the best validation accuracy (ties: the earlier run)."""
    found = []
    for point in store.sweep_points(sweep_id):
        found += [(point["fields"], r) for r in store.group_runs(point["group_id"]) if r.status == "finished"]
    return max(found, key=lambda fr: (fr[1].best_val, -fr[1].id)) if found else None


def best_line(store: Store, sweep_id: int) -> str:
    """The search's summary: its trials by outcome, and its best trial."""
    tally = ", ".join(f"{n} {status}" for status, n in sorted(counts(store, sweep_id).items()))
    found = best(store, sweep_id)
    if found is None:
        return f"search {sweep_id}: {tally or 'no trial'}; no trial finished"
    fields, run = found
    number = next(p["point"] for p in store.sweep_points(sweep_id) if p["group_id"] == run.group_id)
    return (
        f"search {sweep_id}: {tally}; best trial {number + 1} (run {run.id}): validation {run.best_val:.2f}%, "
        f"test at best {run.test_at_best:.2f}%, {_fields_text(fields)}"
    )


def describe(record: dict[str, Any]) -> str:
    """`train.eta log:0.003..0.3, train.lmbda 0..10; 20 trials, tpe, median pruning`."""
    search = record["search"]
    ranges = ", ".join(
        f"{p['field']} {Param(**{**p, 'choices': _tuple(p['choices'])}).text()}" for p in search["params"]
    )
    pruning = "no pruning" if search["prune"] == "none" else f"{search['prune']} pruning"
    return f"{ranges}; {search['trials']} trials, {search['sampler']}, {pruning}, seed {record['seed']}"


def trial_line(store: Store, record: dict[str, Any], group_id: int) -> str:
    point = next(p for p in store.sweep_points(record["id"]) if p["group_id"] == group_id)
    runs = [r for r in store.group_runs(group_id) if r.kind == "train"]
    head = f"trial {point['point'] + 1}/{record['search']['trials']}"
    if not runs:
        return f"{head}: not started"
    run = runs[0]
    val = "—" if run.best_val is None else f"{run.best_val:.2f}%"
    how = f"pruned after epoch {run.epochs_done}" if run.status == "pruned" else run.status
    return f"{head} (run {run.id}): best validation {val}, {how}"


def _fields_text(fields: dict[str, Any]) -> str:
    return ", ".join(f"{f}={v:.4g}" if isinstance(v, float) else f"{f}={v}" for f, v in fields.items())


def counts(store: Store, sweep_id: int) -> dict[str, int]:
    """How many trials ended how (finished, pruned, diverged, …)."""
    out: dict[str, int] = {}
    for point in store.sweep_points(sweep_id):
        for run in store.group_runs(point["group_id"]):
            out[run.status] = out.get(run.status, 0) + 1
    return out
