"""`convlab serve`: the real server (textual-serve) on a free localhost port,
the page loaded in a real headless Chromium, and the lab's home screen read
back from the terminal in the page (xterm.js's own buffer): the chapter's
preset names must be there."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from browser import CHROMIUM, Chromium
from helpers import assert_user_error, cli_command, cli_env, run_convlab

pytest.importorskip("textual_serve", reason="convlab serve needs textual-serve: pip install 'nndl-convlab[serve]'")
pytest.importorskip("websockets", reason="the browser test drives Chromium with websockets (the dev extra)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: apt-get install -y chromium")

# Keeps the page's xterm.js Terminal (the page holds it only in a closure):
# the first object given a `terminal` property hands it over.
CATCH_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {configurable: true, set(value) {
  Object.defineProperty(this, "terminal", {value, writable: true, configurable: true, enumerable: true});
  if (value && value.buffer) { window.__terminal = value; }
}});
"""
SCREEN_TEXT = """(() => {
  const t = window.__terminal; if (!t) { return ""; }
  const b = t.buffer.active, lines = [];
  for (let i = 0; i < b.length; i++) { const line = b.getLine(i); if (line) lines.push(line.translateToString(true)); }
  return lines.join("\\n");
})()"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                assert answer.status == 200
                return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"convlab serve did not answer at {url}: {server.stdout.read()}") from None
            time.sleep(0.2)


@pytest.fixture
def server(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        cli_command("serve", "--host", "127.0.0.1", "--port", str(port)),
        cwd=tmp_path,
        env=cli_env(tmp_path / "convlab.sqlite"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for_http(url, proc)
        yield url
    finally:  # the server and the lab it started for the tab: its whole process group
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_the_lab_in_headless_chromium_shows_the_presets(server, tmp_path):
    with Chromium(tmp_path) as browser:
        browser.open(server, before=CATCH_TERMINAL)
        wanted = ("shallow", "one-conv", "two-conv", "relu", "expanded")
        deadline, text = time.monotonic() + 120, ""
        while not all(name in text for name in wanted):
            if time.monotonic() > deadline:
                raise AssertionError(f"the presets did not appear in the browser's terminal:\n{text}")
            time.sleep(0.5)
            text = browser.evaluate(SCREEN_TEXT) or ""
        assert "convlab" in text and "Presets" in text


def test_serve_errors_are_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_convlab("serve", "--host", "127.0.0.1", "--port", str(port), cwd=tmp_path, timeout=60)
    assert_user_error(result, f"cannot listen on 127.0.0.1:{port}")
    assert_user_error(run_convlab("serve", "--port", "70000", cwd=tmp_path), "--port 70000")
