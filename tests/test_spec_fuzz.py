"""The preset loader under fuzzing: byte-mutated copies of a shipped preset and
generated presets with hostile values. Every input ends as a valid Spec or a
one-line UserError; never another exception."""

from __future__ import annotations

import math
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convlab.config import spec as specs
from convlab.errors import UserError

from helpers import REPO, toml_text

RELU = (REPO / "presets" / "relu.toml").read_bytes()
TRIED: Counter = Counter()  # (test, outcome) → examples; bench/reliability.py prints it
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(path: Path) -> str:
    """'spec' or 'user error'; anything else fails the test."""
    try:
        spec = specs.load(str(path))
    except UserError as exc:
        message = str(exc)
        assert message and "\n" not in message and message.isprintable(), message
        return "user error"
    assert isinstance(spec, specs.Spec) and spec.layers[-1].type == "softmax"
    for layer in spec.layers:
        assert all(0 < d <= 10**9 for d in layer.out_shape)
    assert all(math.isfinite(x) for x in (spec.train.eta, spec.train.lmbda, spec.train.eta_decay))
    return "spec"


def load_bytes(data: bytes, test: str) -> str:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzzed.toml"
        path.write_bytes(data)
        result = outcome(path)
    TRIED[test, result] += 1
    return result


mutation = st.tuples(st.integers(0, len(RELU) - 1), st.integers(0, 255), st.sampled_from(("set", "insert", "delete")))


@FUZZ
@given(st.lists(mutation, min_size=1, max_size=6))
def test_byte_mutations_of_a_preset(mutations):
    data = bytearray(RELU)
    for at, byte, how in mutations:
        at = min(at, len(data) - 1)
        if how == "set":
            data[at] = byte
        elif how == "insert":
            data.insert(at, byte)
        else:
            del data[at]
    load_bytes(bytes(data), "mutated")


hostile_number = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, 1, -1, 2**63 - 1, 10**11, 10**8]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=20),
)
layer_table = st.fixed_dictionaries(
    {"type": st.sampled_from(["conv_pool", "fc", "softmax", "dense"])},
    optional={k: hostile_number for k in ("maps", "filter", "pool", "n_out", "n_in", "in_maps", "dropout")}
    | {"activation": st.sampled_from(["relu", "sigmoid", "tanh", "linear", "swish"])},
)
train_table = st.dictionaries(
    st.sampled_from(
        [
            "epochs",
            "eta",
            "lmbda",
            "batch_size",
            "repeats",
            "ensemble",
            "train_limit",
            "patience",
            "eta_decay",
            "eta_decay_every",
            "shuffle",
            "data",
            "bogus",
        ]
    ),
    hostile_number,
    max_size=6,
)
top = st.dictionaries(st.sampled_from(["title", "book_figure", "row", "description"]), hostile_number, max_size=3)


@FUZZ
@given(st.lists(layer_table, min_size=0, max_size=5), train_table, top, st.text(max_size=30))
def test_generated_presets(layers, train, extra, name):
    load_bytes(toml_text(layers, train, name=name, **extra).encode("utf-8", "surrogatepass"), "generated")


def test_every_shipped_preset_still_loads():
    for path in sorted((REPO / "presets").glob("*.toml")):
        assert outcome(path) == "spec"


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 5000 + "]" * 5000,
        "a = " + "{b = " * 3000 + "1" + "}" * 3000,
    ],
)
def test_deeply_nested_toml_is_a_user_error(tmp_path, text):
    path = tmp_path / "deep.toml"
    path.write_text(text)
    with pytest.raises(UserError, match="deep.toml: not valid TOML"):
        specs.load(str(path))


def test_a_file_that_is_not_utf8_is_a_user_error(tmp_path):
    path = tmp_path / "latin.toml"
    path.write_bytes(RELU.replace(b"relu", b"r\xe9lu", 1))
    with pytest.raises(UserError, match=r"latin.toml: not UTF-8 text \(byte \d+ is 0xe9\); save it as UTF-8"):
        specs.load(str(path))
