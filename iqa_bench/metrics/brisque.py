"""BRISQUE (Mittal, Moorthy, Bovik 2012) with the LIVE SVR model.

The 36 natural-scene-statistics features as the authors' MATLAB code computes them (RGB -> rounded
full-range YIQ luma on 0..255, as MATLAB's uint8 ``rgb2gray``; a grey image as it is; two scales, the
second by MATLAB's bicubic 1/2), scored with the LIVE SVR. piq 0.8's port is the starting point: its
YIQ conversion and feature scaling are reused; its scorer is not (it downloads the SVR with
``torch.hub`` at call time: here the support vectors come from the weights store, verified by sha256).

Computed in float64. Three departures from piq's code, none about the formula:

* In a flat neighbourhood the deviation from the local mean is 0 in exact arithmetic, but the
  7x7 Gaussian sum leaves +-1e-13, and the signs of products of such neighbours decide on which side
  of the AGGD fits they are counted. On an image with flat areas that decides the score: TID2013
  I19 (the IQA-PyTorch calibration image) scores 66.38 with torch's ``conv2d``, 64.2-64.7 with the
  same sums taken in other orders, 72.26 in the authors' MATLAB code; Set14 ``ppt3`` x4 bicubic 39.81
  with ``conv2d`` and 45.32 in another order. It would differ between CPUs and BLAS builds.
  Deviations below :data:`FLAT` (luma on 0..255; a real one is at least ~1e-4 at the first scale,
  a Gaussian weight times one grey level) are therefore set to 0: flat areas count as they do in
  exact arithmetic, and the score no longer depends on the order of the sums (tested).
* The second scale is MATLAB's ``imresize(I, 0.5)`` as the authors' code calls it: ``ceil(size / 2)``
  pixels, in float64 (:func:`~iqa_bench.data.imresize.imresize_matrices`). piq asks for
  ``floor(size / 2)`` pixels, another sampling grid on an odd side (Set14 ``zebra`` x4 bicubic: 19.97
  there, 22.99 here), and rounds some taps to float32.
* The local sums are separable fused multiply-adds over shifted views (``_gauss_sum``) rather than
  torch's float64 ``conv2d``, a slow path on the CPU; the fits look their tables up once.
Images of even sides without flat areas keep their values to 1e-6 (the MATLAB oracles and three of
the five calibration images hold); those with flat areas (I19 above: 74.43) or an odd side do not.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from iqa_bench.data.imresize import imresize_matrices
from iqa_bench.metrics._torch import as_tensor
from iqa_bench.metrics.base import MetricInfo
from iqa_bench.registry import Registry
from iqa_bench.weights import WeightSpec, WeightsStore

SVR = WeightSpec(
    "nr/brisque_svm_weights_from_live_allmodel.pt",
    "5a0edbd65ecba3f268dbcbe6fb5d4429df0d5209df871efde079cabd824cedc9",
    source="LIVE's BRISQUE release (allmodel), as [sv_coef (N,1), sv (N,36)] tensors in piq's layout",
)
# SVR constants of LIVE's allmodel (libsvm epsilon-SVR, RBF kernel).
GAMMA = 0.05
RHO = -153.591
FLAT = 1e-8  # |luma - local mean| below this (0..255 scale) is rounding, not signal


class BRISQUE:
    """``brisque(img) -> float`` on float ``(H, W, C)`` [0, 1]; lower is better (about 0..100)."""

    def __init__(self, svr_path: Path) -> None:
        import torch

        sv_coef, sv = torch.load(svr_path, map_location="cpu", weights_only=True)
        self.sv_coef = sv_coef.double().reshape(-1)
        self.sv = sv.double()
        if self.sv.shape[0] != self.sv_coef.shape[0] or self.sv.shape[1] != 36:
            raise ValueError(f"{svr_path}: expected sv_coef (N,) and sv (N, 36), got {tuple(sv_coef.shape)}, {tuple(sv.shape)}")

    def __call__(self, img: np.ndarray) -> float:
        import torch
        from piq.brisque import _scale_features
        from piq.functional import rgb2yiq

        with torch.inference_mode():
            x = as_tensor(img, dtype=torch.float64) * 255
            if x.shape[1] == 3:
                x = torch.round(rgb2yiq(x)[:, :1])
            g = _gauss_1d(torch.float64)
            feats = []
            for _ in range(2):
                feats.append(_scene_statistics(x, g))
                # MATLAB's imresize(I, 0.5) as the authors' code calls it: ceil(size / 2), float64
                # (piq asks for floor(size / 2), another grid on odd sizes, and rounds some taps to float32)
                rows, cols = imresize_matrices(x.shape[-2:], 0.5, border="symmetric")
                x = torch.from_numpy(rows) @ x @ torch.from_numpy(cols).T
            f = _scale_features(torch.cat(feats, dim=-1))[0]
            kernel = torch.exp(-GAMMA * ((f[None, :] - self.sv) ** 2).sum(dim=1))
            return float(kernel @ self.sv_coef - RHO)


def _gauss_1d(dtype: Any) -> Any:
    """The 7-tap Gaussian (sigma 7/6) summing to 1; its outer product is the authors' 7x7 window."""
    import torch

    x = torch.arange(7, dtype=dtype) - 3
    g = torch.exp(-(x * x) / (2 * (7 / 6) ** 2))
    return g / g.sum()


