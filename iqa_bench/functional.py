"""Image metrics as plain functions, the way BasicSR and torchmetrics users call them.

Every function here is a thin front door to the registered metric of the same name (one
implementation for the CLI, the engine and this module): ``fn(pred, target, *, crop_border=0,
data_range=None)`` for full-reference metrics and ``fn(img, *, crop_border=0, data_range=None)``
for no-reference ones.

Inputs
    numpy arrays ``(H, W)``, ``(H, W, C)`` or a batch ``(N, H, W, C)``; or torch tensors ``(C, H, W)``
    or ``(N, C, H, W)`` (moved to the CPU; no gradient). C is 1 (grey, scored as it is) or 3 (RGB).
``data_range``
    None: integer images by their dtype (uint8 / 255, uint16 / 65535), float images must be on
    [0, 1]. A number: the images are divided by it first (e.g. ``data_range=255`` for float images
    on 0..255).
``crop_border``
    Pixels dropped from every border before scoring (the SR convention is the scale factor).

Returns a float for one image, a numpy array of per-image values for a batch.

>>> import numpy as np
>>> from iqa_bench import functional as F
>>> hr = np.full((16, 16, 3), 128, np.uint8)
>>> round(F.psnr(hr + 2, hr), 2)
42.11
>>> F.psnr_y(np.stack([hr + 2, hr + 4]), np.stack([hr, hr]), crop_border=2).round(2)
array([43.43, 37.41])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from iqa_bench.errors import InputError

__all__ = ["score", "psnr", "psnr_y", "ssim", "ssim_y", "ms_ssim", "cw_ssim", "nlpd", "lpips", "dists", "niqe",
           "brisque", "piqe", "entropy"]


def _to_numpy(x: Any, role: str) -> np.ndarray:
    """numpy ``(N, H, W, C)`` from numpy HW/HWC/NHWC or torch CHW/NCHW."""
    if type(x).__module__.startswith("torch"):
        t = x.detach().cpu()
        if t.ndim not in (3, 4):
            raise InputError(f"the {role} tensor has shape {tuple(t.shape)}", "pass (C, H, W) or (N, C, H, W)")
        a = t.numpy()
        return np.moveaxis(a if a.ndim == 4 else a[None], 1, -1)
    if not isinstance(x, np.ndarray):
        raise InputError(f"the {role} is a {type(x).__name__}", "pass a numpy array or a torch tensor")
    if x.ndim == 2:
        return x[None, ..., None]
    if x.ndim == 3:
        return x[None]
    if x.ndim == 4:
        return x
    raise InputError(f"the {role} array has shape {x.shape}", "pass (H, W), (H, W, C) or (N, H, W, C)")


def _prepare(x: Any, role: str, crop_border: int, data_range: float | None) -> np.ndarray:
    if crop_border < 0:
        raise InputError(f"crop_border {crop_border} is negative", "pass a number of pixels >= 0")
    a = _to_numpy(x, role)
    if data_range is not None:
        if data_range <= 0:
            raise InputError(f"data_range {data_range} is not positive", "e.g. data_range=255")
        a = a.astype(np.float64) / float(data_range)
    if crop_border:
        if min(a.shape[1:3]) <= 2 * crop_border:
            raise InputError(f"crop_border {crop_border} leaves nothing of a {a.shape[1]}x{a.shape[2]} {role}",
                             "use a smaller crop_border")
        a = a[:, crop_border:-crop_border, crop_border:-crop_border]
    return a


def score(name: str, pred: Any, target: Any = None, *, crop_border: int = 0, data_range: float | None = None,
          device: str | None = None) -> float | np.ndarray:
    """The registered image metric ``name`` on one image or a batch (see the module docstring)."""
    from iqa_bench.metrics import create_metric

    metric = create_metric(name, device=device)
    p = _prepare(pred, "prediction", crop_border, data_range)
    if metric.info.kind == "nr":
        if target is not None:
            raise InputError(f"{name} is a no-reference metric", f"call {name}(img)")
        values = [metric(img) for img in p]
    else:
        if target is None:
            raise InputError(f"{name} needs a reference", f"call {name}(pred, target)")
        t = _prepare(target, "target", crop_border, data_range)
        if p.shape[0] != t.shape[0]:
            raise InputError(f"{p.shape[0]} predictions but {t.shape[0]} targets", "pass batches of the same size")
        values = [metric(a, b) for a, b in zip(p, t)]
    return float(values[0]) if _single(pred) else np.array(values)


def _single(x: Any) -> bool:
    """Whether ``x`` is one image (not a batch): numpy HW/HWC or torch CHW."""
    return (x.ndim == 3) if type(x).__module__.startswith("torch") else x.ndim in (2, 3)


def _fr(name: str, doc: str):
    def fn(pred: Any, target: Any, *, crop_border: int = 0, data_range: float | None = None,
           device: str | None = None) -> float | np.ndarray:
        return score(name, pred, target, crop_border=crop_border, data_range=data_range, device=device)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"{doc}\n\nSee :mod:`iqa_bench.functional` for inputs, ``crop_border`` and ``data_range``."
    return fn


def _nr(name: str, doc: str):
    def fn(img: Any, *, crop_border: int = 0, data_range: float | None = None,
           device: str | None = None) -> float | np.ndarray:
        return score(name, img, crop_border=crop_border, data_range=data_range, device=device)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"{doc}\n\nSee :mod:`iqa_bench.functional` for inputs, ``crop_border`` and ``data_range``."
    return fn


psnr = _fr("psnr", "PSNR in dB over RGB (grey as is), images on [0, 1]; +inf for identical images.")
psnr_y = _fr("psnr_y", "PSNR in dB on BT.601 luma (MATLAB rgb2ycbcr, not rounded; grey as is): the SR papers' PSNR.")
ssim = _fr("ssim", "SSIM (Gaussian 11, sigma 1.5, valid filtering, no downsampling), mean over RGB channels.")
ssim_y = _fr("ssim_y", "SSIM on BT.601 luma (grey as is): the SR papers' SSIM.")
ms_ssim = _fr("ms_ssim", "MS-SSIM (piq's conventions), RGB per channel.")
cw_ssim = _fr("cw_ssim", "CW-SSIM (Sampat et al. 2009): complex steerable pyramid level 4, 8 orientations, on MATLAB "
              "rgb2gray; 1 for equal images.")
nlpd = _fr("nlpd", "NLPD (Laparra et al. 2016): normalised Laplacian pyramid distance on MATLAB rgb2gray; 0 for equal "
           "images, lower is better.")
lpips = _fr("lpips", "LPIPS v0.1, AlexNet trunk (lower is better); needs its weights file.")
dists = _fr("dists", "DISTS with the official weights (lower is better); needs its weights files.")
niqe = _nr("niqe", "NIQE with the LIVE pristine model (lower is better); images of at least 96x96 pixels.")
brisque = _nr("brisque", "BRISQUE with the LIVE SVR (lower is better).")
piqe = _nr("piqe", "PIQE as MATLAB's piqe (0 best .. 100 worst), on MATLAB rgb2gray.")
entropy = _nr("entropy", "Entropy in bits of the 8-bit grey histogram (MATLAB entropy of rgb2gray).")
