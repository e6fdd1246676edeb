"""Metrics: one module per family; each registers its names with metadata in ``METRICS``."""

from __future__ import annotations

from iqa_bench.metrics import (
    brisque, cw_ssim, dss, entropy, fsim, gmsd, haarpsi, iw_ssim, mdsi, ms_ssim, niqe, nlpd, perceptual, piqe, psnr,
    srsim, ssim, tv, unavailable, vif, video, vsi,
)
import inspect
from typing import Any

from iqa_bench.metrics.base import CheckedMetric, CheckedReferenceMetric, FRMetric, MetricInfo, ReferenceCached
from iqa_bench.registry import Registry


def register_builtins(reg: Registry[MetricInfo]) -> None:
    """Register the built-in metrics (called once, on first use of ``METRICS``)."""
    psnr.register(reg)
    ssim.register(reg)
    niqe.register(reg)
    brisque.register(reg)
    piqe.register(reg)
    entropy.register(reg)
    cw_ssim.register(reg)
    nlpd.register(reg)
    dss.register(reg)
    fsim.register(reg)
    gmsd.register(reg)
    haarpsi.register(reg)
    srsim.register(reg)
    vsi.register(reg)
    mdsi.register(reg)
    ms_ssim.register(reg)
    vif.register(reg)
    iw_ssim.register(reg)
    perceptual.register(reg)
    tv.register(reg)
    unavailable.register(reg)
    video.register(reg)


METRICS: Registry[MetricInfo] = Registry("metric", register_builtins)


def create_metric(name: str, device: str | None = None, *, as_loss: bool = False, **options: Any) -> Any:
    """The metric ``name`` ready to call, behind the one input contract (:class:`CheckedMetric`).

    Image metrics are called ``metric(prediction, reference)`` (FR) or ``metric(image)`` (NR) with
    numpy ``(H, W[, C])`` arrays: uint8 and uint16 are converted by their range, floats must be on
    [0, 1]. ``device`` goes to metrics that run on one (``info.devices``); a metric that runs on the
    CPU only ignores ``"cpu"``/None and refuses others. Unknown ``options`` are refused. Video
    metrics take clips in the same order, ``metric(DistortedClip, ReferenceClip)``, and check their
    roles by type. ``as_loss=True`` returns a training loss on torch tensors instead
    (:class:`~iqa_bench.metrics.loss.MetricLoss`), for metrics whose ``info.differentiable`` is set.

    >>> import numpy as np
    >>> psnr_y = create_metric("psnr_y")
    >>> hr = np.full((8, 8, 3), 128, np.uint8)
    >>> round(psnr_y(hr + 1, hr), 2)  # uint8 in, converted by its range (not -8 dB)
    49.45
    """
    from iqa_bench.errors import InputError

    entry = METRICS.get(name)
    params = inspect.signature(entry.factory).parameters
    kwargs = dict(options)
    if "device" in params:
        kwargs["device"] = device or "cpu"
    elif device not in (None, "cpu"):
        raise InputError(f"metric {entry.name} runs on the CPU only, not on {device!r}", "use device='cpu' or None")
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            allowed = sorted(set(params) - {"device"}) or ["none"]
            raise InputError(f"metric {entry.name} has no option(s) {', '.join(unknown)}",
                             f"its options: {', '.join(allowed)}")
    if as_loss and not entry.meta.differentiable:
        able = ", ".join(n for n in METRICS.names() if METRICS.get(n).meta.differentiable)
        raise InputError(f"metric {entry.name} has no differentiable path, so it cannot be a loss",
                         f"differentiable metrics: {able}")
    fn = entry.factory(**kwargs)
    if as_loss:
        from iqa_bench.metrics.loss import MetricLoss

        return MetricLoss(entry.name, entry.meta, fn)
    if entry.meta.kind == "video":
        return fn
    cls = CheckedReferenceMetric if isinstance(fn, ReferenceCached) else CheckedMetric
    return cls(entry.name, entry.meta, fn)


__all__ = ["METRICS", "CheckedMetric", "FRMetric", "MetricInfo", "create_metric"]
