"""Colour conversions with the conventions of the SR literature (MATLAB ``rgb2ycbcr``)."""

from __future__ import annotations

from typing import Any

import numpy as np

# ITU-R BT.601 "studio swing" luma on [0, 1] RGB (MATLAB rgb2ycbcr, BasicSR): Y in [16/255, 235/255].
_BT601_OFFSET = 16.0 / 255.0
_BT601_WEIGHTS = np.array([65.481, 128.553, 24.966], dtype=np.float64) / 255.0
BT601_LUMA_WEIGHTS: tuple[float, float, float] = tuple(float(w) for w in _BT601_WEIGHTS)  # R, G, B on [0, 1]


def rgb_to_y_bt601(img: np.ndarray) -> np.ndarray:
    """BT.601 limited-range luma of an RGB image, not rounded.

    Parameters
    ----------
    img
        ``(H, W, 3)`` RGB in [0, 1] (any float dtype).

    Returns
    -------
    ``(H, W, 1)`` float64 luma in [16/255, 235/255].
    """
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {img.shape}")
    x = img.astype(np.float64, copy=False)
    # Element-wise on purpose: a matmul's summation order depends on memory layout, and the same
    # image must give the same bits whether it was just computed or read back from disk.
    r, g, b = _BT601_WEIGHTS
    y = _BT601_OFFSET + r * x[..., 0] + g * x[..., 1] + b * x[..., 2]
    return y[..., None]


def luma(img: np.ndarray) -> np.ndarray:
    """Luma for Y-channel metrics: BT.601 Y of an RGB image; a grey image as it is.

    A single-channel image is returned unchanged (float64), as the MATLAB scripts behind the
    published SR tables do: converting grey -> RGB -> Y would add about 1.32 dB on such an image.
    """
    if img.ndim == 3 and img.shape[2] == 1:
        return img.astype(np.float64, copy=False)
    return rgb_to_y_bt601(img)


def luma_torch(x: Any) -> Any:
    """:func:`luma` of an ``(N, C, H, W)`` torch tensor on [0, 1] (C = 3: BT.601 Y; C = 1: as it is),
    differentiable; ``(N, 1, H, W)``."""
    if x.shape[1] == 1:
        return x
    r, g, b = (float(w) for w in _BT601_WEIGHTS)
    return _BT601_OFFSET + r * x[:, 0:1] + g * x[:, 1:2] + b * x[:, 2:3]


# Full-range YIQ luma (NTSC), the grey image of the authors' MATLAB code for GMSD, FSIM, SR-SIM...
YIQ_LUMA_WEIGHTS: tuple[float, float, float] = (0.299, 0.587, 0.114)


def yiq_luma_torch(x: Any) -> Any:
    """Full-range YIQ luma ``0.299 R + 0.587 G + 0.114 B`` of an ``(N, C, H, W)`` torch tensor on [0, 1]
    (C = 3; C = 1: as it is), element-wise like :func:`luma_torch`; ``(N, 1, H, W)`` in ``x``'s dtype."""
    if x.shape[1] == 1:
        return x
    r, g, b = YIQ_LUMA_WEIGHTS
    return r * x[:, 0:1] + g * x[:, 1:2] + b * x[:, 2:3]


YIQ_CHROMA_WEIGHTS: tuple[tuple[float, float, float], ...] = ((0.5959, -0.2746, -0.3213), (0.2115, -0.5227, 0.3112))


def yiq_torch(x: Any) -> Any:
    """Full-range YIQ (NTSC) of an ``(N, 3, H, W)`` RGB torch tensor, in ``x``'s units and dtype: the rows
    ``Y = 0.299 R + 0.587 G + 0.114 B``, ``I = 0.5959 R - 0.2746 G - 0.3213 B``, ``Q = 0.2115 R - 0.5227 G
    + 0.3112 B`` of the authors' MATLAB code (HaarPSI, SR-SIM...), element-wise like :func:`luma_torch`."""
    import torch

    return torch.cat([sum(w * x[:, c:c + 1] for c, w in enumerate(row))
                      for row in (YIQ_LUMA_WEIGHTS, *YIQ_CHROMA_WEIGHTS)], dim=1)


_YCBCR = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]) / 255.0
_YCBCR_OFFSET = np.array([16.0, 128.0, 128.0]) / 255.0


def rgb_to_ycbcr_bt601(img: np.ndarray) -> np.ndarray:
    """BT.601 limited-range YCbCr (MATLAB ``rgb2ycbcr`` without rounding) of ``(H, W, 3)`` RGB in [0, 1]."""
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {img.shape}")
    return img.astype(np.float64, copy=False) @ _YCBCR.T + _YCBCR_OFFSET


def ycbcr_to_rgb_bt601(img: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr_bt601` (MATLAB ``ycbcr2rgb``), not clipped."""
    return (img.astype(np.float64, copy=False) - _YCBCR_OFFSET) @ np.linalg.inv(_YCBCR).T


# MATLAB rgb2gray: the luma row of its NTSC (YIQ) matrix inverted and rounded, as the function uses it.
_MATLAB_GREY_WEIGHTS = (0.298936021293775, 0.587043074451121, 0.114020904255103)


def grey_uint8_matlab(img: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2gray`` of a uint8 image: full-range luma on 0..255, rounded to integers.

    Parameters
    ----------
    img
        ``(H, W, 3)`` RGB or ``(H, W, 1)`` grey, float on [0, 1]; a grey image is kept as it is.

    Returns
    -------
    ``(H, W)`` float64 with integer values 0..255, the grey image the authors' MATLAB code sees for
    an 8-bit file (``round(255 * gray)``; for 8-bit inputs equal to ``rgb2gray`` of the uint8 array).
    """
    x = img.astype(np.float64, copy=False)
    if x.ndim == 3 and x.shape[2] == 1:
        return np.round(x[..., 0] * 255.0)
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB or (H, W, 1) grey image, got shape {img.shape}")
    r, g, b = _MATLAB_GREY_WEIGHTS
    return np.round((r * x[..., 0] + g * x[..., 1] + b * x[..., 2]) * 255.0)
