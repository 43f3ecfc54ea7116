"""The lab's window into a trained network, without torch in its process: one
`convlab inspect --helper` process per lab, started on first use and asked in
JSON lines (convlab/inspect/session.py), and the answers drawn as the CLI
draws them (convlab/term/inspect.py). It ends when the lab closes its pipe."""

from __future__ import annotations

import atexit
import json
import subprocess
import sys
import threading
from typing import Any

from rich.console import Group
from rich.text import Text

from convlab.term import render
from convlab.term.inspect import sections


class InspectHelper:
    def __init__(self, store_path: str, python: str = sys.executable):
        self.store_path, self.python = store_path, python
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def _start(self) -> None:
        self._proc = subprocess.Popen(
            [self.python, "-m", "convlab", "inspect", "--helper", "--store", self.store_path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._proc.stdout.readline()  # {"ready": true}, once torch is in

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """The helper's answer (blocking: call it from a thread worker)."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            try:
                self._proc.stdin.write(json.dumps(request) + "\n")
                self._proc.stdin.flush()
                line = self._proc.stdout.readline()
            except (BrokenPipeError, OSError):
                line = ""
            if not line:
                tail = (
                    (self._proc.stderr.read() or "").strip().splitlines()[-1:] if self._proc.poll() is not None else []
                )
                self._proc = None
                return {"error": "the inspect helper ended" + (f": {tail[0]}" if tail else "")}
            return json.loads(line)

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.stdin.close()  # the helper ends at the end of its input
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


def helper(app) -> InspectHelper:
    """The app's one helper."""
    found = getattr(app, "_inspect_helper", None)
    if found is None:
        found = app._inspect_helper = InspectHelper(app.store_path)
        atexit.register(found.close)
    return found


def renderable(answer: dict[str, Any], width: int, panel: str = "all") -> Group:
    """An answer as captions and half-block pictures: the "digit" panel (input,
    saliency, probabilities, a vote's members), the "verdict" (the same without
    pictures), the "layers" panel, or "all"."""
    every = sections(answer, width=max(30, width - 2))
    digit = len(sections(answer, layers=False))
    verdict = [(caption, None) for caption, levels in every[:digit] if levels is None]
    chosen = {"digit": every[:digit], "verdict": verdict, "layers": every[digit:]}.get(panel, every)
    parts = []
    for caption, levels in chosen:
        parts.append(Text(caption, style="dim" if levels is not None else ""))
        if levels is not None:
            parts.append(render.halfblock(levels))
    return Group(*parts)
