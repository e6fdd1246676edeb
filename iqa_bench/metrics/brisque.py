"""BRISQUE (Mittal, Moorthy, Bovik 2012) with the LIVE SVR model, through piq's feature code.

piq 0.8 computes the 36 natural-scene-statistics features the way the authors' MATLAB code does
(RGB -> rounded full-range YIQ luma on 0..255, as MATLAB's uint8 ``rgb2gray``; a grey image as it
is; two scales, the second by MATLAB-style bicubic 1/2), and scores them with the LIVE SVR. We reuse
its feature functions but not its scorer, which downloads the SVR with ``torch.hub`` at call time:
here the support vectors come from the weights store, verified by sha256. The local mean/variance
filter of the features (a 7x7 Gaussian, sigma 7/6, zero padding) is computed with scipy's
separable float64 filters instead of piq's 2-D ``conv2d``: same values (to 1e-12, tested), but
torch's float64 convolution on the CPU took 70 % of the metric's time.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from iqa_bench.metrics._torch import as_tensor
from iqa_bench.metrics.base import MetricInfo
from iqa_bench.registry import Registry
from iqa_bench.weights import WeightSpec, WeightsStore

if TYPE_CHECKING:
    import torch

SVR = WeightSpec(
    "nr/brisque_svm_weights_from_live_allmodel.pt",
    "5a0edbd65ecba3f268dbcbe6fb5d4429df0d5209df871efde079cabd824cedc9",
    source="LIVE's BRISQUE release (allmodel), as [sv_coef (N,1), sv (N,36)] tensors in piq's layout",
)
# SVR constants of LIVE's allmodel (libsvm epsilon-SVR, RBF kernel).
GAMMA = 0.05
RHO = -153.591


def _gaussian_1d(size: int = 7, sigma: float = 7 / 6) -> np.ndarray:
    c = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(c * c) / (2 * sigma * sigma))
    return g / g.sum()  # outer(g, g) is piq's normalised 2-D kernel


def natural_scene_statistics(luma: torch.Tensor) -> torch.Tensor:
    """piq's ``_natural_scene_statistics(luma, 7, 7/6)`` for one ``(1, 1, H, W)`` float64 image:
    the 18 MSCN / paired-product AGGD features of one scale."""
    import torch
    from piq.brisque import _aggd_parameters, _ggd_parameters
    from scipy.ndimage import correlate1d

    g = _gaussian_1d()
    a = luma[0, 0].numpy()

    def blur(img: np.ndarray) -> np.ndarray:
        return correlate1d(correlate1d(img, g, axis=0, mode="constant"), g, axis=1, mode="constant")

    mu = blur(a)
    std = np.sqrt(np.abs(blur(a * a) - mu * mu))
    x = torch.from_numpy((a - mu) / (std + 1.0))[None, None]
    alpha, sigma = _ggd_parameters(x)
    features = [alpha, sigma.pow(2)]
    for shift in ((0, 1), (1, 0), (1, 1), (-1, 1)):
        alpha, sigma_l, sigma_r = _aggd_parameters(x * torch.roll(x, shifts=shift, dims=(-2, -1)))
        eta = (sigma_r - sigma_l) * torch.exp(
            torch.lgamma(2.0 / alpha) - (torch.lgamma(1.0 / alpha) + torch.lgamma(3.0 / alpha)) / 2)
        features.extend((alpha, eta, sigma_l.pow(2), sigma_r.pow(2)))
    return torch.stack(features, dim=-1)


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
        from piq.functional import imresize, rgb2yiq

        with torch.inference_mode():
            x = as_tensor(img, dtype=torch.float64) * 255
            if x.shape[1] == 3:
                x = torch.round(rgb2yiq(x)[:, :1])
            feats = []
            for _ in range(2):
                feats.append(natural_scene_statistics(x))
                x = imresize(x, sizes=(x.shape[2] // 2, x.shape[3] // 2))
            f = _scale_features(torch.cat(feats, dim=-1))[0]
            kernel = torch.exp(-GAMMA * ((f[None, :] - self.sv) ** 2).sum(dim=1))
            return float(kernel @ self.sv_coef - RHO)


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
            description="BRISQUE, LIVE allmodel SVR (gamma 0.05, rho -153.591), 7x7 Gaussian 7/6, two scales",
            weights=(SVR,),
        ),
    )
