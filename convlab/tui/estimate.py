"""How long a run will take, before it starts and while it trains: the
training speed of earlier runs of the same network (or the current one's),
and the evaluation after each epoch (validation and test accuracy), which
on a CPU takes as long as thousands of training images."""

from __future__ import annotations

import math
import statistics

from convlab.config.spec import Spec
from convlab.store import Epoch, Run, Store

EVAL_IMAGES = 20_000  # validation and test digits evaluated after an epoch
FORWARD_SPEEDUP = 3.0  # images/s of evaluation over training (no backward pass), until measured
LOOKED_AT = 200  # newest runs searched for one of the same network


def eval_seconds(images_per_s: float | None, measured: float | None) -> float | None:
    if measured is not None:
        return measured
    return EVAL_IMAGES / (images_per_s * FORWARD_SPEEDUP) if images_per_s else None


def epoch_pace(run: Run, epochs: list[Epoch]) -> tuple[float, float | None] | None:
    """Training images per second of a run's finished epochs, and its last evaluation's seconds."""
    seconds = [e.seconds for e in epochs if e.seconds]
    if not seconds:
        return None
    return run.spec.train_images / statistics.fmean(seconds), run.progress.get("eval_s")


def like_before(store: Store, spec: Spec, device: str | None) -> tuple[Run, float, float | None] | None:
    """The newest run of the same layers and mini-batch (on `device`, if given) with a finished epoch."""
    for run in store.runs(limit=LOOKED_AT):
        if (
            run.kind == "train"
            and run.epochs_done
            and run.spec.layers == spec.layers
            and run.spec.train.batch_size == spec.train.batch_size
            and (device is None or (run.device or "").split(":")[0] == device.split(":")[0])
        ):
            pace = epoch_pace(run, store.epochs(run.id))
            if pace:
                return run, *pace
    return None


def planned_seconds(store: Store, spec: Spec, device: str | None, at_once: int = 1) -> tuple[float, Run] | None:
    """The whole of a launch: every run, every epoch, each with its evaluation; `at_once`
    runs side by side (a thread each, as the pace was measured), so in waves."""
    found = like_before(store, spec, device)
    if found is None:
        return None
    run, rate, measured = found
    per_epoch = spec.train_images / rate + (eval_seconds(rate, measured) or 0.0)
    runs = max(spec.train.repeats, spec.train.ensemble)
    waves = math.ceil(runs / max(1, min(at_once, runs)))
    return waves * spec.train.epochs * per_epoch, run


def run_left(run: Run, epochs: list[Epoch], now: float) -> float | None:
    """The rest of this epoch, its evaluation, then the epochs to come at their mean pace so far."""
    p = run.progress
    if not p or run.epochs_planned is None:
        return None
    rate = p.get("images_per_s")
    evaluation = eval_seconds(rate, p.get("eval_s")) or 0.0
    later = run.epochs_planned - p["epoch"]
    seconds = [e.seconds for e in epochs if e.seconds]
    if later and not seconds and not rate:
        return None
    per_epoch = statistics.fmean(seconds) if seconds else run.spec.train_images / rate
    return epoch_left(run, now) + later * (per_epoch + evaluation)


def evaluating_for(run: Run, now: float) -> float | None:
    """Seconds since the run began evaluating this epoch; None while it trains."""
    p = run.progress
    return max(0.0, now - p.get("eval_started", now)) if p.get("evaluating") else None


def epoch_left(run: Run, now: float) -> float:
    """This epoch's training left and its evaluation (what is left of it, once it runs)."""
    p = run.progress
    evaluation = eval_seconds(p.get("images_per_s"), p.get("eval_s")) or 0.0
    elapsed = evaluating_for(run, now)
    if elapsed is not None:
        return max(0.0, evaluation - elapsed)
    return (p.get("eta_s") or 0.0) + evaluation
