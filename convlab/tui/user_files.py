"""The run settings form's last values, per preset, kept in the user data
folder (paths.user_dir) so the next session starts from them too."""

from __future__ import annotations

import json
from pathlib import Path

from convlab.config.paths import user_dir


def _settings_file() -> Path:
    return user_dir() / "last-settings.json"


def last_settings(preset: str) -> dict[str, str]:
    """The form's values when `preset` was last launched (field id → text)."""
    try:
        return json.loads(_settings_file().read_text(encoding="utf-8")).get(preset, {})
    except (OSError, ValueError, AttributeError):
        return {}


def remember_settings(preset: str, values: dict[str, str]) -> None:
    """A folder that cannot be written costs only the memory."""
    path = _settings_file()
    try:
        known = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, ValueError):
        known = {}
    known[preset] = values
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(known, indent=1, sort_keys=True), encoding="utf-8")
    except OSError:
        pass
