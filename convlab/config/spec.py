"""Presets: TOML files ⇄ a typed, validated spec with every shape inferred.

A preset names its layers and hyper-parameters; this module checks each field,
infers each layer's input and output shape from the 1×28×28 MNIST image, and
reports the first problem as one line naming the file, the field and a hint:

    my.toml: layers[2].n_in is 2880 but the layer before gives 640
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from convlab.config.paths import preset_files
from convlab.errors import UserError
from convlab.term.text import printable, shown

ACTIVATIONS = ("sigmoid", "tanh", "relu", "linear")
DEVICES = ("auto", "cpu", "cuda", "mps")  # what --device names (cuda:N too); the lab and completion offer them
LAYER_TYPES = ("conv_pool", "fc", "softmax")
DATA_KINDS = ("plain", "expanded", "elastic", "expanded_elastic")
ETA_SCHEDULES = ("fixed", "halve_on_plateau")  # fixed: η, or today's step decay (eta_decay)
POOL_GRADIENTS = ("theano", "torch")  # see convlab/book/pooling.py
# the book's training set, and it expanded five times; elastic: the same sets distorted anew every epoch
TRAIN_IMAGES = {"plain": 50_000, "expanded": 250_000, "elastic": 50_000, "expanded_elastic": 250_000}
IMAGE_SHAPE = (1, 28, 28)
MAX_LAYERS = 32
MAX_PARAMS = 100_000_000  # 400 MB of float32 weights; the book's largest net has under 2 million

# The range of every number a preset (or a `convlab run` option) may hold:
# (lowest, highest, lowest excluded). Past these a run cannot be useful or cannot fit.
RANGES: dict[str, tuple[float, float, bool]] = {
    "epochs": (1, 10_000, False),
    "eta": (0, 100, True),
    "lmbda": (0, 1_000_000, False),
    "batch_size": (1, 50_000, False),
    "repeats": (1, 1000, False),
    "ensemble": (1, 100, False),
    "train_limit": (0, 250_000, False),
    "patience": (0, 10_000, False),
    "eta_decay": (0, 10, True),
    "eta_decay_every": (0, 10_000, False),
    "schedule_patience": (1, 10_000, False),
    "eta_floor": (0, 1, True),
    "momentum": (0, 0.999, False),
    "elastic_alpha": (0, 1000, False),
    "elastic_sigma": (0, 1_000_000, True),
    "maps": (1, 1024, False),
    "filter": (1, 28, False),
    "pool": (1, 28, False),
    "n_out": (1, 100_000, False),
    "n_in": (1, 10**9, False),
    "in_maps": (1, 1024, False),
    "dropout": (0, 0.99, False),
    "book_figure": (0, 100, False),
    "anchor_figure": (0, 100, False),
    "row": (0, 1000, False),
}
OPTION_RANGES = {
    "threads": (1, 1024, False),
    "workers": (1, 1024, False),
    "seed": (0, 2**32 - 1, False),
}  # `convlab run` options


@dataclass(frozen=True)
class Layer:
    type: str
    activation: str = "sigmoid"
    maps: int = 0  # conv_pool: feature maps
    filter: int = 5  # conv_pool: square filter side
    pool: int = 2  # conv_pool: square pool side
    n_out: int = 0  # fc / softmax: neurons
    dropout: float = 0.0  # fc / softmax: probability of dropping an input unit
    in_shape: tuple[int, ...] = ()  # inferred
    out_shape: tuple[int, ...] = ()  # inferred

    @property
    def n_in(self) -> int:
        return math.prod(self.in_shape)

    @property
    def params(self) -> int:
        if self.type == "conv_pool":
            return self.maps * self.in_shape[0] * self.filter**2 + self.maps
        return self.n_in * self.n_out + self.n_out

    def describe(self) -> str:
        """One short phrase, as the book writes it: conv-pool(20), FC(100) p=0.5."""
        if self.type == "conv_pool":
            text = f"conv-pool({self.maps})"
        elif self.type == "fc":
            text = f"FC({self.n_out})"
        else:
            text = f"softmax({self.n_out})"
        return text + (f" p={self.dropout:g}" if self.dropout else "")


@dataclass(frozen=True)
class Train:
    epochs: int = 60
    eta: float = 0.1
    lmbda: float = 0.0
    batch_size: int = 10
    data: str = "plain"
    repeats: int = 1
    ensemble: int = 1
    train_limit: int = 0  # 0 = the whole training set
    pool_gradient: str = "theano"  # the book's max-pool gradient (every tied maximum); "torch": one of them
    # Beyond the book; each is off by default so presets follow the book.
    shuffle: bool = False  # reshuffle the training set every epoch
    patience: int = 0  # stop after this many epochs without a new best (0 = never)
    eta_decay: float = 1.0  # multiply η by this ...
    eta_decay_every: int = 0  # ... every this many epochs (0 = never)
    # Chapter 3's schedule: halve η after `schedule_patience` epochs without a new
    # best validation accuracy; the run ends when η would fall to eta_floor·η₀.
    eta_schedule: str = "fixed"
    schedule_patience: int = 10
    eta_floor: float = 1 / 128
    momentum: float = 0.0  # chapter 3's momentum μ: v ← μv − η∇C, w ← w + v
    elastic_alpha: float = 34.0  # data "elastic": Simard et al. 2003's scale α ...
    elastic_sigma: float = 4.0  # ... and smoothing σ (pixels), their MNIST values


@dataclass(frozen=True)
class Spec:
    name: str
    title: str
    layers: tuple[Layer, ...]
    train: Train
    description: str = ""
    book_figure: float | None = None
    book_note: str = ""
    row: int = 0  # the row of chapter 6's table, for ordering (0 = a user's own)
    source: str = ""  # the file it came from
    # a preset beyond the book: the published figure it is measured against, and whose
    anchor_figure: float | None = None
    anchor_source: str = ""

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def architecture(self) -> str:
        return ", ".join(layer.describe() for layer in self.layers)

    @property
    def members(self) -> int:
        """Runs the spec trains: its repeats, or its ensemble's members."""
        return max(self.train.repeats, self.train.ensemble)

    @property
    def train_images(self) -> int:
        """Training images per epoch: the slice, else the whole (plain or expanded) set."""
        return self.train.train_limit or TRAIN_IMAGES[self.train.data]

    @property
    def activation(self) -> str:
        """The first hidden layer's activation (what `train.activation` sets in a preset file)."""
        return next((l.activation for l in self.layers if l.type != "softmax"), "sigmoid")

    def to_dict(self) -> dict[str, Any]:
        """The full resolved config, as stored with every run."""
        return asdict(self)

    def with_train(self, **changes: Any) -> Spec:
        return replace(self, train=replace(self.train, **changes))


