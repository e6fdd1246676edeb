"""Video metrics: ``metric(DistortedClip, ReferenceClip) -> per-frame values`` (float64, NaN where a
frame has no value, e.g. frame 0 of a temporal metric).

Factories take ``ffmpeg`` (path, for the ffmpeg-backed metrics) and ``device`` keywords. Clips are
8-bit YCbCr 4:4:4 ``.y4m`` files (:mod:`iqa_bench.video.y4m`): every metric here looks at their Y
plane, BT.601 limited range, the same luma as the image metrics' ``*_y`` (rounded to 8 bits).

* ``vmaf``, ``vmaf_neg``, ``ffmpeg_psnr_y``, ``ffmpeg_ssim_y``: libvmaf and ffmpeg's filters, run
  through ffmpeg-quality-metrics (Python API, ``(ref, dist)`` order) on the ffmpeg of
  :func:`iqa_bench.video.ffmpeg.find_ffmpeg`, each call in its own temporary directory (the library
  names its temporary files after the inputs, so parallel jobs on same-named clips would collide).
* ``vmaf_torch``: the same vmaf_v0.6.1 model in PyTorch (vmaf-torch, float features; CPU or CUDA).
* ``tgrad_mad``, ``flicker``: temporal consistency, numpy.
"""

from __future__ import annotations

import logging
import tempfile
from contextlib import contextmanager
from typing import Iterator, Protocol

import numpy as np

from iqa_bench.errors import ComputeError, MetricUnavailableError
from iqa_bench.metrics._torch import ieee_fp32
from iqa_bench.metrics.base import MetricInfo
from iqa_bench.registry import Registry
from iqa_bench.video.clips import DistortedClip, ReferenceClip, check_clip_pair
from iqa_bench.video.y4m import read_y


class VideoMetric(Protocol):
    """``metric(dist, ref)`` -> ``(frames,)`` float64 per-frame values: prediction first, reference
    second, like every metric of iqa-bench."""

    def __call__(self, dist: DistortedClip, ref: ReferenceClip) -> np.ndarray: ...


@contextmanager
def _library_quiet() -> Iterator[None]:
    # ffmpeg-quality-metrics warns when ffprobe is absent (imageio-ffmpeg ships ffmpeg only) and
    # skips its own input checks; ours (check_clip_pair) ran already and are errors, not warnings.
    log = logging.getLogger("ffmpeg-quality-metrics")
    old = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(old)


class FfmpegQualityMetric:
    """One per-frame column of ffmpeg-quality-metrics' output.

    Parameters
    ----------
    name
        Registered name (for messages).
    metric
        The library's metric (``vmaf``, ``psnr`` or ``ssim``).
    column
        Per-frame key to read (``vmaf``, ``psnr_y``, ``ssim_y``).
    vmaf_model
        A model file bundled with the library (``vmaf_v0.6.1.json``, ``vmaf_v0.6.1neg.json``).
    ffmpeg
        ffmpeg executable; None: :func:`~iqa_bench.video.ffmpeg.find_ffmpeg`'s default.
    """

    def __init__(self, name: str, metric: str, column: str, vmaf_model: str | None = None,
                 ffmpeg: str | None = None) -> None:
        from iqa_bench.video.ffmpeg import find_ffmpeg

        import importlib.util

        if importlib.util.find_spec("ffmpeg_quality_metrics") is None:
            raise MetricUnavailableError(f"metric {name!r} needs the ffmpeg-quality-metrics package",
                                         "pip install 'iqa-bench[video]'")
        self.name, self.metric, self.column, self.vmaf_model = name, metric, column, vmaf_model
        self.ffmpeg = find_ffmpeg(ffmpeg).require(filters=("libvmaf" if metric == "vmaf" else metric,))

    def __call__(self, dist: DistortedClip, ref: ReferenceClip) -> np.ndarray:
        from ffmpeg_quality_metrics import FfmpegQualityMetrics, FfmpegQualityMetricsError

        check_clip_pair(dist, ref, self.name)
        options = {"model_path": self.vmaf_model, "n_threads": 0} if self.vmaf_model else None
        with tempfile.TemporaryDirectory(prefix="iqa-bench-ffqm-") as tmp, _library_quiet():
            try:
                # the library's Python API takes (ref, dist); its command line takes dist ref
                q = FfmpegQualityMetrics(str(ref.path), str(dist.path), ffmpeg_path=self.ffmpeg.path, tmp_dir=tmp)
                data = q.calculate([self.metric], vmaf_options=options)
            except (FfmpegQualityMetricsError, RuntimeError) as exc:
                raise ComputeError(f"{self.name} on {dist.path} vs {ref.path}: {str(exc).strip()[-600:]}") from None
        values = np.array([float(f[self.column]) for f in sorted(data[self.metric], key=lambda f: f["n"])])
        if values.size != ref.header.frames:
            raise ComputeError(f"{self.name}: ffmpeg returned {values.size} frames for {ref.describe}")
        return values


