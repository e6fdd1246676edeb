"""FSIM and FSIMc, the feature similarity index (Zhang, Zhang, Mou & Zhang 2011); higher is better, on [0, 1].

Conventions, those of piq's ``fsim`` (from the authors' MATLAB code): images on 0..255, averaged in
``k x k`` blocks with ``k = max(1, round(min(H, W) / 256))`` (no padding: a remainder is dropped); an
RGB image in full-range YIQ (``Y = 0.299 R + 0.587 G + 0.114 B``, ``I = 0.5959 R - 0.2746 G - 0.3213 B``,
``Q = 0.2115 R - 0.5227 G + 0.3112 B``), a grey image used as it is; the luma's phase congruency (piq's
own functions: log-Gabor filters at 4 scales x 4 orientations, minimum wavelength 6, factor 2,
sigma_f 0.55, delta_theta 1.2, noise k = 2) and Scharr gradient magnitude; similarities with
``T1 = 0.85`` (phase congruency) and ``T2 = 160`` (gradient), pooled with the larger phase congruency as
the weight. ``fsimc`` also multiplies by ``|S_I S_Q|^0.03`` (``T3 = T4 = 200``); a grey image has no
chroma and gets its luma-only score. Float32.

Written here around piq's building blocks instead of calling ``piq.fsim`` (whose value it equals,
tested): the engine scores every model's output against the same HR image, so the HR image's phase
congruency, gradient map and chroma are computed once (``FSIM.reference``), and the log-Gabor filters
once for the HR image and its outputs. The phase congruency is piq's ``_phase_congruency``, step for
step, except that what depends on the filters only (their inverse FFTs, i.e. 16 of the 33 FFTs per
image, and the noise model's filter sums) is computed once per image size (:class:`_FilterBank`).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from iqa_bench.data.colour import yiq_torch
from iqa_bench.metrics._torch import FeatureMetric, as_tensor, gradient_kernels, ieee_fp32, resolve_device
from iqa_bench.metrics.base import YIQ_COLOUR, MetricInfo
from iqa_bench.registry import Registry

T1, T2, T3, T4, LAMBDA = 0.85, 160.0, 200.0, 200.0, 0.03
# A direct call makes its two images' features on two threads: one builds a new size's filter bank,
# the other waits for it instead of building it again (module-wide: an FSIM stays picklable).
_BANK_LOCK = threading.Lock()


class FSIM(FeatureMetric):
    """``metric(sr, hr) -> float`` on ``(H, W, C)`` float images on [0, 1], C = 1 or 3."""

    def __init__(self, chromatic: bool, device: str | None = "cpu") -> None:
        self.name = "fsimc" if chromatic else "fsim"
        self.chromatic = chromatic
        self.device = resolve_device(device)
        self.kernels = gradient_kernels("scharr", self.device)
        self._bank: _FilterBank | None = None  # the last size's only: 16 maps of its size

    def features(self, img: np.ndarray) -> tuple[Any, Any, Any | None]:
        """The (block-averaged) luma's phase congruency and gradient magnitude, and for ``fsimc`` on RGB
        the I and Q channels; 0..255 units, float32."""
        import torch.nn.functional as F
        from piq.functional import gradient_map

        x = as_tensor(img, device=self.device) * 255
        x = F.avg_pool2d(x, max(1, round(min(x.shape[-2:]) / 256)))
        yiq = yiq_torch(x) if x.shape[1] == 3 else x
        y = yiq[:, :1]
        with _BANK_LOCK:
            if self._bank is None or self._bank.size != tuple(y.shape[-2:]):  # an SR image has its HR image's size
                self._bank = _FilterBank(y)
            bank = self._bank
        with ieee_fp32():
            pc = bank.phase_congruency(y)
            grad = gradient_map(y, self.kernels)
        return pc, grad, yiq[:, 1:] if self.chromatic and yiq.shape[1] == 3 else None

    def score(self, sr_features: tuple[Any, Any, Any | None], hr_features: tuple[Any, Any, Any | None]) -> float:
        import torch

        (pc, grad, iq), (pc_ref, grad_ref, iq_ref) = sr_features, hr_features
        weight = torch.maximum(pc, pc_ref)
        sim = _similarity(pc, pc_ref, T1) * _similarity(grad, grad_ref, T2) * weight
        if iq is not None:
            s_i = _similarity(iq[:, :1], iq_ref[:, :1], T3)
            s_q = _similarity(iq[:, 1:], iq_ref[:, 1:], T4)
            sim = sim * torch.abs(s_i * s_q) ** LAMBDA
        return float(sim.sum() / weight.sum())


class _FilterBank:
    """piq's log-Gabor filters (4 scales x 4 orientations) for one image size, with the terms of
    piq's phase congruency that depend on them only, computed once."""

    SCALES, ORIENTATIONS, K = 4, 4, 2.0  # piq's defaults: scales, orientations, noise threshold in std devs

    def __init__(self, like: Any) -> None:
        import math

        import torch
        from piq.fsim import _construct_filters

        self.size = tuple(like.shape[-2:])
        h, w = self.size
        o, s = self.ORIENTATIONS, self.SCALES
        with ieee_fp32():
            self.filters = _construct_filters(like, scales=s, orientations=o)
            spatial = (torch.fft.ifft2(self.filters).real * math.sqrt(h * w)).view(1, o, s, h, w)
            # mean squared filter value at the smallest scale (noise estimation)
            self.em_n = (self.filters.view(1, o, s, h, w)[:, :, :1] ** 2).sum(dim=[-2, -1], keepdim=True)
            sum_an2 = torch.sum(spatial**2, dim=-3, keepdim=True)
            sum_ai_aj = torch.zeros(1, o, 1, h, w, dtype=like.dtype, device=like.device)
            for i in range(s - 1):
                sum_ai_aj = sum_ai_aj + (spatial[:, :, i:i + 1] * spatial[:, :, i + 1:]).sum(dim=-3, keepdim=True)
            self.sum_an2 = torch.sum(sum_an2, dim=[-1, -2], keepdim=True)
            self.sum_ai_aj = torch.sum(sum_ai_aj, dim=[-1, -2], keepdim=True)

    def phase_congruency(self, x: Any) -> Any:
        """``(N, 1, H, W)`` -> ``(N, 1, H, W)`` phase congruency (Kovesi's PC_2, as piq computes it)."""
        import math

        import torch

        eps = torch.finfo(x.dtype).eps
        n, _, h, w = x.shape
        o, s = self.ORIENTATIONS, self.SCALES
        even_odd = torch.view_as_real(torch.fft.ifft2(torch.fft.fft2(x) * self.filters)).view(n, o, s, h, w, 2)
        an = torch.sqrt(torch.sum(even_odd**2, dim=-1))
        even, odd = even_odd[..., 0], even_odd[..., 1]
        sum_e, sum_o = even.sum(dim=2, keepdim=True), odd.sum(dim=2, keepdim=True)
        x_energy = torch.sqrt(sum_e**2 + sum_o**2) + eps
        mean_e, mean_o = sum_e / x_energy, sum_o / x_energy
        energy = (even * mean_e + odd * mean_o - torch.abs(even * mean_o - odd * mean_e)).sum(dim=2, keepdim=True)
        # noise power from the median squared response at the smallest scale (Rayleigh model)
        abs_eo = torch.sqrt(torch.sum(even_odd[:, :, :1] ** 2, dim=-1)).reshape(n, o, 1, 1, h * w)
        median_e2n = torch.median(abs_eo**2, dim=-1, keepdim=True).values
        noise_power = (-median_e2n / math.log(0.5)) / self.em_n
        noise_energy2 = 2 * noise_power * self.sum_an2 + 4 * noise_power * self.sum_ai_aj
        tau = torch.sqrt(noise_energy2 / 2)
        threshold = (tau * math.sqrt(math.pi / 2) + self.K * torch.sqrt((2 - math.pi / 2) * tau**2)) / 1.7
        energy = torch.max(energy - threshold, torch.zeros_like(threshold))
        return ((energy.sum(dim=[1, 2]) + eps) / (an.sum(dim=[1, 2]) + eps)).unsqueeze(1)


def _similarity(a: Any, b: Any, c: float) -> Any:
    return (2 * a * b + c) / (a**2 + b**2 + c)


def register(reg: Registry[MetricInfo]) -> None:
    """Register ``fsim`` (luma only) and ``fsimc`` (chromatic)."""
    for name, chromatic, colour, what in (
        ("fsim", False, YIQ_COLOUR + "; luma only", "FSIM (Zhang 2011), luma only"),
        ("fsimc", True, "yiq (Y, I and Q); grey: luma only", "FSIMc (Zhang 2011), chromatic"),
    ):
        reg.register(
            name,
            lambda device="cpu", chromatic=chromatic: FSIM(chromatic, device),
            MetricInfo(
                kind="fr",
                higher_is_better=True,
                value_range=(0.0, 1.0),
                colour=colour,
                crop="scale",
                description=f"{what}, 4 scales x 4 orientations, built-in avg-pool by round(min(H,W)/256) "
                            "(piq's conventions and phase congruency, float32)",
                devices=("cpu", "cuda"),
                precision="float32",
            ),
        )
