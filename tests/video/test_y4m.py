from fractions import Fraction

import numpy as np
import pytest

from iqa_bench.data.colour import rgb_to_y_bt601
from iqa_bench.io import round_half_up_uint8
from iqa_bench.errors import InputError
from iqa_bench.video.ffmpeg import decode_rgb
from iqa_bench.video.y4m import read_header, read_y, write_y4m
from tests.conftest import moving_clip


def test_y_plane_is_the_image_metrics_luma_rounded(tmp_path):
    clip = moving_clip(frames=5)
    n = write_y4m(tmp_path / "c.y4m", clip, Fraction(25))
    hdr = read_header(tmp_path / "c.y4m")
    assert (n, hdr.frames, hdr.width, hdr.height, hdr.fps, hdr.chroma) == (5, 5, 96, 64, Fraction(25), "444")
    want = np.stack([round_half_up_uint8(rgb_to_y_bt601(f / 255.0)[..., 0] * 255.0) for f in clip])
    assert np.array_equal(read_y(tmp_path / "c.y4m"), want)


def test_grey_frames_keep_their_values_as_y(tmp_path):
    grey = moving_clip(frames=3)[..., :1]
    write_y4m(tmp_path / "g.y4m", grey)
    assert np.array_equal(read_y(tmp_path / "g.y4m"), grey[..., 0])


def test_ffmpeg_decodes_what_we_write(tmp_path):
    """ffmpeg (imageio-ffmpeg's) reads the file back: same frame count and size, colours within the
    rounding of a YCbCr round trip."""
    clip = moving_clip(frames=4)
    write_y4m(tmp_path / "c.y4m", clip)
    frames, fps = decode_rgb(tmp_path / "c.y4m")
    assert frames.shape == clip.shape and fps == 30
    assert np.abs(frames.astype(int) - clip).max() <= 3


def test_truncated_and_foreign_files_are_refused(tmp_path):
    write_y4m(tmp_path / "c.y4m", moving_clip(frames=3))
    data = (tmp_path / "c.y4m").read_bytes()
    (tmp_path / "cut.y4m").write_bytes(data[:-100])
    with pytest.raises(InputError, match="cut.y4m is truncated"):
        read_header(tmp_path / "cut.y4m")
    (tmp_path / "x.y4m").write_bytes(b"\x89PNG....")
    with pytest.raises(InputError, match="not a YUV4MPEG2"):
        read_header(tmp_path / "x.y4m")
