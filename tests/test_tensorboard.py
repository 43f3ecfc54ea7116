"""`convlab export --format tensorboard`: a real two-epoch run on a slice of
MNIST, exported by the CLI and read back with TensorBoard's own reader
(EventAccumulator): scalars per epoch, filters and mistakes as images, and the
hyper-parameters in the HParams plugin's records."""

from __future__ import annotations

import subprocess
import sys

import pytest

from convlab.store import Store

from helpers import assert_user_error, cli_env

pytest.importorskip(
    "tensorboard", reason="the TensorBoard export needs tensorboard: pip install 'nndl-convlab[tensorboard]'"
)

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.hparams import plugin_data_pb2  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from helpers import run_convlab

    folder = tmp_path_factory.mktemp("tb")
    store = folder / "convlab.sqlite"
    trained = run_convlab(
        "run",
        "relu",
        *("--epochs", "2", "--train-limit", "300", "--seed", "3", "--repeats", "1", "--tensorboard", "live"),
        cwd=folder,
        store=store,
    )
    assert trained.returncode == 0, trained.stderr
    done = run_convlab("export", "--format", "tensorboard", "-o", "tb", cwd=folder, store=store)
    assert done.returncode == 0, done.stderr
    assert "tensorboard --logdir tb" in done.stderr
    return folder, store


