"""The live view without training, from the seeded store: the curve's
legend, ticks, markers and the book's figure; enlarging a panel; the first
frame at 80×24; the evaluating state; a network without filters; and the
runs table at every width; the filters of past epochs, the digits of one
cell of the confusion matrix and the run's config; the validation loss
arriving with an epoch; a click on a cell of the confusion matrix."""

from __future__ import annotations

import re

from convlab.config.spec import load
from convlab.store import Store
from convlab.tui.app import ConvlabApp
from convlab.tui.screens.run import RunScreen
from convlab.tui.widgets.confusion import ConfusionMatrix
from convlab.tui.widgets.curve import CurvePlot, Series
from convlab.tui.widgets.pictures import FilterGrid, MistakeGallery
from convlab.tui.widgets.run_status import RunStatus

from helpers import epoch_event
from tui_helpers import T0, run_async, screen_text, wait_until


async def _open(pilot, run_id: int) -> RunScreen:
    pilot.app.push_screen(RunScreen(run_id=run_id))
    await pilot.pause()
    return pilot.app.screen


def _y_ticks(text: str) -> list[float]:
    return [float(m.group(1)) for m in re.finditer(r"^ *(\d+(?:\.\d+)?)┤", text, re.M)]


@run_async
async def test_the_curve_has_its_legend_off_the_data_round_ticks_and_a_marker_per_epoch(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await _open(pilot, 1)
        text = screen_text(app)
        plot = [line for line in text.splitlines() if "┤" in line or "│" in line and "┌" not in line]
        assert "validation accuracy (%) by epoch · ● run 1 · ⠤ run 3, run 2" in text  # the title row
        assert not any("run 1" in line or "run 2" in line for line in plot)  # no legend over the data
        ticks = _y_ticks(text)
        steps = {round(b - a, 6) for a, b in zip(ticks[1:], ticks)}
        assert len(ticks) >= 3 and len(steps) == 1 and all(t * 4 == int(t * 4) for t in ticks)
        curve = screen.query_one(CurvePlot)
        in_range = [v for v in curve.accuracy.values if v >= min(ticks)]  # epoch 1 may lie below the range
        assert curve.points == 12 and len(in_range) >= 11 and "".join(plot).count("●") == len(in_range)
        assert "book 99.23" in text and "above" not in text  # in range: a line


@run_async
async def test_the_book_figure_out_of_range_is_an_arrow_with_the_gap(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open(pilot, 1)
        curve = screen.query_one(CurvePlot)
        curve.set_data(Series("run 9", [1, 2, 3], [90.1, 91.2, 92.3]), Series("loss", [], []), [], 99.23, 3)
        await pilot.pause()
        text = screen_text(app)
        high = max(_y_ticks(text))
        assert f"▲ book 99.23, {99.23 - high:.2f} above" in text
        assert high < 95  # the curve keeps its resolution


@run_async
async def test_z_enlarges_the_current_panel_to_the_whole_body_and_back(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot, 1)
        body = screen.query_one("#body")
        await pilot.press("2")
        assert screen.query_one("#mistakes-panel").size.height < 16  # half the body: a digit is 16 rows
        await pilot.press("z")
        assert screen.query_one("#mistakes-panel").outer_size == body.size
        assert not screen.query_one(CurvePlot).display or screen.query_one(CurvePlot).size.height == 0
        await pilot.press("3")  # another panel, still enlarged
        assert screen.query_one("#confusion-panel").outer_size == body.size
        assert re.search(r"^│ +9 ", screen_text(app), re.M)  # the whole matrix, down to the row of 9s
        await pilot.press("0")  # the curve
        assert screen.query_one(CurvePlot).outer_size == body.size
        await pilot.press("z")
        assert screen.query_one(CurvePlot).size.height < body.size.height


@run_async
async def test_the_first_frame_at_80x24_shows_one_panel(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(80, 24)) as pilot:
        frames: list[str] = []
        display = app._display

        def watched(screen, renderable):
            if isinstance(screen, RunScreen) and renderable is not None:
                frames.append(screen_text(app))
            return display(screen, renderable)

        app._display = watched
        await _open(pilot, 1)
        await pilot.pause(0.2)
        del app._display
        assert frames
        for frame in frames:
            assert sum(title in frame for title in ("1 Filters", "2 Misclassified", "3 Confusion")) <= 1


@run_async
async def test_a_run_evaluating_says_so_and_counts_evaluation_in_the_time_left(seeded_store, monkeypatch):
    store = Store(seeded_store)
    progress = store.run(3).progress
    progress.update(batch=5000, eta_s=0.0, evaluating=True, eval_started=T0 + 1400, eval_s=9.0)
    store.set_progress(3, progress)
    monkeypatch.setattr(RunStatus, "now", staticmethod(lambda: T0 + 1404))
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(160, 48)) as pilot:
        await _open(pilot, 3)
        text = screen_text(app)
        assert "epoch 6/30 evaluating validation and test accuracy · 4s of ~9s" in text
        # 24 epochs to come at 41.5 s each, each with 9 s of evaluation, and 5 s of this one's
        assert f"run ends in ~{(5 + 24 * 50.5) // 60:.0f}m" in text


@run_async
async def test_a_network_without_conv_layers_says_it_has_no_filters(seeded_store, fixed_world):
    store = Store(seeded_store)
    shallow = load(str(fixed_world / "shallow.toml")).with_train(epochs=1)
    run = store.create_run(shallow, group_id=store.create_group(shallow), seed=1, device="cpu")
    store.add_epoch(
        run,
        epoch_event(1, 90.0, train_loss=0.5, test_acc=89.0, test_at_best=89.0, seconds=3.0, learning_rate=0.1),
    )
    store.finish(run, "finished")
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(160, 48)) as pilot:
        await _open(pilot, run)
        text = screen_text(app)
        assert "no convolutional layer" in text and "appear here after the first epoch" not in text


