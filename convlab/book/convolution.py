"""The conv-pool layers' valid convolution (cross-correlation), by the path
measured fastest for the presets' shapes on a CPU (mini-batch 10, 1–40 maps).

oneDNN, PyTorch's default CPU path, is slow for a single input map: on the
first conv layer of the presets the im2col-and-GEMM path (`thnn_conv2d`)
takes a fraction of its time. With 20 input maps oneDNN is as fast or
faster, so it keeps those. On other devices
`F.conv2d` is used as is. The choice depends only on the shapes, so a run
computes the same numbers every time (resume equals uninterrupted).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_thnn = getattr(torch._C._nn, "thnn_conv2d", None)  # private; absent → F.conv2d


def conv2d(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    if _thnn is not None and x.device.type == "cpu" and w.shape[1] == 1:
        return _thnn(x, w, w.shape[-2:])
    return F.conv2d(x, w)
