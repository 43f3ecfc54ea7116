"""A run's most confident mistakes, for the HTML report (issue 23, item 4): of
the test digits it stored as misclassified, those its kept network (a vote:
its members, their mean probabilities) gave the highest probability to the
wrong answer, each with its ten probabilities, saliency and first-layer maps
(session.Inspector's numbers: PyTorch's max-pool gradient for the saliency).

Run as `python -m convlab.inspect.mistakes STORE RUN…`, it prints them as one
JSON object keyed by run: the report's writer calls it so, because the lab,
which writes reports too, never imports torch."""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np

from convlab.errors import UserError
from convlab.store import Store

SHOWN = 8  # mistakes per run in the report
DIGITS = 4  # decimals kept: enough for pictures and printed percentages


def probabilities(trained: list, images: np.ndarray) -> np.ndarray:
    """(n, 10): softmax of each network's scores, averaged over a vote's members."""
    import torch

    x = torch.from_numpy(np.asarray(images, np.float32) / 255.0).reshape(-1, 1, 28, 28)
    with torch.no_grad():
        return np.mean([torch.softmax(t.net(x).double(), 1).numpy() for t in trained], axis=0)


def confident(store: Store, run_id: int, shown: int = SHOWN) -> list[dict[str, Any]]:
    """The `shown` mistakes of run `run_id` with the highest probability on the
    answer it gave, most confident first."""
    from convlab.inspect import probe, trained

    nets = trained.load(store, run_id, pool_gradient="torch")
    wrong = store.mistakes(run_id)
    if not wrong:
        return []
    probs = probabilities(nets, np.stack([m.image for m in wrong]))
    sure = probs[np.arange(len(wrong)), [m.predicted for m in wrong]]
    out = []
    for k in np.argsort(-sure, kind="stable")[:shown]:
        m = wrong[k]
        look = probe.answer(nets, m.image.astype(np.float32) / 255.0).looks[0]
        first = next((lay.values for lay in look.layers if lay.kind == "conv"), None)
        out.append(
            {
                "index": m.index,
                "image": m.image.tolist(),
                "label": m.label,
                "predicted": m.predicted,
                "probabilities": np.round(probs[k], DIGITS).tolist(),
                "saliency": np.round(look.saliency, DIGITS).tolist(),
                "maps": None if first is None else np.round(first, DIGITS).tolist(),
                "maps_of": look.run,
            }
        )
    return out


def of_runs(store: Store, run_ids: list[int]) -> dict[str, Any]:
    """{run id: {"mistakes": [...]} or {"error": one line}}."""
    out: dict[str, Any] = {}
    for run_id in run_ids:
        try:
            out[str(run_id)] = {"mistakes": confident(store, run_id)}
        except UserError as exc:
            out[str(run_id)] = {"error": str(exc)}
    return out


def main(argv: list[str]) -> int:
    import torch

    torch.set_num_threads(1)
    path, *ids = argv
    with Store(path, read_only=True) as store:
        print(json.dumps(of_runs(store, [int(i) for i in ids]), separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