@run_async
async def test_the_runs_table_fits_its_columns_to_the_width(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        for whole in ("interrupted", "finished", "6/30 42%", "12/12", "data"):
            assert whole in text, whole
        assert "started" not in text  # dropped first at this width
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        text = screen_text(app)
        assert "interrupted" in text and "test@best" in text and "best val" not in text
        assert screen_text(app).splitlines()[-1].endswith("palette")  # nothing left over in the footer
        await pilot.resize_terminal(160, 48)
        await pilot.pause()
        assert "started" in screen_text(app) and "2026-01-01 00:20" in screen_text(app)


@run_async
async def test_the_filters_of_any_past_epoch_with_keys(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await _open(pilot, 1)
        grid = screen.query_one(FilterGrid)
        assert grid.epoch == 12
        latest = grid.filters.copy()
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert grid.epoch == 10 and "after epoch 10 of 12" in screen_text(app)
        assert (grid.filters == Store(seeded_store).filters(1, 10)).all() and not (grid.filters == latest).all()
        await pilot.press(*["left_square_bracket"] * 20)
        assert grid.epoch == 1  # no further back than the first
        await pilot.press(*["right_square_bracket"] * 20)
        assert grid.epoch == 12 and (grid.filters == latest).all()


async def _open_matrix(pilot):
    """Run 1's live view with the confusion matrix focused (key 3): the screen,
    its gallery, every mistake it shows unfiltered, and the matrix."""
    screen = await _open(pilot, 1)
    gallery = screen.query_one(MistakeGallery)
    everything = list(gallery.mistakes)
    await pilot.press("3")
    return screen, gallery, everything, screen.query_one(ConfusionMatrix)


@run_async
async def test_a_cell_of_the_confusion_matrix_shows_those_digits(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(100, 40)) as pilot:
        screen, gallery, everything, matrix = await _open_matrix(pilot)
        assert matrix.has_focus
        true, predicted = matrix.cell  # starts on the most frequent mistake
        await pilot.press("right", "enter")
        cell = (true, (predicted + 1) % 10)
        expected = [m for m in everything if (m.label, m.predicted) == cell]
        assert screen.panel == "mistakes" and [m.index for m in gallery.mistakes] == [m.index for m in expected]
        assert f"of {len(everything)} misclassified: true {cell[0]}, the network's {cell[1]}" in screen_text(app)
        await pilot.press("3")
        for _ in range((cell[0] - cell[1]) % 10):
            await pilot.press("right")  # onto the diagonal: every mistake again
        await pilot.press("enter")
        assert len(gallery.mistakes) == len(everything)


@run_async
async def test_the_live_view_shows_the_run_config(seeded_store):
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(160, 48)) as pilot:
        await _open(pilot, 3)
        assert (
            "relu · 30 epochs · η 0.03 · λ 0.1 · batch 10 · 50k · 3 repeats · "
            "conv-pool(20) → conv-pool(40) → FC(100) → softmax(10)"
        ) in screen_text(app)


@run_async
async def test_the_validation_loss_appears_beside_the_training_loss_after_an_epoch(seeded_store):
    """Run 3 trains elsewhere; its stored epochs predate validation loss (none is
    drawn for them). When its next epoch lands in the store, `t`'s loss plot
    gains a validation point beside the training loss."""
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await _open(pilot, 3)
        await pilot.press("t")
        curve = screen.query_one(CurvePlot)
        assert curve.val_loss.values == [] and "● validation" not in screen_text(app)
        with Store(seeded_store) as other:  # as the training process would write it
            other.add_epoch(
                3,
                epoch_event(6, 98.95, train_loss=0.15, val_loss=0.0412, test_at_best=98.9, seconds=41.5),
            )
        await wait_until(pilot, lambda: curve.val_loss.values == [0.0412], timeout=10)
        await pilot.pause()
        text = screen_text(app)
        assert "loss (mean cross-entropy) by epoch · ● training · ● validation" in text
        assert "best validation 98.95% (epoch 6) · validation loss 0.0412 (epoch 6) · test at best" in text
        assert curve.val_loss.epochs == [6] and len(curve.loss.values) == 6


def _cell_offset(app, matrix: ConfusionMatrix, true: int, predicted: int) -> tuple[int, int]:
    """Where the matrix draws the count of (true, predicted), relative to the widget,
    read off the screen: the header row's digit `predicted` ends the column
    (counts are right-aligned under it), and row `true` follows the header."""
    region = matrix.content_region
    lines = [line.ljust(region.right) for line in screen_text(app).splitlines()]
    header_y = next(y for y in range(region.y, region.bottom) if re.search(r"0 +1 +2 +3", lines[y]))
    header = lines[header_y]
    x = [m.start() for m in re.finditer(r"\d", header) if m.start() >= region.x][predicted]
    y = header_y + 1 + true
    assert lines[y][region.x : x].split()[0] == str(true)
    return x - region.x, y - region.y


@run_async
async def test_a_click_on_a_cell_of_the_confusion_matrix_shows_those_digits(seeded_store):
    """The mouse selects a cell as arrows and Enter do: the same digits, the same words."""
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(100, 40)) as pilot:
        screen, gallery, everything, matrix = await _open_matrix(pilot)
        true, predicted = matrix.cell
        await pilot.press("enter")  # by keys, for comparison
        by_keys = [m.index for m in gallery.mistakes]
        by_keys_text = f"of {len(everything)} misclassified: true {true}, the network's {predicted}"
        assert by_keys_text in screen_text(app)

        cell = next((t, p) for t, p in ((m.label, m.predicted) for m in everything) if (t, p) != (true, predicted))
        await pilot.press("3")
        assert await pilot.click(ConfusionMatrix, offset=_cell_offset(app, matrix, *cell))
        await pilot.pause()
        expected = [m.index for m in everything if (m.label, m.predicted) == cell]
        assert matrix.cell == cell and screen.panel == "mistakes"
        assert [m.index for m in gallery.mistakes] == expected and expected != by_keys
        assert f"of {len(everything)} misclassified: true {cell[0]}, the network's {cell[1]}" in screen_text(app)

        await pilot.press("3")
        assert await pilot.click(ConfusionMatrix, offset=_cell_offset(app, matrix, *cell))
        await pilot.pause()  # the same cell again: the same digits, as a second Enter
        assert [m.index for m in gallery.mistakes] == expected

        await pilot.press("3")  # the diagonal: every mistake again, as with Enter there
        assert await pilot.click(ConfusionMatrix, offset=_cell_offset(app, matrix, 4, 4))
        await pilot.pause()
        assert len(gallery.mistakes) == len(everything) and screen.cell is None


