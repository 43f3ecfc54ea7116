"""TensorBoard event files, written with the event writer PyTorch ships (it
needs the `tensorboard` package: pip install 'nndl-convlab[tensorboard]'):
`convlab export --format tensorboard -o DIR` from the store, and
`convlab run --tensorboard DIR` live, as each epoch ends.

Per run: per epoch the training loss, the validation and test accuracy (test
only at the epochs where it was measured: a new best validation), the epoch's
η and seconds, the first-layer filters (scaled up) and the misclassified test
digits as images, and the hyper-parameters through the HParams plugin, with
the best validation and the test accuracy at it as the metrics its table
compares. Each point carries the epoch's own wall time (live: when it ended;
exported: the run's start plus the epochs' seconds), the session its start time.
"""

from __future__ import annotations

import time
from pathlib import Path

from convlab import api
from convlab.errors import UserError
from convlab.extras import require
from convlab.results.pictures import digits_grey, filters_grey
from convlab.results.report import Row, runs_of
from convlab.runs import events
from convlab.store import Run, Store
from convlab.term.text import safe_file_name

SCALARS = {
    "loss/train": "train_loss",
    "loss/validation": "val_loss",
    "accuracy/validation": "val_acc",
    "accuracy/test": "test_acc",
    "schedule/eta": "eta",
    "time/epoch_seconds": "seconds",
}
METRICS = {"result/best_val": "best_val", "result/test_at_best": "test_at_best"}
HPARAMS = ("preset", "kind", "seed", "epochs_planned", *api.HPARAMS)
MISTAKES_SHOWN = 100
FILTER_SCALE = 8  # 20 filters of 5×5 are 59×11 pixels: too small to read in TensorBoard's cards


def run_folder(run: Run) -> str:
    """One folder name inside -o, whatever the preset's name holds (`/`, `..`, 100,000 characters)."""
    return safe_file_name(f"run-{run.id}-{run.preset}")


def _writer(folder: Path, option: str):
    from torch.utils.tensorboard import SummaryWriter

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{option}: cannot write {folder} ({exc.strerror or exc}); choose another folder") from None
    for old in folder.glob("events.out.tfevents.*"):  # a second export replaces the first
        old.unlink()
    return SummaryWriter(log_dir=str(folder))


def _check_folder(folder: str, option: str) -> Path:
    require("tensorboard", "tensorboard", "--format tensorboard" if option == "-o" else option)
    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise UserError(f"{option} {folder}: not a folder; TensorBoard reads a folder of runs")
    return root


def write(store: Store, rows: list[Row], folder: str) -> list[Path]:
    """One sub-folder per run under `folder`, and the hyper-parameters' table at its top; returns the sub-folders."""
    root = _check_folder(folder, "-o")
    runs = runs_of(store, rows)
    written = []
    for run in runs:
        target = root / run_folder(run)
        with _writer(target, f"-o {folder}") as writer:
            _write_run(store, run, writer)
        written.append(target)
    if runs:
        with _writer(root, f"-o {folder}") as writer:
            _write_experiment([api.run_record(r) for r in runs], writer)
    return written


def _write_run(store: Store, run: Run, writer) -> None:
    started = run.started or time.time()
    _start_session(run, writer, started)
    at = started
    filters = api.filters_by_epoch(store, run.id)
    for e in store.epochs(run.id):
        at += e.seconds or 0.0
        _write_epoch(writer, e, filters.get(e.epoch), at)
    _finish_session(store, run, writer, run.ended or at)


def _write_epoch(writer, epoch, filters, walltime: float) -> None:
    """`epoch`: a stored Epoch, or the trainer's Epoch event (its η named learning_rate)."""
    values = {name: getattr(epoch, name, None) for name in SCALARS.values()}
    if values["eta"] is None:
        values["eta"] = getattr(epoch, "learning_rate", None)
    for tag, name in SCALARS.items():
        if values[name] is not None:
            writer.add_scalar(tag, values[name], epoch.epoch, walltime=walltime)
    if filters is not None:
        grey = filters_grey(filters).repeat(FILTER_SCALE, 0).repeat(FILTER_SCALE, 1)
        writer.add_image("filters", grey, epoch.epoch, dataformats="HW", walltime=walltime)


