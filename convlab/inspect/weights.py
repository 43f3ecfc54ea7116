"""A trained network's parameters as an artifact: the best-validation
parameters of a finished run (the network whose test figure is reported).

They are kept in the store's `weights` table when a run finishes, taken from
its last checkpoint, so `gc` (which drops checkpoints) never loses them. The
bytes are an .npz of the arrays keyed as the engine's state dict
(`layers.0.w`, `layers.0.b`, …): numpy reads them, so the store and the lab
need no torch.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from convlab.errors import UserError


def state_keys(n_layers: int) -> list[str]:
    """The engine's state-dict keys in book_params order (per layer, weight then bias)."""
    return [f"layers.{i}.{p}" for i in range(n_layers) for p in ("w", "b")]


def encode(state: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **state)
    return buf.getvalue()


def decode(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def from_checkpoint(blob: bytes) -> bytes:
    """The best-validation parameters of a checkpoint (convlab/book/checkpoint.py), encoded."""
    from convlab.book.checkpoint import best_params

    best = best_params(blob)
    return encode(dict(zip(state_keys(len(best) // 2), (p.numpy() for p in best), strict=True)))


def of_finished_run(store, run_id: int, best_epoch: int) -> tuple[int, bytes] | None:
    """What a finishing run keeps: (its best epoch, its best parameters), from the
    checkpoint its last epoch stored; None when it stored none."""
    saved = store.checkpoint(run_id)
    return None if saved is None else (best_epoch, from_checkpoint(saved[1]))


# ---------------------------------------------------------------- export-model files

FORMAT = "convlab-model"
FORMAT_VERSION = 1


def write_file(path: Path, spec: dict, state: dict[str, np.ndarray], meta: dict) -> None:
    """A portable model file: the state dict and the spec (as a dict), with `meta`
    (run, epoch, test accuracy). `.safetensors` needs the safetensors package;
    any other suffix is a `torch.save` dict that `torch.load(weights_only=True)` reads."""
    import torch

    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}
    header = {"format": FORMAT, "version": FORMAT_VERSION, "spec": spec, **meta}
    if path.suffix == ".safetensors":
        from convlab.extras import require

        st = require("safetensors.torch", "safetensors", f"-o {path}: a .safetensors file")
        st.save_file(tensors, str(path), metadata={"convlab": json.dumps(header)})
        return
    torch.save({**header, "state_dict": tensors}, path)


def read_file(path: Path) -> tuple[dict, dict[str, np.ndarray], dict]:
    """(spec as a dict, state, everything else) of a file `write_file` wrote."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such model file; write one with `convlab export-model RUN -o FILE`")
    try:
        if path.suffix == ".safetensors":
            from convlab.extras import require

            st = require("safetensors", "safetensors", f"{path}: a .safetensors file")
            with st.safe_open(str(path), framework="pt") as f:
                header = json.loads((f.metadata() or {}).get("convlab", "{}"))
                state = {k: f.get_tensor(k).numpy() for k in f.keys()}  # noqa: SIM118 (safe_open has no iterator)
        else:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
            header = dict(loaded) if isinstance(loaded, dict) else {}
            state = {k: v.numpy() for k, v in header.pop("state_dict", {}).items()}
    except (OSError, RuntimeError, ValueError, KeyError, AttributeError) as exc:
        raise UserError(f"{path}: not a model file convlab wrote ({str(exc)[:80]})") from None
    if header.get("format") != FORMAT:
        raise UserError(f"{path}: not a model file convlab wrote; write one with `convlab export-model`")
    spec = header.pop("spec")
    return spec, state, header
