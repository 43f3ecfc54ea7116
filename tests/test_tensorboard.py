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
        "run", "relu", "--epochs", "2", "--train-limit", "300", "--seed", "3", "--repeats", "1", cwd=folder, store=store
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
    # 20 filters of 5×5, ten to a row with 1-pixel gaps: 59 × 11
    assert (filters[0].width, filters[0].height) == (59, 11)
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
    assert values["seed"] == 3 and values["preset"] == "relu"
    experiment = next(
        plugin_data_pb2.HParamsPluginData.FromString(c).experiment
        for c in content.values()
        if plugin_data_pb2.HParamsPluginData.FromString(c).HasField("experiment")
    )
    assert {m.name.tag for m in experiment.metric_infos} == {"result/best_val", "result/test_at_best"}
    assert acc.Scalars("result/test_at_best")[0].value == pytest.approx(run.test_at_best, abs=1e-4)


def test_a_second_export_replaces_the_first_and_errors_are_one_line(exported, tmp_path):
    from helpers import run_convlab

    folder, store = exported
    again = run_convlab("export", "--format", "tensorboard", "-o", "tb", cwd=folder, store=store)
    assert again.returncode == 0
    run_dirs = list((folder / "tb").iterdir())
    assert len(run_dirs) == 1 and len(list(run_dirs[0].glob("events.out.tfevents.*"))) == 1
    assert_user_error(run_convlab("export", "--format", "tensorboard", cwd=folder, store=store), "-o DIR")
    # without the extra installed: one line naming it
    code = (
        "import sys; sys.modules['tensorboard'] = None; from convlab.cli import main; "
        f"sys.exit(main(['export', '--format', 'tensorboard', '-o', '{tmp_path / 'x'}', '--store', '{store}']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, timeout=120)
    assert_user_error(proc, "pip install 'nndl-convlab[tensorboard]'")
