"""Roles and shapes of clip pairs: swapped order impossible, mismatches refused before any metric runs."""

import numpy as np
import pytest

from iqa_bench.errors import InputError
from iqa_bench.metrics import METRICS
from iqa_bench.video.clips import DistortedClip, ReferenceClip
from iqa_bench.video.y4m import write_y4m
from tests.conftest import moving_clip

VIDEO_METRICS = [e.name for e in METRICS if e.meta.kind == "video"]


@pytest.mark.parametrize("name", VIDEO_METRICS)
def test_swapped_roles_are_refused_by_every_video_metric(name, clip_pair):
    r, d = clip_pair
    fn = METRICS.create(name)
    ref, dist = ReferenceClip.open(r), DistortedClip.open(d)
    with pytest.raises(TypeError, match=r"metric\(DistortedClip, ReferenceClip\), prediction first"):
        fn(ref, dist)
    with pytest.raises(TypeError):
        fn(ReferenceClip.open(d), ReferenceClip.open(r))  # a distorted file opened as a reference is still refused
    with pytest.raises(TypeError):
        fn(str(r), str(d))
    assert fn(dist, ref).shape == (8,)


def test_vmaf_goes_to_libvmaf_in_the_reference_role(clip_pair):
    """VMAF is asymmetric (motion is measured on the reference): ours equals the library called
    (ref, dist) and differs from the library called the other way round."""
    from ffmpeg_quality_metrics import FfmpegQualityMetrics

    from iqa_bench.video.ffmpeg import find_ffmpeg

    r, d = clip_pair
    ours = METRICS.create("vmaf")(DistortedClip.open(d), ReferenceClip.open(r))
    ff = find_ffmpeg().path

    def library(a, b):
        q = FfmpegQualityMetrics(str(a), str(b), ffmpeg_path=ff)
        return np.array([f["vmaf"] for f in q.calculate(["vmaf"], {"model_path": "vmaf_v0.6.1.json"})["vmaf"]])

    assert np.allclose(ours, library(r, d), atol=1e-9)
    assert np.abs(ours - library(d, r)).max() > 1.0


@pytest.mark.parametrize("name", ["vmaf", "ffmpeg_psnr_y", "tgrad_mad", "vmaf_torch"])
def test_frame_count_mismatch_is_a_clear_error(name, tmp_path, clip_pair):
    r, _ = clip_pair
    write_y4m(tmp_path / "short.y4m", moving_clip(frames=7))
    with pytest.raises(InputError, match=r"short\.y4m has 7 frames but its reference .*ref\.y4m has 8"):
        METRICS.create(name)(DistortedClip.open(tmp_path / "short.y4m"), ReferenceClip.open(r))


@pytest.mark.parametrize("name", ["vmaf", "ffmpeg_ssim_y", "flicker"])
def test_resolution_mismatch_is_a_clear_error(name, tmp_path, clip_pair):
    r, _ = clip_pair
    write_y4m(tmp_path / "big.y4m", moving_clip(frames=8, h=66, w=96))
    with pytest.raises(InputError, match=r"big\.y4m is 96x66 but its reference .*ref\.y4m is 96x64") as e:
        METRICS.create(name)(DistortedClip.open(tmp_path / "big.y4m"), ReferenceClip.open(r))
    assert "does not rescale" in e.value.hint


def test_missing_clip_file(tmp_path):
    with pytest.raises(InputError, match="clip not found"):
        ReferenceClip.open(tmp_path / "nope.y4m")
