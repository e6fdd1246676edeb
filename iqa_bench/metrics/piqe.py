"""PIQE, Perception-based Image Quality Evaluator (Venkatanath et al., NCC 2015), as MATLAB's ``piqe``.

No-reference, no training: the grey image (MATLAB ``rgb2gray`` rounded to 0..255, a grey image as it
is; padded by edge replication to a multiple of 16) is normalised to MSCN coefficients (7x7
Gaussian, sigma 7/6) and cut into 16x16 blocks. A block whose MSCN variance ``v`` exceeds 0.1 is
*active*; it is *impaired* (blockiness, sudden artefacts) when any 6-pixel segment of its four
edges has a standard deviation below 0.1, and *noisy* when its deviation exceeds twice
``|sigma - r| / max(sigma, r)``, ``r`` the ratio of the deviations of its two centre columns and the
rest. Score ``100 * (1 + sum(impaired * (1 - v) + noisy * v)) / (1 + active blocks)``: 0 best, 100 worst
(also for a flat image, which has no active block).

Reproduces MATLAB's values on IQA-PyTorch's calibration images (test: within 0.01, the precision at
which those values are published).
"""

from __future__ import annotations

import numpy as np

from iqa_bench.data.colour import grey_uint8_matlab
from iqa_bench.metrics.base import MetricInfo
from iqa_bench.metrics.niqe import mscn
from iqa_bench.registry import Registry

BLOCK = 16
ACTIVITY_THRESHOLD = 0.1
IMPAIRED_THRESHOLD = 0.1
SEGMENT = 6


def _segment_std(edges: np.ndarray) -> np.ndarray:
    """Std (N-1) of every run of ``SEGMENT`` consecutive pixels along the last axis."""
    runs = np.lib.stride_tricks.sliding_window_view(edges, SEGMENT, axis=-1)
    return runs.std(axis=-1, ddof=1)


def piqe(img: np.ndarray) -> float:
    """PIQE of float ``(H, W, C)`` [0, 1] ``img``: 0 (best) .. 100 (worst)."""
    grey = grey_uint8_matlab(img)
    h, w = grey.shape
    grey = np.pad(grey, ((0, -h % BLOCK), (0, -w % BLOCK)), mode="edge")
    coeffs = mscn(grey)
    nh, nw = coeffs.shape[0] // BLOCK, coeffs.shape[1] // BLOCK
    blocks = coeffs.reshape(nh, BLOCK, nw, BLOCK).swapaxes(1, 2).reshape(-1, BLOCK, BLOCK)
    var = blocks.reshape(len(blocks), -1).var(axis=1, ddof=1)
    blocks, var = blocks[var > ACTIVITY_THRESHOLD], var[var > ACTIVITY_THRESHOLD]
    if len(blocks) == 0:
        return 100.0

    edges = np.stack([blocks[:, 0, :], blocks[:, :, -1], blocks[:, -1, :], blocks[:, :, 0]], axis=1)
    impaired = (_segment_std(edges) < IMPAIRED_THRESHOLD).any(axis=(1, 2))

    # Centre: the two middle columns (0-based 7 and 8). Surround: MATLAB deletes column 8 and then
    # column 9 of what is left, so it leaves out 0-based columns 7 and 9, not 7 and 8; kept as the
    # reference implementation computes it.
    c = BLOCK // 2 - 1
    centre = blocks[:, :, c:c + 2].transpose(0, 2, 1).reshape(len(blocks), -1)
    surround = np.delete(blocks, [c, c + 2], axis=2).reshape(len(blocks), -1)
    sigma = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = centre.std(axis=1, ddof=1) / surround.std(axis=1, ddof=1)
        ratio = np.where(np.isnan(ratio), 0.0, ratio)
        beta = np.abs(sigma - ratio) / np.maximum(sigma, ratio)
        noisy = sigma > 2 * beta  # NaN (inf / inf) compares False, as in MATLAB
    distortion = float(np.sum(impaired * (1 - var) + noisy * var))
    return (distortion + 1) / (len(blocks) + 1) * 100


def register(reg: Registry[MetricInfo]) -> None:
    """Register ``piqe``."""
    reg.register(
        "piqe",
        lambda: piqe,
        MetricInfo(
            kind="nr",
            higher_is_better=False,
            value_range=(0.0, 100.0),
            colour="grey, MATLAB rgb2gray rounded to uint8; grey as is",
            crop="scale",
            description="PIQE (MATLAB piqe): 16x16 MSCN blocks, activity 0.1, 6-px edge segments, centre-surround noise",
            perceptual=True,
            precision="float64",
        ),
    )
