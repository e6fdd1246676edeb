"""INT8 calibration inputs: LR patches from a folder of HR images, degraded like the test data.

Each image is degraded with the MATLAB bicubic (the same 1/s as the benchmark's LR), random LR
patches are cut from it, and the network's own input preparation (luma, pre-upsampling, value
range, valid padding) is applied, so the calibrated ranges are those the network sees at test time.
The calibration set must never be the test set (default: T91, the SR training images).
"""

from __future__ import annotations

import dataclasses

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from iqa_bench.data.degrade import DEGRADATIONS, modcrop
from iqa_bench.errors import InputError
from iqa_bench.io import list_images, read_image

METHODS = ("minmax", "entropy", "percentile")
ACTIVATIONS = ("symmetric", "asymmetric")
FLOAT_PRECISIONS = ("f32", "bf16")
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
    files
        Only these file names of ``folder`` (None: every image in it); the built-in default set
        picks a few photos out of a package's data folder this way.
    float_ends
        Keep the image-facing convolutions (<= 3 channels in or out) in float, the usual practice for
        SR networks: they touch image-domain values, whose int8 steps show directly in the output.
        Measured on Set5 x2 against fp32 (T91, 24 patches, minmax): SRCNN 41.9 -> 48.8 dB, FSRCNN
        34.9 -> 36.2, VDSR 44.6 -> 44.7. ``--int8-image-layers int8`` quantizes them too (OpenVINO
        int8 and the QDQ file; torchao keeps them in float and refuses).
    float_input_only
        With ``float_ends``, keep only the convolutions that *read* the image (<= 3 channels in) in
        float and quantize those that write it (``--int8-image-layers input``, OpenVINO int8 only):
        on SRGAN the input convolution carries the quality, the output one at HR the time.
    sensitive_float
        Also keep this many inner convolutions in float: the most sensitive ones by a per-layer
        sweep on the calibration patches (OpenVINO and torchao int8; 0: none, no sweep).
    activations
        int8 activation ranges: ``symmetric`` (zero point 0; the QDQ file TensorRT takes needs it),
        ``asymmetric`` (a zero point per tensor, so a range such as PReLU/LeakyReLU outputs, mostly
        positive with a small negative tail, gets all 256 steps), or None: the backend's own
        (OpenVINO int8: asymmetric, rebuilt symmetric where OpenVINO cannot run that model; OpenVINO
        int8-qat and the QDQ file: symmetric; torchao: asymmetric). A backend that cannot honour an
        explicit choice refuses it.
    float_precision
        What the layers kept in float compute in (OpenVINO int8): ``f32``, or ``bf16`` (AMX /
        AVX-512 BF16; OpenVINO falls back to f32 on a CPU without them, and the manifest says so).
        A run-time setting: the int8 file is the same, the outputs are not.
    smooth_quant
        SmoothQuant (Xiao et al. 2023) on the convolutions, OpenVINO int8 only: each convolution's
        input channels divided by ``max|x_c|^a / max|w_c|^(1-a)`` and its weights multiplied by it,
        so that an activation channel with outliers stops setting the int8 step of all the others;
        ``a`` the migration strength in (0, 1], 0 off, None the backend's own (OpenVINO int8: see
        :data:`iqa_bench.deploy.quantize.SMOOTH_QUANT_ALPHA`; elsewhere off), ``"auto"`` the strength
        of :data:`iqa_bench.deploy.quantize.SMOOTH_QUANT_GRID` (0 included) whose int8 network is
        closest to FP32 on the calibration patches (output SNR), chosen in the build and recorded.
        NNCF applies it with its transformer scheme, which also leaves additions (residual streams)
        in float and quantizes convolution inputs only; OpenVINO int8 uses that scheme at 0 too.
    """

    folder: Path
    method: str = "minmax"
    patches: int = 64
    patch: int = 48
    seed: int = 0
    percentile: float = 99.999
    float_ends: bool = True
    float_input_only: bool = False
    files: tuple[str, ...] | None = None
    sensitive_float: int = 0
    activations: str | None = None
    float_precision: str = "f32"
    smooth_quant: float | str | None = None

    def images(self) -> list[Path]:
        """The calibration image files, sorted by name."""
        found = list_images(self.folder)
        return found if self.files is None else [p for p in found if p.name in self.files]

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"unknown calibration method {self.method!r}", f"use one of {', '.join(METHODS)}")
        if isinstance(self.sensitive_float, bool) or not isinstance(self.sensitive_float, int) or self.sensitive_float < 0:
            raise InputError(f"sensitive_float {self.sensitive_float!r} is not a count of layers", "pass 0 or more")
        if self.activations is not None and self.activations not in ACTIVATIONS:
            raise InputError(f"unknown int8 activation mode {self.activations!r}",
                             f"use one of {', '.join(ACTIVATIONS)}")
        if self.float_precision not in FLOAT_PRECISIONS:
            raise InputError(f"unknown precision {self.float_precision!r} for the layers int8 keeps in float",
                             f"use one of {', '.join(FLOAT_PRECISIONS)}")
        a = self.smooth_quant
        strength = isinstance(a, (int, float)) and not isinstance(a, bool) and 0 <= a <= 1
        if a is not None and a != "auto" and not strength:
            raise InputError(f"SmoothQuant strength {a!r} is not in [0, 1] nor auto",
                             "pass --int8-smooth-quant with a value from 0 (off) to 1, e.g. 0.65, or auto")
        if self.float_input_only and not self.float_ends:
            raise InputError("float_input_only keeps the image-reading convolutions in float, but float_ends is off",
                             "pass --int8-image-layers float, input or int8")
        if not Path(self.folder).is_dir():
            raise InputError(f"calibration folder not found: {self.folder}",
                             "pass --calib with a folder of training images (e.g. T91), never the test set")

    def identity(self, recipe: object) -> dict[str, object]:
        """What a calibrated variant's result cells are keyed by: this set's content hash, method and
        patch count, and the quantization ``recipe`` that used it."""
        return {"content": self.content_hash(), "method": self.method, "patches": self.patches, "recipe": recipe,
                **({"activations": self.activations} if self.activations else {}),
                **({"float_precision": self.float_precision} if self.float_precision != "f32" else {}),
                **({"smooth_quant": self.smooth_quant} if self.smooth_quant is not None else {}),
                **({"image_layers": "input"} if self.float_input_only else {})}

    def content_hash(self) -> str:
        """sha256 over the images' names and bytes and every option: the artefact cache key part."""
        h = hashlib.sha256()
        files = self.images()
        if not files:
            raise InputError(f"calibration folder {self.folder} has no images", "put PNG/JPEG training images in it")
        for p in files:
            h.update(p.name.encode())
            h.update(hashlib.sha256(p.read_bytes()).digest())
        h.update(f"{self.method}|{self.patches}|{self.patch}|{self.seed}|{self.percentile}|{self.float_ends}".encode())
        if self.sensitive_float:  # appended only when set: artefacts made without a sweep keep their key
            h.update(f"|sensitive_float={self.sensitive_float}".encode())
        if self.activations:  # likewise
            h.update(f"|activations={self.activations}".encode())
        if self.smooth_quant is not None:  # likewise
            a = self.smooth_quant
            h.update(f"|smooth_quant={a if a == 'auto' else float(a)}".encode())
        if self.float_input_only:  # likewise
            h.update(b"|float_input_only")
        return h.hexdigest()


