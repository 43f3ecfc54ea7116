"""The lab's own files in the user's config folder ($XDG_CONFIG_HOME/convlab,
~/.config/convlab by default; CONVLAB_CONFIG overrides): the presets saved
from the lab (never in the shipped presets folder) and the last values of
the run settings form."""

from __future__ import annotations

import json
import os
from pathlib import Path


def config_dir() -> Path:
    if os.environ.get("CONVLAB_CONFIG"):
        return Path(os.environ["CONVLAB_CONFIG"])
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "convlab"


def user_presets_dir() -> Path:
    return config_dir() / "presets"


def _settings_file() -> Path:
    return config_dir() / "last-settings.json"


def last_settings(preset: str) -> dict[str, str]:
    """The form's values when `preset` was last launched (field id → text)."""
    try:
        return json.loads(_settings_file().read_text(encoding="utf-8")).get(preset, {})
    except (OSError, ValueError, AttributeError):
        return {}


def remember_settings(preset: str, values: dict[str, str]) -> None:
    """Kept for the next session too; a config folder that cannot be written costs only the memory."""
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
