"""Presets: every shipped file parses to the book's networks, shapes are
inferred, and every mistake is one line naming the file and the field."""

from __future__ import annotations

import math

import pytest

from convlab.config import spec as specs
from convlab.config.spec import parse_text
from convlab.errors import UserError

from helpers import REPO, toml_text

PRESET_NAMES = sorted(p.stem for p in (REPO / "presets").glob("*.toml"))

# name -> (book figure, data, epochs, eta, lmbda, architecture as the book writes it)
BOOK = {
    "shallow": (97.80, "plain", 60, 0.1, 0.0, "FC(100), softmax(10)"),
    "one-conv": (98.78, "plain", 60, 0.1, 0.0, "conv-pool(20), FC(100), softmax(10)"),
    "no-fc": (None, "plain", 60, 0.1, 0.0, "conv-pool(20), softmax(10)"),
    "two-conv": (99.06, "plain", 60, 0.1, 0.0, "conv-pool(20), conv-pool(40), FC(100), softmax(10)"),
    "relu": (99.23, "plain", 60, 0.03, 0.1, "conv-pool(20), conv-pool(40), FC(100), softmax(10)"),
    "expanded": (99.37, "expanded", 60, 0.03, 0.1, "conv-pool(20), conv-pool(40), FC(100), softmax(10)"),
    "wide-300": (99.46, "expanded", 60, 0.03, 0.1, "conv-pool(20), conv-pool(40), FC(300), softmax(10)"),
    "wide-1000": (99.43, "expanded", 60, 0.03, 0.1, "conv-pool(20), conv-pool(40), FC(1000), softmax(10)"),
    "extra-fc": (99.43, "expanded", 60, 0.03, 0.1, "conv-pool(20), conv-pool(40), FC(100), FC(100), softmax(10)"),
    "dropout": (
        99.60,
        "expanded",
        40,
        0.03,
        0.0,
        "conv-pool(20), conv-pool(40), FC(1000) p=0.5, FC(1000) p=0.5, softmax(10) p=0.5",
    ),
    "ensemble": (
        99.67,
        "expanded",
        40,
        0.03,
        0.0,
        "conv-pool(20), conv-pool(40), FC(1000) p=0.5, FC(1000) p=0.5, softmax(10) p=0.5",
    ),
}

CONV = {"type": "conv_pool", "maps": 20}
SOFTMAX = {"type": "softmax", "n_out": 10}


def parse(layers, train=None, label="my.toml", **top):
    return parse_text(toml_text(layers, train, **top), label=label)


def error_of(layers, train=None, label="my.toml", **top) -> str:
    with pytest.raises(UserError) as info:
        parse(layers, train, label=label, **top)
    message = str(info.value)
    assert "\n" not in message, "a spec error is one line"
    assert message.startswith(f"{label}: "), message
    return message


# ---------------------------------------------------------------- shipped presets


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_every_shipped_preset_parses(name):
    spec = specs.load(name)
    assert spec.name == name
    assert spec.layers[-1].type == "softmax" and spec.layers[-1].out_shape == (10,)
    assert spec.layers[0].n_in == 784  # a 1×28×28 image
    assert spec.train.batch_size == 10  # mini-batch size 10 throughout the chapter
    assert not spec.train.shuffle and spec.train.patience == 0 and spec.train.eta_decay_every == 0
    for before, after in zip(spec.layers, spec.layers[1:]):
        assert after.n_in == math.prod(before.out_shape)
        if after.type == "conv_pool":
            assert after.in_shape == before.out_shape
    assert all(l.dropout == 0 for l in spec.layers if l.type == "conv_pool")


@pytest.mark.parametrize("name", sorted(BOOK))
def test_presets_follow_the_books_table(name):
    spec = specs.load(name)
    figure, data, epochs, eta, lmbda, architecture = BOOK[name]
    assert spec.book_figure == figure
    assert (spec.train.data, spec.train.epochs, spec.train.eta, spec.train.lmbda) == (data, epochs, eta, lmbda)
    assert spec.architecture == architecture


def test_every_book_experiment_has_a_preset():
    assert set(BOOK) <= set(PRESET_NAMES)
    assert specs.load("ensemble").train.ensemble == 5
    assert specs.load("tanh").layers[0].activation == "tanh"
    assert {l.activation for l in specs.load("two-conv").layers[:-1]} == {"sigmoid"}
    assert {l.activation for l in specs.load("relu").layers[:-1]} == {"relu"}
    assert [s.name for s in specs.list_presets()][:2] == ["shallow", "one-conv"]  # the chapter's order


def test_parameter_counts():
    assert specs.load("relu").params == 85_670
    assert specs.load("two-conv").params == 85_670
    assert specs.load("shallow").params == 79_510
    assert specs.load("one-conv").params == 20 * 25 + 20 + 2880 * 100 + 100 + 1010