class VmafTorch:
    """vmaf-torch's VMAF (float re-implementation of libvmaf's vmaf_v0.6.1, scores clipped to [0, 100]
    as libvmaf does)."""

    def __init__(self, neg: bool = False, device: str = "cpu") -> None:
        try:
            from vmaf_torch import VMAF
        except ImportError:
            raise MetricUnavailableError("metric 'vmaf_torch' needs the vmaf-torch package",
                                         "pip install 'iqa-bench[video]'") from None
        import torch

        self.device = torch.device(device)
        self.model = VMAF(temporal_pooling=False, enable_motion=True, clip_score=True, NEG=neg).to(self.device)
        self.name = "vmaf_neg_torch" if neg else "vmaf_torch"

    def __call__(self, dist: DistortedClip, ref: ReferenceClip) -> np.ndarray:
        import torch

        check_clip_pair(dist, ref, self.name)

        def tensor(clip: ReferenceClip | DistortedClip) -> torch.Tensor:
            return torch.from_numpy(read_y(clip.path)).to(self.device, torch.float32)[:, None]

        with torch.no_grad(), ieee_fp32():
            scores = self.model(tensor(ref), tensor(dist))
        return scores.reshape(-1).double().cpu().numpy()


def _temporal_diffs(dist: DistortedClip, ref: ReferenceClip) -> tuple[np.ndarray, np.ndarray]:
    r = read_y(ref.path).astype(np.float64)
    d = read_y(dist.path).astype(np.float64)
    return np.diff(r, axis=0), np.diff(d, axis=0)


class TemporalGradientMAD:
    """Mean |(D_t - D_{t-1}) - (R_t - R_{t-1})| over the Y plane (QW-Net's temporal loss): motion
    the output adds or loses relative to the reference. Y levels (0-255); frame 0 is NaN."""

    name = "tgrad_mad"

    def __call__(self, dist: DistortedClip, ref: ReferenceClip) -> np.ndarray:
        check_clip_pair(dist, ref, self.name)
        gr, gd = _temporal_diffs(dist, ref)
        return np.concatenate([[np.nan], np.abs(gd - gr).mean(axis=(1, 2))])


class Flicker:
    """|Δ mean(D_t) - Δ mean(R_t)|: frame-to-frame change of mean brightness that the reference does
    not have. Y levels (0-255); frame 0 is NaN."""

    name = "flicker"

    def __call__(self, dist: DistortedClip, ref: ReferenceClip) -> np.ndarray:
        check_clip_pair(dist, ref, self.name)
        gr, gd = _temporal_diffs(dist, ref)
        return np.concatenate([[np.nan], np.abs(gd.mean(axis=(1, 2)) - gr.mean(axis=(1, 2)))])


_Y = "y_bt601 of 8-bit YCbCr 4:4:4 clips (grey frames: grey values)"
_NO_RESCALE = "clips must have equal size and frame count (never rescaled)"


_LIBVMAF = "libvmaf's (ffmpeg's libvmaf filter)"