def _hparams(record: dict) -> dict:
    params = {k: record[k] for k in HPARAMS if record[k] is not None}
    if "seed" in params:
        params["seed"] = str(params["seed"])  # a name for the random stream, not a quantity: shown as 3, not 3.0
    return params


def _summaries(record: dict):
    from torch.utils.tensorboard.summary import hparams

    metrics = {tag: record[name] for tag, name in METRICS.items() if record[name] is not None}
    return hparams(_hparams(record), metrics or dict.fromkeys(METRICS, 0.0)), metrics


def _plugin_data(summary):
    from tensorboard.plugins.hparams import plugin_data_pb2

    return plugin_data_pb2.HParamsPluginData.FromString(summary.value[0].metadata.plugin_data.content)


def _start_session(run: Run, writer, started: float) -> None:
    (_, start, _), _ = _summaries(api.run_record(run))
    data = _plugin_data(start)
    data.session_start_info.start_time_secs = started
    start.value[0].metadata.plugin_data.content = data.SerializeToString()
    writer.file_writer.add_summary(start, walltime=started)


def _finish_session(store: Store, run: Run, writer, ended: float) -> None:
    wrong = store.mistakes(run.id)[:MISTAKES_SHOWN]
    if wrong:
        writer.add_image(
            "mistakes", digits_grey([m.image for m in wrong]), run.epochs_done, dataformats="HW", walltime=ended
        )
        writer.add_text(
            "mistakes",
            "true → predicted: " + ", ".join(f"{m.label}→{m.predicted}" for m in wrong),
            run.epochs_done,
            walltime=ended,
        )
    (_, _, end), metrics = _summaries(api.run_record(run))
    data = _plugin_data(end)
    data.session_end_info.end_time_secs = ended
    end.value[0].metadata.plugin_data.content = data.SerializeToString()
    for tag, value in metrics.items():
        writer.add_scalar(tag, value, run.epochs_done, walltime=ended)
    writer.file_writer.add_summary(end, walltime=ended)


def _write_experiment(records: list[dict], writer) -> None:
    """The HParams table's columns, once for the export: each hyper-parameter's values
    across the runs, so that TensorBoard marks those that differ (its own would say none)."""
    from tensorboard.plugins.hparams import api_pb2

    (experiment, _, _), _ = _summaries(records[0])
    data = _plugin_data(experiment)
    seen: dict[str, set] = {}
    for record in records:
        for name, value in _hparams(record).items():
            seen.setdefault(name, set()).add(value)
    del data.experiment.hparam_infos[:]
    for name, values in seen.items():
        info = data.experiment.hparam_infos.add(name=name, differs=len(values) > 1)
        if all(isinstance(v, str) for v in values):
            info.type = api_pb2.DATA_TYPE_STRING
            info.domain_discrete.extend(sorted(values))
        else:
            info.type = api_pb2.DATA_TYPE_FLOAT64
            info.domain_interval.min_value, info.domain_interval.max_value = min(values), max(values)
    experiment.value[0].metadata.plugin_data.content = data.SerializeToString()
    writer.file_writer.add_summary(experiment)


class LiveWriter:
    """`convlab run --tensorboard DIR`: each run's events written as they come
    (TensorBoard, or `wandb sync`, reads them while the run trains)."""

    def __init__(self, store: Store, folder: str):
        self.store = store
        self.root = _check_folder(folder, "--tensorboard")
        self.writers: dict[int, object] = {}

    def __call__(self, event: events.Event) -> None:
        now = time.time()
        if isinstance(event, events.Started):
            run = self.store.run(event.run)
            self.writers[event.run] = writer = _writer(self.root / run_folder(run), f"--tensorboard {self.root}")
            _start_session(run, writer, run.started or now)
        elif isinstance(event, events.Epoch) and event.run in self.writers:
            writer = self.writers[event.run]
            _write_epoch(writer, event, event.filters, now)
            writer.flush()
        elif isinstance(event, events.Finished | events.Failed | events.Interrupted | events.Diverged):
            writer = self.writers.pop(getattr(event, "run", None), None)
            if writer is not None:
                if isinstance(event, events.Finished):
                    _finish_session(self.store, self.store.run(event.run), writer, now)
                writer.close()

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()
