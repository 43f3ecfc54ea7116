"""Preset TOML as text: written from a spec, searched for a field's line, and
renamed when saved under a new name. The editor and the settings form use it;
parsing and validation stay in convlab.config.spec."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

from convlab.config.paths import presets_dir, shipped_presets_dir
from convlab.config.spec import Spec, Train, parse_text
from convlab.errors import UserError

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,40}$")
HEADER = re.compile(r"^\s*\[")
LAYERS_HEADER = re.compile(r"^\s*\[\[\s*layers\s*\]\]")
TRAIN_HEADER = re.compile(r"^\s*\[\s*train\s*\]")
# chapter 3's schedule and momentum, Simard's distortions: written only where set
BEYOND = ("eta_schedule", "schedule_patience", "eta_floor", "momentum", "elastic_alpha", "elastic_sigma")


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        # a TOML basic string: JSON's escapes are TOML's, but TOML also forbids a raw DEL
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    return repr(v)


def to_toml(spec: Spec) -> str:
    """The preset format of presets/*.toml, complete enough to load back the same spec."""
    lines = [f"name = {_value(spec.name)}"]
    if spec.row:
        lines.append(f"row = {spec.row}")
    lines.append(f"title = {_value(spec.title)}")
    if spec.book_figure is not None:
        lines.append(f"book_figure = {spec.book_figure}")
    if spec.anchor_figure is not None:
        lines.append(f"anchor_figure = {spec.anchor_figure}")
    if spec.anchor_source:
        lines.append(f"anchor_source = {_value(spec.anchor_source)}")
    if spec.book_note:
        lines.append(f"book_note = {_value(spec.book_note)}")
    if spec.description:
        lines.append(f"description = {_value(spec.description)}")
    activation = spec.activation
    lines += ["", "[train]", f"activation = {_value(activation)}"]
    defaults = Train()
    for key in ("epochs", "eta", "lmbda", "batch_size", "data", "repeats", "ensemble"):
        lines.append(f"{key} = {_value(getattr(spec.train, key))}")
    for key in ("train_limit", "pool_gradient", "shuffle", "patience", "eta_decay", "eta_decay_every", *BEYOND):
        if getattr(spec.train, key) != getattr(defaults, key):
            lines.append(f"{key} = {_value(getattr(spec.train, key))}")
    for layer in spec.layers:
        lines += ["", "[[layers]]", f"type = {_value(layer.type)}"]
        if layer.type == "conv_pool":
            lines.append(f"maps = {layer.maps}")
            if layer.filter != 5:
                lines.append(f"filter = {layer.filter}")
            if layer.pool != 2:
                lines.append(f"pool = {layer.pool}")
        else:
            lines.append(f"n_out = {layer.n_out}")
            if layer.dropout:
                lines.append(f"dropout = {layer.dropout:g}")
        if layer.type != "softmax" and layer.activation != activation:
            lines.append(f"activation = {_value(layer.activation)}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- errors


def split_error(message: str) -> tuple[str | None, str]:
    """'my.toml: layers[2].n_in is 2880 …' → ('layers[2].n_in', 'is 2880 …')."""
    _, _, rest = message.partition(": ")
    rest = rest or message
    match = re.match(r"^((?:layers\[\d+\]|train)(?:\.\w+)?|\w+) (.*)$", rest)
    if match and not rest.startswith("not valid TOML"):
        return match.group(1), match.group(2)
    return None, rest


def error_line(text: str, message: str) -> int | None:
    """The 0-based line of the text that a validation message is about, if it can be found."""
    toml_at = re.search(r"at line (\d+)", message)
    if toml_at:
        return int(toml_at.group(1)) - 1
    where, _ = split_error(message)
    return None if where is None else locate(text, where)


def locate(text: str, where: str) -> int | None:
    """The line of `train.eta`, `layers[2].n_in`, `layers[1]` or a top-level key."""
    lines = text.splitlines()
    match = re.match(r"^layers\[(\d+)\](?:\.(\w+))?$", where)
    if match:
        headers = [i for i, line in enumerate(lines) if LAYERS_HEADER.match(line)]
        index = int(match.group(1))
        if index >= len(headers):
            return None
        return _key_in_table(lines, headers[index], match.group(2))
    if where.startswith("train"):
        start = next((i for i, line in enumerate(lines) if TRAIN_HEADER.match(line)), None)
        if start is None:
            return None
        return _key_in_table(lines, start, where.partition(".")[2] or None)
    for i, line in enumerate(lines):
        if HEADER.match(line):
            return None
        if re.match(rf"^\s*{re.escape(where)}\s*=", line):
            return i
    return None


def _key_in_table(lines: list[str], header: int, key: str | None) -> int:
    if key:
        for i in range(header + 1, len(lines)):
            if HEADER.match(lines[i]):
                break
            if re.match(rf"^\s*{re.escape(key)}\s*=", lines[i]):
                return i
    return header


# ---------------------------------------------------------------- saving


def renamed(text: str, name: str) -> str:
    """The text with `name = "<name>"` and without `row` (a preset of the
    user's own, listed after the chapter's rows)."""
    lines = [line for line in text.splitlines() if not re.match(r"^\s*row\s*=", line)]
    for i, line in enumerate(lines):
        if HEADER.match(line):
            break
        if re.match(r"^\s*name\s*=", line):
            lines[i] = f"name = {_value(name)}"
            return "\n".join(lines) + "\n"
    return f"name = {_value(name)}\n" + "\n".join(lines) + "\n"


def as_users(spec: Spec, original: Spec) -> Spec:
    """A preset saved from the settings form: its title says what changed from
    the original, and it has no book figure (the book did not run it)."""
    changes = [
        f"{label} {new}"
        for label, new, old in (
            ("epochs", spec.train.epochs, original.train.epochs),
            ("η", f"{spec.train.eta:g}", f"{original.train.eta:g}"),
            ("λ", f"{spec.train.lmbda:g}", f"{original.train.lmbda:g}"),
            ("data", spec.train.data, original.train.data),
            ("repeats", spec.train.repeats, original.train.repeats),
            ("first", f"{spec.train.train_limit:,} images", f"{original.train.train_limit:,} images"),
            ("activation", spec.layers[0].activation, original.layers[0].activation),
        )
        if new != old
    ]
    title = f"{original.name} with {', '.join(changes)}" if changes else f"a copy of {original.name}"
    description = f"Derived from {original.name} ({original.title}); the book did not run it."
    return replace(spec, title=title, description=description, book_figure=None, book_note="", row=0)


def derived(text: str, original: Spec) -> str:
    """The editor's text saved as a new preset: what it inherited from `original`
    unchanged (title, description, book figure and note) says what it derives
    from instead, with no book figure, as the settings form's copy does. What the
    user typed there is kept."""
    spec = parse_text(text, "derived.toml")
    honest = as_users(spec, original)
    for key, value, inherited in (
        ("title", honest.title, spec.title == original.title),
        ("description", honest.description, spec.description == original.description),
        ("book_figure", None, spec.book_figure == original.book_figure),
        ("book_note", None, spec.book_note == original.book_note),
    ):
        if inherited:
            text = _with_top_key(text, key, value)
    return text


def _with_top_key(text: str, key: str, value) -> str:
    """`key = value` among the keys above the first table (None: the key removed),
    a multi-line string value included."""
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        if HEADER.match(line):
            out += lines[i:]
            break
        if re.match(rf"^\s*{key}\s*=", line):
            rest = line.split("=", 1)[1].strip()
            quote = rest[:3] if rest[:3] in ('"""', "'''") else None
            if quote and rest.count(quote) < 2:  # a multi-line string: up to its closing quotes
                while i + 1 < len(lines) and quote not in lines[i + 1]:
                    i += 1
                i += 1
            if value is not None:
                out.append(f"{key} = {_value(value)}")
                value = None
        else:
            out.append(line)
        i += 1
    if value is not None:  # not there before: after the name
        out.insert(1 if out and re.match(r"^\s*name\s*=", out[0]) else 0, f"{key} = {_value(value)}")
    return "\n".join(out) + "\n"


def save_target(name: str, own: Path | None = None) -> Path:
    """Where `name` is saved in the presets folder. A shipped preset (one of
    the chapter's rows) is never replaced; another existing file only when it
    is `own`, the file being edited, saved again under its own name."""
    if not NAME_PATTERN.match(name):
        raise UserError(f"{name!r}: a preset name is lower-case letters, digits, - and _")
    if (shipped_presets_dir() / f"{name}.toml").exists():
        raise UserError(f"{name}.toml is one of the chapter's presets; choose another name")
    path = presets_dir() / f"{name}.toml"
    if path.exists():
        if _is_shipped(path):
            raise UserError(f"{path.name} is one of the chapter's presets; choose another name")
        if own is None or path.resolve() != Path(own).resolve():
            raise UserError(f"{path.name} already exists; choose another name")
    return path


def _is_shipped(path: Path) -> bool:
    try:
        return parse_text(path.read_text(encoding="utf-8"), path.name).row > 0
    except (UserError, OSError):
        return False


def save(text: str, name: str, own: Path | None = None) -> Path:
    """Validate, rename and write; returns the file written."""
    path = save_target(name, own)
    text = renamed(text, name)
    parse_text(text, f"{name}.toml")
    path.parent.mkdir(parents=True, exist_ok=True)  # the user data folder's, on the first save
    path.write_text(text, encoding="utf-8")
    return path