def test_shape_inference():
    spec = specs.load("relu")
    shapes = [(l.in_shape, l.out_shape) for l in spec.layers]
    assert shapes == [((1, 28, 28), (20, 12, 12)), ((20, 12, 12), (40, 4, 4)), ((640,), (100,)), ((100,), (10,))]
    assert [l.n_in for l in spec.layers] == [784, 2880, 640, 100]
    odd = parse([{"type": "conv_pool", "maps": 6, "filter": 4, "pool": 3}, SOFTMAX])
    assert odd.layers[0].out_shape == (6, 8, 8)  # (28 - 4 + 1) // 3: the border is ignored
    assert odd.layers[1].n_in == 384


def test_user_file_works_wherever_a_preset_name_does(write_toml):
    path = write_toml(
        "mine.toml",
        [{"type": "fc", "n_out": 30}, SOFTMAX],
        {"activation": "relu", "epochs": 2},
        name="mine",
        book_figure=97.5,
    )
    spec = specs.load(str(path))
    assert spec.name == "mine" and spec.source == str(path) and spec.book_figure == 97.5
    assert spec.train.epochs == 2 and spec.layers[0].activation == "relu" and spec.params == 784 * 30 + 30 + 310
    # a round trip through the stored dict gives the same spec back
    assert specs.spec_from_dict(spec.to_dict()) == spec


def test_defaults_are_the_books():
    spec = parse([{"type": "fc", "n_out": 100}, SOFTMAX])
    t = spec.train
    assert (t.epochs, t.eta, t.lmbda, t.batch_size, t.data) == (60, 0.1, 0.0, 10, "plain")
    assert spec.layers[0].activation == "sigmoid"  # the book's default activation
    assert spec.layers[0].dropout == 0.0
    assert t.pool_gradient == "theano"  # network3.py's max-pool gradient (Theano's pool_2d)


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_chapter_presets_use_the_books_pool_gradient(name):
    assert specs.load(name).train.pool_gradient == "theano"


def test_pool_gradient_is_chosen_and_kept():
    spec = parse([CONV, SOFTMAX], {"pool_gradient": "torch"})
    assert spec.train.pool_gradient == "torch"
    assert specs.spec_from_dict(spec.to_dict()) == spec
    # a run stored before the option existed was trained with torch's rule, and resumes with it
    old = spec.to_dict()
    del old["train"]["pool_gradient"]
    assert specs.spec_from_dict(old).train.pool_gradient == "torch"


# ---------------------------------------------------------------- errors


def test_wrong_n_in_names_the_field_and_both_sizes():
    message = error_of([CONV, {"type": "conv_pool", "maps": 40}, {"type": "fc", "n_in": 2880, "n_out": 100}, SOFTMAX])
    assert message == "my.toml: layers[2].n_in is 2880 but the layer before gives 640"


def test_wrong_in_maps():
    message = error_of([CONV, {"type": "conv_pool", "maps": 40, "in_maps": 1}, SOFTMAX])
    assert message.startswith("my.toml: layers[1].in_maps is 1 but the layer before gives 20")


def test_unknown_field_gets_a_did_you_mean():
    message = error_of([{"type": "fc", "n_out": 100, "dropuot": 0.5}, SOFTMAX])
    assert "layers[0].dropuot" in message and "did you mean 'dropout'?" in message
    message = error_of([SOFTMAX], {"lamda": 0.1})
    assert "train.lamda" in message and "did you mean 'lmbda'?" in message
    message = error_of([SOFTMAX], titel="x")
    assert "titel" in message and "did you mean 'title'?" in message


def test_last_layer_must_be_softmax():
    message = error_of([CONV, {"type": "fc", "n_out": 10}])
    assert "layers[1].type" in message and 'last layer must be "softmax"' in message
    message = error_of([SOFTMAX, SOFTMAX])
    assert "layers[0].type" in message and "only the last layer" in message


def test_bad_activation():
    message = error_of([{"type": "fc", "n_out": 10, "activation": "swish"}, SOFTMAX])
    assert "layers[0].activation is 'swish'" in message and "sigmoid, tanh, relu, linear" in message
    message = error_of([SOFTMAX], {"activation": "RELU"})
    assert "train.activation" in message


def test_dropout_on_conv_pool_is_refused():
    message = error_of([{"type": "conv_pool", "maps": 20, "dropout": 0.5}, SOFTMAX])
    assert "layers[0].dropout" in message and "no dropout" in message


def test_invalid_toml():
    with pytest.raises(UserError) as info:
        parse_text("name = \"x\"\n[[layers]\ntype = 'softmax'\n", label="broken.toml")
    assert str(info.value).startswith("broken.toml: not valid TOML")


