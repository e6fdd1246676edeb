"""Float64 image planes for the metrics written as local statistics of Gaussian windows (MS-SSIM, VIF).

One formula, two array kinds: on the CPU, 2-D numpy planes filtered by scipy (separable, in float64:
faster than torch's float32 2-D convolutions on the CPU and exact to float64 rounding; scipy releases
the GIL, so the shared pool runs planes in parallel); on a GPU, ``(1, 1, H, W)`` torch tensors. A
metric takes :func:`plane_ops` for its device and writes its arithmetic with ``ops.xp`` (``numpy`` or
``torch``: ``where``, ``clip``, ``log10`` exist in both with the same meaning) and the methods below.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.ndimage import correlate1d


class NumpyPlanes:
    """2-D float64 numpy planes, scipy's separable filter."""

    xp = np

    @staticmethod
    def plane(a: np.ndarray) -> np.ndarray:
        """A 2-D float array as a plane of this kind."""
        return np.ascontiguousarray(a, dtype=np.float64)

    @staticmethod
    def filt(a: np.ndarray, window: np.ndarray) -> np.ndarray:
        """``a`` correlated with ``window`` along rows and columns, the 'valid' region only."""
        r = len(window) // 2
        # Filtering the whole plane then cropping the radius leaves exactly the 'valid' region, where
        # the boundary mode never enters.
        out = correlate1d(correlate1d(a, window, axis=0, mode="constant"), window, axis=1, mode="constant")
        return out[r:-r, r:-r] if r else out

    @staticmethod
    def average_2x2(a: np.ndarray, pad: int) -> np.ndarray:
        """Replicate the first ``pad`` rows and columns, then average 2x2 blocks (odd remainders dropped)."""
        if pad:
            a = np.pad(a, ((pad, 0), (pad, 0)), mode="edge")
        a = a[: a.shape[0] // 2 * 2, : a.shape[1] // 2 * 2]
        return (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]) / 4


class TorchPlanes:
    """``(1, 1, H, W)`` float64 tensors on ``device``, the separable window as two convolutions."""

    def __init__(self, device: Any) -> None:
        import torch

        self.xp, self.device = torch, device
        self._windows: dict[bytes, Any] = {}  # on the device once, not copied there at every filtering

    def plane(self, a: np.ndarray) -> Any:
        return self.xp.as_tensor(np.asarray(a, dtype=np.float64), device=self.device)[None, None]

    def filt(self, a: Any, window: np.ndarray) -> Any:
        import torch.nn.functional as F

        w = self._windows.get(window.tobytes())
        if w is None:
            w = self._windows[window.tobytes()] = self.xp.as_tensor(window, dtype=self.xp.float64, device=self.device)
        return F.conv2d(F.conv2d(a, w.view(1, 1, -1, 1)), w.view(1, 1, 1, -1))

    @staticmethod
    def average_2x2(a: Any, pad: int) -> Any:
        import torch.nn.functional as F

        if pad:
            a = F.pad(a, [pad, 0, pad, 0], mode="replicate")
        return F.avg_pool2d(a, 2)


def plane_ops(device: Any) -> NumpyPlanes | TorchPlanes:
    """The planes of a metric scored on ``device`` (a ``torch.device``): numpy on the CPU, torch elsewhere."""
    return NumpyPlanes() if device.type == "cpu" else TorchPlanes(device)
