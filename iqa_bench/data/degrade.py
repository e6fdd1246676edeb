"""Degradations that turn an HR image into the LR input of an SR model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from iqa_bench.data.imresize import imresize
from iqa_bench.io import round_half_up_uint8


@dataclass(frozen=True)
class BicubicDegradation:
    """MATLAB ``imresize(HR, 1/s, 'bicubic')`` rounded to uint8, with its two parity details explicit.

    Attributes
    ----------
    name
        Registered name, written into the run manifest.
    border, integer_intermediate
        Passed to :func:`iqa_bench.data.imresize.imresize`.
    description
        What the preset reproduces (and how that was measured).
    """

    name: str
    border: str
    integer_intermediate: bool
    description: str

    def __call__(self, hr: np.ndarray, scale: int) -> np.ndarray:
        """LR uint8 image of a mod-cropped uint8 or uint16 ``(H, W, C)`` HR image."""
        if hr.shape[0] % scale or hr.shape[1] % scale:
            raise ValueError(f"HR size {hr.shape[:2]} is not a multiple of scale {scale}; mod-crop it first")
        if hr.dtype == np.uint16:  # resize on the 0..255 scale in float; the LR is 8-bit by convention
            lr = imresize(hr.astype(np.float64) * (255.0 / 65535.0), 1.0 / scale, border=self.border)
            return round_half_up_uint8(lr)
        return imresize(hr, 1.0 / scale, border=self.border, integer_intermediate=self.integer_intermediate)


DEGRADATIONS: dict[str, BicubicDegradation] = {
    "matlab": BicubicDegradation(
        "matlab",
        border="replicate",
        integer_intermediate=True,
        description=(
            "MATLAB imresize bicubic on the uint8 image: edge-replicated borders, uint8 rounding after "
            "each pass; reproduces the SelfExSR Set5/Set14 LR files exactly"
        ),
    ),
    "basicsr": BicubicDegradation(
        "basicsr",
        border="symmetric",
        integer_intermediate=False,
        description=(
            "BasicSR matlab_functions.imresize on [0,1] floats: mirrored borders, rounded once; "
            "reproduces BasicSR's MATLAB parity table (baboon)"
        ),
    ),
}


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Top-left crop to a multiple of ``scale`` in height and width (BasicSR's GTmod)."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]
