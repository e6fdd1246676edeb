"""INT8 calibration inputs: LR patches from a folder of HR images, degraded like the test data.

Each image is degraded with the MATLAB bicubic (the same 1/s as the benchmark's LR), random LR
patches are cut from it, and the network's own input preparation (luma, pre-upsampling, value
range, valid padding) is applied, so the calibrated ranges are those the network sees at test time.
The calibration set must never be the test set (default: T91, the SR training images).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from iqa_bench.data.degrade import DEGRADATIONS, modcrop
from iqa_bench.errors import InputError
from iqa_bench.io import list_images, read_image

METHODS = ("minmax", "entropy", "percentile")
ENV_CALIB = "IQA_BENCH_CALIB"


@dataclass(frozen=True)
class CalibConfig:
    """Where calibration patches come from and how ranges are computed.

    Attributes
    ----------
    folder
        Folder of HR images (never the test set).
    method
        ``minmax``, ``entropy`` (KL divergence) or ``percentile`` (``percentile`` of |x|).
    patches
        Number of LR patches (spread evenly over the images).
    patch
        LR patch side in pixels.
    seed
        Random seed of the patch positions.
    percentile
        For ``percentile`` only.
    float_ends
        Keep the first and the last convolution in float (the usual practice for SR networks: they
        touch image-domain values, whose int8 steps show directly in the output). Measured on Set5
        x2 against fp32 (T91, 24 patches, minmax): SRCNN 41.9 -> 48.8 dB, FSRCNN 34.9 -> 36.2, VDSR
        44.6 -> 44.7.
    """

    folder: Path
    method: str = "minmax"
    patches: int = 64
    patch: int = 48
    seed: int = 0
    percentile: float = 99.999
    float_ends: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"unknown calibration method {self.method!r}", f"use one of {', '.join(METHODS)}")
        if not Path(self.folder).is_dir():
            raise InputError(f"calibration folder not found: {self.folder}",
                             "pass --calib with a folder of training images (e.g. T91), never the test set")

    def content_hash(self) -> str:
        """sha256 over the images' names and bytes and every option: the artefact cache key part."""
        h = hashlib.sha256()
        files = list_images(self.folder)
        if not files:
            raise InputError(f"calibration folder {self.folder} has no images", "put PNG/JPEG training images in it")
        for p in files:
            h.update(p.name.encode())
            h.update(hashlib.sha256(p.read_bytes()).digest())
        h.update(f"{self.method}|{self.patches}|{self.patch}|{self.seed}|{self.percentile}|{self.float_ends}".encode())
        return h.hexdigest()


def resolve_calibration(folder: str | Path | None = None, method: str = "minmax",
                        patches: int = 64) -> "CalibConfig | None":
    """Calibration from ``folder``, else from ``$IQA_BENCH_CALIB``; None when neither is set."""
    folder = folder or os.environ.get(ENV_CALIB) or None
    return CalibConfig(Path(folder), method=method, patches=patches) if folder else None


def calibration_inputs(cfg: CalibConfig, scale: int, prepare: Callable[[np.ndarray, int], np.ndarray],
                       shrink: int = 0) -> list[np.ndarray]:
    """``cfg.patches`` network inputs ``(1, C, H, W)`` float32, from LR patches of ``cfg.folder``.

    ``prepare(lr_uint8, scale) -> (C, H, W)`` is the runner's own input preparation
    (``network_input``); ``shrink``: replicate padding of a valid-padding network.
    """
    files = list_images(cfg.folder)
    rng = np.random.default_rng(cfg.seed)
    degrade = DEGRADATIONS["matlab"]
    per_image = [cfg.patches // len(files) + (i < cfg.patches % len(files)) for i in range(len(files))]
    out: list[np.ndarray] = []
    for path, n in zip(files, per_image):
        if n == 0:
            continue
        hr = modcrop(read_image(path, drop_alpha=True)[0], scale)
        lr = degrade(hr, scale)
        h, w = lr.shape[:2]
        p = min(cfg.patch, h, w)
        for _ in range(n):
            y, x = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
            a = prepare(lr[y : y + p, x : x + p], scale)
            if shrink:
                a = np.pad(a, ((0, 0), (shrink, shrink), (shrink, shrink)), mode="edge")
            out.append(np.asarray(a[None], dtype=np.float32))
    # One shape for every sample (ORT's calibrators stack them): crop to the smallest.
    hmin = min(a.shape[2] for a in out)
    wmin = min(a.shape[3] for a in out)
    return [np.ascontiguousarray(a[:, :, :hmin, :wmin]) for a in out]