# The built-in calibration set: photos that ship inside the scikit-image wheel (no download) and are
# NOT among the built-in `default` evaluation images (astronaut, camera, chelsea, coffee), so that an
# int8 variant evaluated on the default data is never calibrated on it. Public domain / CC0.
# Colour photos only: a grey photo feeds a Y network full-range grey values where the test data's
# luma lies in [16, 235], which widens the activation ranges. Measured (OpenVINO int8 VDSR x2,
# 64 patches, dPSNR-Y vs fp32 on Set5 / Set14): with the grey photos brick, coins, grass, gravel
# and moon in the set -0.182 / -0.080 dB; colour photos only -0.079 / -0.033 (T91: -0.089 / -0.038).
BUILTIN_CALIB_FILES = ("hubble_deep_field.jpg", "motorcycle_left.png", "motorcycle_right.png", "retina.jpg",
                       "rocket.jpg")


def builtin_calibration(method: str = "minmax", patches: int = 64) -> CalibConfig:
    """The built-in calibration set (:data:`BUILTIN_CALIB_FILES` from scikit-image's data folder)."""
    import skimage

    return CalibConfig(Path(skimage.__file__).parent / "data", method=method, patches=patches,
                       files=BUILTIN_CALIB_FILES)


def resolve_calibration(folder: str | Path | None = None, method: str = "minmax", patches: int = 64,
                        **recipe: Any) -> CalibConfig:
    """Calibration from ``folder``, else from ``$IQA_BENCH_CALIB``, else the built-in set
    (:func:`builtin_calibration`; photos that are not the built-in evaluation images), with the
    int8 recipe options ``recipe`` (:class:`CalibConfig` fields: ``sensitive_float``,
    ``activations``, ``float_precision``, ``smooth_quant``, ``float_ends``, ``float_input_only``)."""
    if patches < 1:
        raise InputError(f"{patches} calibration patches: at least one is needed", "e.g. --calib-patches 64")
    folder = folder or os.environ.get(ENV_CALIB) or None
    base = CalibConfig(Path(folder), method=method, patches=patches) if folder else builtin_calibration(method, patches)
    return dataclasses.replace(base, **recipe)


def calibration_inputs(cfg: CalibConfig, scale: int, prepare: Callable[[np.ndarray, int], np.ndarray],
                       shrink: int = 0) -> list[np.ndarray]:
    """``cfg.patches`` network inputs ``(1, C, H, W)`` float32, from LR patches of ``cfg.folder``.

    ``prepare(lr_uint8, scale) -> (C, H, W)`` is the runner's own input preparation
    (``network_input``); ``shrink``: replicate padding of a valid-padding network.
    """
    files = cfg.images()
    if not files:
        raise InputError(f"calibration folder {cfg.folder} has no images", "put PNG/JPEG training images in it")
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