def spec_from_dict(d: dict[str, Any]) -> Spec:
    """Rebuild a spec stored by `Spec.to_dict` (no validation: it was valid)."""
    layers = tuple(
        Layer(**{**layer, "in_shape": tuple(layer["in_shape"]), "out_shape": tuple(layer["out_shape"])})
        for layer in d["layers"]
    )
    # runs stored before pool_gradient existed were trained with torch's rule
    train = Train(**{"pool_gradient": "torch", **d["train"]})
    rest = {k: v for k, v in d.items() if k not in ("layers", "train")}
    return Spec(layers=layers, train=train, **rest)


# ---------------------------------------------------------------- loading


def resolve(name_or_path: str) -> Path:
    """A preset name (`relu`) or a path to a TOML file of the user's."""
    path = Path(name_or_path)
    try:
        exists, is_file = path.exists(), path.is_file()
    except OSError as exc:  # a name too long for any file
        raise UserError(f"{shown(name_or_path, 60)}: no such preset or file ({exc.strerror}); check the name") from None
    if path.suffix == ".toml" or exists:
        if not is_file:
            raise UserError(f"{shown(name_or_path, 60)}: no such preset file; check the path")
        return path
    known = preset_files()
    if name_or_path in known:
        return known[name_or_path][0]
    close = difflib.get_close_matches(name_or_path, list(known), n=1)
    hint = f"did you mean '{close[0]}'?" if close else "`convlab presets` lists them"
    raise UserError(f"{shown(name_or_path, 60)}: no such preset; {hint}")


def load(name_or_path: str) -> Spec:
    path, doc = read_preset(name_or_path)
    return _Checker(path.name).spec(doc, str(path))


def read_preset(name_or_path: str) -> tuple[Path, dict[str, Any]]:
    """A preset's file and its TOML table, not yet checked (a sweep changes fields first)."""
    path = resolve(name_or_path)
    return path, read_toml(path)


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's table; a file that cannot be read, is not UTF-8, is not TOML
    or nests too deeply is one line naming it."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{path.name}: not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#04x}); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    return toml_table(text, path.name)


