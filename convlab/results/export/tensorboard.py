"""`convlab export --format tensorboard -o DIR`: each run as a TensorBoard run
(a folder of event files), written with the event writer PyTorch ships (it
needs the `tensorboard` package: pip install 'nndl-convlab[tensorboard]').

Per run: per epoch the training loss and the validation and test accuracy
(test only at the epochs where it was measured: a new best validation), the
first-layer filters after each epoch and the misclassified test digits as
images, and the hyper-parameters through the HParams plugin, with the best
validation and the test accuracy at it as the metrics its table compares.
"""

from __future__ import annotations

from pathlib import Path

from convlab import api
from convlab.errors import UserError
from convlab.extras import require
from convlab.results.pictures import digits_grey, filters_grey
from convlab.results.report import Row, runs_of
from convlab.store import Run, Store
from convlab.term.text import safe_file_name

SCALARS = {
    "loss/train": "train_loss",
    "loss/validation": "val_loss",
    "accuracy/validation": "val_acc",
    "accuracy/test": "test_acc",
}
METRICS = {"result/best_val": "best_val", "result/test_at_best": "test_at_best"}
HPARAMS = ("preset", "kind", "seed", "epochs_planned", *api.HPARAMS)
MISTAKES_SHOWN = 100


def run_folder(run: Run) -> str:
    """One folder name inside -o, whatever the preset's name holds (`/`, `..`, 100,000 characters)."""
    return safe_file_name(f"run-{run.id}-{run.preset}")


def write(store: Store, rows: list[Row], folder: str) -> list[Path]:
    """One sub-folder per run under `folder`; returns them."""
    require("tensorboard", "tensorboard", "--format tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise UserError(f"-o {folder}: not a folder; TensorBoard reads a folder of runs")
    written = []
    for run in runs_of(store, rows):
        target = root / run_folder(run)
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(
                f"-o {folder}: cannot write {target.name} ({exc.strerror or exc}); choose another folder"
            ) from None
        for old in target.glob("events.out.tfevents.*"):  # a second export replaces the first
            old.unlink()
        with SummaryWriter(log_dir=str(target)) as writer:
            _write_run(store, run, writer)
        written.append(target)
    return written


def _write_run(store: Store, run: Run, writer) -> None:
    for e in store.epochs(run.id):
        for tag, name in SCALARS.items():
            value = getattr(e, name)
            if value is not None:
                writer.add_scalar(tag, value, e.epoch)
    for epoch, filters in api.filters_by_epoch(store, run.id).items():
        writer.add_image("filters", filters_grey(filters), epoch, dataformats="HW")
    wrong = store.mistakes(run.id)[:MISTAKES_SHOWN]
    if wrong:
        writer.add_image("mistakes", digits_grey([m.image for m in wrong]), run.epochs_done, dataformats="HW")
        writer.add_text(
            "mistakes", "true → predicted: " + ", ".join(f"{m.label}→{m.predicted}" for m in wrong), run.epochs_done
        )
    _write_hparams(run, writer)


def _write_hparams(run: Run, writer) -> None:
    from torch.utils.tensorboard.summary import hparams

    record = api.run_record(run)
    params = {k: record[k] for k in HPARAMS if record[k] is not None}
    metrics = {tag: record[name] for tag, name in METRICS.items() if record[name] is not None}
    for summary in hparams(params, metrics):
        writer.file_writer.add_summary(summary)
    for tag, value in metrics.items():
        writer.add_scalar(tag, value, run.epochs_done)
