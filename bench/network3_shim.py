"""Runs the book's network3.py, unmodified on disk, under Aesara on Python 3,
and times its training steps. Used by bench/bench_network3.py; runs under the
Aesara interpreter (no convlab, no torch here).

    python network3_shim.py NETWORK3_PY DATA_NPZ OUT_JSON --seed S [--conv corrmm|legacy]

network3.py is the user's own copy, read at run time (this repository holds
none of it). It was written for Python 2 and Theano 0.6/0.7; what it needs to
run on Python 3 and Aesara 2.9 is supplied here:

- module aliases: `theano` is `aesara`; `theano.tensor.nnet` gives `conv`,
  `softmax` (row-wise, as Theano's) and `sigmoid`;
  `theano.tensor.signal.downsample.max_pool_2d(input, ds, ignore_border)` is
  Aesara's `pool_2d(input, ws=ds, ignore_border=...)`;
  `theano.tensor.shared_randomstreams.RandomStreams` is Aesara's
  `RandomStream`; `cPickle` is `pickle`; `xrange` is `range`.
- `conv.conv2d`: with `--conv corrmm` (the default) Aesara's `nnet.conv2d`,
  which Aesara compiles to CorrMM (im2col + BLAS GEMM) on a CPU, as in the
  issue's port; with `--conv legacy`, Aesara's own copy of the old
  `nnet.conv.conv2d` (ConvOp) that network3.py names.
- Aesara 2.9.4's CorrMM cannot build a node (a `tuple(a, b, c, d)` bug in
  `CorrMM.make_node`); the shim replaces that one method with the corrected
  one (`fix_corrmm_make_node`), so the CorrMM path works at all.
- source edits, as text substitutions on the read source (nothing else is
  changed), each because Python 3 refuses the original:
  1. the two Python 2 `print "..."+\\ "..."` statements of the GPU block become
     `print(...)` calls (the block still tries device='gpu', which Aesara
     refuses and the block's bare `except` ignores, then sets floatX to float32);
  2. `size(...)/mini_batch_size` becomes `size(...)//mini_batch_size` (three
     lines): Python 3's `/` gives a float, which `xrange` refuses.
- data: the same split convlab uses, from convlab's own MNIST copy (the
  bench writes it to DATA_NPZ), in place of `load_data_shared` and
  mnist.pkl.gz; placed in shared variables as `load_data_shared` does.

The network and call are the chapter's ReLU example, verbatim in meaning:
ConvPoolLayer(20 maps) → ConvPoolLayer(40 maps) → FC(100, ReLU) → Softmax(10),
mini-batch 10, `net.SGD(train, epochs, 10, 0.03, validation, test, lmbda=0.1)`.

Timing: `theano.function` is wrapped so that the calls of the first function
SGD compiles (`train_mb`) are timed: from the start of the first call to the
end of the last. Compilation, data loading and the epoch-end validation and
test are outside that span. Writes OUT_JSON with the span, the number of
steps, the compile time and the accuracies SGD printed.
"""

from __future__ import annotations

import argparse
import io
import json
import pickle
import re
import sys
import time
import types
from contextlib import redirect_stdout

import numpy as np


def install_aliases(conv_kind: str) -> None:
    import aesara
    import aesara.tensor as at
    from aesara.tensor.nnet import conv as legacy_conv
    from aesara.tensor.nnet import conv2d as abstract_conv2d
    from aesara.tensor.random.utils import RandomStream
    from aesara.tensor.signal.pool import pool_2d
    from aesara.tensor.special import softmax as softmax_axis

    fix_corrmm_make_node()

    def conv2d(input, filters, filter_shape=None, image_shape=None, **kw):
        if conv_kind == "legacy":
            return legacy_conv.conv2d(input, filters, image_shape=image_shape, filter_shape=filter_shape, **kw)
        return abstract_conv2d(input, filters, input_shape=image_shape, filter_shape=filter_shape, **kw)

    def module(name: str, **attrs) -> types.ModuleType:
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        sys.modules[name] = m
        return m

    sys.modules["theano"] = aesara
    sys.modules["theano.tensor"] = at
    sys.modules["cPickle"] = pickle
    conv = module("theano.tensor.nnet.conv", conv2d=conv2d)
    module("theano.tensor.nnet", conv=conv, softmax=lambda z: softmax_axis(z, axis=-1), sigmoid=at.sigmoid)
    downsample = module(
        "theano.tensor.signal.downsample",
        max_pool_2d=lambda input, ds, ignore_border=False: pool_2d(input, ws=ds, ignore_border=ignore_border),
    )
    module("theano.tensor.signal", downsample=downsample)
    # `from theano.tensor import shared_randomstreams` looks for an attribute of aesara.tensor
    at.shared_randomstreams = module("theano.tensor.shared_randomstreams", RandomStreams=RandomStream)


