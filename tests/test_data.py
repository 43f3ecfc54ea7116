"""MNIST as the book uses it: verified files, the 50k/10k/10k split, and the
expanded training set (each image plus four one-pixel shifts, zero filled)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from convlab.config import paths
from convlab.data.mnist import FILES, Split, expand, load_mnist, to_device
from convlab.errors import UserError
from convlab.store import Store

from helpers import DATA, assert_user_error

# ---------------------------------------------------------------- checksums


def test_truncated_file_is_named(mnist_copy):
    path = mnist_copy / FILES["train_images"]
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(UserError, match="checksum does not match") as info:
        load_mnist(mnist_copy)
    assert str(path) in str(info.value)


def test_altered_byte_is_named(mnist_copy):
    path = mnist_copy / FILES["test_labels"]
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(UserError) as info:
        load_mnist(mnist_copy)
    message = str(info.value)
    assert str(path) in message and "checksum" in message
    # the other three files are fine, so it is this one that is named
    for key, name in FILES.items():
        if key != "test_labels":
            assert name not in message


def test_deleted_file_is_named(mnist_copy):
    path = mnist_copy / FILES["train_labels"]
    path.unlink()
    with pytest.raises(UserError, match="missing") as info:
        load_mnist(mnist_copy)
    assert str(path) in str(info.value)


def test_missing_sums_file_is_named(mnist_copy):
    (mnist_copy / "SHA256SUMS").unlink()
    with pytest.raises(UserError, match="SHA256SUMS: missing"):
        load_mnist(mnist_copy)


def test_data_dir_from_environment(monkeypatch, mnist_copy):
    """CONVLAB_DATA is honoured when no folder is given, and checked like any other."""
    (mnist_copy / FILES["test_images"]).write_bytes(b"not mnist")
    monkeypatch.setenv("CONVLAB_DATA", str(mnist_copy))
    assert paths.data_dir() == mnist_copy
    with pytest.raises(UserError, match=FILES["test_images"]):
        load_mnist()


def test_cli_reports_a_corrupt_file_in_one_line(run_cli, mnist_copy):
    path = mnist_copy / FILES["train_images"]
    path.write_bytes(path.read_bytes()[:1000])
    result = run_cli("run", "relu", "--train-limit", "100", "--epochs", "1", "--repeats", "1", "--data-dir", mnist_copy)
    assert_user_error(result, str(path), "checksum")


def test_cli_reports_a_missing_data_folder(run_cli, tmp_path):
    result = run_cli("run", "relu", "--train-limit", "100", "--epochs", "1", "--data-dir", tmp_path / "BAD")
    assert_user_error(result, str(tmp_path / "BAD" / "SHA256SUMS"), "missing")
    if (tmp_path / "convlab.sqlite").exists():
        with Store(tmp_path / "convlab.sqlite") as store:
            assert store.runs() == []  # nothing half-made is left behind


# ---------------------------------------------------------------- the split


def test_split_sizes_and_types(mnist):
    assert (len(mnist.train), len(mnist.validation), len(mnist.test)) == (50_000, 10_000, 10_000)
    for split in (mnist.train, mnist.validation, mnist.test):
        assert split.images.shape == (len(split), 28, 28) and split.images.dtype == np.uint8
        assert split.labels.dtype == np.uint8 and set(np.unique(split.labels)) == set(range(10))
        assert split.images.max() == 255 and split.images.min() == 0


def test_split_is_the_books(mnist):
    """Training = the first 50,000 images of the training file, validation its
    last 10,000, test the t10k file (read here independently of convlab)."""

    def idx(name, header):
        return np.frombuffer(gzip.decompress((DATA / name).read_bytes()), np.uint8, offset=header)

    images = idx(FILES["train_images"], 16).reshape(60_000, 28, 28)
    labels = idx(FILES["train_labels"], 8)
    assert np.array_equal(mnist.train.images, images[:50_000]) and np.array_equal(mnist.train.labels, labels[:50_000])
    assert np.array_equal(mnist.validation.images, images[50_000:])
    assert np.array_equal(mnist.validation.labels, labels[50_000:])
    assert np.array_equal(mnist.test.labels, idx(FILES["test_labels"], 8))
    assert mnist.train.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]  # MNIST's well-known start
    assert int(mnist.test.labels[0]) == 7


def test_to_device_gives_float32_in_unit_range(mnist):
    import torch

    x, y = to_device(Split(mnist.test.images[:500], mnist.test.labels[:500]), torch.device("cpu"))
    assert x.shape == (500, 1, 28, 28) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and y.tolist() == mnist.test.labels[:500].tolist()
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    np.testing.assert_allclose(x[3, 0].numpy(), mnist.test.images[3] / 255.0, rtol=0, atol=1e-7)


# ---------------------------------------------------------------- expansion


def _shifts(image: np.ndarray) -> list[np.ndarray]:
    """The original and the four one-pixel shifts with the vacated row/column zero."""
    down = np.roll(image, 1, axis=0)
    down[0, :] = 0
    up = np.roll(image, -1, axis=0)
    up[-1, :] = 0
    right = np.roll(image, 1, axis=1)
    right[:, 0] = 0
    left = np.roll(image, -1, axis=1)
    left[:, -1] = 0
    return [image, down, up, right, left]


def _tiny_split() -> Split:
    rng = np.random.default_rng(0)
    # random pixels everywhere (borders included) so a wrong fill or wrap shows
    images = rng.integers(1, 256, size=(3, 28, 28), dtype=np.uint8)
    return Split(images, np.array([3, 7, 1], dtype=np.uint8))


def test_expand_each_copy_is_an_exact_shift():
    split = _tiny_split()
    out = expand(split, seed=42)
    assert len(out) == 15 and out.images.shape == (15, 28, 28) and out.images.dtype == np.uint8
    used = set()
    for image, label in zip(split.images, split.labels):
        for variant in _shifts(image):
            hits = [i for i in range(15) if np.array_equal(out.images[i], variant)]
            assert len(hits) == 1, "each shifted copy appears exactly once"
            assert out.labels[hits[0]] == label
            used.add(hits[0])
    assert used == set(range(15))  # nothing else is in the expanded set
    # the vacated row/column is zero: 28 zeros in each shifted copy, none in an original
    zeros = sorted(int((im == 0).sum()) for im in out.images)
    assert zeros == [0] * 3 + [28] * 12


def test_expand_is_shuffled_once_and_deterministically():
    split = _tiny_split()
    a, b = expand(split), expand(split)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert expand(split, seed=1).labels.tolist() == expand(split, seed=1).labels.tolist()
    unshuffled = np.stack([v for im in split.images for v in _shifts(im)])
    assert not np.array_equal(a.images, unshuffled)
    orders = {tuple(expand(split, seed=s).labels.tolist()) for s in range(5)}
    assert len(orders) > 1  # the seed decides the order


@pytest.fixture(scope="module")
def expanded(mnist):
    """The full expansion, made once (its time is a benchmark: bench/bench_expand.py)."""
    return expand(mnist.train)


def test_expand_full_training_set(mnist, expanded):
    out = expanded
    assert len(out) == 250_000 == 5 * len(mnist.train)
    assert np.array_equal(np.bincount(out.labels, minlength=10), 5 * np.bincount(mnist.train.labels, minlength=10))
    assert not np.array_equal(out.labels[:1000], np.repeat(mnist.train.labels[:200], 5))
    # a sample of originals: each of its five versions is in the set, with its label
    index = {row.tobytes(): i for i, row in enumerate(out.images.reshape(len(out), -1))}
    for k in range(0, 50_000, 2_500):
        for variant in _shifts(mnist.train.images[k]):
            i = index.get(variant.tobytes())
            assert i is not None, f"a shift of training image {k} is missing"
            assert out.labels[i] == mnist.train.labels[k]


def test_prepare_uses_expanded_data_and_train_limit(mnist, expanded):
    import torch

    from convlab.book.trainer import prepare
    from convlab.config import spec as specs

    spec = specs.load("expanded").with_train(train_limit=30)
    t = prepare(spec, mnist, torch.device("cpu"))
    expected = expanded
    assert len(t.train_y) == 30
    assert t.train_y.tolist() == expected.labels[:30].tolist()
    assert np.array_equal((t.train_x[:, 0] * 255).round().to(torch.uint8).numpy(), expected.images[:30])
    assert len(t.val_y) == 10_000 and len(t.test_y) == 10_000

    with pytest.raises(UserError, match="fewer images than one mini-batch"):
        prepare(specs.load("relu").with_train(train_limit=5), mnist, torch.device("cpu"))


def test_shipped_data_folder_is_the_default(monkeypatch):
    monkeypatch.delenv("CONVLAB_DATA", raising=False)
    assert paths.data_dir() == DATA


# ---------------------------------------------------------------- content behind a matching sum


def _replace(folder, key: str, header: bytes, body: bytes, raw: bytes | None = None) -> None:
    """Write FILES[key] with new content (gzipped header + body, or `raw`) and
    update SHA256SUMS to match it."""
    import hashlib

    path = folder / FILES[key]
    path.write_bytes(gzip.compress(header + body) if raw is None else raw)
    sums = (folder / "SHA256SUMS").read_text().splitlines()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (folder / "SHA256SUMS").write_text(
        "\n".join(f"{digest}  {path.name}" if line.endswith(path.name) else line for line in sums) + "\n"
    )


def _labels(mnist_copy, kind: str) -> np.ndarray:
    raw = gzip.decompress((mnist_copy / FILES[f"{kind}_labels"]).read_bytes())
    return np.frombuffer(raw, np.uint8, offset=8).copy()


def _label_header(n: int) -> bytes:
    return np.array([0x801, n], ">u4").tobytes()


@pytest.mark.parametrize("line", ["not a sum line", "1a1a05  t10k-images-idx3-ubyte.gz", "   ", "x" * 64])
def test_malformed_sums_line_is_named(mnist_copy, line):
    sums = mnist_copy / "SHA256SUMS"
    sums.write_text(line + "\n" + sums.read_text())
    if not line.strip():
        load_mnist(mnist_copy)  # a blank line is harmless
        return
    with pytest.raises(UserError, match=r"SHA256SUMS: line 1 is not '<64 hex digits> <file name>'"):
        load_mnist(mnist_copy)


def test_label_out_of_range_is_named(mnist_copy):
    labels = _labels(mnist_copy, "test")
    labels[17] = 200
    _replace(mnist_copy, "test_labels", _label_header(len(labels)), labels.tobytes())
    with pytest.raises(UserError, match=r"t10k-labels-idx1-ubyte.gz: label 200 at index 17; digits are 0–9"):
        load_mnist(mnist_copy)


def test_fewer_labels_than_images_is_named(mnist_copy):
    labels = _labels(mnist_copy, "train")[:-5]
    _replace(mnist_copy, "train_labels", _label_header(len(labels)), labels.tobytes())
    with pytest.raises(UserError, match=r"train-labels-idx1-ubyte.gz: 59,995 labels for 60,000 images"):
        load_mnist(mnist_copy)


def test_header_that_promises_more_than_the_file_holds(mnist_copy):
    labels = _labels(mnist_copy, "test")
    _replace(mnist_copy, "test_labels", _label_header(len(labels) + 3), labels.tobytes())
    with pytest.raises(UserError, match=r"header promises 10,003 items but it holds 10,000 bytes"):
        load_mnist(mnist_copy)


def test_images_of_the_wrong_shape(mnist_copy):
    _replace(mnist_copy, "test_images", np.array([0x803, 10, 27, 29], ">u4").tobytes(), bytes(10 * 27 * 29))
    with pytest.raises(UserError, match=r"t10k-images-idx3-ubyte.gz: holds items of shape \(27, 29\), not \(28, 28\)"):
        load_mnist(mnist_copy)


def test_not_gzip_behind_a_matching_sum(mnist_copy):
    _replace(mnist_copy, "test_labels", b"", b"", raw=b"plain bytes, not gzip")
    with pytest.raises(UserError, match="t10k-labels-idx1-ubyte.gz: not a gzip file"):
        load_mnist(mnist_copy)


def test_bad_data_creates_no_run(mnist_copy, run_cli, tmp_path):
    """The data are checked in full before the store gets a group or a run."""
    labels = _labels(mnist_copy, "test")
    labels[0] = 10
    _replace(mnist_copy, "test_labels", _label_header(len(labels)), labels.tobytes())
    result = run_cli("run", "shallow", "--epochs", "1", "--train-limit", "100", "--data-dir", mnist_copy)
    assert_user_error(result, "t10k-labels-idx1-ubyte.gz: label 10 at index 0")
    with Store(tmp_path / "convlab.sqlite") as store:
        assert store.runs() == [] and store.db.execute("SELECT count(*) FROM groups").fetchone()[0] == 0
