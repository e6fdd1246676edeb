"""The ffmpeg binary: found, checked for libvmaf with a clear error, and used to code clips."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from iqa_bench.errors import InputError
from iqa_bench.metrics import METRICS
from iqa_bench.video.ffmpeg import ffmpeg_downscale, find_ffmpeg, h264_roundtrip
from tests.conftest import moving_clip

DEBIAN_FFMPEG = "/usr/bin/ffmpeg"


def debian_ffmpeg() -> str:
    """Debian's ffmpeg (built without libvmaf); .ci/run installs it and requires this test to run."""
    if not os.path.isfile(DEBIAN_FFMPEG):
        if os.environ.get("IQA_BENCH_REQUIRE_SYSTEM_FFMPEG"):
            pytest.fail(f"{DEBIAN_FFMPEG} missing but IQA_BENCH_REQUIRE_SYSTEM_FFMPEG is set (apt-get install ffmpeg)")
        pytest.skip(f"no system ffmpeg at {DEBIAN_FFMPEG} (apt-get install ffmpeg)")
    return DEBIAN_FFMPEG


def test_default_ffmpeg_is_imageio_ffmpegs_with_libvmaf():
    ff = find_ffmpeg()
    assert "imageio_ffmpeg" in ff.path
    assert {"libvmaf", "psnr", "ssim"} <= ff.filters and "libx264" in ff.encoders


def test_libvmaf_less_ffmpeg_gives_an_error_naming_what_to_install():
    path = debian_ffmpeg()
    with pytest.raises(InputError, match=r"the ffmpeg at /usr/bin/ffmpeg \(ffmpeg version .*\) has no filter libvmaf") as e:
        METRICS.create("vmaf", ffmpeg=path)
    assert "pip install 'iqa-bench[video]'" in e.value.hint and "--enable-libvmaf" in e.value.hint
    # its psnr filter is there: metrics that need only that work with it
    assert METRICS.create("ffmpeg_psnr_y", ffmpeg=path) is not None


def test_libvmaf_less_ffmpeg_on_the_command_line(clip_pair):
    path = debian_ffmpeg()
    r, d = clip_pair
    proc = subprocess.run([sys.executable, "-m", "iqa_bench.cli", "video", "score", "--reference", str(r),
                           "--distorted", str(d), "--metrics", "vmaf", "--ffmpeg", path],
                          capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "has no filter libvmaf" in proc.stderr and "pip install 'iqa-bench[video]'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_ffmpeg(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="ffmpeg not found .* at .*/nothing/ffmpeg") as e:
        find_ffmpeg(tmp_path / "nothing" / "ffmpeg")
    assert "imageio-ffmpeg" in e.value.hint
    with pytest.raises(InputError, match="'no-such-ffmpeg' not found on PATH"):
        find_ffmpeg("no-such-ffmpeg")
    monkeypatch.setenv("IQA_BENCH_FFMPEG", str(tmp_path / "gone"))
    with pytest.raises(InputError, match="gone"):
        find_ffmpeg()


def test_without_imageio_ffmpeg_the_error_names_the_extra(monkeypatch):
    monkeypatch.delenv("IQA_BENCH_FFMPEG", raising=False)
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # as if the package were not installed
    with pytest.raises(InputError, match="imageio-ffmpeg package is not installed") as e:
        find_ffmpeg()
    assert "pip install 'iqa-bench[video]'" in e.value.hint


def _psnr(a, b):
    return 10 * np.log10(255.0**2 / np.mean((a.astype(float) - b) ** 2))


def test_h264_roundtrip_is_deterministic_and_crf_orders_quality():
    ff = find_ffmpeg()
    clip = moving_clip(frames=10)
    hi, lo = h264_roundtrip(ff, clip, crf=18), h264_roundtrip(ff, clip, crf=40)
    assert hi.shape == lo.shape == clip.shape
    assert np.array_equal(hi, h264_roundtrip(ff, clip, crf=18))
    assert _psnr(hi, clip) > _psnr(lo, clip) + 3


def test_h264_needs_even_sizes():
    with pytest.raises(InputError, match="even frame sizes"):
        h264_roundtrip(find_ffmpeg(), moving_clip(frames=2, h=63), crf=23)


def test_ffmpeg_scaler_downscales_like_bicubic():
    from iqa_bench.data.degrade import DEGRADATIONS

    clip = moving_clip(frames=3)
    lr = ffmpeg_downscale(find_ffmpeg(), clip, 2)
    assert lr.shape == (3, 32, 48, 3)
    matlab = np.stack([DEGRADATIONS["matlab"](f, 2) for f in clip])
    assert _psnr(lr, matlab) > 30  # swscale bicubic (B = 0, C = 0.6) vs MATLAB (a = -0.5): close, not equal


@pytest.mark.skipif(shutil.which("true") is None, reason="needs coreutils")
def test_a_program_that_is_not_ffmpeg():
    with pytest.raises(InputError, match="cannot run ffmpeg at"):
        find_ffmpeg(shutil.which("true"))
