"""NLPD, normalised Laplacian pyramid distance (Laparra, Ballé, Berardino, Simoncelli, EI 2016).

Both grey images (MATLAB ``rgb2gray`` rounded, on [0, 1]; a grey image as it is) are decomposed into
a 6-level Laplacian pyramid (Burt & Adelson's 5-tap filter ``[.05 .25 .4 .25 .05]``, mirrored edges
going down, one replicated pixel going up); every coefficient is divided by ``sigma_k`` plus a
weighted sum of its neighbours' magnitudes (the divisive normalisation with the per-level
``sigma_k`` and 5x5 filters fitted by the authors on McGill images); the distance is the mean over
levels of the RMS difference of the normalised coefficients. 0 for equal images, lower is better.

Reproduces the authors' ``NLP_dist.m`` values on IQA-PyTorch's calibration images (test: 4 decimals).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import correlate1d

from iqa_bench.data.colour import grey_uint8_matlab
from iqa_bench._parallel import parallel_map
from iqa_bench.errors import InputError
from iqa_bench.metrics.base import MetricInfo, check_pair, check_shape
from iqa_bench.registry import Registry

LEVELS = 6
_TAPS = np.array([0.05, 0.25, 0.4, 0.25, 0.05])  # the 5x5 low-pass is their outer product: applied separably
# Divisive normalisation of the authors' release: per level sigma, and the neighbour weights.
SIGMAS = (0.0248, 0.0185, 0.0179, 0.0191, 0.0220, 0.2782)


def _centred(weights: list[list[float]]) -> np.ndarray:
    k = np.zeros((5, 5))
    k[1:4, 1:4] = weights
    return k


NEIGHBOURS = (
    np.array([[0, 0, 0, 0, 0], [0, 0, 0.1011, 0, 0], [0, 0.1493, 0, 0.1460, 0.0072], [0, 0, 0.1015, 0, 0],
              [0, 0, 0, 0, 0]]),
    _centred([[0, 0.0757, 0], [0.1986, 0, 0.1846], [0, 0.0837, 0]]),
    _centred([[0, 0.0477, 0], [0.2138, 0, 0.2243], [0, 0.0467, 0]]),
    _centred([[0, 0, 0], [0.2503, 0, 0.2616], [0, 0, 0]]),
    _centred([[0, 0, 0], [0.2598, 0, 0.2552], [0, 0, 0]]),
    _centred([[0, 0, 0], [0.2215, 0, 0.0717], [0, 0, 0]]),
)


def _reduce(img: np.ndarray) -> np.ndarray:
    """MATLAB ``imfilter`` 'symmetric' with the 5x5 low-pass, then every other row and column: the
    rows decimated between the two passes (the same values; the second pass on half the rows)."""
    rows = correlate1d(img, _TAPS, axis=0, mode="reflect")[::2]
    return correlate1d(rows, _TAPS, axis=1, mode="reflect")[:, ::2]


def _expand(low: np.ndarray, odd: np.ndarray) -> np.ndarray:
    """The authors' upsampling: one replicated pixel around ``low``, zeros inserted, x4, the 5x5
    low-pass (zeros outside), cropped to the finer level's size (``odd``: its odd remainders)."""
    padded = np.pad(low, 1, mode="edge")
    up = np.zeros((2 * padded.shape[0], 2 * padded.shape[1]))
    up[::2, ::2] = 4 * padded
    up = correlate1d(correlate1d(up, _TAPS, axis=0, mode="constant"), _TAPS, axis=1, mode="constant")
    return up[2:up.shape[0] - 2 - odd[0], 2:up.shape[1] - 2 - odd[1]]


def _neighbour_sum(mag: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """MATLAB ``conv2(mag, weights, 'same')`` (a true convolution, zeros outside) for a 5x5 filter,
    as a sum over its few non-zero taps."""
    h, w = mag.shape
    padded = np.pad(mag, 2)
    out = np.zeros_like(mag)
    for u, v in zip(*np.nonzero(weights)):
        out += weights[u, v] * padded[4 - u:4 - u + h, 4 - v:4 - v + w]
    return out


def laplacian_pyramid(img: np.ndarray, levels: int = LEVELS) -> list[np.ndarray]:
    """Band-pass levels (finest first) and the low-pass residual of a 2-D image."""
    bands, current = [], img
    for _ in range(levels - 1):
        low = _reduce(current)
        bands.append(current - _expand(low, 2 * np.array(low.shape) - np.array(current.shape)))
        current = low
    return [*bands, current]


def normalised_pyramid(grey: np.ndarray) -> list[np.ndarray]:
    """The divisively normalised Laplacian pyramid of a 2-D image on [0, 1]."""
    return [band / (s + _neighbour_sum(np.abs(band), f))
            for band, s, f in zip(laplacian_pyramid(grey), SIGMAS, NEIGHBOURS)]


class NLPD:
    """``metric(sr, hr) -> float`` on ``(H, W, C)`` float images on [0, 1]; the HR image's normalised
    pyramid made once per HR image (``reference``), the images of a pair and the outputs of one HR
    image on the shared thread pool (scipy's filters release the GIL). The same values, to the bit,
    however they are computed."""

    name = "nlpd"
    min_side = 2 ** (LEVELS - 1)

    def reference(self, hr: np.ndarray) -> tuple[tuple[int, ...], list[np.ndarray]]:
        self._check_size(hr)
        return hr.shape, _pyramid(hr)

    def compare(self, sr: np.ndarray, ref: tuple[tuple[int, ...], list[np.ndarray]]) -> float:
        check_shape(sr, ref[0], self.name)
        return _distance(_pyramid(sr), ref[1])

    def compare_many(self, srs: Sequence[np.ndarray], ref: tuple[tuple[int, ...], list[np.ndarray]]) -> list[float]:
        for sr in srs:
            check_shape(sr, ref[0], self.name)
        return [_distance(p, ref[1]) for p in parallel_map(_pyramid, srs)]

    def __call__(self, sr: np.ndarray, hr: np.ndarray) -> float:
        check_pair(sr, hr, self.name)
        self._check_size(hr)
        a, b = parallel_map(_pyramid, [sr, hr])
        return _distance(a, b)

    def _check_size(self, hr: np.ndarray) -> None:
        if min(hr.shape[:2]) < self.min_side:
            raise InputError(f"nlpd cannot score a {hr.shape[1]}x{hr.shape[0]} image: its {LEVELS}-level pyramid "
                             f"needs sides of at least {self.min_side} pixels",
                             "drop nlpd from --metrics for images this small")


def _pyramid(img: np.ndarray) -> list[np.ndarray]:
    return normalised_pyramid(grey_uint8_matlab(img) / 255.0)


def _distance(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """The mean over levels of the RMS difference of the normalised coefficients."""
    return float(np.mean([np.sqrt(np.mean((x - y) ** 2)) for x, y in zip(a, b)]))


def register(reg: Registry[MetricInfo]) -> None:
    """Register ``nlpd``."""
    reg.register(
        "nlpd",
        NLPD,
        MetricInfo(
            kind="fr",
            higher_is_better=False,
            value_range=(0.0, float("inf")),
            colour="grey, MATLAB rgb2gray rounded to uint8, on [0, 1]; grey as is",
            crop="scale",
            description="NLPD: 6-level Laplacian pyramid, divisive normalisation (authors' McGill-fitted filters)",
            perceptual=True,
            precision="float64",
        ),
    )
