"""NIQE (Mittal, Soundararajan, Bovik 2013) with the official LIVE pristine model.

Written from the paper and the LIVE release's algorithm: MSCN coefficients with a 7x7 Gaussian
(sigma 7/6, edge-replicated filtering), 96x96 blocks, per block an AGGD fit of the MSCN values and of
their four neighbour products (18 features), at the original scale and after a MATLAB bicubic
x1/2; a multivariate Gaussian fitted to the block features is compared with the pristine model:
``sqrt((mu_p - mu_d)^T ((C_p + C_d)/2)^+ (mu_p - mu_d))``.

SR convention (BasicSR ``calculate_niqe``): computed on BT.601 Y on the 0..255 scale, rounded to
integers (as MATLAB's uint8 input), a grey image on its grey values.

Why not piq or pyiqa: piq has no NIQE; pyiqa's is non-commercially licensed and the package must
not import it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.io import loadmat
from scipy.ndimage import correlate1d
from scipy.special import gamma

from iqa_bench.data.colour import luma
from iqa_bench.data.imresize import imresize
from iqa_bench.metrics.base import MetricInfo
from iqa_bench.registry import Registry
from iqa_bench.weights import WeightSpec, WeightsStore

PRISTINE = WeightSpec(
    file="nr/niqe_modelparameters_live_release.mat",
    sha256="fa2aa4d12dd9595c3fb6bf8b4e1a15c79d5d1469238d0901c88dead195be578d",
    url=None,  # distributed inside a zip, not as a single file
    source="LIVE's NIQE release (niqe_release.zip, file modelparameters.mat) at live.ece.utexas.edu",
)
BLOCK = 96

# AGGD shape search grid of the reference implementation: alpha in 0.2:0.001:10.
_ALPHAS = np.arange(0.2, 10.001, 0.001)
_RHO = gamma(2 / _ALPHAS) ** 2 / (gamma(1 / _ALPHAS) * gamma(3 / _ALPHAS))


def _gaussian_7() -> np.ndarray:
    x = np.arange(-3, 4, dtype=np.float64)
    g = np.exp(-(x * x) / (2 * (7 / 6) ** 2))
    return g / g.sum()  # separable factor of MATLAB fspecial('gaussian', 7, 7/6)


_WINDOW = _gaussian_7()


def _blur(img: np.ndarray) -> np.ndarray:
    return correlate1d(correlate1d(img, _WINDOW, axis=0, mode="nearest"), _WINDOW, axis=1, mode="nearest")


def mscn(img: np.ndarray) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients ``(I - mu) / (sigma + 1)`` of a 2-D image on 0..255.

    Local mean and deviation from the 7x7 Gaussian (sigma 7/6) with replicated edges, as MATLAB's
    ``imgaussfilt(I, 7/6, 'FilterSize', 7, 'Padding', 'replicate')`` in NIQE and PIQE.
    """
    mu = _blur(img)
    sigma = np.sqrt(np.abs(_blur(img * img) - mu * mu))
    return (img - mu) / (sigma + 1)


def _aggd(x: np.ndarray) -> tuple[float, float, float]:
    """Asymmetric generalised Gaussian fit by moment matching: (alpha, beta_left, beta_right)."""
    x = x.ravel()
    left = np.sqrt(np.mean(x[x < 0] ** 2))
    right = np.sqrt(np.mean(x[x > 0] ** 2))
    g = left / right
    r = np.mean(np.abs(x)) ** 2 / np.mean(x * x)
    r_norm = r * (g**3 + 1) * (g + 1) / (g * g + 1) ** 2
    alpha = float(_ALPHAS[np.argmin((_RHO - r_norm) ** 2)])
    k = np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    return alpha, float(left * k), float(right * k)


def _block_features(block: np.ndarray) -> list[float]:
    alpha, bl, br = _aggd(block)
    feats = [alpha, (bl + br) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):  # horizontal, vertical, two diagonals
        alpha, bl, br = _aggd(block * np.roll(block, shift, axis=(0, 1)))
        mean = (br - bl) * gamma(2 / alpha) / gamma(1 / alpha)
        feats += [alpha, mean, bl, br]
    return feats


def niqe_features(grey255: np.ndarray) -> np.ndarray:
    """Per-block 36-dim NIQE features of a 2-D image on the 0..255 scale (blocks of 96x96)."""
    nh, nw = grey255.shape[0] // BLOCK, grey255.shape[1] // BLOCK
    if nh == 0 or nw == 0:
        raise ValueError(f"niqe needs an image of at least {BLOCK}x{BLOCK} pixels, got {grey255.shape}")
    img = grey255[: nh * BLOCK, : nw * BLOCK].astype(np.float64)
    per_scale = []
    for s in (1, 2):
        coeffs = mscn(img)
        b = BLOCK // s
        per_scale.append(
            np.array([_block_features(coeffs[i * b : (i + 1) * b, j * b : (j + 1) * b]) for j in range(nw) for i in range(nh)])
        )
        if s == 1:
            img = imresize(img / 255.0, 0.5, border="symmetric") * 255.0
    return np.concatenate(per_scale, axis=1)


@lru_cache(maxsize=4)
def _pristine(path: str) -> tuple[np.ndarray, np.ndarray]:
    m = loadmat(path)
    return m["mu_prisparam"].ravel().astype(np.float64), m["cov_prisparam"].astype(np.float64)


def niqe_score(grey255: np.ndarray, mu_p: np.ndarray, cov_p: np.ndarray) -> float:
    """NIQE of a 2-D image on the 0..255 scale against a pristine model (lower is better)."""
    feats = niqe_features(grey255)
    mu_d = np.nanmean(feats, axis=0)
    cov_d = np.cov(feats[~np.isnan(feats).any(axis=1)], rowvar=False)
    d = mu_p - mu_d
    return float(np.sqrt(d @ np.linalg.pinv((cov_p + cov_d) / 2) @ d))


class NIQE:
    """``niqe(img) -> float`` on float ``(H, W, C)`` [0, 1]: Y (BT.601) x 255, rounded; grey as is."""

    def __init__(self, pristine_path: str | Path) -> None:
        self.mu, self.cov = _pristine(str(pristine_path))

    def __call__(self, img: np.ndarray) -> float:
        return niqe_score(np.round(luma(img)[..., 0] * 255.0), self.mu, self.cov)


def register(reg: Registry[MetricInfo]) -> None:
    """Register ``niqe``; its pristine model resolves through the weights store when first created."""
    reg.register(
        "niqe",
        lambda store=None: NIQE((store or WeightsStore()).resolve(PRISTINE)),
        MetricInfo(
            kind="nr",
            higher_is_better=False,
            value_range=(0.0, float("inf")),
            colour="y_bt601 x255 rounded",
            crop="scale",
            description="NIQE, LIVE pristine model, 96x96 blocks, two scales (MATLAB bicubic 1/2)",
            weights=(PRISTINE,),
            perceptual=True,
            precision="float64",
        ),
    )