@run_async
async def test_the_curve_range_follows_this_run_not_the_runs_behind_it(seeded_store):
    """A run at 87–92% keeps its own range when an earlier run behind it sits at 10.9% (#21 item 8)."""
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open(pilot, 1)
        curve = screen.query_one(CurvePlot)
        behind = [Series("run 8", [1, 2, 3], [10.9, 10.9, 10.9])]
        curve.set_data(Series("run 9", [1, 2, 3], [87.0, 90.0, 92.0]), Series("loss", [], []), behind, None, 3)
        await pilot.pause()
        ticks = _y_ticks(screen_text(app))
        assert ticks and min(ticks) >= 80 and max(ticks) <= 95


@run_async
async def test_the_jobs_line_names_every_run_training_and_x_in_the_last_evaluation_says_it_finishes(
    seeded_store, fixed_world
):
    """A job training two runs side by side names both (#21 item 8); `x` while its
    run evaluates its last epoch says the run finishes, not that it stays resumable."""
    from convlab.tui.launcher import Launch

    store = Store(seeded_store)
    relu = load(str(fixed_world / "relu.toml")).with_train(repeats=2, epochs=3)
    group = store.create_group(relu)
    ids = [store.create_run(relu, group_id=group, member=m, seed=m, device="cpu") for m in (0, 1)]
    with store.db:  # trained elsewhere, so the lab does not take them for dead processes of its own
        store.db.execute(f"UPDATE runs SET host='gpu-box' WHERE id IN ({ids[0]}, {ids[1]})")
    store.set_progress(ids[1], {"epoch": 3, "batch": 5000, "batches": 5000, "evaluating": True, "eval_started": T0})
    app = ConvlabApp(store=seeded_store)
    async with app.run_test(size=(160, 40)) as pilot:
        job = Launch(1, "relu", [], "cpu", state="training", run_ids=ids, slots=2)
        app.launcher.jobs.append(job)
        app.jobs_version += 1
        await pilot.pause()
        assert f"training: relu (runs {ids[0]}, {ids[1]}) on cpu" in screen_text(app)
        app.cancel_run(None, job)
        await pilot.pause()
        said = [n.message for n in app._notifications]
        assert f"relu: run {ids[1]} is in its last evaluation, so it finishes rather than stopping." in said
        assert not any("stays resumable" in m for m in said)
