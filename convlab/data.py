"""MNIST as the book uses it: the IDX files checked against their SHA-256 sums,
the 50k/10k/10k split, pixels as float32 in [0, 1], and the expanded set.

Loading reads numpy arrays (no torch), so the checks are fast and the TUI can
show digits without importing torch; `to_device` makes the tensors a run uses.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convlab.errors import UserError
from convlab.paths import data_dir
from convlab.spec import TRAIN_IMAGES

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
# How to get the shipped files back, in an installed package or a clone.
RESTORE = "reinstall convlab (pip install --force-reinstall) or, in a clone, `git checkout convlab/mnist`"
TRAIN_SIZE = TRAIN_IMAGES["plain"]  # the first 50,000 train, the last 10,000 validate
EXPAND_SEED = 12345678  # the expanded set is shuffled once, always the same way


@dataclass(frozen=True)
class Split:
    """Images (N, 28, 28) uint8 and labels (N,) uint8, as stored."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class MNIST:
    train: Split
    validation: Split
    test: Split


def _expected_sums(folder: Path) -> dict[str, str]:
    sums_file = folder / "SHA256SUMS"
    if not sums_file.is_file():
        raise UserError(f"{sums_file}: missing; {RESTORE}, "
                        "or point --data-dir / CONVLAB_DATA at a folder that has MNIST and its SHA256SUMS")
    sums = {}
    for line in sums_file.read_text().splitlines():
        if line.strip():
            digest, name = line.split()
            sums[name.lstrip("*")] = digest
    return sums


def _read_checked(folder: Path, name: str, expected: str) -> bytes:
    path = folder / name
    if not path.is_file():
        raise UserError(f"{path}: missing; {RESTORE}, or set --data-dir / CONVLAB_DATA "
                        "to a folder holding the four MNIST files")
    raw = path.read_bytes()
    if hashlib.sha256(raw).hexdigest() != expected:
        raise UserError(f"{path}: checksum does not match SHA256SUMS (truncated or altered); "
                        f"{RESTORE}")
    return raw


def _parse_idx(raw: bytes, name: str, magic: int) -> np.ndarray:
    data = gzip.decompress(raw)
    dims = magic & 0xFF
    header = np.frombuffer(data, dtype=">u4", count=1 + dims)
    if int(header[0]) != magic:
        raise UserError(f"{name}: not an IDX file of the expected kind; {RESTORE}")
    shape = tuple(int(d) for d in header[1:])
    return np.frombuffer(data, dtype=np.uint8, offset=4 * (1 + dims)).reshape(shape).copy()


def load_mnist(folder: str | os.PathLike | None = None) -> MNIST:
    """The book's split of MNIST, each file verified against SHA256SUMS."""
    folder = data_dir(folder)
    sums = _expected_sums(folder)
    arrays = {}
    for key, name in FILES.items():
        if name not in sums:
            raise UserError(f"{folder / 'SHA256SUMS'}: has no line for {name}; {RESTORE}")
        magic = 0x803 if "images" in key else 0x801
        arrays[key] = _parse_idx(_read_checked(folder, name, sums[name]), name, magic)
    ti, tl = arrays["train_images"], arrays["train_labels"]
    return MNIST(
        train=Split(ti[:TRAIN_SIZE], tl[:TRAIN_SIZE]),
        validation=Split(ti[TRAIN_SIZE:], tl[TRAIN_SIZE:]),
        test=Split(arrays["test_images"], arrays["test_labels"]),
    )


def expand(split: Split, seed: int = EXPAND_SEED) -> Split:
    """The chapter's expanded set: each image, then copies shifted one pixel
    down, up, right and left with the vacated row or column zero (the order of
    the book's expand_mnist.py), all 5N shuffled once with `seed`."""
    imgs = split.images
    n = len(imgs)
    out = np.zeros((n, 5, 28, 28), dtype=np.uint8)
    out[:, 0] = imgs
    out[:, 1, 1:, :] = imgs[:, :-1, :]  # down
    out[:, 2, :-1, :] = imgs[:, 1:, :]  # up
    out[:, 3, :, 1:] = imgs[:, :, :-1]  # right
    out[:, 4, :, :-1] = imgs[:, :, 1:]  # left
    labels = np.repeat(split.labels, 5)
    order = np.random.default_rng(seed).permutation(5 * n)
    return Split(out.reshape(5 * n, 28, 28)[order], labels[order])


def to_device(split: Split, device):
    """Float32 images in [0, 1] of shape (N, 1, 28, 28) and int64 labels, on `device`."""
    import torch

    x = torch.from_numpy(split.images).to(device).reshape(-1, 1, 28, 28).float().div_(255.0)
    y = torch.from_numpy(split.labels.astype(np.int64)).to(device)
    return x, y
