"""The run settings form: the common fields of a preset (epochs, η, λ,
activation, dropout, data, repeats, a slice of the training set; beyond the
book, momentum and the η schedule) and the
launch options (device, seed) and how many runs the lab trains at once. Launch starts the run; Save as… keeps the
changed preset as a new file. Every change is validated by convlab.config.spec."""

from __future__ import annotations

from dataclasses import replace

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from convlab.config.spec import ACTIVATIONS, DEVICES, Spec, parse_text
from convlab.errors import UserError
from convlab.term.format import count, counted, duration
from convlab.tui import preset_text
from convlab.tui.estimate import planned_seconds
from convlab.tui.plain import literal
from convlab.tui.user_files import last_settings, remember_settings
from convlab.tui.widgets.footer import KeyFooter


def crowding(workers: int) -> str:
    """A word when more runs would train at once than there are cores: each then goes slower."""
    from convlab.config.cores import available_cores

    cores = available_cores()
    if workers <= cores:
        return ""
    return f"\n  ⚠ {workers} runs at once on {counted(cores, 'core')}: they share the cores, each the slower"


def dropout_of(spec: Spec) -> float:
    return max((l.dropout for l in spec.layers if l.type != "conv_pool"), default=0.0)


class SettingsScreen(ModalScreen):
    BINDINGS = [
        Binding("ctrl+l", "launch", "Launch", tooltip="Launch with these settings (Enter in a field too)"),
        Binding("ctrl+s", "save", "Save as…", tooltip="Save these settings as a new preset"),
        Binding(
            "ctrl+r",
            "preset_values",
            "Preset's values",
            tooltip="Put back the preset's own values (the form starts with the last ones launched)",
        ),
        Binding("escape", "cancel", "Cancel", tooltip="Close without launching"),
    ]

    def __init__(self, spec: Spec):
        super().__init__()
        self.spec = spec
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        s, t = self.spec, self.spec.train
        with Vertical(classes="dialog", id="settings"):
            yield Label(literal(f"{s.name} · {s.title}", None), classes="dialog-title")
            with Grid(id="fields"):
                yield from self._field("epochs", "epochs", str(t.epochs), "integer")
                yield from self._field("η (eta)", "eta", f"{t.eta:g}", "number")
                yield from self._field("λ (lmbda)", "lmbda", f"{t.lmbda:g}", "number")
                yield Label("activation")
                yield Select(
                    [(a, a) for a in ACTIVATIONS], value=s.activation, allow_blank=False, compact=True, id="activation"
                )
                yield from self._field("dropout p", "dropout", f"{dropout_of(s):g}", "number")
                yield Label("data")
                yield Select(
                    [
                        ("plain 50k", "plain"),
                        ("expanded 250k", "expanded"),
                        ("elastic 50k", "elastic"),
                        ("expanded+elastic 250k", "expanded_elastic"),
                    ],
                    value=t.data,
                    allow_blank=False,
                    compact=True,
                    id="data",
                )
                yield from self._field("repeats", "repeats", str(t.repeats), "integer", disabled=t.ensemble > 1)
                yield from self._field(
                    "train images",
                    "train_limit",
                    str(t.train_limit or ""),
                    "integer",
                    placeholder="all (or the first N)",
                )
                yield Label("device")
                yield Select([(d, d) for d in DEVICES], value="auto", allow_blank=False, compact=True, id="device")
                yield from self._field("seed", "seed", "", "integer", placeholder="random")
                yield from self._field("runs at once", "workers", str(self.app.launcher.workers), "integer")
                # beyond the book (chapter 3), last so the book's fields keep their places
                yield from self._field("momentum μ", "momentum", f"{t.momentum:g}", "number")
                yield Label("η schedule")
                yield Select(
                    [("fixed", "fixed"), ("halve on plateau", "halve_on_plateau")],
                    value=t.eta_schedule,
                    allow_blank=False,
                    compact=True,
                    id="eta_schedule",
                )
            yield Static("", id="settings-check")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Launch (ctrl+l)", variant="primary", id="launch", compact=True)
                yield Button("Save as… (ctrl+s)", id="save", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
        yield KeyFooter(compact=True)  # this form's keys, over the home screen's

    @staticmethod
    def _field(label: str, name: str, value: str, kind: str, placeholder: str = "", disabled: bool = False):
        yield Label(label)
        yield Input(
            value, type=kind, placeholder=placeholder, compact=True, id=name, disabled=disabled, select_on_focus=True
        )

    FIELDS = (
        "epochs",
        "eta",
        "lmbda",
        "activation",
        "dropout",
        "data",
        "momentum",
        "eta_schedule",
        "repeats",
        "train_limit",
        "device",
        "seed",
    )

    def on_mount(self) -> None:
        self.preset_values = self.values()
        remembered = last_settings(self.key)
        if remembered and remembered != self.preset_values:
            self.set_values(remembered)
            self.query_one(".dialog-title", Label).update(f"{self.spec.name} · {self.spec.title} · last values used")
        self.check()

    @property
    def key(self) -> str:
        return self.spec.source or self.spec.name

    def values(self) -> dict[str, str]:
        return {name: str(self.query_one(f"#{name}").value) for name in self.FIELDS}

    def set_values(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            if name not in self.FIELDS:
                continue
            widget = self.query_one(f"#{name}")
            if isinstance(widget, Select):
                if any(value == v for _, v in widget._options):
                    widget.value = value
            elif not widget.disabled:
                widget.value = value

    def action_preset_values(self) -> None:
        self.set_values(self.preset_values)
        self.query_one(".dialog-title", Label).update(f"{self.spec.name} · {self.spec.title}")

    def on_input_changed(self) -> None:
        self.check()

    def on_select_changed(self) -> None:
        self.check()

    def on_input_submitted(self) -> None:
        self.action_launch()

    # ------------------------------------------------------------ reading the form

    def _number(self, name: str, kind: type, default=None):
        text = self.query_one(f"#{name}", Input).value.strip()
        if not text:
            if default is not None:
                return default
            raise UserError(f"{name} is empty; it needs a value")
        try:
            return kind(text)
        except ValueError:
            raise UserError(
                f"{name} is {text!r}; it must be {'a whole number' if kind is int else 'a number'}"
            ) from None

    def changed_spec(self) -> Spec:
        """The preset with the form's values, validated as if read from a file."""
        s = self.spec
        activation = self.query_one("#activation", Select).value
        dropout = self._number("dropout", float)
        layers = tuple(
            replace(
                layer,
                activation=layer.activation if layer.type == "softmax" else activation,
                dropout=layer.dropout if layer.type == "conv_pool" or dropout == dropout_of(s) else dropout,
            )
            for layer in s.layers
        )
        train = replace(
            s.train,
            epochs=self._number("epochs", int),
            eta=self._number("eta", float),
            lmbda=self._number("lmbda", float),
            data=self.query_one("#data", Select).value,
            momentum=self._number("momentum", float),
            eta_schedule=self.query_one("#eta_schedule", Select).value,
            repeats=self._number("repeats", int),
            train_limit=self._number("train_limit", int, 0),
        )
        spec = replace(s, layers=layers, train=train)
        return parse_text(preset_text.to_toml(spec), f"{s.name} settings", source=s.source)

    def launch_options(self) -> dict:
        seed = self.query_one("#seed", Input).value.strip()
        device = self.query_one("#device", Select).value
        workers = self._number("workers", int)
        if workers < 1:
            raise UserError(f"runs at once is {workers}; it must be at least 1")
        return {"seed": int(seed) if seed else None, "device": None if device == "auto" else device, "workers": workers}

    def check(self) -> Spec | None:
        panel = self.query_one("#settings-check", Static)
        try:
            spec = self.changed_spec()
            self.launch_options()
        except (UserError, ValueError) as exc:
            self.error = str(exc).replace(f"{self.spec.name} settings: ", "")
            panel.update(literal(f"✗ {self.error}", None))
            panel.add_class("-error")
            return None
        self.error = None
        panel.remove_class("-error")
        panel.update(self.summary(spec))
        return spec

    def summary(self, spec: Spec) -> str:
        """What Launch will run, and for how long going by the last run of this network."""
        t = spec.train
        runs = (
            f"{t.ensemble} networks and a vote"
            if t.ensemble > 1
            else (f"{t.repeats} runs" if t.repeats > 1 else "1 run")
        )
        options = self.launch_options()
        device, at_once = options["device"], min(options["workers"], max(t.repeats, t.ensemble))
        text = (
            f"✓ will run: {runs} × {counted(t.epochs, 'epoch')} × {count(spec.train_images)} "
            f"images · {spec.params:,} parameters"
        )
        text += crowding(options["workers"])
        planned = planned_seconds(self.app.store, spec, device, at_once)
        if planned is None:
            return (
                text + f"\n  time: not known until this network has trained an epoch{' on ' + device if device else ''}"
            )
        seconds, like = planned
        side = f", {at_once} at once" if at_once > 1 else ""
        return (
            text
            + f"\n  ≈ {duration(seconds)} on {like.device} (at the pace of run {like.id}{side}, evaluation included)"
        )

    # ------------------------------------------------------------ actions

    def on_button_pressed(self, event: Button.Pressed) -> None:
        {"launch": self.action_launch, "save": self.action_save, "cancel": self.action_cancel}[event.button.id]()

    def action_launch(self) -> None:
        spec = self.check()
        if spec is None:
            self.notify(self.error or "", title="Cannot launch", severity="error")
            return
        old, t = self.spec, spec.train
        # Epochs, repeats and a slice of the data are `convlab run` options; other
        # changes need a preset file of their own, written for this launch.
        same_core = spec.with_train(
            epochs=old.train.epochs, repeats=old.train.repeats, train_limit=old.train.train_limit
        ) == old and (t.train_limit > 0 or old.train.train_limit == 0)
        options = self.launch_options()
        self.app.launcher.workers = options.pop("workers")  # the lab's setting, for this and later launches
        remember_settings(self.key, self.values())
        if same_core:
            target = old.source or old.name
            for key, value, before in (
                ("epochs", t.epochs, old.train.epochs),
                ("repeats", t.repeats, old.train.repeats),
                ("train_limit", t.train_limit, old.train.train_limit),
            ):
                if value != before:
                    options[key] = value
        else:
            name = f"{old.name}-custom"
            text = preset_text.renamed(preset_text.to_toml(spec), name)
            target = str(self.app.launcher.temp_preset(name, text))
        self.dismiss()
        self.app.launch(target, label=old.name if same_core else f"{old.name}-custom", **options)

    def action_save(self) -> None:
        from convlab.tui.screens.dialogs import SaveAsScreen

        spec = self.check()
        if spec is None:
            self.notify(self.error or "", title="Cannot save", severity="error")
            return

        def save(name: str) -> None:
            path = preset_text.save(preset_text.to_toml(preset_text.as_users(spec, self.spec)), name)
            self.notify(f"Saved {path}", title="Preset saved")

        self.app.push_screen(SaveAsScreen(f"{self.spec.name}-mine", save))

    def action_cancel(self) -> None:
        self.dismiss()