@pytest.mark.parametrize(
    "layers, train, fragment",
    [
        (
            [{"type": "fc", "n_out": 10, "dropout": 1.0}, SOFTMAX],
            None,
            "layers[0].dropout is 1.0; it must be a number from 0 to 0.99",
        ),
        ([{"type": "fc", "n_out": 10, "dropout": -0.1}, SOFTMAX], None, "layers[0].dropout"),
        ([{"type": "softmax", "n_out": 7}], None, "layers[0].n_out is 7; MNIST has 10 classes"),
        ([{"type": "fc"}, SOFTMAX], None, "layers[0].n_out is missing"),
        ([{"type": "conv_pool"}, SOFTMAX], None, "layers[0].maps is missing"),
        (
            [{"type": "conv_pool", "maps": 20, "filter": 29}, SOFTMAX],
            None,
            "layers[0].filter is 29; it must be a whole number from 1 to 28",
        ),
        ([CONV, {"type": "conv_pool", "maps": 40, "filter": 13}, SOFTMAX], None, "layers[1].filter is 13, too large"),
        (
            [{"type": "conv_pool", "maps": 20, "pool": 25}, SOFTMAX],
            None,
            "layers[0].pool is 25, larger than the 24×24 maps the filter of 5 gives; it must be from 1 to 24",
        ),
        (
            [{"type": "conv_pool", "maps": 20, "pool": 1000}, SOFTMAX],
            None,
            "layers[0].pool is 1000; it must be a whole number from 1 to 28",
        ),
        (
            [{"type": "conv_pool", "maps": 10**11}, SOFTMAX],
            None,
            "layers[0].maps is 100000000000; it must be a whole number from 1 to 1,024",
        ),
        (
            [{"type": "fc", "n_out": 10**6}, SOFTMAX],
            None,
            "layers[0].n_out is 1000000; it must be a whole number from 1 to 100,000",
        ),
        (
            [{"type": "fc", "n_out": 100_000}, {"type": "fc", "n_out": 100_000}, SOFTMAX],
            None,
            "layers give the network 10,079,600,010 parameters; at most 100,000,000 fit a run",
        ),
        ([SOFTMAX] * 40, None, "layers has 40 tables; at most 32"),
        ([SOFTMAX], {"eta": math.nan}, "train.eta is nan; it must be a number above 0"),
        ([SOFTMAX], {"eta": math.inf}, "train.eta is inf; it must be a number above 0 and at most 100"),
        ([SOFTMAX], {"lmbda": -math.inf}, "train.lmbda is -inf; it must be a number from 0 to 1,000,000"),
        ([SOFTMAX], {"lmbda": math.nan}, "train.lmbda is nan"),
        (
            [SOFTMAX],
            {"epochs": 2**63 - 1},
            "train.epochs is 9223372036854775807; it must be a whole number from 1 to 10,000",
        ),
        ([SOFTMAX], {"ensemble": 10**6}, "train.ensemble is 1000000; it must be a whole number from 1 to 100"),
        ([SOFTMAX], {"batch_size": 10**8}, "train.batch_size is 100000000; it must be a whole number from 1 to 50,000"),
        (
            [SOFTMAX],
            {"batch_size": 600, "train_limit": 500},
            "train.batch_size is 600, more than the train.train_limit of 500",
        ),
        ([{"type": "fc", "n_out": 10}, CONV, SOFTMAX], None, 'layers[1].type is "conv_pool" after a fully-connected'),
        ([{"type": "dense", "n_out": 10}, SOFTMAX], None, "layers[0].type is 'dense'"),
        ([SOFTMAX], {"eta": 0}, "train.eta is 0; it must be a number above 0 and at most 100"),
        ([SOFTMAX], {"eta": 1e9}, "train.eta is 1000000000.0; it must be a number above 0 and at most 100"),
        ([SOFTMAX], {"epochs": 2.5}, "train.epochs is 2.5; it must be a whole number"),
        ([SOFTMAX], {"data": "rotated"}, "train.data is 'rotated'"),
        ([SOFTMAX], {"shuffle": "yes"}, "train.shuffle"),
        ([SOFTMAX], {"pool_gradient": "caffe"}, "train.pool_gradient is 'caffe'; choose one of theano, torch"),
        ([SOFTMAX], {"repeats": 3, "ensemble": 5}, "train.repeats"),
        ([], None, "layers is missing"),
    ],
)
def test_field_errors_name_the_field(layers, train, fragment):
    assert fragment in error_of(layers, train)


def test_missing_name():
    with pytest.raises(UserError, match=r"^x.toml: name is missing"):
        parse_text("[[layers]]\ntype = 'softmax'\n", label="x.toml")


def test_unknown_preset_name_suggests_a_close_one():
    with pytest.raises(UserError, match="did you mean 'relu'"):
        specs.load("rleu")
    with pytest.raises(UserError, match="`convlab presets` lists them"):
        specs.load("zzzzzz")


def test_missing_user_file(tmp_path):
    with pytest.raises(UserError, match="no such preset file"):
        specs.load(str(tmp_path / "absent.toml"))


def test_loaded_file_errors_name_the_file(write_toml):
    path = write_toml("bad.toml", [{"type": "fc", "n_out": 10, "activation": "relux"}, SOFTMAX])
    with pytest.raises(UserError, match=r"^bad\.toml: layers\[0\]\.activation"):
        specs.load(str(path))
