"""A preset's architecture: each layer with its output shape and parameter
count, then its hyper-parameters, as the home screen shows the selected preset."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from convlab.config.spec import IMAGE_SHAPE, Spec
from convlab.term.format import counted, data_label, shape
from convlab.term.text import shown


def layers_table(spec: Spec, shapes: bool = True) -> Table:
    """Each layer, its output shape (unless `shapes` is False, where the width is short) and parameters."""
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    table.add_column("layer", no_wrap=True)
    if shapes:
        table.add_column("out", justify="right", no_wrap=True)
    table.add_column("params", justify="right", no_wrap=True)

    def row(name, out, params, **style):
        table.add_row(name, *([out] if shapes else []), params, **style)

    row("input", shape(IMAGE_SHAPE), "", style="dim")
    for layer in spec.layers:
        name = layer.describe()
        if layer.type == "conv_pool" and (layer.filter, layer.pool) != (5, 2):  # the book's 5×5, pooled 2×2
            name += f" {layer.filter}×{layer.filter}/{layer.pool}"
        row(name, shape(layer.out_shape), f"{layer.params:,}")
    row(Text("total", style="bold"), "", Text(f"{spec.params:,}", style="bold"))
    return table


def hyper_parameters(spec: Spec) -> Text:
    t = spec.train
    activation = spec.activation if len(spec.layers) > 1 else "—"  # softmax alone: no hidden activation
    parts = [
        activation,
        counted(t.epochs, "epoch"),
        f"η {t.eta:g}",
        f"λ {t.lmbda:g}",
        f"batch {t.batch_size}",
        data_label(t.data, t.train_limit),
    ]
    if t.ensemble > 1:
        parts.append(f"ensemble of {t.ensemble}")
    elif t.repeats > 1:
        parts.append(f"{t.repeats} repeats")
    if t.shuffle:
        parts.append("reshuffled")
    if t.patience:
        parts.append(f"patience {t.patience}")
    if t.eta_decay_every:
        parts.append(f"η×{t.eta_decay:g}/{t.eta_decay_every} epochs")
    return Text(" · ".join(parts))


class PresetDetails(Static):
    """The selected preset, or a hint when there is none."""

    def show(self, spec: Spec | None) -> None:
        if spec is None:
            self.update("No preset selected.")
            return
        book = f" · book {spec.book_figure:.2f}%" if spec.book_figure is not None else " · no book figure"
        name = Text.assemble((shown(spec.name), "bold"), book)
        parts = [name, Text(shown(spec.title), style="italic"), layers_table(spec), hyper_parameters(spec)]
        if spec.description:
            parts.append(Text(shown(spec.description), style="dim"))
        self.update(Group(*parts))
