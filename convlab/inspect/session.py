"""`Inspector`: runs' networks kept loaded, answering for a test digit, an
image file or drawn pixels; and `serve`, the lab's helper process: one JSON
request a line on stdin, one JSON answer a line on stdout, so the lab (which
never imports torch) classifies a drawing as it is drawn.

Requests: {"run": 7, "digit": 12}, {"run": 7, "pixels": [[…28…] × 28]} (ink
in [0, 1], fitted and centred as MNIST's digits), {"run": 7, "image": PATH}.
Answers: the JSON form of `convlab inspect` (probe.to_dict), or {"error": LINE}."""

from __future__ import annotations

import json
import sys
from typing import IO, Any

import numpy as np

from convlab.errors import UserError
from convlab.inspect import image as images
from convlab.store import Store

TEST_SIZE = 10_000
HELPER_DIGITS = 4  # decimals in the helper's answers: enough for the pictures, quick to encode


def digit_index(n: int) -> int:
    if not 0 <= n < TEST_SIZE:
        raise UserError(f"--digit {n}: out of range; the test digits are numbered 0 to {TEST_SIZE - 1}")
    return n


class Inspector:
    def __init__(self, store: Store, data_dir: str | None = None):
        self.store, self.data_dir = store, data_dir
        self._trained: dict[int, list] = {}
        self._mnist = None

    def trained(self, run_id: int | str) -> list:
        from convlab.inspect import trained

        key = self.store.run(run_id).id
        if key not in self._trained:
            # PyTorch's max-pool gradient (one winner a window) for the saliency: the book's sends it to
            # every tied maximum, and a digit's blank border ties at zero in every window
            self._trained[key] = trained.load(self.store, key, pool_gradient="torch")
        return self._trained[key]

    def test(self):
        if self._mnist is None:
            from convlab.data.mnist import load_mnist

            self._mnist = load_mnist(self.data_dir)
        return self._mnist.test

    def answer(self, run_id: int | str, pixels: np.ndarray, source: dict[str, Any], digits: int | None, **extra):
        from convlab.inspect import probe

        trained = self.trained(run_id)
        result = probe.answer(trained, pixels)
        return probe.to_dict(result, trained, source, digits, run=self.store.run(run_id).id, **extra)

    def digit(self, run_id: int | str, n: int, digits: int | None = None) -> dict[str, Any]:
        n = digit_index(n)
        self.trained(run_id)  # a run that cannot be read says so before MNIST is read
        test = self.test()
        stored = self.store.predictions(self.store.run(run_id).id)
        return self.answer(
            run_id,
            test.images[n].astype(np.float32) / 255.0,
            {"digit": n},
            digits,
            label=int(test.labels[n]),
            stored_prediction=None if stored is None else int(stored[n]),
        )

    def image(self, run_id: int | str, path: str, digits: int | None = None) -> dict[str, Any]:
        self.trained(run_id)
        return self.answer(run_id, images.from_file(path), {"image": str(path)}, digits)

    def pixels(self, run_id: int | str, ink, digits: int | None = None) -> dict[str, Any]:
        ink = np.asarray(ink, dtype=np.float64)
        if ink.shape != (28, 28):
            raise UserError(f"pixels: expected 28×28, got {'×'.join(map(str, ink.shape))}")
        return self.answer(run_id, images.fit(np.clip(ink, 0.0, 1.0)), {"drawn": True}, digits)

    def request(self, req: dict[str, Any]) -> dict[str, Any]:
        run = req.get("run")
        if "digit" in req:
            return self.digit(run, int(req["digit"]), HELPER_DIGITS)
        if "pixels" in req:
            return self.pixels(run, req["pixels"], HELPER_DIGITS)
        if "image" in req:
            return self.image(run, req["image"], HELPER_DIGITS)
        raise UserError("a request names a digit, pixels or an image")


def serve(store: Store, data_dir: str | None, stdin: IO[str] = sys.stdin, stdout: IO[str] = sys.stdout) -> int:
    """Answer requests until stdin closes; a bad request gets {"error": …} and the helper goes on."""
    import torch

    torch.set_num_threads(1)  # a digit at a time: one thread answers fastest beside a training run
    inspector = Inspector(store, data_dir)
    print(json.dumps({"ready": True}), file=stdout, flush=True)
    for line in stdin:
        if not line.strip():
            continue
        req = None
        try:
            req = json.loads(line)
            answer = inspector.request(req)
        except UserError as exc:
            answer = {"error": str(exc)}
        except (ValueError, TypeError, KeyError) as exc:
            answer = {"error": f"a bad request ({type(exc).__name__}: {str(exc)[:80]})"}
        if isinstance(req, dict) and "id" in req:
            answer["id"] = req["id"]
        print(json.dumps(answer, separators=(",", ":")), file=stdout, flush=True)
    return 0