def toml_table(text: str, label: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(printable(f"{label}: not valid TOML: {exc}")) from None
    except RecursionError:
        raise UserError(f"{label}: not valid TOML: arrays or tables nested too deeply") from None


def chapter_order(spec: Spec) -> tuple:
    """How presets are listed: the chapter's rows first, then a user's own by size and name."""
    return (spec.row or 999, spec.params, spec.name)


def list_presets() -> list[Spec]:
    """The shipped presets and the user's (paths.preset_files), in the chapter's order;
    a file of the user's that is not a valid preset is left out (scan_presets names it)."""
    return scan_presets()[0]


def scan_presets() -> tuple[list[Spec], list[str]]:
    """The presets in the chapter's order, and a line for each file of the user's
    that is not a valid preset: one bad file never hides the others."""
    specs, broken = [], []
    for path, shipped in preset_files().values():
        try:
            specs.append(load(str(path)))
        except UserError as exc:
            if shipped:  # the install itself is damaged: say so
                raise
            broken.append(f"{path}: not listed ({exc}); fix or remove it")
    return sorted(specs, key=chapter_order), broken


def parse_text(text: str, label: str = "<text>", source: str = "") -> Spec:
    """Parse and validate TOML text; `label` names the file in error messages."""
    return _Checker(label).spec(toml_table(text, label), source)


class _Checker:
    """Field-by-field validation; the first problem becomes a UserError."""

    def __init__(self, label: str):
        self.label = label

    def fail(self, where: str, problem: str) -> None:
        raise UserError(printable(f"{self.label}: {where} {problem}"))

    def known_keys(self, table: dict, allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1)
                hint = f"did you mean '{close[0]}'?" if close else "known: " + ", ".join(sorted(allowed))
                self.fail(f"{where}{key}", f"is not a known field; {hint}")

    def number(self, table: dict, key: str, where: str, kind: type, default: Any) -> Any:
        """table[key] (or `default`), a whole number or a finite number within RANGES[key]."""
        value = table.get(key, default)
        if value is None:
            self.fail(f"{where}{key}", "is missing; it needs a value")
        try:
            return checked_number(key, value, kind)
        except ValueError as exc:
            self.fail(f"{where}{key}", str(exc))

    def choice(self, table: dict, key: str, where: str, options: tuple[str, ...], default: str) -> str:
        value = table.get(key, default)
        if value not in options:
            self.fail(f"{where}{key}", f"is {_short(value)}; choose one of {', '.join(options)}")
        return value

    def text(self, doc: dict, key: str, default: str | None = None) -> str:
        value = doc.get(key, default)
        if value is None:
            self.fail(key, "is missing; give the preset a short " + key)
        if not isinstance(value, str):
            self.fail(key, f"is {_short(value)}; it must be a string")
        return value

    def spec(self, doc: dict, source: str) -> Spec:
        top = {"name", "title", "description", "book_figure", "book_note", "row", "train", "layers"}
        self.known_keys(doc, top | {"anchor_figure", "anchor_source"}, "")
        name = self.text(doc, "name")
        title = self.text(doc, "title", name)
        book = doc.get("book_figure")
        if book is not None:
            book = self.number(doc, "book_figure", "", float, None)
        anchor = doc.get("anchor_figure")
        if anchor is not None:
            anchor = self.number(doc, "anchor_figure", "", float, None)
            if book is not None:
                self.fail("anchor_figure", "is set beside book_figure; a preset beyond the book has no book figure")
        train_table = doc.get("train", {})
        if not isinstance(train_table, dict):
            self.fail("train", "must be a table: [train]")
        train, activation = self.train(train_table)
        layers = self.layers(doc.get("layers"), activation)
        spec = Spec(
            name=name,
            title=title,
            layers=layers,
            train=train,
            description=self.text(doc, "description", ""),
            book_figure=book,
            book_note=self.text(doc, "book_note", ""),
            row=self.number(doc, "row", "", int, 0),
            source=source,
            anchor_figure=anchor,
            anchor_source=self.text(doc, "anchor_source", ""),
        )
        if spec.params > MAX_PARAMS:
            self.fail("layers", f"give the network {spec.params:,} parameters; at most {MAX_PARAMS:,} fit a run")
        return spec

    def train(self, t: dict) -> tuple[Train, str]:
        w = "train."
        self.known_keys(t, {f.name for f in fields(Train)} | {"activation"}, w)
        activation = self.choice(t, "activation", w, ACTIVATIONS, "sigmoid")
        train = Train(
            epochs=self.number(t, "epochs", w, int, 60),
            eta=self.number(t, "eta", w, float, 0.1),
            lmbda=self.number(t, "lmbda", w, float, 0.0),
            batch_size=self.number(t, "batch_size", w, int, 10),
            data=self.choice(t, "data", w, DATA_KINDS, "plain"),
            repeats=self.number(t, "repeats", w, int, 1),
            ensemble=self.number(t, "ensemble", w, int, 1),
            train_limit=self.number(t, "train_limit", w, int, 0),
            pool_gradient=self.choice(t, "pool_gradient", w, POOL_GRADIENTS, "theano"),
            shuffle=t.get("shuffle", False),
            patience=self.number(t, "patience", w, int, 0),
            eta_decay=self.number(t, "eta_decay", w, float, 1.0),
            eta_decay_every=self.number(t, "eta_decay_every", w, int, 0),
            eta_schedule=self.choice(t, "eta_schedule", w, ETA_SCHEDULES, "fixed"),
            schedule_patience=self.number(t, "schedule_patience", w, int, 10),
            eta_floor=self.number(t, "eta_floor", w, float, 1 / 128),
            momentum=self.number(t, "momentum", w, float, 0.0),
            elastic_alpha=self.number(t, "elastic_alpha", w, float, 34.0),
            elastic_sigma=self.number(t, "elastic_sigma", w, float, 4.0),
        )
        self.beyond_the_book(t, train)
        if not isinstance(train.shuffle, bool):
            self.fail("train.shuffle", f"is {_short(train.shuffle)}; it must be true or false")
        if train.train_limit and train.batch_size > train.train_limit:
            self.fail(
                "train.batch_size",
                f"is {train.batch_size}, more than the train.train_limit of "
                f"{train.train_limit} images; lower it or train on more images",
            )
        if train.repeats > 1 and train.ensemble > 1:
            self.fail(
                "train.repeats", "and train.ensemble are both above 1; an ensemble is trained once, so set repeats = 1"
            )
        return train, activation

    def beyond_the_book(self, t: dict, train: Train) -> None:
        """Options that only mean something together with another one."""
        plateau = train.eta_schedule == "halve_on_plateau"
        if plateau and train.eta_decay_every:
            self.fail(
                "train.eta_schedule",
                'is "halve_on_plateau" and train.eta_decay_every is set; choose one schedule and remove the other',
            )
        for key in ("schedule_patience", "eta_floor"):
            if key in t and not plateau:
                self.fail(
                    f"train.{key}", 'is set but train.eta_schedule is not "halve_on_plateau"; set it or remove this'
                )
        for key in ("elastic_alpha", "elastic_sigma"):
            if key in t and "elastic" not in train.data:
                self.fail(f"train.{key}", f'is set but train.data is "{train.data}"; use "elastic" or remove this')

    def layers(self, raw: Any, activation: str) -> tuple[Layer, ...]:
        if not isinstance(raw, list) or not raw:
            self.fail("layers", 'is missing; add [[layers]] tables, the last of type "softmax"')
        if len(raw) > MAX_LAYERS:
            self.fail("layers", f"has {len(raw)} tables; at most {MAX_LAYERS}")
        shape: tuple[int, ...] = IMAGE_SHAPE
        out: list[Layer] = []
        for i, table in enumerate(raw):
            layer = self.layer(
                i, table, activation, shape, last=i == len(raw) - 1, after_fc=any(l.type != "conv_pool" for l in out)
            )
            out.append(layer)
            shape = layer.out_shape
        return tuple(out)

    def layer(self, i: int, t: Any, activation: str, shape: tuple[int, ...], last: bool, after_fc: bool) -> Layer:
        w = f"layers[{i}]."
        if not isinstance(t, dict):
            self.fail(f"layers[{i}]", "must be a table: [[layers]]")
        self.known_keys(t, {"type", "activation", "maps", "filter", "pool", "n_out", "n_in", "in_maps", "dropout"}, w)
        kind = self.choice(t, "type", w, LAYER_TYPES, "")
        if last and kind != "softmax":
            self.fail(f"{w}type", f'is {kind!r}; the last layer must be "softmax"')
        if not last and kind == "softmax":
            self.fail(f"{w}type", 'is "softmax" but only the last layer may be; use "fc"')
        act = self.choice(t, "activation", w, ACTIVATIONS, activation)
        if kind == "conv_pool":
            return self.conv_pool(w, t, act, shape, after_fc)
        n_in = math.prod(shape)
        if "n_in" in t:
            given = self.number(t, "n_in", w, int, 0)
            if given != n_in:
                self.fail(f"{w}n_in", f"is {given} but the layer before gives {n_in}")
        n_out = self.number(t, "n_out", w, int, 10 if kind == "softmax" else None)
        if kind == "softmax" and n_out != 10:
            self.fail(f"{w}n_out", f"is {n_out}; MNIST has 10 classes")
        dropout = self.number(t, "dropout", w, float, 0.0)
        return Layer(
            type=kind,
            activation="softmax" if kind == "softmax" else act,
            n_out=n_out,
            dropout=dropout,
            in_shape=(n_in,),
            out_shape=(n_out,),
        )

    def conv_pool(self, w: str, t: dict, act: str, shape: tuple[int, ...], after_fc: bool) -> Layer:
        if after_fc:
            self.fail(f"{w}type", 'is "conv_pool" after a fully-connected layer; put conv-pool layers first')
        if "dropout" in t:
            self.fail(f"{w}dropout", "is set, but the book's conv-pool layers have no dropout; remove it")
        maps = self.number(t, "maps", w, int, None)
        filt = self.number(t, "filter", w, int, 5)
        pool = self.number(t, "pool", w, int, 2)
        if "in_maps" in t and self.number(t, "in_maps", w, int, 0) != shape[0]:
            self.fail(f"{w}in_maps", f"is {t['in_maps']} but the layer before gives {shape[0]}")
        conv = shape[1] - filt + 1
        if conv < 1:
            self.fail(f"{w}filter", f"is {filt}, too large for the {shape[1]}×{shape[2]} input it receives")
        if pool > conv:
            self.fail(
                f"{w}pool",
                f"is {pool}, larger than the {conv}×{conv} maps the filter of {filt} gives; "
                f"it must be from 1 to {conv}",
            )
        side = conv // pool
        return Layer(
            type="conv_pool",
            activation=act,
            maps=maps,
            filter=filt,
            pool=pool,
            in_shape=shape,
            out_shape=(maps, side, side),
        )


def checked_number(key: str, value: Any, kind: type) -> int | float:
    """`value` as a `kind` within RANGES[key], or ValueError saying what it must be."""
    low, high, low_open = RANGES.get(key) or OPTION_RANGES[key]
    span = f"from {low:,} to {high:,}" if not low_open else f"above {low:,} and at most {high:,}"
    whole = kind is int
    if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
        raise ValueError(f"is {_short(value)}; it must be {'a whole number' if whole else 'a number'} {span}")
    if not (low < value if low_open else low <= value) or not value <= high:  # NaN fails both
        raise ValueError(f"is {_short(value)}; it must be {'a whole number' if whole else 'a number'} {span}")
    return float(value) if kind is float else value


def check_option(option: str, key: str, value: int) -> int:
    """A `convlab run` option that overrides a preset's field, in that field's range."""
    try:
        return checked_number(key, value, int)
    except ValueError as exc:
        raise UserError(f"{option} {_short(value)}: {str(exc).split('; it ', 1)[1]}") from None


def schedule_changes(**options: int | None) -> dict[str, int]:
    """Command-line options that change a [train] field (`epochs`, `train_limit`,
    `repeats`; None: not given), checked: at least 1 and in the field's range."""
    changes = {}
    for key, value in options.items():
        if value is None:
            continue
        option = "--" + key.replace("_", "-")
        if value < 1:
            raise UserError(f"{option} {value}: must be at least 1")
        changes[key] = check_option(option, key, value)
    return changes


def _short(value: Any, width: int = 40) -> str:
    """A value for an error message: repr, huge numbers by size, long text cut."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**20:
        return f"{'-' if value < 0 else ''}a {len(str(abs(value))) if value.bit_length() < 10_000 else 'huge'}-digit number"
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"