def _gauss_sum(x: Any, g: Any) -> Any:
    """The zero-padded "same"-size 2-D Gaussian sum of ``x`` ``(N, 1, H, W)`` (``conv2d`` with the window
    ``outer(g, g)``, padding 3), separably: rows then columns, one fused multiply-add per tap."""
    import torch
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    k = g.shape[0]
    rows = F.pad(x, (0, 0, k // 2, k // 2))
    acc = torch.zeros_like(x)
    for i in range(k):
        acc = torch.addcmul(acc, rows[..., i : i + h, :], g[i])
    cols = F.pad(acc, (k // 2, k // 2, 0, 0))
    acc = torch.zeros_like(x)
    for j in range(k):
        acc = torch.addcmul(acc, cols[..., j : j + w], g[j])
    return acc


@lru_cache(maxsize=1)
def _shape_tables() -> tuple[Any, Any, Any]:
    """Shape parameters 0.2..10 (step 0.001) and the moment ratios the GGD and AGGD fits look up in them."""
    import torch

    alpha = torch.arange(0.2, 10.001, 0.001, dtype=torch.float64)
    lg1, lg2, lg3 = torch.lgamma(1 / alpha), torch.lgamma(2 / alpha), torch.lgamma(3 / alpha)
    return alpha, (lg1 + lg3 - 2 * lg2).exp(), (2 * lg2 - lg1 - lg3).exp()


def _ggd(x: Any) -> tuple[Any, Any]:
    """GGD fit by moment matching: (shape, standard deviation) of ``x`` ``(1, 1, H, W)``."""
    alpha, r_ggd, _ = _shape_tables()
    sigma_sq = x.pow(2).mean(dim=(-1, -2))
    if not bool((sigma_sq > 0).all()):
        raise ValueError("the image has no contrast at all (every normalised coefficient is 0)")
    rho = sigma_sq / x.abs().mean(dim=(-1, -2)) ** 2
    return alpha[(rho - r_ggd).abs().argmin(dim=-1)], sigma_sq.sqrt().squeeze(dim=-1)


def _aggd(x: Any) -> tuple[Any, Any, Any]:
    """Asymmetric GGD fit by moment matching: (shape, left sigma, right sigma) of ``x`` ``(1, 1, H, W)``."""
    alpha, _, r_aggd = _shape_tables()
    left, right = x < 0, x > 0
    n_left, n_right = left.sum(dim=(-1, -2), dtype=x.dtype), right.sum(dim=(-1, -2), dtype=x.dtype)
    if not bool((n_left > 0).all() and (n_right > 0).all()):
        raise ValueError("the products of neighbouring normalised coefficients are never both negative and "
                         "positive (a flat or constant image)")
    sigma_l = ((x * left).pow(2).sum(dim=(-1, -2)) / n_left).sqrt()
    sigma_r = ((x * right).pow(2).sum(dim=(-1, -2)) / n_right).sqrt()
    g = sigma_l / sigma_r
    r = x.abs().mean(dim=(-1, -2)).pow(2) / x.pow(2).mean(dim=(-1, -2))
    r_norm = (r * (g.pow(3) + 1) * (g + 1)) / (g.pow(2) + 1).pow(2)
    return alpha[(r_norm - r_aggd).abs().argmin(dim=-1)], sigma_l.squeeze(dim=-1), sigma_r.squeeze(dim=-1)


def _scene_statistics(luma: Any, g: Any) -> Any:
    """The 18 features of one scale: GGD fit of the MSCN coefficients, AGGD fits of their products
    with 4 neighbours (horizontal, vertical, two diagonals; wrapped at the borders as MATLAB's
    ``circshift``), as in the authors' ``brisque_feature.m``; flat areas exact (module docstring)."""
    import torch

    mu = _gauss_sum(luma, g)
    sigma = (_gauss_sum(luma * luma, g) - mu * mu).abs().sqrt()
    dev = luma - mu
    mscn = torch.where(dev.abs() < FLAT, 0.0, dev) / (sigma + 1)
    alpha, s = _ggd(mscn)
    feats = [alpha, s * s]
    lg = torch.lgamma
    for shift in ((0, 1), (1, 0), (1, 1), (-1, 1)):
        alpha, left, right = _aggd(mscn * torch.roll(mscn, shifts=shift, dims=(-2, -1)))
        eta = (right - left) * torch.exp(lg(2 / alpha) - (lg(1 / alpha) + lg(3 / alpha)) / 2)
        feats += [alpha, eta, left * left, right * right]
    return torch.stack(feats, dim=-1)


def register(reg: Registry[MetricInfo]) -> None:
    """Register ``brisque``."""
    reg.register(
        "brisque",
        lambda store=None: BRISQUE((store or WeightsStore()).resolve(SVR)),
        MetricInfo(
            kind="nr",
            higher_is_better=False,
            value_range=(float("-inf"), float("inf")),
            colour="yiq luma x255 rounded (MATLAB rgb2gray); grey as is",
            crop="scale",
            description="BRISQUE, LIVE allmodel SVR (gamma 0.05, rho -153.591), 7x7 Gaussian 7/6, two scales; "
                        "flat areas as in exact arithmetic",
            weights=(SVR,),
            perceptual=True,
            precision="float64",
        ),
    )
