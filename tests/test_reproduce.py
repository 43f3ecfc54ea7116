"""`convlab reproduce`: the plan of the shipped presets, and the whole loop end
to end on a slice of MNIST (a presets folder of two tiny networks, one of them
an ensemble): interrupted by SIGTERM, run again, it resumes where it stopped
and ends with the book-versus-convlab table and the HTML export."""

from __future__ import annotations

import base64
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from convlab.errors import UserError
from convlab.runs import reproduce
from convlab.store import Store

from helpers import assert_user_error, cli_command, cli_env, toml_text

TINY_LAYERS = [{"type": "conv_pool", "maps": 2}, {"type": "softmax", "n_out": 10}]


@pytest.fixture
def tiny_presets(tmp_path) -> Path:
    folder = tmp_path / "presets"
    folder.mkdir()
    train = {"activation": "relu", "epochs": 3, "eta": 0.1, "batch_size": 10}
    (folder / "tiny.toml").write_text(
        toml_text(TINY_LAYERS, {**train, "repeats": 3}, name="tiny", row=1, title="Tiny", book_figure=97.80)
    )
    (folder / "tiny-vote.toml").write_text(
        toml_text(
            TINY_LAYERS, {**train, "ensemble": 5}, name="tiny-vote", row=2, title="Tiny ensemble", book_figure=99.67
        )
    )
    return folder


def test_quick_plan_of_the_shipped_presets():
    specs = reproduce.plan(quick=True)
    assert len(specs) == 14
    assert [s.row for s in specs] == sorted(s.row for s in specs)
    assert specs[0].name == "shallow" and specs[-1].name == "ensemble"
    for spec in specs:
        assert spec.train.epochs == 1 and spec.train.train_limit == reproduce.QUICK.train_limit
        assert spec.train.repeats <= 2
    assert specs[-1].train.ensemble == reproduce.QUICK.ensemble > 1
    full = reproduce.plan(["relu"])
    assert full[0].train.epochs == 60 and full[0].train.repeats == 3 and full[0].train.train_limit == 0
    assert reproduce.plan(["relu"], quick=True, epochs=2, train_limit=500)[0].train.epochs == 2
    with pytest.raises(UserError, match="--preset relux: not a shipped preset"):
        reproduce.plan(["relux"])
    with pytest.raises(UserError, match="--epochs 0"):
        reproduce.plan(["relu"], epochs=0)


def _env(tmp_path: Path, presets: Path) -> dict:
    env = cli_env(tmp_path / "runs.sqlite")
    env["CONVLAB_SHIPPED_PRESETS"] = str(presets)  # the tiny ones stand in for the chapter's
    return env


def test_reproduce_quick_end_to_end_interrupted_and_resumed(tmp_path, tiny_presets):
    # one worker: the runs train in the plan's order (tiny's two, then the ensemble's)
    args = cli_command(
        "reproduce", "--quick", "--train-limit", "200", "--seed", "5", "-o", "report.html", "--workers", "1"
    )
    env = _env(tmp_path, tiny_presets)

    # first try: stopped by SIGTERM once the ensemble's first member has begun
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        seen.append(line)
        if sum(x.startswith("run ") and ": seed " in x for x in seen) == 3:
            proc.send_signal(signal.SIGTERM)
            break
        assert time.monotonic() < deadline, "".join(seen)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, "".join(seen) + out + err
    assert "run the same `convlab reproduce` command again to resume" in err
    with Store(tmp_path / "runs.sqlite") as store:
        assert [r.status for r in store.runs(preset="tiny")] == ["finished", "finished"]
        statuses = [r.status for r in store.runs(preset="tiny-vote")]
        assert "interrupted" in statuses and len(statuses) < 4

    # second try: the finished preset is skipped, the ensemble resumes and votes
    done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "reproduction 1: 2 presets, 1 done, resuming" in done.stdout
    assert "tiny: done (group 1), skipped" in done.stdout
    assert "tiny-vote: resuming group 2" in done.stdout

    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in table]
    header = cells[0]
    rows = {r[header.index("preset")]: dict(zip(header, r)) for r in cells[1:]}
    assert set(rows) == {"tiny", "tiny-vote"}
    assert rows["tiny"]["n"] == "2" and rows["tiny"]["data"] == "plain 200" and rows["tiny"]["epochs"] == "1"
    assert rows["tiny"]["book %"] == "97.80" and "±" in rows["tiny"]["mean ± sd"]
    assert rows["tiny-vote"]["n"] == "3 voting" and rows["tiny-vote"]["book %"] == "99.67"
    diff = float(rows["tiny-vote"]["Δ book"])
    assert diff == pytest.approx(float(rows["tiny-vote"]["test %"]) - 99.67, abs=0.006)

    with Store(tmp_path / "runs.sqlite") as store:
        assert len(store.runs(preset="tiny")) == 2  # not trained again
        vote_runs = [r for r in store.runs(preset="tiny-vote") if r.kind == "ensemble"]
        assert len(vote_runs) == 1 and len(vote_runs[0].members) == 3
        members = [store.run(m) for m in vote_runs[0].members]
        assert all(m.status == "finished" and m.epochs_done == 1 for m in members)
        finished = store.db.execute("SELECT finished FROM reproductions WHERE id=1").fetchone()[0]
        assert finished is not None

    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    images = re.findall(r'src="data:(image/[a-z+]+);base64,([^"]+)"', page)
    assert {mime for mime, _ in images} == {"image/png", "image/svg+xml"}
    for mime, payload in images:
        data = base64.b64decode(payload)
        assert data.startswith(b"\x89PNG") if mime == "image/png" else data.startswith(b"<svg")
    assert "tiny-vote" in page and "misclassified test digits" in page


def test_reproduce_errors_are_one_line(tmp_path, tiny_presets, run_cli):
    assert_user_error(run_cli("reproduce", "--preset", "nope"), "--preset nope")
    assert_user_error(run_cli("reproduce", "--quick", "-o", tmp_path / "out.txt"), "cannot tell the format")
