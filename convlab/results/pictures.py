"""Pictures written to files, with numpy, zlib and struct only (no plotting
library): grey images of filters and digits (for PNG and TensorBoard), a PNG
encoder (a few chunks around zlib-compressed scanlines) and overlaid curves as
a standalone SVG. Shading follows the book: darker means larger."""

from __future__ import annotations

import base64
import html
import struct
import zlib
from typing import TYPE_CHECKING

import numpy as np

from convlab.term.render import digit_levels, filter_levels, tile

if TYPE_CHECKING:
    from convlab.results.curves import Band, Points

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


# ---------------------------------------------------------------- grey images


def levels_to_grey(levels: np.ndarray) -> np.ndarray:
    """Levels in [0, 1] → grey, darker for larger, as the book draws filters and digits."""
    return np.round(255 * (1.0 - np.asarray(levels, dtype=np.float64))).astype(np.uint8)


def filters_grey(filters: np.ndarray) -> np.ndarray:
    """The first layer's filters tiled 10 to a row, grey, darker = larger weight."""
    filters = np.asarray(filters).reshape(-1, *np.shape(filters)[-2:])  # (maps, k, k), also from (maps, 1, k, k)
    return levels_to_grey(tile(list(filter_levels(filters)), columns=10))


def digits_grey(images: list[np.ndarray], columns: int = 10) -> np.ndarray:
    """Digits tiled `columns` to a row, dark ink on white as the book prints them."""
    return levels_to_grey(tile([digit_levels(i) for i in images], columns=columns, gap=2))


# ---------------------------------------------------------------- PNG


def png(grey: np.ndarray, scale: int = 1) -> bytes:
    """An 8-bit greyscale PNG of a 2-D uint8 array, each pixel `scale`× wide and high."""
    img = np.ascontiguousarray(np.asarray(grey, dtype=np.uint8).repeat(scale, 0).repeat(scale, 1))
    h, w = img.shape
    raw = b"".join(b"\x00" + img[r].tobytes() for r in range(h))  # filter type 0 on each scanline

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)  # bit depth 8, colour type 0 (grey)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def filters_png(filters: np.ndarray) -> bytes:
    return png(filters_grey(filters), scale=6)


def digit_png(image: np.ndarray) -> bytes:
    return png(255 - np.asarray(image, dtype=np.uint8), scale=2)


def levels_png(levels: np.ndarray, scale: int) -> bytes:
    """Levels in [0, 1] as a PNG, darker = larger."""
    return png(levels_to_grey(np.clip(levels, 0.0, 1.0)), scale=scale)


def saliency_png(saliency: np.ndarray) -> bytes:
    """|∂score/∂pixel| of a 28×28 digit, scaled to its largest: darker = that pixel mattered more."""
    saliency = np.asarray(saliency, dtype=np.float64)
    return levels_png(saliency / max(float(saliency.max()), 1e-12), scale=2)


def maps_png(maps: np.ndarray, columns: int = 10) -> bytes:
    """A layer's feature maps (maps, h, w), tiled, scaled together: darker = larger activation."""
    maps = np.asarray(maps, dtype=np.float64)
    low, high = float(maps.min()), float(maps.max())
    levels = (maps - low) / max(high - low, 1e-12)
    return levels_png(tile(list(levels), columns=columns), scale=2)


def data_uri(data: bytes | str, mime: str) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"


# ---------------------------------------------------------------- SVG curves


