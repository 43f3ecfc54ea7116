"""Elastic distortions of Simard, Steinkraus & Platt (2003), "Best practices for
convolutional neural networks applied to visual document analysis", section 2.

For each image, two displacement fields Δx, Δy are drawn uniform in [−1, 1] at
every pixel, convolved with a Gaussian of standard deviation σ (pixels) and
multiplied by α; the new image at (x, y) is the old one at (x + Δx, y + Δy), by
bilinear interpolation, with zero outside the image.

The Gaussian is the normalised one, 1/(2πσ²)·exp(−r²/2σ²), cut where it no
longer reaches across a 28-pixel image, and the field is zero outside the image
(nothing is drawn there): so, as the paper notes, a large σ gives a field near
zero (the random values average out) and the image is left as it was.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

CHUNK = 1000  # images distorted at once: their temporaries (about 6 MB) stay in the cache


def gaussian_kernel(sigma: float, side: int, device=None) -> torch.Tensor:
    """The 1-D normalised Gaussian 1/(√(2π)σ)·exp(−k²/2σ²) for |k| up to
    min(4σ, side − 1): no wider than the image it smooths."""
    radius = max(0, min(math.ceil(4 * sigma), side - 1))
    k = torch.arange(-radius, radius + 1, dtype=torch.float64, device=device)
    return (torch.exp(-(k**2) / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma)).float()


def smoothing_matrix(sigma: float, side: int, device=None) -> torch.Tensor:
    """G (side, side) with G[i, j] = g(i − j): G @ f @ Gᵀ is f convolved with the
    2-D Gaussian (it is separable), zero outside the image; a matrix product is
    many times faster than a convolution with so wide a kernel."""
    g = gaussian_kernel(sigma, side, device)
    r = (len(g) - 1) // 2
    offsets = torch.arange(side, device=device).view(-1, 1) - torch.arange(side, device=device).view(1, -1)
    return torch.where(offsets.abs() <= r, g[(offsets + r).clamp(0, len(g) - 1)], torch.zeros((), device=device))


def displacement(n: int, side: int, alpha: float, sigma: float, gen: torch.Generator, device=None) -> torch.Tensor:
    """n fields (n, 2, side, side) of (Δx, Δy) in pixels: α·G·f·Gᵀ with f uniform in [−1, 1]."""
    return _smoothed(n, side, alpha, sigma, gen, device)


def _smoothed(n: int, side: int, scale: float, sigma: float, gen: torch.Generator, device) -> torch.Tensor:
    """scale·G·(2u − 1)·Gᵀ for u uniform in [0, 1), computed as 2·scale·G·u·Gᵀ − scale·G·1·Gᵀ
    (one pass over the random numbers fewer)."""
    u = torch.rand(n, 2, side, side, generator=gen, device=device)
    g = smoothing_matrix(sigma, side, device)
    constant = g @ torch.ones(side, side, device=device) @ g.T
    g2 = g * math.sqrt(2 * scale)
    return (g2 @ u @ g2.T).sub_(constant.mul_(scale))


def _pixel_grid(side: int, device) -> torch.Tensor:
    """(2, side, side): each pixel's x, then y."""
    ys, xs = torch.meshgrid(
        torch.arange(side, dtype=torch.float32, device=device),
        torch.arange(side, dtype=torch.float32, device=device),
        indexing="ij",
    )
    return torch.stack([xs, ys])


def warp(images: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
    """images (n, 1, side, side) sampled at (x + Δx, y + Δy), bilinearly, zero outside."""
    side = images.shape[-1]
    return _sample(images, (field + _pixel_grid(side, images.device)) * (2 / (side - 1)) - 1)


def _sample(images: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """grid (n, 2, side, side) in grid_sample's coordinates: with align_corners,
    −1 and 1 are the centres of the edge pixels."""
    return F.grid_sample(images, grid.permute(0, 2, 3, 1), mode="bilinear", padding_mode="zeros", align_corners=True)


def elastic(images: torch.Tensor, alpha: float, sigma: float, gen: torch.Generator) -> torch.Tensor:
    """A distorted copy of images (N, 1, side, side), each with its own field from
    `gen`: `warp(images, displacement(...))`, with the field drawn straight in
    grid_sample's coordinates (the same numbers, fewer passes over them).

    Why it is laid out so: the smoothing matrices are made once a call, not once
    a chunk; chunks of CHUNK images keep the temporaries in the cache; and G·u
    is a batched product with G broadcast, not copied once per field. Each
    element is computed by the same operations as `_smoothed` and `warp`
    (tests/test_options.py pins the output against the earlier code)."""
    out = torch.empty_like(images)
    side, device = images.shape[-1], images.device
    unit = 2 / (side - 1)  # one pixel in grid_sample's coordinates
    scale = alpha * unit
    base = _pixel_grid(side, device).mul_(unit).sub_(1)
    g = smoothing_matrix(sigma, side, device)
    constant = (g @ torch.ones(side, side, device=device) @ g.T).mul_(scale)
    g2 = g * math.sqrt(2 * scale)
    for i in range(0, len(images), CHUNK):
        part = images[i : i + CHUNK]
        u = torch.rand(len(part), 2, side, side, generator=gen, device=device)
        left = torch.bmm(g2.expand(2 * len(part), side, side), u.view(-1, side, side)).view_as(u)
        grid = (left @ g2.T).sub_(constant).add_(base)
        out[i : i + CHUNK] = _sample(part, grid)
    return out
