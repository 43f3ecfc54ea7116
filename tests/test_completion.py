"""Shell completion: the script `convlab completion bash` prints, sourced in a
real bash, asked as bash asks it (COMP_WORDS, COMP_CWORD) for commands,
options, preset names and the store's run ids."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import cli_env, run_convlab
from report_fixtures import make_store

pytest.importorskip("shtab", reason="convlab completion needs shtab: pip install 'nndl-convlab[completion]'")
BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(
    BASH is None or not (Path(sys.executable).parent / "convlab").exists(),
    reason="needs bash and the installed `convlab` command",
)


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    folder = tmp_path_factory.mktemp("completion")
    made = make_store(folder / "runs.sqlite")
    result = run_convlab("completion", "bash", cwd=folder)
    assert result.returncode == 0, result.stderr
    (folder / "convlab.bash").write_text(result.stdout)
    return folder, made


def complete(script, *words: str) -> list[str]:
    """What bash offers for the last of `words` after `convlab`."""
    folder, made = script
    env = cli_env(made.path)
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    words_array = " ".join(f"'{w}'" for w in ("convlab", *words))
    program = (
        f"source {folder / 'convlab.bash'}; COMP_WORDS=({words_array}); COMP_CWORD={len(words)}; "
        f"COMP_LINE='convlab {' '.join(words)}'; COMP_POINT=${{#COMP_LINE}}; "
        "_shtab_convlab; printf '%s\\n' \"${COMPREPLY[@]}\""
    )
    proc = subprocess.run([BASH, "-c", program], cwd=folder, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


def test_commands_and_options(script):
    assert {"run", "runs", "show", "compare", "export", "rm", "note", "tag", "gc", "serve"} <= set(complete(script, ""))
    assert set(complete(script, "ru")) == {"run", "runs"}
    assert "--epochs" in complete(script, "run", "--ep")


def test_preset_names_and_run_ids(script):
    _, made = script
    assert "relu" in complete(script, "run", "re")
    assert set(complete(script, "compare", "--preset", "two")) == {"two-conv"}
    ids = {int(x) for x in complete(script, "show", "")}
    assert ids == set(made.relu + [made.two_conv] + made.members + [made.vote, made.unfinished])
    assert set(complete(script, "run", "--resume", "")) == {str(i) for i in ids}


def test_format_and_device_values(script):
    """--format and --device offer their values (#21 item 12)."""
    assert set(complete(script, "export", "--format", "")) == {"csv", "json", "md", "html", "tensorboard", "records"}
    assert set(complete(script, "export", "--format", "t")) == {"tensorboard"}
    assert set(complete(script, "run", "relu", "--device", "")) == {"auto", "cpu", "cuda", "mps"}
    assert set(complete(script, "sweep", "relu", "--device", "c")) == {"cpu", "cuda"}
