"""The ``interp`` runner: MATLAB-style interpolation baselines (nearest, bilinear, bicubic, lanczos)."""

from __future__ import annotations

import numpy as np

from iqa_bench.data.imresize import KERNELS, imresize
from iqa_bench.models import ModelInfo
from iqa_bench.runners.base import RunnerInfo, Upscaler

INFO = RunnerInfo(
    description="MATLAB imresize interpolation in float64 (kernels: " + ", ".join(sorted(KERNELS)) + ")",
    variants=("fp64",),
    precision_free=True,
)


class InterpUpscaler(Upscaler):
    """Enlarge with one MATLAB ``imresize`` kernel; float between the two passes, rounded once."""

    def __init__(self, kernel: str) -> None:
        if kernel not in KERNELS:
            raise ValueError(f"unknown interpolation kernel {kernel!r}; choose one of {sorted(KERNELS)}")
        self.kernel = kernel

    def upscale(self, lr: np.ndarray, scale: int) -> np.ndarray:
        return imresize(lr.astype(np.float64), float(scale), kernel=self.kernel) / 255.0

    def upscale_uint8(self, lr: np.ndarray, scale: int) -> np.ndarray:
        # uint8 in -> rounded once on the 0..255 scale, as MATLAB does. The cubic weights are dyadic,
        # so exact .5 ties are common; rounding after a division by 255 would break some of them.
        return imresize(lr, float(scale), kernel=self.kernel)


def create(model: ModelInfo, variant: str, **_options: object) -> Upscaler:
    """Factory registered as the ``interp`` runner (device and other runner options do not apply)."""
    if variant not in INFO.variants:
        raise ValueError(f"the interp runner has variants {INFO.variants}, not {variant!r}")
    return InterpUpscaler(str(model.params.get("kernel", "bicubic")))
