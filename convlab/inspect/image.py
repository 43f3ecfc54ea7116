"""A picture of a hand-written digit made into an MNIST digit, as MNIST was
made: grey levels as ink (inverted when the digit is dark on a light
background: MNIST's digits are light on dark), the digit's box fitted into
20×20 with its aspect kept (area averaging), then placed in 28×28 with its
centre of mass at the centre. Reading PNG and JPEG files needs Pillow (the
`image` extra); the drawing canvas's pixels go through `fit` alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convlab.errors import UserError

BOX = 20  # the digit's longer side, in pixels
SIDE = 28
INK = 0.05  # levels above this (after the background is taken away) belong to the digit


def read(path: str | Path) -> np.ndarray:
    """A PNG or JPEG file as grey levels in [0, 1] (0 = black), transparency over white."""
    from convlab.extras import require

    pil = require("PIL.Image", "image", f"--image {path}: reading an image")
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--image {path}: no such file; give a PNG or JPEG of a hand-written digit")
    try:
        with pil.open(path) as img:
            img.load()
            if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
                white = pil.new("RGBA", img.size, (255, 255, 255, 255))
                img = pil.alpha_composite(white, img.convert("RGBA"))
            grey = np.asarray(img.convert("L"), dtype=np.float64) / 255.0
    except (OSError, ValueError, SyntaxError, pil.DecompressionBombError) as exc:
        raise UserError(f"--image {path}: not an image this can read ({str(exc)[:80]}); give a PNG or JPEG") from None
    return grey


def as_ink(grey: np.ndarray) -> np.ndarray:
    """Grey levels → ink in [0, 1] with the background at 0: inverted when the
    border (the background) is lighter than mid-grey."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    ink = 1.0 - grey if border.mean() > 0.5 else grey
    background = float(np.median(1.0 - border if border.mean() > 0.5 else border))
    top = float(ink.max())
    if top - background < 1e-6:
        return np.zeros_like(ink)
    return np.clip((ink - background) / (top - background), 0.0, 1.0)


def area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of area-averaging resampling along one axis."""
    edges = np.linspace(0.0, n_in, n_out + 1)
    lo, hi = edges[:-1, None], edges[1:, None]
    pixels = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, pixels + 1) - np.maximum(lo, pixels), 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def fit(ink: np.ndarray) -> np.ndarray:
    """Ink of any size → a 28×28 MNIST digit (float32 in [0, 1]); all zeros when there is no ink."""
    rows, cols = np.nonzero(ink > INK)
    out = np.zeros((SIDE, SIDE), np.float32)
    if not len(rows):
        return out
    box = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    h, w = box.shape
    scale = BOX / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = area_matrix(h, nh) @ box @ area_matrix(w, nw).T
    small = small / max(float(small.max()), 1e-12)
    ys, xs = np.indices(small.shape)
    mass = small.sum()
    cy, cx = (ys * small).sum() / mass, (xs * small).sum() / mass
    top, left = round(SIDE / 2 - cy), round(SIDE / 2 - cx)  # the mass at pixel (14, 14), as in MNIST
    top, left = min(max(top, 0), SIDE - nh), min(max(left, 0), SIDE - nw)  # the whole digit stays inside
    out[top : top + nh, left : left + nw] = small
    return out


def from_file(path: str | Path) -> np.ndarray:
    digit = fit(as_ink(read(path)))
    if not digit.any():
        raise UserError(f"--image {path}: no digit found (the picture is one flat colour); draw a digit in it")
    return digit
