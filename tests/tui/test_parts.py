"""The lab's pure parts: preset text (written, searched, renamed, saved), the
confusion matrix, the filter layout and the run's time left."""

from __future__ import annotations

import numpy as np
import pytest

from convlab.config.spec import list_presets, load, parse_text
from convlab.errors import UserError
from convlab.store import Epoch, Mistake, Run
from convlab.tui import preset_text
from convlab.tui.estimate import epoch_left, run_left
from convlab.tui.widgets.confusion import confusion
from convlab.tui.widgets.pictures import layout


def test_every_preset_written_as_toml_loads_back_the_same():
    for spec in list_presets():
        assert parse_text(preset_text.to_toml(spec), "x.toml", source=spec.source) == spec


@pytest.mark.parametrize("title", ["rubout \x7f here", 'tab\there, "quoted", back\\slash', "実験 \x00\x1f\u2028"])
def test_a_title_with_control_characters_round_trips(title):
    """TOML forbids a raw DEL in a string: it is written escaped, and reads back the same (#21 item 12)."""
    from dataclasses import replace

    spec = replace(load("relu"), title=title)
    assert parse_text(preset_text.to_toml(spec), "x.toml", source=spec.source).title == title


@pytest.mark.parametrize(
    "edit, field, line_text",
    [
        (("n_out = 100", "n_out = 100\nn_in = 2880"), "layers[2].n_in", "n_in = 2880"),
        (("eta = 0.03", "eta = -1"), "train.eta", "eta = -1"),
        (("maps = 40", "maps = 40\nwidth = 3"), "layers[1].width", "width = 3"),
    ],
)
def test_an_error_is_found_at_its_field_and_line(fixed_world, edit, field, line_text):
    text = (fixed_world / "relu.toml").read_text().replace(*edit)
    with pytest.raises(UserError) as error:
        parse_text(text, "relu.toml")
    where, problem = preset_text.split_error(str(error.value))
    assert where == field and problem
    assert text.splitlines()[preset_text.error_line(text, str(error.value))] == line_text


def test_a_toml_syntax_error_gives_its_line(fixed_world):
    text = (fixed_world / "relu.toml").read_text().replace("eta = 0.03", "eta = ")
    with pytest.raises(UserError) as error:
        parse_text(text, "relu.toml")
    assert preset_text.split_error(str(error.value))[0] is None
    assert text.splitlines()[preset_text.error_line(text, str(error.value))] == "eta = "


def test_saving_renames_and_never_replaces_a_shipped_preset(fixed_world):
    text = (fixed_world / "relu.toml").read_text()
    with pytest.raises(UserError, match="one of the chapter's presets"):
        preset_text.save(text, "relu")
    with pytest.raises(UserError, match="lower-case"):
        preset_text.save(text, "My Net")
    path = preset_text.save(text, "mine")
    assert path == fixed_world / "mine.toml"  # the user's presets folder (CONVLAB_PRESETS here)
    assert load(str(path)).name == "mine" and load(str(path)).row == 0
    with pytest.raises(UserError, match="already exists"):
        preset_text.save(text, "mine")
    assert preset_text.save(text, "mine", own=path) == path  # its own file, saved again


def test_confusion_matrix_from_predictions_and_mistakes():
    labels = np.array([0, 1, 2, 2, 3, 3, 3], dtype=np.uint8)
    predictions = np.array([0, 1, 3, 2, 3, 2, 3], dtype=np.uint8)
    wrong = [
        Mistake(i, int(labels[i]), int(predictions[i]), np.zeros((28, 28), np.uint8))
        for i in np.flatnonzero(labels != predictions)
    ]
    m = confusion(predictions, wrong)
    assert m.sum() == len(labels) and np.trace(m) == 5
    assert m[2, 3] == 1 and m[3, 2] == 1 and m[3, 3] == 2


@pytest.mark.parametrize(
    "maps, width, expected",
    [(20, 59, (1, 10)), (20, 160, (2, 10)), (6, 40, (1, 6)), (6, 80, (2, 6)), (40, 80, (1, 10))],
)
def test_filters_take_the_largest_scale_that_fits(maps, width, expected):
    scale, columns = layout(maps, 5, width)
    assert (scale, columns) == expected
    assert columns * (5 * scale + 1) - 1 <= max(width, 5 * scale)


def test_time_left_is_this_epoch_and_the_rest_at_the_mean_pace_each_with_its_evaluation():
    progress = {"epoch": 3, "batch": 10, "batches": 20, "eta_s": 5.0, "images_per_s": 100.0, "eval_s": 12.0}
    run = Run(
        1,
        None,
        0,
        "train",
        "relu",
        "",
        {},
        1,
        "cpu",
        {},
        None,
        None,
        None,
        None,
        None,
        "running",
        10,
        2,
        None,
        None,
        None,
        None,
        progress=progress,
    )
    epochs = [Epoch(1, 0.5, 90.0, None, 20.0, 0.1), Epoch(2, 0.4, 91.0, None, 30.0, 0.1)]
    assert epoch_left(run, now=0) == pytest.approx(5.0 + 12.0)
    assert run_left(run, epochs, now=0) == pytest.approx(5.0 + 12.0 + 7 * (25.0 + 12.0))
    # evaluating for 4 s: 8 s of it left; before the first evaluation is timed, 20,000 digits at 3 × 100/s
    progress.update(batch=20, eta_s=0.0, evaluating=True, eval_started=100.0)
    assert epoch_left(run, now=104.0) == pytest.approx(8.0)
    progress["eval_s"] = None
    assert epoch_left(run, now=104.0) == pytest.approx(20_000 / 300 - 4.0)
