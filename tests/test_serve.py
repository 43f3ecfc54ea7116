"""`convlab serve`: the real server (textual-serve) on a free localhost port,
the page loaded in a real headless Chromium, and the lab's home screen read
back from the terminal in the page (xterm.js's own buffer): the chapter's
preset names must be there."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from browser import CHROMIUM, Chromium
from helpers import assert_user_error, cli_command, cli_env, run_convlab

pytest.importorskip("textual_serve", reason="convlab serve needs textual-serve: pip install 'nndl-convlab[serve]'")
pytest.importorskip("websockets", reason="the browser test drives Chromium with websockets (the dev extra)")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: apt-get install -y chromium")

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
                raise AssertionError(f"convlab serve did not answer at {url}") from None
            time.sleep(0.2)


class Served:
    """A running `convlab serve`: its port, the address it printed (with the token) and its stderr."""

    def __init__(self, tmp_path, host: str = "127.0.0.1"):
        self.port = free_port()
        self.proc = subprocess.Popen(
            cli_command("serve", "--host", host, "--port", str(self.port)),
            cwd=tmp_path,
            env=cli_env(tmp_path / "convlab.sqlite"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(line) for line in self.proc.stdout], daemon=True).start()
        self.url = self._printed_url()
        self.token = self.url.split("token=", 1)[1]

    def _printed_url(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if found := re.search(r"open (http://\S+/\?token=\S+)", line):
                return found.group(1)
        raise AssertionError(f"convlab serve printed no address: {self.proc.poll()}")

    def stop(self) -> str:
        """Stops the server and the labs it started (its process group); returns its stderr."""
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        return self.proc.stderr.read()


@pytest.fixture
def served(tmp_path):
    served = Served(tmp_path)
    try:
        wait_for_http(served.url, served.proc)
        yield served
    finally:
        served.stop()


@pytest.fixture
def server(served):
    return served.url


@needs_chromium
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
    assert_user_error(run_convlab("serve", "--public-url", "lab.example", cwd=tmp_path), "--public-url lab.example")


def http_status(url: str, headers: dict | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def websocket_status(url: str, origin: str | None) -> int:
    """The HTTP status a real websocket client's handshake got (101: admitted)."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    try:
        with connect(url, origin=origin, open_timeout=20) as ws:
            ws.recv(timeout=20)  # the lab's first bytes: a lab process started for this tab
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


def test_only_the_token_holder_from_the_page_origin_drives_the_lab(served, record_property):
    """A web page open in the user's browser (a foreign Origin) or a client without
    the printed token gets no lab; the printed address's page and websocket do."""
    record_property("cases", 7)
    port, token = served.port, served.token
    page = f"http://127.0.0.1:{port}"
    assert http_status(f"{page}/")[0] == 403
    assert http_status(f"{page}/?token=wrong")[0] == 403
    status, html = http_status(served.url)
    assert status == 200 and f"ws://127.0.0.1:{port}/ws/{token}" in html
    ws = f"ws://127.0.0.1:{port}/ws"
    assert websocket_status(f"{ws}/{token}?width=80&height=24", "http://evil.example") == 403
    assert websocket_status(f"{ws}?width=80&height=24", page) == 403  # no token
    assert websocket_status(f"{ws}/wrong-token?width=80&height=24", page) == 403
    assert websocket_status(f"{ws}/{token}?width=80&height=24", page) == 101


def test_a_non_local_host_warns_and_gives_an_address_browsers_reach(tmp_path):
    served = Served(tmp_path, host="0.0.0.0")
    try:
        wait_for_http(served.url.replace(socket.gethostname(), "127.0.0.1", 1), served.proc)
        # a remote browser asks for this machine by its own name: the page's websocket uses that name
        status, html = http_status(
            f"http://127.0.0.1:{served.port}/?token={served.token}", {"Host": f"labbox.example:{served.port}"}
        )
        assert status == 200 and f"ws://labbox.example:{served.port}/ws/{served.token}" in html
        assert "0.0.0.0" not in html and "0.0.0.0" not in served.url
    finally:
        stderr = served.stop()
    assert "WARNING: --host 0.0.0.0 listens beyond this machine" in stderr
