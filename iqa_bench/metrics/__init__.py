"""Metrics: one module per family; each registers its names with metadata in ``METRICS``."""

from __future__ import annotations

from iqa_bench.metrics import brisque, niqe, perceptual, piq_metrics, psnr, ssim, unavailable, video
from iqa_bench.metrics.base import FRMetric, MetricInfo
from iqa_bench.registry import Registry


def register_builtins(reg: Registry[MetricInfo]) -> None:
    """Register the built-in metrics (called once, on first use of ``METRICS``)."""
    psnr.register(reg)
    ssim.register(reg)
    niqe.register(reg)
    brisque.register(reg)
    perceptual.register(reg)
    piq_metrics.register(reg)
    unavailable.register(reg)
    video.register(reg)


METRICS: Registry[MetricInfo] = Registry("metric", register_builtins)

__all__ = ["METRICS", "FRMetric", "MetricInfo"]
