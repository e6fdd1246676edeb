"""BRISQUE (Mittal, Moorthy, Bovik 2012) with the LIVE SVR model, through piq's feature code.

piq 0.8 computes the 36 natural-scene-statistics features the way the authors' MATLAB code does
(RGB -> rounded full-range YIQ luma on 0..255, as MATLAB's uint8 ``rgb2gray``; a grey image as it
is; two scales, the second by MATLAB-style bicubic 1/2), and scores them with the LIVE SVR. We reuse
its feature functions but not its scorer, which downloads the SVR with ``torch.hub`` at call time:
here the support vectors come from the weights store, verified by sha256.

Computed in float64 (piq: float32), with piq's own 2-D ``conv2d`` for the local mean and variance,
although torch's float64 convolution is slow on the CPU (~0.3x of piq's time): in flat regions the
variance ``E[x^2] - E[x]^2`` cancels and the AGGD fits (a grid search) jump, so the summation order
alone moves features by up to 1e-2 (measured on Set14 ``ppt3``; a scipy separable filter moved the
Set14 x4 bicubic mean from 59.592 to 59.650). Keeping piq's exact computation keeps our values
those of the implementation that reproduces the MATLAB baselines.
"""

from __future__ import annotations

from pathlib import Path

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
        from piq.brisque import _natural_scene_statistics, _scale_features
        from piq.functional import imresize, rgb2yiq

        with torch.inference_mode():
            x = as_tensor(img, dtype=torch.float64) * 255
            if x.shape[1] == 3:
                x = torch.round(rgb2yiq(x)[:, :1])
            feats = []
            for _ in range(2):
                feats.append(_natural_scene_statistics(x, 7, 7 / 6))
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
            perceptual=True,
            precision="float64",
        ),
    )
