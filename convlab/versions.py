"""The library versions a run records, in one home that the store (which
never imports torch) and the runs (which do) both read."""

from __future__ import annotations


def base_versions() -> dict[str, str]:
    """python, convlab and numpy: what every run records, a vote included (no torch needed)."""
    import platform

    import numpy as np

    import convlab

    return {"python": platform.python_version(), "convlab": convlab.__version__, "numpy": np.__version__}


def library_versions() -> dict[str, str]:
    """What a trained run records: the base versions, torch and, where there is one, CUDA."""
    import torch

    versions = {**base_versions(), "torch": torch.__version__}
    if torch.cuda.is_available():
        versions["cuda"] = str(torch.version.cuda)
    return versions