def register(reg: Registry[MetricInfo]) -> None:
    """Register the video metrics."""

    def ffqm(name: str, metric: str, column: str, model: str | None):
        def create(ffmpeg: str | None = None, device: str = "cpu") -> FfmpegQualityMetric:
            return FfmpegQualityMetric(name, metric, column, model, ffmpeg)

        return create

    reg.register("vmaf", ffqm("vmaf", "vmaf", "vmaf", "vmaf_v0.6.1.json"), MetricInfo(
        kind="video", higher_is_better=True, value_range=(0.0, 100.0), colour=_Y, crop="none",
        description="libvmaf vmaf_v0.6.1 (model file bundled with ffmpeg-quality-metrics) through ffmpeg's libvmaf "
        f"filter, per frame, clipped to [0, 100]; {_NO_RESCALE}",
        equivalence_margin=0.5, precision=_LIBVMAF))
    reg.register("vmaf_neg", ffqm("vmaf_neg", "vmaf", "vmaf", "vmaf_v0.6.1neg.json"), MetricInfo(
        kind="video", higher_is_better=True, value_range=(0.0, 100.0), colour=_Y, crop="none",
        description="libvmaf vmaf_v0.6.1neg ('no enhancement gain': ADM/VIF gains limited to 1, so sharpening "
        f"cannot raise the score), per frame; {_NO_RESCALE}",
        equivalence_margin=0.5, precision=_LIBVMAF))
    reg.register("ffmpeg_psnr_y", ffqm("ffmpeg_psnr_y", "psnr", "psnr_y", None), MetricInfo(
        kind="video", higher_is_better=True, value_range=(0.0, float("inf")), colour=_Y, crop="none",
        description="ffmpeg psnr filter, Y plane, peak 255, per frame (its stats file prints 2 decimals, so "
        "per-frame values are 0.01 dB steps); no border crop",
        equivalence_margin=0.05, precision="ffmpeg's, printed to 0.01 dB"))
    reg.register("ffmpeg_ssim_y", ffqm("ffmpeg_ssim_y", "ssim", "ssim_y", None), MetricInfo(
        kind="video", higher_is_better=True, value_range=(-1.0, 1.0), colour=_Y, crop="none",
        description="ffmpeg ssim filter, Y plane: 8x8 windows at stride 4, no Gaussian weighting (x264's SSIM; "
        "NOT the Wang et al. Gaussian SSIM of ssim_y, nor libvmaf's float_ssim, which differ from it by "
        "~0.02); per-frame values rounded to 0.001 by ffmpeg-quality-metrics",
        equivalence_margin=0.001, precision="ffmpeg's, rounded to 0.001"))
    for neg in (False, True):
        name = "vmaf_neg_torch" if neg else "vmaf_torch"
        reg.register(name, lambda ffmpeg=None, device="cpu", neg=neg: VmafTorch(neg, device), MetricInfo(
            kind="video", higher_is_better=True, value_range=(0.0, 100.0), colour=_Y, crop="none",
            description=f"vmaf-torch {'NEG ' if neg else ''}VMAF (float re-implementation of libvmaf "
            f"vmaf_v0.6.1{'neg' if neg else ''}; clipped to [0, 100]); for a GPU or a gradient, cross-checked "
            "against libvmaf in the tests",
            devices=("cpu", "cuda"), equivalence_margin=0.5, precision="float32 (TF32 off on GPUs)"))
    reg.register("tgrad_mad", lambda ffmpeg=None, device="cpu": TemporalGradientMAD(), MetricInfo(
        kind="video", higher_is_better=False, value_range=(0.0, 255.0), colour=_Y, crop="none",
        description="temporal consistency: mean |(D_t - D_t-1) - (R_t - R_t-1)| on Y, 0-255 levels "
        "(QW-Net temporal loss); frame 0 has no value",
        equivalence_margin=0.05, precision="float64"))
    reg.register("flicker", lambda ffmpeg=None, device="cpu": Flicker(), MetricInfo(
        kind="video", higher_is_better=False, value_range=(0.0, 255.0), colour=_Y, crop="none",
        description="flicker: |change of mean Y from frame t-1 to t, output minus reference|, 0-255 levels; "
        "frame 0 has no value",
        equivalence_margin=0.05, precision="float64"))
