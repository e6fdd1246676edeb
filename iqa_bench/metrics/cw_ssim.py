"""CW-SSIM, complex-wavelet structural similarity (Sampat, Wang, Gupta, Bovik, Markey, TIP 2009).

Both grey images are decomposed with a complex steerable pyramid (Portilla & Simoncelli's
frequency-domain construction, ``buildSCFpyr`` of matlabPyrTools: raised-cosine radial masks one
octave apart, analytic angular masks); on each orientation band of the chosen level the local index
``(2 |sum c1 c2*| + K) / (sum |c1|^2 + |c2|^2 + K)`` over 7x7 windows (valid) is pooled with a
Gaussian weight of deviation a quarter of the band height, and the bands are averaged. The index
is insensitive to small translations and to luminance and contrast changes; 1 for equal images.

Defaults as the authors' ``cwssim_index(img1, img2, 4, 8, 0, 0)`` (4 levels, 8 orientations, no
guard band, K = 0), on MATLAB ``rgb2gray`` rounded to 0..255 (a grey image as it is). Reproduces
their MATLAB values on IQA-PyTorch's calibration images (test: 4 decimals).

Written from the paper and the pyramid's published construction; the pyramid is built here in
numpy (no maintained Python package provides the matlabPyrTools complex pyramid with its exact
lookup tables, which the values depend on).
"""

from __future__ import annotations

from math import factorial

import numpy as np
from scipy.ndimage import uniform_filter

from iqa_bench.data.colour import grey_uint8_matlab
from iqa_bench.metrics.base import MetricInfo, check_pair
from iqa_bench.registry import Registry

WINDOW = 7


def _raised_cosine(width: float = 1.0, position: float = -0.5) -> tuple[np.ndarray, np.ndarray]:
    """matlabPyrTools ``rcosFn``: a 259-entry lookup table of a cos^2 step from 0 to 1 (x, y)."""
    size = 256
    x = np.pi * np.arange(-size - 1, 2) / (2 * size)
    y = np.cos(x) ** 2
    y[0], y[-1] = y[1], y[-2]
    return position + (2 * width / np.pi) * (x + np.pi / 4), y


def _lookup(values: np.ndarray, table_x: np.ndarray, table_y: np.ndarray) -> np.ndarray:
    """matlabPyrTools ``pointOp``: piecewise-linear lookup, constant beyond the table's ends."""
    return np.interp(values, table_x, table_y)


def _centre(dims: np.ndarray) -> np.ndarray:
    """0-based index of the zero frequency after ``fftshift`` (MATLAB's ``ceil((dims + 0.5) / 2)``)."""
    return np.ceil((dims + 0.5) / 2).astype(int) - 1


def steerable_bands(grey: np.ndarray, level: int, orientations: int) -> list[np.ndarray]:
    """The complex orientation bands of pyramid level ``level`` (1 = finest) of a 2-D image.

    Equal to bands ``(level - 1) * orientations + 2 ...`` of matlabPyrTools'
    ``buildSCFpyr(grey, level, orientations - 1)``; coarser levels are not computed.
    """
    dims = np.array(grey.shape)
    if level < 1 or level > int(np.floor(np.log2(dims.min()))) - 2:
        raise ValueError(f"cw_ssim cannot build {level} pyramid levels on a {grey.shape[0]}x{grey.shape[1]} image")
    c = _centre(dims)
    x = (np.arange(dims[1]) - c[1]) / (dims[1] / 2)
    y = (np.arange(dims[0]) - c[0]) / (dims[0] / 2)
    xx, yy = np.meshgrid(x, y)
    angle = np.arctan2(yy, xx)
    rad = np.sqrt(xx**2 + yy**2)
    rad[c[0], c[1]] = rad[c[0], c[1] - 1]
    log_rad = np.log2(rad)

    rx, ry = _raised_cosine()
    ry = np.sqrt(ry)
    ry_low = np.sqrt(1.0 - ry**2)
    lodft = np.fft.fftshift(np.fft.fft2(grey)) * _lookup(log_rad, rx, ry_low)

    order = orientations - 1
    const = 2 ** (2 * order) * factorial(order) ** 2 / (orientations * factorial(2 * order))
    lut = 1024
    ax = np.pi * np.arange(-(2 * lut + 1), lut + 2) / lut
    alpha = np.mod(np.pi + ax, 2 * np.pi) - np.pi
    ay = 2 * np.sqrt(const) * np.cos(ax) ** order * (np.abs(alpha) < np.pi / 2)  # one lobe: analytic bands

    for _ in range(level - 1):  # low-pass and crop down to the chosen level; finer bands are not needed
        rx = rx - 1.0  # one octave down
        d = np.array(lodft.shape)
        lodims = np.ceil((d - 0.5) / 2).astype(int)
        start = (_centre(d) + 1) - (_centre(lodims) + 1)
        crop = (slice(start[0], start[0] + lodims[0]), slice(start[1], start[1] + lodims[1]))
        log_rad, angle, lodft = log_rad[crop], angle[crop], lodft[crop]
        lodft = lodft * _lookup(log_rad, rx, ry_low)
    himask = _lookup(log_rad, rx - 1.0, ry)
    spin = (-1j) ** order * lodft
    return [np.fft.ifft2(np.fft.ifftshift(spin * _lookup(angle, ax + np.pi * b / orientations, ay) * himask))
            for b in range(orientations)]