def load_run(folder, run_id: int, preset: str) -> EventAccumulator:
    acc = EventAccumulator(str(folder / "tb" / f"run-{run_id}-{preset}"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    return acc


def test_scalars_per_epoch_match_the_store(exported):
    folder, path = exported
    with Store(path) as store:
        run = store.runs()[0]
        epochs = store.epochs(run.id)
    acc = load_run(folder, run.id, "relu")
    tags = acc.Tags()["scalars"]
    assert {"loss/train", "accuracy/validation", "accuracy/test"} <= set(tags)
    val = acc.Scalars("accuracy/validation")
    assert [s.step for s in val] == [1, 2]
    assert [s.value for s in val] == pytest.approx([e.val_acc for e in epochs], abs=1e-4)
    assert [s.value for s in acc.Scalars("loss/train")] == pytest.approx([e.train_loss for e in epochs], rel=1e-5)
    tested = [e for e in epochs if e.test_acc is not None]
    assert [s.step for s in acc.Scalars("accuracy/test")] == [e.epoch for e in tested]


def test_filters_and_mistakes_are_images(exported):
    folder, path = exported
    with Store(path) as store:
        run = store.runs()[0]
        wrong = len(store.mistakes(run.id))
    acc = load_run(folder, run.id, "relu")
    filters = acc.Images("filters")
    assert [i.step for i in filters] == [1, 2]
    # 20 filters of 5×5, ten to a row with 1-pixel gaps: 59 × 11, scaled 8× to be read
    assert (filters[0].width, filters[0].height) == (59 * 8, 11 * 8)
    assert filters[0].encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n"
    assert filters[0].encoded_image_string != filters[1].encoded_image_string  # the filters learned
    mistakes = acc.Images("mistakes")
    shown = min(wrong, 100)
    assert len(mistakes) == 1 and mistakes[0].width == 10 * 28 + 9 * 2
    assert mistakes[0].height == (-(-shown // 10)) * 30 - 2


def test_hyper_parameters_in_the_hparams_plugin(exported):
    folder, path = exported
    with Store(path) as store:
        run = store.runs()[0]
    acc = load_run(folder, run.id, "relu")
    content = acc.PluginTagToContent("hparams")
    start = next(
        plugin_data_pb2.HParamsPluginData.FromString(c).session_start_info
        for c in content.values()
        if plugin_data_pb2.HParamsPluginData.FromString(c).HasField("session_start_info")
    )
    values = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind")) for k, v in start.hparams.items()}
    assert values["eta"] == pytest.approx(0.03) and values["lmbda"] == pytest.approx(0.1)
    assert values["activation"] == "relu" and values["data"] == "plain" and values["train_size"] == 300
    assert values["seed"] == "3" and values["preset"] == "relu"  # shown as 3, not 3.0
    assert start.start_time_secs == pytest.approx(run.started)
    top = EventAccumulator(str(folder / "tb"))  # the table's columns: once, at the export's top
    top.Reload()
    experiment = next(
        plugin_data_pb2.HParamsPluginData.FromString(c).experiment
        for c in top.PluginTagToContent("hparams").values()
        if plugin_data_pb2.HParamsPluginData.FromString(c).HasField("experiment")
    )
    assert {m.name.tag for m in experiment.metric_infos} == {"result/best_val", "result/test_at_best"}
    assert acc.Scalars("result/test_at_best")[0].value == pytest.approx(run.test_at_best, abs=1e-4)


def test_a_second_export_replaces_the_first_and_errors_are_one_line(exported, tmp_path):
    from helpers import run_convlab

    folder, store = exported
    again = run_convlab("export", "--format", "tensorboard", "-o", "tb", cwd=folder, store=store)
    assert again.returncode == 0
    run_dirs = [d for d in (folder / "tb").iterdir() if d.is_dir()]
    assert len(list((folder / "tb").glob("events.out.tfevents.*"))) == 1  # the hparams table's, replaced too
    assert len(run_dirs) == 1 and len(list(run_dirs[0].glob("events.out.tfevents.*"))) == 1
    assert_user_error(run_convlab("export", "--format", "tensorboard", cwd=folder, store=store), "-o DIR")
    # without the extra installed: one line naming it
    code = (
        "import sys; sys.modules['tensorboard'] = None; from convlab.cli import main; "
        f"sys.exit(main(['export', '--format', 'tensorboard', '-o', '{tmp_path / 'x'}', '--store', '{store}']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, timeout=120)
    assert_user_error(proc, "pip install 'nndl-convlab[tensorboard]'")


def _session_start(acc: EventAccumulator):
    return next(
        plugin_data_pb2.HParamsPluginData.FromString(c).session_start_info
        for c in acc.PluginTagToContent("hparams").values()
        if plugin_data_pb2.HParamsPluginData.FromString(c).HasField("session_start_info")
    )


def test_each_epoch_carries_its_own_wall_time_eta_and_seconds(exported):
    folder, path = exported
    with Store(path) as store:
        run = store.runs()[0]
        epochs = store.epochs(run.id)
    acc = load_run(folder, run.id, "relu")
    val = acc.Scalars("accuracy/validation")
    # the run's start plus the epochs' seconds, not the moment of the export
    assert val[0].wall_time == pytest.approx(run.started + epochs[0].seconds, abs=1e-3)
    assert val[1].wall_time - val[0].wall_time == pytest.approx(epochs[1].seconds, abs=1e-3)
    assert [s.value for s in acc.Scalars("schedule/eta")] == pytest.approx([e.eta for e in epochs])
    assert [s.value for s in acc.Scalars("time/epoch_seconds")] == pytest.approx([e.seconds for e in epochs])


def test_run_with_tensorboard_writes_the_events_as_it_trains(exported):
    folder, path = exported
    with Store(path) as store:
        run = store.runs()[0]
        epochs = store.epochs(run.id)
    acc = EventAccumulator(str(folder / "live" / f"run-{run.id}-relu"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    val = acc.Scalars("accuracy/validation")
    assert [s.step for s in val] == [1, 2]
    assert [s.value for s in val] == pytest.approx([e.val_acc for e in epochs], abs=1e-4)
    assert run.started <= val[0].wall_time <= val[1].wall_time <= run.ended + 1  # written as each epoch ended
    assert [s.value for s in acc.Scalars("schedule/eta")] == pytest.approx([e.eta for e in epochs])
    assert [i.step for i in acc.Images("filters")] == [1, 2]
    assert len(acc.Images("mistakes")) == 1
    assert acc.Scalars("result/best_val")[0].value == pytest.approx(run.best_val, abs=1e-4)
    start = _session_start(acc)
    assert start.hparams["seed"].string_value == "3" and start.start_time_secs == pytest.approx(run.started)


def test_the_hparams_table_marks_what_differs(tmp_path):
    from helpers import run_convlab

    store = tmp_path / "convlab.sqlite"
    for seed in ("1", "2"):
        trained = run_convlab(
            "run",
            "relu",
            "--epochs",
            "1",
            "--train-limit",
            "200",
            "--repeats",
            "1",
            "--seed",
            seed,
            cwd=tmp_path,
            store=store,
        )
        assert trained.returncode == 0, trained.stderr
    assert run_convlab("export", "--format", "tensorboard", "-o", "tb", cwd=tmp_path, store=store).returncode == 0
    acc = EventAccumulator(str(tmp_path / "tb"))  # the experiment sits at the export's top
    acc.Reload()
    experiment = next(
        plugin_data_pb2.HParamsPluginData.FromString(c).experiment
        for c in acc.PluginTagToContent("hparams").values()
        if plugin_data_pb2.HParamsPluginData.FromString(c).HasField("experiment")
    )
    differs = {info.name: info.differs for info in experiment.hparam_infos}
    assert differs["seed"] is True and differs["eta"] is False and differs["preset"] is False
    assert {m.name.tag for m in experiment.metric_infos} == {"result/best_val", "result/test_at_best"}
