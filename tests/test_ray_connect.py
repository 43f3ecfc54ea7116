"""An address where no Ray cluster answers (issue 22, item 9): one line naming
the address the user gave, exit 2, within the connect timeout (--ray-timeout),
and nothing stored; Ray itself would retry it for many minutes, deaf to Ctrl-C."""

from __future__ import annotations

import socket

import pytest

from helpers import assert_user_error, toml_text

pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'nndl-convlab[ray]'")
pytestmark = pytest.mark.slow

TINY = [{"type": "conv_pool", "maps": 2}, {"type": "softmax", "n_out": 10}]
SAFETY = 120  # seconds: only so that a hang fails instead of blocking the suite


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when this returns: nothing listens there


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(toml_text(TINY, {"activation": "relu", "epochs": 1, "eta": 0.1}, name="tiny"))
    return path


@pytest.mark.parametrize(
    "address, options",
    [
        (f"127.0.0.1:{closed_port()}", ()),
        ("192.0.2.2:1", ("--ray-timeout", "1")),  # TEST-NET-1: never routed
        ("ray://192.0.2.2:10001", ("--ray-timeout", "1")),
    ],
    ids=["closed port", "TEST-NET", "Ray Client on TEST-NET"],
)
def test_an_address_that_does_not_answer_is_one_line_naming_it(run_cli, tmp_path, tiny, address, options):
    result = run_cli("run", tiny, "--train-limit", "100", "--ray", address, *options, timeout=SAFETY)
    assert_user_error(result, f"--ray {address}: no Ray cluster there")
    assert not (tmp_path / "convlab.sqlite").exists() or "no runs" in run_cli("runs").stdout


def test_the_timeout_option_is_checked(run_cli, tiny):
    for bad in ("0", "nan", "1e9"):
        assert_user_error(run_cli("run", tiny, "--ray", "127.0.0.1:1", "--ray-timeout", bad), "--ray-timeout")
