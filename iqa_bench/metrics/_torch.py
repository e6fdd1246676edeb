"""numpy <-> torch glue shared by the torch-based metrics (piq, lpips, DISTS)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where it is used: `iqa-bench list` and PSNR-only runs skip its start-up
    import torch


def as_tensor(img: np.ndarray, *, rgb: bool = False, device: str | torch.device = "cpu",
              dtype: torch.dtype | None = None) -> torch.Tensor:
    """``(H, W, C)`` float [0, 1] -> ``(1, C, H, W)`` tensor.

    ``rgb=True`` expands a grey image to three equal channels (for networks trained on RGB, as
    the project's grey-image convention says); otherwise the channels are kept as they are.
    """
    import torch

    if img.ndim != 3:
        raise ValueError(f"expected an (H, W, C) image, got shape {img.shape}")
    if rgb and img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    dtype = dtype or torch.float32
    np_dtype = {torch.float32: np.float32, torch.float64: np.float64}.get(dtype)
    # one pass: transpose and cast together (a float64 copy then a cast cost a second pass)
    t = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np_dtype))
    return t.unsqueeze(0).to(device=device, dtype=dtype)


def resolve_device(device: str | None) -> torch.device:
    """``"auto"``/None: CUDA when available, else CPU; otherwise the device named."""
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