def _gaussian_weights(shape: tuple[int, int], sigma: float) -> np.ndarray:
    """MATLAB ``fspecial('gaussian', shape, sigma)``: centred, tails below eps * max zeroed, sum 1."""
    y = np.arange(shape[0]) - (shape[0] - 1) / 2
    x = np.arange(shape[1]) - (shape[1] - 1) / 2
    h = np.exp(-(x[None, :] ** 2 + y[:, None] ** 2) / (2 * sigma**2))
    h[h < np.finfo(np.float64).eps * h.max()] = 0
    return h / h.sum()


def _valid_box_mean(x: np.ndarray) -> np.ndarray:
    """Mean over every full 7x7 window (MATLAB ``filter2(ones(7)/49, x, 'valid')``)."""
    half = WINDOW // 2
    out = uniform_filter(x.real, WINDOW, mode="constant")
    if np.iscomplexobj(x):
        out = out + 1j * uniform_filter(x.imag, WINDOW, mode="constant")
    return out[half:x.shape[0] - half, half:x.shape[1] - half]


class CWSSIM:
    """``cw_ssim(sr, hr) -> float`` on float ``(H, W, C)`` [0, 1]; 1 for equal images, higher is better."""

    def __init__(self, level: int = 4, orientations: int = 8, k: float = 0.0) -> None:
        self.level, self.orientations, self.k = level, orientations, k

    def __call__(self, sr: np.ndarray, hr: np.ndarray) -> float:
        check_pair(sr, hr, "cw_ssim")
        b1 = steerable_bands(grey_uint8_matlab(sr), self.level, self.orientations)
        b2 = steerable_bands(grey_uint8_matlab(hr), self.level, self.orientations)
        rows, cols = b1[0].shape
        weights = _gaussian_weights((rows - WINDOW + 1, cols - WINDOW + 1), rows / 4)
        scores = []
        for c1, c2 in zip(b1, b2):
            corr = _valid_box_mean(c1 * np.conj(c2))
            energy = _valid_box_mean(np.abs(c1) ** 2 + np.abs(c2) ** 2)
            scores.append(np.sum((2 * np.abs(corr) + self.k) / (energy + self.k) * weights))
        return float(np.mean(scores))


def register(reg: Registry[MetricInfo]) -> None:
    """Register ``cw_ssim``."""
    reg.register(
        "cw_ssim",
        lambda level=4, orientations=8: CWSSIM(level, orientations),
        MetricInfo(
            kind="fr",
            higher_is_better=True,
            value_range=(0.0, 1.0),
            colour="grey, MATLAB rgb2gray rounded to uint8; grey as is",
            crop="scale",
            description="CW-SSIM, complex steerable pyramid level 4 of 4, 8 orientations, 7x7 windows, K=0",
            precision="float64",
        ),
    )
