"""One digit through a trained network, layer by layer, by the engine's own
layers: each conv layer's maps after activation (before pooling) and after
pooling (the layer's output), each fully-connected layer's activations, the
ten class probabilities, and the saliency |∂z_c/∂x| of the predicted class's
score z_c (its logit) with respect to the input pixels, from autograd (through
PyTorch's max-pool gradient: see session.Inspector).

A vote's members each look at the digit; the vote is their plurality
(convlab/runs/ensemble.py's rule)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from convlab.book.convolution import conv2d
from convlab.book.model import Network
from convlab.inspect.trained import Trained


@dataclass
class Layer:
    name: str  # "conv 1", "pool 1", "fc 1"
    kind: str  # conv, pool or fc
    values: np.ndarray  # (maps, h, w) for conv and pool, (units,) for fc


@dataclass
class Look:
    """What one network makes of one image."""

    run: int
    image: np.ndarray  # (28, 28) in [0, 1], 1 = ink
    layers: list[Layer]
    logits: np.ndarray  # (10,)
    probabilities: np.ndarray  # (10,), softmax of the logits
    predicted: int
    saliency: np.ndarray  # (28, 28)


@dataclass
class Answer:
    """A run's (or a vote's members') looks at one image."""

    looks: list[Look]
    predicted: int  # the run's, or the vote's
    probabilities: np.ndarray  # the run's, or the members' mean
    members: list[int] = field(default_factory=list)


def look(net: Network, image: np.ndarray, run: int = 0) -> Look:
    x = torch.as_tensor(np.asarray(image, np.float32)).reshape(1, 1, 28, 28).clone().requires_grad_(True)
    layers: list[Layer] = []
    h = x
    with torch.enable_grad():
        for i, layer in enumerate(net.layers):
            spec = layer.spec
            if spec.type == "conv_pool":
                n = sum(1 for earlier in net.layers[: i + 1] if earlier.spec.type == "conv_pool")
                with torch.no_grad():
                    maps = layer.act(conv2d(h, layer.w) + layer.b.view(1, -1, 1, 1))
                layers.append(Layer(f"conv {n}", "conv", maps[0].numpy().copy()))
                h = layer(h, False, None)
                layers.append(Layer(f"pool {n}", "pool", h[0].detach().numpy().copy()))
            else:
                h = layer(h, False, None)
                if spec.type != "softmax":
                    n = sum(1 for earlier in net.layers[: i + 1] if earlier.spec.type == "fc")
                    layers.append(Layer(f"fc {n}", "fc", h[0].detach().numpy().copy()))
        z = h[0]
        predicted = int(z.argmax())
        (grad,) = torch.autograd.grad(z[predicted], x)
    logits = z.detach().double()
    return Look(
        run=run,
        image=np.asarray(image, np.float32),
        layers=layers,
        logits=logits.numpy(),
        probabilities=torch.softmax(logits, 0).numpy(),
        predicted=predicted,
        saliency=grad[0, 0].abs().numpy(),
    )


def answer(trained: list[Trained], image: np.ndarray) -> Answer:
    """One network's look, or each member's and their vote."""
    from convlab.runs.ensemble import vote

    looks = [look(t.net, image, t.run.id) for t in trained]
    if len(looks) == 1:
        return Answer(looks, looks[0].predicted, looks[0].probabilities)
    voted = int(vote([np.array([lk.predicted], np.uint8) for lk in looks])[0])
    mean = np.mean([lk.probabilities for lk in looks], axis=0)
    return Answer(looks, voted, mean, members=[t.run.id for t in trained])


def rounded(a: np.ndarray, digits: int | None) -> list:
    return (np.round(a, digits) if digits is not None else np.asarray(a, np.float64)).tolist()


def to_dict(
    answer: Answer, trained: list[Trained], source: dict[str, Any], digits: int | None = None, **extra: Any
) -> dict[str, Any]:
    """The JSON form of `convlab inspect` (and of the lab's helper): numbers as
    lists, rounded to `digits` decimals when given. A vote's layers and
    saliency are its first member's (`layers_of`)."""
    first = answer.looks[0]
    return {
        "run": extra.pop("run", trained[0].run.id),
        "preset": trained[0].run.preset,
        "source": source,
        "label": None,
        "stored_prediction": None,
        **extra,
        "predicted": answer.predicted,
        "probabilities": rounded(answer.probabilities, digits),
        "top": [[k, rounded(answer.probabilities[k], digits)] for k in np.argsort(-answer.probabilities)[:3].tolist()],
        "input": rounded(first.image, digits),
        "saliency": rounded(first.saliency, digits),
        "layers_of": first.run,
        "layers_predicted": first.predicted,
        "layers": [
            {"name": lay.name, "kind": lay.kind, "shape": list(lay.values.shape), "values": rounded(lay.values, digits)}
            for lay in first.layers
        ],
        "members": [
            {"run": lk.run, "predicted": lk.predicted, "probabilities": rounded(lk.probabilities, digits)}
            for lk in answer.looks
        ]
        if answer.members
        else [],
        "members_runs": answer.members,
    }
