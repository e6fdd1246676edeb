"""MATLAB-compatible ``imresize`` (bicubic, bilinear, nearest, lanczos2/3), with antialiasing.

Written after MATLAB's documented algorithm (the ``contributions`` step of ``imresize.m``): for
output index ``x`` (1-based) the input coordinate is ``u = x/s + 0.5 (1 - 1/s)``; when shrinking with
antialiasing the kernel is stretched by ``1/s``; weights are normalised per output pixel. Dimensions
are resized rows first, then columns.

Two details decide whether LR images match MATLAB's bit for bit, and they are arguments here:

* ``border``: taps beyond the image take the nearest edge pixel (``"replicate"``, what MATLAB does
  per MathWorks' own answer, and what reproduces the SelfExSR Set5/Set14 LR files with 0 difference)
  or are mirrored ``[1..n, n..1]`` (``"symmetric"``, BasicSR's port, which reproduces BasicSR's MATLAB
  parity table). When enlarging, the two give identical results (out-of-range taps beyond the first
  have zero weight).
* ``integer_intermediate``: for uint8 input MATLAB's mex keeps the integer class and rounds after the
  first pass.

Why not a library: OpenCV, PIL, skimage and torch resize with other centre conventions, kernels
(a = -0.75) or without antialiasing, and none reproduces MATLAB's LR files, which the published
SR tables were computed from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

from iqa_bench.io import round_half_up_uint8

__all__ = ["KERNELS", "imresize"]


def _cubic(x: np.ndarray) -> np.ndarray:
    # Keys cubic with a = -0.5 (MATLAB's 'bicubic').
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * (
        (ax > 1) & (ax <= 2)
    )


def _triangle(x: np.ndarray) -> np.ndarray:
    return (x + 1) * ((-1 <= x) & (x < 0)) + (1 - x) * ((0 <= x) & (x <= 1))


def _box(x: np.ndarray) -> np.ndarray:
    return ((-0.5 <= x) & (x < 0.5)).astype(np.float64)


def _lanczos(a: int) -> Callable[[np.ndarray], np.ndarray]:
    def kernel(x: np.ndarray) -> np.ndarray:
        # MATLAB: (a*sin(pi*x).*sin(pi*x/a) + eps) ./ ((pi^2*x.^2)/a + eps) .* (abs(x) < a)
        eps = np.finfo(np.float64).eps
        return (a * np.sin(np.pi * x) * np.sin(np.pi * x / a) + eps) / ((np.pi**2 * x * x) / a + eps) * (
            np.abs(x) < a
        )

    return kernel


@dataclass(frozen=True)
class Kernel:
    """An interpolation kernel and its support width in input pixels (at scale 1)."""

    fn: Callable[[np.ndarray], np.ndarray]
    width: float
    antialias: bool  # MATLAB stretches every kernel but 'nearest' when shrinking


KERNELS: dict[str, Kernel] = {
    "bicubic": Kernel(_cubic, 4.0, True),
    "bilinear": Kernel(_triangle, 2.0, True),
    "nearest": Kernel(_box, 1.0, False),
    "lanczos2": Kernel(_lanczos(2), 4.0, True),
    "lanczos3": Kernel(_lanczos(3), 6.0, True),
}


@lru_cache(maxsize=64)
def _weight_matrix(
    in_len: int, out_len: int, scale: float, kernel_name: str, antialias: bool, border: str
) -> np.ndarray:
    """Dense ``(out_len, in_len)`` matrix whose rows are MATLAB's normalised contributions."""
    k = KERNELS[kernel_name]
    if scale < 1 and antialias and k.antialias:
        width = k.width / scale

        def h(x: np.ndarray) -> np.ndarray:
            return scale * k.fn(scale * x)

    else:
        width, h = k.width, k.fn
    x = np.arange(1, out_len + 1, dtype=np.float64)[:, None]
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    taps = left + np.arange(math.ceil(width) + 2, dtype=np.float64)[None, :]
    w = h(u - taps)
    w = w / w.sum(axis=1, keepdims=True)
    idx = taps.astype(np.int64) - 1
    if border == "replicate":
        idx = np.clip(idx, 0, in_len - 1)
    else:  # symmetric with edge repetition: the 1-based sequence [1..n, n..1] repeating
        period = 2 * in_len
        idx = np.mod(idx, period)
        idx = np.where(idx < in_len, idx, period - 1 - idx)
    mat = np.zeros((out_len, in_len), dtype=np.float64)
    rows = np.broadcast_to(np.arange(out_len)[:, None], idx.shape)
    np.add.at(mat, (rows, idx), w)
    return mat


def imresize(
    img: np.ndarray,
    scale: float,
    *,
    kernel: str = "bicubic",
    antialias: bool = True,
    border: str = "replicate",
    integer_intermediate: bool = False,
) -> np.ndarray:
    """Resize an ``(H, W)`` or ``(H, W, C)`` image by ``scale`` exactly as MATLAB ``imresize`` does.

    Parameters
    ----------
    img
        uint8 image on 0..255, or float image (any range).
    scale
        Scale factor, e.g. ``1/4`` to shrink or ``4`` to enlarge; output size is ``ceil(scale * size)``.
    kernel
        One of :data:`KERNELS`.
    antialias
        Stretch the kernel when shrinking (MATLAB's default).
    border
        ``"replicate"`` or ``"symmetric"``: how taps beyond the image are filled (see module notes).
    integer_intermediate
        For uint8 input, round to uint8 after the first pass, as MATLAB does for integer classes.

    Returns
    -------
    uint8 (rounded half away from zero, clipped) for uint8 input, otherwise float64.
    """
    is_uint8 = img.dtype == np.uint8
    out = img.astype(np.float64)
    squeeze = out.ndim == 2
    if squeeze:
        out = out[..., None]
    # Rows first, then columns (MATLAB sorts dimensions by scale, stable on ties).
    m_rows, m_cols = imresize_matrices(out.shape[:2], scale, kernel=kernel, antialias=antialias, border=border)
    out = np.einsum("oi,iwc->owc", m_rows, out, optimize=True)
    if is_uint8 and integer_intermediate:
        out = round_half_up_uint8(out).astype(np.float64)
    out = np.einsum("oi,hic->hoc", m_cols, out, optimize=True)
    if squeeze:
        out = out[..., 0]
    return round_half_up_uint8(out) if is_uint8 else out


def imresize_matrices(shape: tuple[int, int], scale: float, *, kernel: str = "bicubic", antialias: bool = True,
                      border: str = "replicate") -> tuple[np.ndarray, np.ndarray]:
    """The two weight matrices of :func:`imresize` for an ``(H, W)`` image: ``rows (H', H)`` and
    ``cols (W', W)``, so that ``rows @ img @ cols.T`` is the resized float image (``H' = ceil(scale H)``).
    For callers that apply them with another array library (torch). Arguments as :func:`imresize`."""
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; choose one of {sorted(KERNELS)}")
    if border not in ("replicate", "symmetric"):
        raise ValueError(f"border must be 'replicate' or 'symmetric', got {border!r}")
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    h, w = shape
    out_h, out_w = math.ceil(h * scale - 1e-9), math.ceil(w * scale - 1e-9)
    return (_weight_matrix(h, out_h, float(scale), kernel, antialias, border),
            _weight_matrix(w, out_w, float(scale), kernel, antialias, border))