def _nice_step(span: float, ticks: int = 6) -> float:
    raw = max(span, 1e-9) / ticks
    magnitude = 10 ** np.floor(np.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * magnitude >= raw:
            return float(m * magnitude)
    return float(10 * magnitude)


def svg_curves(
    series: list[tuple[str, Points]],
    title: str = "validation accuracy (%)",
    width: int = 760,
    height: int = 360,
    bands: dict[int, Band] | None = None,
    books: list[tuple[str, float]] | None = None,
    min_pad: float = 0.05,
) -> str:
    """Overlaid line plots (epoch → accuracy) as a standalone SVG document;
    `bands[i]` shades a range behind series i (mean ± sd), each of `books` is a
    dashed line at that figure; `min_pad`: the least room above and below the
    data (accuracy points; a learning rate needs far less)."""
    esc = html.escape
    bands, books = bands or {}, books or []
    points = [p for _, pts in series for p in pts]
    left, right, top = 56, 16, 34
    legend_h = 18 * (len(series) + len(books)) + 10
    pw, ph = width - left - right, height - top - 40
    total_h = height + legend_h
    x_max = max((x for x, _ in points), default=1)
    x_lo, x_hi = (0.5, 1.5) if x_max <= 1 else (1, x_max)
    ys = [y for _, y in points] + [v for band in bands.values() for _, lo, hi in band for v in (lo, hi)]
    ys = (ys or [0.0, 100.0]) + [v for _, v in books]
    y_lo, y_hi = min(ys), max(ys)
    pad = max((y_hi - y_lo) * 0.08, min_pad)
    y_lo, y_hi = max(0.0, y_lo - pad), min(100.0, y_hi + pad)
    if y_hi - y_lo < 1e-9:
        y_lo, y_hi = y_lo - 1, y_hi + 1

    def sx(x: float) -> float:  # 10 px inside the frame, so end points clear it
        return left + 10 + (x - x_lo) / (x_hi - x_lo) * (pw - 20)

    def sy(y: float) -> float:
        return top + (1 - (y - y_lo) / (y_hi - y_lo)) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total_h}" '
        f'viewBox="0 0 {width} {total_h}" font-family="sans-serif" font-size="12">',
        f'<rect x="0" y="0" width="{width}" height="{total_h}" fill="white"/>',
        f'<text x="{width / 2:.0f}" y="20" text-anchor="middle" font-size="14">{esc(title)}</text>',
    ]
    step = _nice_step(y_hi - y_lo)
    for tick in _ticks(y_lo, y_hi, step):
        y = sy(tick)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:.{_decimals(step)}f}</text>')
    x_step = max(1, int(_nice_step(x_hi - x_lo, 8)))
    for x in range(int(np.ceil(x_lo)), int(x_hi) + 1, x_step):
        out.append(f'<text x="{sx(x):.1f}" y="{top + ph + 16}" text-anchor="middle">{x}</text>')
    out.append(f'<text x="{left + pw / 2:.0f}" y="{top + ph + 32}" text-anchor="middle">epoch</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    for i, band in sorted(bands.items()):
        outline = [(sx(x), sy(hi)) for x, _, hi in band] + [(sx(x), sy(lo)) for x, lo, _ in reversed(band)]
        out.append(
            f'<polygon class="band" points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in outline)}" '
            f'fill="{PALETTE[i % len(PALETTE)]}" fill-opacity="0.15" stroke="none"/>'
        )
    for label, value in books:
        out.append(
            f'<line class="book" x1="{left}" y1="{sy(value):.1f}" x2="{left + pw}" y2="{sy(value):.1f}" '
            f'stroke="#444" stroke-dasharray="2 3"/>'
        )
        out.append(
            f'<text x="{left + pw - 4}" y="{sy(value) - 4:.1f}" text-anchor="end" fill="#444">'
            f"{esc(label)} {value:.2f}</text>"
        )
    for i, (label, pts) in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        # past the palette's ten colours: dashed lines and hollow dots
        dash = ' stroke-dasharray="6 3"' if i >= len(PALETTE) else ""
        fill = "white" if dash else colour
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        if len(pts) > 1:
            out.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        if len(pts) <= 30:
            out += [
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{fill}" stroke="{colour}"/>' for x, y in pts
            ]
        ly = top + ph + 52 + 18 * i
        out.append(
            f'<line x1="{left}" y1="{ly - 4}" x2="{left + 24}" y2="{ly - 4}" stroke="{colour}" stroke-width="3"{dash}/>'
        )
        shaded = " · shaded: mean ± sd of its runs" if i in bands else ""
        out.append(f'<text x="{left + 32}" y="{ly}">{esc(label + shaded)}</text>')
    for j, (label, value) in enumerate(books):
        ly = top + ph + 52 + 18 * (len(series) + j)
        out.append(
            f'<line x1="{left}" y1="{ly - 4}" x2="{left + 24}" y2="{ly - 4}" stroke="#444" stroke-dasharray="2 3"/>'
        )
        out.append(f'<text x="{left + 32}" y="{ly}">{esc(label)}: {value:.2f}%</text>')
    out.append("</svg>")
    return "\n".join(out)


def _ticks(low: float, high: float, step: float) -> list[float]:
    """Multiples of `step` from low to high, computed (not summed) so they stay exact."""
    first, last = int(np.ceil(low / step - 1e-9)), int(np.floor(high / step + 1e-9))
    return [round(k * step, 10) for k in range(first, last + 1)]


def _decimals(step: float) -> int:
    """Enough decimals to tell the ticks apart: 2.5 → 1, 0.25 → 2, 5 → 0."""
    return next((d for d in range(7) if abs(step * 10**d - round(step * 10**d)) < 1e-9), 6)
