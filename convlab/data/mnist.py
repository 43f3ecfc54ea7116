"""MNIST as the book uses it: the IDX files checked against their SHA-256 sums,
the 50k/10k/10k split, pixels as float32 in [0, 1], and the expanded set.

Loading reads numpy arrays (no torch), so the checks are fast and the TUI can
show digits without importing torch; `to_device` makes the tensors a run uses.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convlab.config.paths import data_dir
from convlab.config.spec import TRAIN_IMAGES
from convlab.errors import UserError

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
# How to get the shipped files back, in an installed package or a clone.
RESTORE = "reinstall convlab (pip install --force-reinstall nndl-convlab) or, in a clone, `git checkout data/mnist`"
TRAIN_SIZE = TRAIN_IMAGES["plain"]  # the first 50,000 train, the last 10,000 validate
SUM_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *]?(\S.*)")  # as sha256sum writes it: digest, space, [*]name
EXPAND_SEED = 12345678  # the expanded set is shuffled once, always the same way
MAX_INFLATED = 128 * 2**20  # an IDX file inflated: MNIST's largest is 47 MB


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
        raise UserError(
            f"{sums_file}: missing; {RESTORE}, "
            "or point --data-dir / CONVLAB_DATA at a folder that has MNIST and its SHA256SUMS"
        )
    try:
        lines = sums_file.read_bytes().decode("ascii").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{sums_file}: cannot be read as a list of sums ({exc}); {RESTORE}") from None
    sums = {}
    for number, line in enumerate(lines, 1):
        if line.strip():
            match = SUM_LINE.fullmatch(line.strip())
            if match is None:
                raise UserError(f"{sums_file}: line {number} is not '<64 hex digits> <file name>'; {RESTORE}")
            sums[match[2]] = match[1].lower()
    return sums


def _read_checked(folder: Path, name: str, expected: str) -> bytes:
    path = folder / name
    if not path.is_file():
        raise UserError(
            f"{path}: missing; {RESTORE}, or set --data-dir / CONVLAB_DATA to a folder holding the four MNIST files"
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:  # unreadable: permissions, a disk error
        raise UserError(f"{path}: cannot be read ({exc.strerror}); check its permissions, or {RESTORE}") from None
    if hashlib.sha256(raw).hexdigest() != expected:
        raise UserError(f"{path}: checksum does not match SHA256SUMS (truncated or altered); {RESTORE}")
    return raw


def _parse_idx(raw: bytes, path: Path, magic: int, item_shape: tuple[int, ...]) -> np.ndarray:
    """An IDX array of uint8 whose items have `item_shape`, or a UserError naming
    the file and what is wrong (its sum may have been updated to match bad content)."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as inflating:
            data = inflating.read(MAX_INFLATED + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise UserError(f"{path}: not a gzip file ({exc}); {RESTORE}") from None
    except MemoryError:  # under a memory limit
        raise UserError(f"{path}: inflates beyond the memory available; {RESTORE}") from None
    if len(data) > MAX_INFLATED:  # a few kB that would inflate to gigabytes
        raise UserError(f"{path}: inflates to more than {MAX_INFLATED >> 20} MiB, far beyond MNIST; {RESTORE}")
    dims = magic & 0xFF
    if len(data) < 4 * (1 + dims) or int(np.frombuffer(data, dtype=">u4", count=1)[0]) != magic:
        raise UserError(f"{path}: not an IDX file of the expected kind; {RESTORE}")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=1 + dims)[1:])
    if shape[1:] != item_shape:
        raise UserError(f"{path}: holds items of shape {shape[1:]}, not {item_shape}; {RESTORE}")
    body = len(data) - 4 * (1 + dims)
    if body != int(np.prod(shape, dtype=np.int64)):
        raise UserError(
            f"{path}: its header promises {shape[0]:,} items but it holds {body:,} bytes of data; {RESTORE}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=4 * (1 + dims)).reshape(shape).copy()


def _check_pair(folder: Path, images: np.ndarray, labels: np.ndarray, kind: str, least: int) -> None:
    """Images and labels that belong together: as many of each, labels 0–9."""
    label_file = folder / FILES[f"{kind}_labels"]
    if len(images) != len(labels):
        raise UserError(
            f"{label_file}: {len(labels):,} labels for {len(images):,} images in {FILES[f'{kind}_images']}; {RESTORE}"
        )
    if len(labels) < least:
        raise UserError(
            f"{label_file}: {len(labels):,} {kind} digits; the book's split needs at least {least:,}; {RESTORE}"
        )
    if len(labels) and int(labels.max()) > 9:
        bad = int(np.flatnonzero(labels > 9)[0])
        raise UserError(f"{label_file}: label {int(labels[bad])} at index {bad}; digits are 0–9; {RESTORE}")


def load_mnist(folder: str | os.PathLike | None = None) -> MNIST:
    """The book's split of MNIST, each file verified against SHA256SUMS."""
    folder = data_dir(folder)
    sums = _expected_sums(folder)
    arrays = {}
    for key, name in FILES.items():
        if name not in sums:
            raise UserError(f"{folder / 'SHA256SUMS'}: has no line for {name}; {RESTORE}")
        magic, item = (0x803, (28, 28)) if "images" in key else (0x801, ())
        arrays[key] = _parse_idx(_read_checked(folder, name, sums[name]), folder / name, magic, item)
    ti, tl = arrays["train_images"], arrays["train_labels"]
    _check_pair(folder, ti, tl, "train", TRAIN_SIZE + 1)
    _check_pair(folder, arrays["test_images"], arrays["test_labels"], "test", 1)
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