def fix_corrmm_make_node() -> None:
    """Aesara 2.9.4's CorrMM.make_node calls `tuple(a, b, c, d)` (a TypeError), so
    no graph can use CorrMM and Aesara's rewrite that picks it fails. The same
    method with `tuple((a, b, c, d))`; nothing else of Aesara is changed."""
    from aesara.graph.basic import Apply
    from aesara.tensor.basic import as_tensor_variable
    from aesara.tensor.nnet.corr import CorrMM
    from aesara.tensor.type import TensorType

    def make_node(self, img, kern):
        img, kern = self.as_common_dtype(as_tensor_variable(img), as_tensor_variable(kern))
        if img.type.ndim != 4:
            raise TypeError("img must be 4D tensor")
        if kern.type.ndim != (6 if self.unshared is True else 4):
            raise TypeError("kern has the wrong number of dimensions")
        out_shape = (1 if img.type.shape[0] == 1 else None, 1 if kern.type.shape[0] == 1 else None, None, None)
        return Apply(self, [img, kern], [TensorType(img.type.dtype, shape=out_shape)()])

    CorrMM.make_node = make_node


PY2_PRINT = re.compile(r'print ("(?:[^"\\]|\\.)*"\+\\\n\s*"(?:[^"\\]|\\.)*")')
INT_DIVISION = re.compile(r"size\((\w+)\)/mini_batch_size")


def python3_source(text: str) -> str:
    text, prints = PY2_PRINT.subn(r"print(\1)", text)
    text, divisions = INT_DIVISION.subn(r"size(\1)//mini_batch_size", text)
    if (prints, divisions) != (2, 3):
        raise SystemExit(
            f"network3.py is not the version this shim knows: {prints} print statements "
            f"(expected 2) and {divisions} batch-count divisions (expected 3) were rewritten"
        )
    return text


def load_network3(path: str) -> types.ModuleType:
    with open(path, encoding="utf-8") as f:
        source = python3_source(f.read())
    mod = types.ModuleType("network3")
    mod.__file__ = path
    mod.__dict__["xrange"] = range
    sys.modules["network3"] = mod
    exec(compile(source, path, "exec"), mod.__dict__)
    return mod


class StepTimer:
    """Wraps theano.function; times the calls of the first function compiled (train_mb)."""

    def __init__(self, function):
        self.function, self.compile_s, self.wrapped = function, 0.0, False
        self.first, self.last, self.steps, self.ops = None, None, 0, []

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        fn = self.function(*args, **kwargs)
        self.compile_s += time.perf_counter() - start
        if self.wrapped:  # validation and test functions run untimed
            return fn
        self.wrapped = True
        # which convolution and pool ops Aesara compiled the step to (CorrMM, ConvOp, Pool, ...)
        self.ops = sorted(
            {
                type(node.op).__name__
                for node in fn.maker.fgraph.apply_nodes
                if any(k in type(node.op).__name__ for k in ("Corr", "Conv", "Pool"))
            }
        )

        def train_mb(*a):
            if self.first is None:
                self.first, self.first_cpu = time.perf_counter(), time.process_time()
            out = fn(*a)
            self.last, self.last_cpu = time.perf_counter(), time.process_time()
            self.steps += 1
            return out

        return train_mb


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("network3")
    parser.add_argument("data")
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--conv", choices=("corrmm", "legacy"), default="corrmm")
    args = parser.parse_args()

    install_aliases(args.conv)
    import aesara

    timer = StepTimer(aesara.function)
    aesara.function = timer
    n3 = load_network3(args.network3)
    np.random.seed(args.seed)  # network3.py draws its initial weights from numpy's global generator

    arrays = np.load(args.data)

    def shared(images, labels):  # as load_data_shared's `shared`
        x = aesara.shared(
            np.asarray(images.reshape(len(images), -1) / np.float32(255.0), dtype=aesara.config.floatX), borrow=True
        )
        y = aesara.shared(np.asarray(labels, dtype=aesara.config.floatX), borrow=True)
        return x, n3.T.cast(y, "int32")

    train = shared(arrays["train_x"], arrays["train_y"])
    validation = shared(arrays["val_x"], arrays["val_y"])
    test = shared(arrays["test_x"], arrays["test_y"])
    mb = 10
    out = io.StringIO()
    with redirect_stdout(out):
        net = n3.Network(
            [
                n3.ConvPoolLayer(
                    image_shape=(mb, 1, 28, 28), filter_shape=(20, 1, 5, 5), poolsize=(2, 2), activation_fn=n3.ReLU
                ),
                n3.ConvPoolLayer(
                    image_shape=(mb, 20, 12, 12), filter_shape=(40, 20, 5, 5), poolsize=(2, 2), activation_fn=n3.ReLU
                ),
                n3.FullyConnectedLayer(n_in=40 * 4 * 4, n_out=100, activation_fn=n3.ReLU),
                n3.SoftmaxLayer(n_in=100, n_out=10),
            ],
            mb,
        )
        net.SGD(train, args.epochs, mb, 0.03, validation, test, lmbda=0.1)
    text = out.getvalue()
    sys.stdout.write(text)
    result = {
        "steps": timer.steps,
        "seconds": (timer.last - timer.first) if timer.steps else None,
        "cpu_seconds": (timer.last_cpu - timer.first_cpu) if timer.steps else None,
        "compile_s": timer.compile_s,
        "floatX": aesara.config.floatX,
        "val_acc": [float(v) for v in re.findall(r"validation accuracy ([\d.]+)%", text)],
        "test_acc": [float(v) for v in re.findall(r"test accuracy is ([\d.]+)%", text)],
        "blas": aesara.config.blas__ldflags,
        "openmp": bool(aesara.config.openmp),
        "ops": timer.ops,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
