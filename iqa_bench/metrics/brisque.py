"""BRISQUE (Mittal, Moorthy, Bovik 2012) with the LIVE SVR model, through piq's feature code.

piq 0.8 computes the 36 natural-scene-statistics features the way the authors' MATLAB code does
(RGB -> rounded full-range YIQ luma on 0..255, as MATLAB's uint8 ``rgb2gray``; a grey image as it
is; two scales, the second by MATLAB-style bicubic 1/2), and scores them with the LIVE SVR. We reuse
its feature functions but not its scorer, which downloads the SVR with ``torch.hub`` at call time:
here the support vectors come from the weights store, verified by sha256.

Computed in float64. Two departures from piq's code, both about rounding, none about the formula:

* In a flat neighbourhood the deviation from the local mean is 0 in exact arithmetic, but the
  7x7 Gaussian sum leaves +-1e-13, and the signs of products of such neighbours decide on which side
  of the AGGD fits they are counted. On an image with flat areas that decides the score: TID2013
  I19 (the IQA-PyTorch calibration image) scores 66.38 with torch's ``conv2d``, 64.2-64.7 with the
  same sums taken in other orders, 72.26 in the authors' MATLAB code; Set14 ``ppt3`` x4 bicubic 39.81
  with ``conv2d`` and 45.32 in another order. It would differ between CPUs and BLAS builds.
  Deviations below :data:`FLAT` (luma on 0..255; a real one is at least ~1e-4 at the first scale,
  a Gaussian weight times one grey level) are therefore set to 0: flat areas count as they do in
  exact arithmetic, and the score no longer depends on the order of the sums (tested).
* The local sums are 49 fused multiply-adds in a fixed order over shifted views (``_gauss_sum``)
  rather than torch's float64 ``conv2d``, a slow path on the CPU (3x the time of the whole metric).
Images without flat areas keep their values (the MATLAB oracles and three of the five calibration
images hold; others move by ~1e-11); those with flat areas (I19 above: 74.43) do not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

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
        from piq.functional import gaussian_filter, imresize, rgb2yiq

        with torch.inference_mode():
            x = as_tensor(img, dtype=torch.float64) * 255
            if x.shape[1] == 3:
                x = torch.round(rgb2yiq(x)[:, :1])
            kernel = gaussian_filter(kernel_size=7, sigma=7 / 6, dtype=torch.float64).reshape(7, 7)
            feats = []
            for _ in range(2):
                feats.append(_scene_statistics(x, kernel))
                x = imresize(x, sizes=(x.shape[2] // 2, x.shape[3] // 2))
            f = _scale_features(torch.cat(feats, dim=-1))[0]
            kernel = torch.exp(-GAMMA * ((f[None, :] - self.sv) ** 2).sum(dim=1))
            return float(kernel @ self.sv_coef - RHO)


def _gauss_sum(x: Any, kernel: Any) -> Any:
    """``sum_k kernel[k] * x[shifted by k]`` over a zero-padded ``x`` ``(N, 1, H, W)``: the same
    "same"-size correlation as ``conv2d(x, kernel, padding=k // 2)``, one fused multiply-add per tap."""
    import torch
    import torch.nn.functional as F

    k = kernel.shape[-1]
    h, w = x.shape[-2:]
    padded = F.pad(x, (k // 2,) * 4)
    acc = torch.zeros_like(x)
    for i in range(k):
        for j in range(k):
            acc = torch.addcmul(acc, padded[..., i : i + h, j : j + w], kernel[i, j])
    return acc


def _scene_statistics(luma: Any, kernel: Any) -> Any:
    """The 18 features of one scale: GGD fit of the MSCN coefficients, AGGD fits of their products
    with 4 neighbours (horizontal, vertical, two diagonals; wrapped at the borders as MATLAB's
    ``circshift``), as in the authors' ``brisque_feature.m``; flat areas exact (module docstring)."""
    import torch
    from piq.brisque import _aggd_parameters, _ggd_parameters

    mu = _gauss_sum(luma, kernel)
    sigma = (_gauss_sum(luma * luma, kernel) - mu * mu).abs().sqrt()
    dev = luma - mu
    mscn = torch.where(dev.abs() < FLAT, 0.0, dev) / (sigma + 1)
    alpha, s = _ggd_parameters(mscn)
    feats = [alpha, s * s]
    for shift in ((0, 1), (1, 0), (1, 1), (-1, 1)):
        alpha, left, right = _aggd_parameters(mscn * torch.roll(mscn, shifts=shift, dims=(-2, -1)))
        lg = torch.lgamma
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
