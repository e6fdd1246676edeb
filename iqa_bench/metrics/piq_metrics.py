"""Full-reference metrics computed by piq 0.8 (Kastryulin et al.), wrapped with explicit conventions.

Colour: these metrics keep their authors' colour handling, which piq reproduces from the original
MATLAB code: an RGB image is converted to full-range YIQ (Y = 0.299R + 0.587G + 0.114B), *not* the
BT.601 limited-range luma of ``psnr_y``/``ssim_y``; a grey image is used as it is. Each metric's
``colour`` metadata says which, and the run manifest records it. (MS-SSIM, VIF-P, FSIM, GMSD, MS-GMSD,
HaarPSI, SR-SIM, VSI, MDSI and DSS follow piq's conventions in modules of their own, which compute the HR side
once.)

Inputs: float ``(H, W, C)`` in [0, 1], passed with ``data_range=1``; piq rescales to 0..255 where
the original constants expect it. Computed in float32 (piq's own precision; torch's float64
convolutions on the CPU are 2-18x slower; ``precision`` of a spec can say float64, as DSS needed).
Measured float32-float64 differences on a real pair: <= 1.2e-6; every published or official value in
the tests is still met.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from iqa_bench.errors import InputError
from iqa_bench.metrics._torch import as_tensor, ieee_fp32, resolve_device
from iqa_bench.metrics.base import MetricInfo, check_pair, check_shape
from iqa_bench.registry import Registry

YIQ_COLOUR = "yiq luma 0.299/0.587/0.114 (authors' MATLAB); grey as is"  # the colour metadata of these metrics


@dataclass(frozen=True)
class _Spec:
    function: str
    higher_is_better: bool
    value_range: tuple[float, float]
    colour: str
    description: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    precision: str = "float32"


SPECS: dict[str, _Spec] = {
    "iw_ssim": _Spec("information_weighted_ssim", True, (0.0, 1.0), YIQ_COLOUR,
                     "IW-SSIM (Wang & Li 2011), 5 scales, parent band on"),
}


class PiqMetric:
    """``metric(sr, hr) -> float`` for one piq function with fixed, recorded options."""

    def __init__(self, name: str, spec: _Spec, device: str | None = "cpu") -> None:
        import piq
        import torch

        self.name = name
        self.fn: Callable[..., Any] = getattr(piq, spec.function)
        self.kwargs = {"data_range": 1.0, "reduction": "none", **spec.kwargs}
        self.device = resolve_device(device)
        self.dtype = {"float32": torch.float32, "float64": torch.float64}[spec.precision]

    def reference(self, hr: np.ndarray) -> Any:
        """The HR image as the tensor piq takes, converted once per HR image (the engine reuses it for
        every model's output)."""
        return as_tensor(hr, device=self.device, dtype=self.dtype)

    def compare(self, sr: np.ndarray, ref: Any) -> float:
        """The metric of ``sr`` against a :meth:`reference`."""
        import torch

        check_shape(sr, (*ref.shape[2:], ref.shape[1]), self.name)
        x = as_tensor(sr, device=self.device, dtype=self.dtype)
        with warnings.catch_warnings(), torch.inference_mode(), ieee_fp32():
            warnings.filterwarnings("ignore", message=r"The original \w+ supports only RGB")  # grey -> RGB, documented
            try:
                value = self.fn(x, ref, **self.kwargs)
            except (AssertionError, ValueError) as exc:  # piq validates with assert/ValueError: make it readable
                raise InputError(
                    f"{self.name} cannot score a {sr.shape[1]}x{sr.shape[0]} image: {exc}",
                    f"drop {self.name} from --metrics for images this small",
                ) from None
        return float(value.reshape(-1)[0])

    def __call__(self, sr: np.ndarray, hr: np.ndarray) -> float:
        check_pair(sr, hr, self.name)
        return self.compare(sr, self.reference(hr))


def total_variation(img: np.ndarray) -> float:
    """Anisotropic total variation per pixel: mean |dx| + mean |dy| over all channels, [0, 1] units.

    Written with numpy rather than ``piq.total_variation``, whose value is a sum over the image and
    so grows with image size; a per-pixel mean is comparable across images.
    """
    x = img.astype(np.float64, copy=False)
    return float(np.abs(np.diff(x, axis=1)).mean() + np.abs(np.diff(x, axis=0)).mean())


def register(reg: Registry[MetricInfo]) -> None:
    """Register the piq full-reference metrics of :data:`SPECS` and ``tv``."""
    for name, spec in SPECS.items():
        reg.register(
            name,
            lambda device="cpu", name=name, spec=spec: PiqMetric(name, spec, device),
            MetricInfo(
                kind="fr",
                higher_is_better=spec.higher_is_better,
                value_range=spec.value_range,
                colour=spec.colour,
                crop="scale",
                description=f"{spec.description} (piq.{spec.function}, {spec.precision})",
                devices=("cpu", "cuda"),
                precision=spec.precision,
            ),
        )
    reg.register(
        "tv",
        lambda: total_variation,
        MetricInfo(
            kind="nr",
            higher_is_better=False,
            value_range=(0.0, 2.0),
            colour="rgb (grey as is)",
            crop="scale",
            description="total variation per pixel, mean|dx| + mean|dy| on [0,1]: smoothness/noise, not quality alone",
            precision="float64",
        ),
    )
