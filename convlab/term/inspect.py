"""`convlab inspect` as text and pictures, from its JSON form (so the lab,
which reads that form from a helper process and never imports torch, draws
the same thing): the input beside its saliency, every conv layer's maps after
activation and after pooling, the fully-connected layers as strips, the ten
probabilities as bars with the top three named, and a vote's members.

Pictures are half-block cells (darker = larger, as the book draws them) or,
where colour is off, a density ramp of one character per pixel and two pixel
rows per line."""

from __future__ import annotations

from typing import Any

import numpy as np

from convlab.term import render

BAR = 30  # the widest probability bar, in cells
Section = tuple[str, np.ndarray | None]  # a caption and the levels in [0, 1] drawn under it (or none)


def columns_for(side: int, width: int, count: int) -> int:
    return max(1, min(count, (width + 1) // (side + 1)))


def layer_levels(values: np.ndarray, width: int) -> np.ndarray:
    """A layer's activations as one picture: maps tiled to the width (scaled
    together, so sizes compare across maps), or units as a strip two pixels high."""
    values = np.asarray(values, dtype=np.float64)
    levels = render.normalise(values)
    if values.ndim == 3:
        return render.tile(list(levels), columns_for(values.shape[-1], width, len(values)))
    per_row = max(1, min(len(levels), width))
    rows = -(-len(levels) // per_row)
    strip = np.zeros(rows * per_row)
    strip[: len(levels)] = levels
    return strip.reshape(rows, per_row).repeat(2, axis=0)


def title(d: dict[str, Any]) -> str:
    source = d["source"]
    if "digit" in source:
        what = f"test digit #{source['digit']}, label {d['label']}"
        if d.get("stored_prediction") is not None:
            what += f", stored prediction {d['stored_prediction']}"
    elif "image" in source:
        what = f"image {source['image']}"
    else:
        what = "a drawn digit"
    kind = f"vote of runs {', '.join(map(str, d['members_runs']))}" if d.get("members") else f"run {d['run']}"
    return f"{kind} ({d['preset']}) · {what} · predicted {d['predicted']}"


def probability_lines(probabilities: list[float], predicted: int) -> list[str]:
    top = sorted(range(10), key=lambda k: -probabilities[k])[:3]
    lines = [
        f"  {k} {'█' * round(p * BAR):<{BAR}} {p * 100:6.2f}%{'  ◀' if k == predicted else ''}"
        for k, p in enumerate(probabilities)
    ]
    lines.append("  top three: " + ", ".join(f"{k} ({probabilities[k] * 100:.1f}%)" for k in top))
    return lines


def member_lines(d: dict[str, Any]) -> list[str]:
    lines = []
    for m in d.get("members") or []:
        p = m["probabilities"]
        lines.append(f"  run {m['run']}: votes {m['predicted']} ({p[m['predicted']] * 100:.1f}%)")
    return lines


def sections(d: dict[str, Any], width: int = 100, layers: bool = True) -> list[Section]:
    """The inspection as captions and pictures, in reading order."""
    image = np.asarray(d["input"], dtype=np.float64)
    saliency = render.normalise(np.asarray(d["saliency"], dtype=np.float64))
    of = f" (run {d['layers_of']})" if d.get("members") else ""
    out: list[Section] = [
        (title(d), None),
        (f"input · saliency |∂z{d['layers_predicted']}/∂x|{of}: darker = larger", render.tile([image, saliency], 2, 3)),
        ("probabilities" + (" (the members' mean)" if d.get("members") else ""), None),
        *((line, None) for line in probability_lines(d["probabilities"], d["predicted"])),
    ]
    if d.get("members"):
        out += [("members" + ("" if len(set(m["predicted"] for m in d["members"])) == 1 else ": split"), None)]
        out += [(line, None) for line in member_lines(d)]
    if layers:
        for layer in d["layers"]:
            values = np.asarray(layer["values"])
            if layer["kind"] == "fc":
                caption = f"{layer['name']}{of}: {len(values)} units"
            else:
                after = "after activation" if layer["kind"] == "conv" else "after pooling"
                caption = f"{layer['name']}{of}: {values.shape[0]} maps of {values.shape[1]}×{values.shape[2]} {after}"
            out.append((caption, layer_levels(values, width)))
    return out


def ascii_rows(levels: np.ndarray) -> list[str]:
    """Levels as a density ramp: one character per pixel, two pixel rows per line."""
    levels = np.asarray(levels, dtype=np.float64)
    if levels.shape[0] % 2:
        levels = np.vstack([levels, np.zeros((1, levels.shape[1]))])
    paired = (levels[0::2] + levels[1::2]) / 2
    idx = np.clip(np.rint(paired * (len(render.RAMP) - 1)).astype(int), 0, len(render.RAMP) - 1)
    return ["".join(render.RAMP[i] for i in row).rstrip() for row in idx]


def print_inspection(d: dict[str, Any], console, pictures: bool) -> None:
    for caption, levels in sections(d, width=max(40, console.width - 2)):
        console.print(caption, markup=False, highlight=False)
        if levels is None:
            continue
        if pictures:
            console.print(render.halfblock(levels))
        else:
            for row in ascii_rows(levels):
                console.print(row, markup=False, highlight=False)
