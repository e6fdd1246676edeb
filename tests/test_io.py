"""Image reading: grey, RGBA, palette, 16-bit, truncated files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from iqa_bench.errors import InputError
from iqa_bench.io import quantize_uint8, read_image, to_float, write_png
from tests.conftest import photo_like, save_png


def test_rgb_and_grey(tmp_path):
    rgb = photo_like(10, 12)
    img, info = read_image(save_png(tmp_path / "a.png", rgb))
    np.testing.assert_array_equal(img, rgb)
    assert info.channels == 3 and info.bit_depth == 8 and info.handling == ""
    grey = rgb[..., :1]
    img, info = read_image(save_png(tmp_path / "g.png", grey))
    assert img.shape == (10, 12, 1) and info.channels == 1 and "grey" in info.handling
    np.testing.assert_array_equal(img, grey)


def test_rgba_refused_unless_dropped(tmp_path):
    rgba = np.dstack([photo_like(8, 8), np.full((8, 8), 200, np.uint8)])
    p = save_png(tmp_path / "alpha.png", rgba)
    with pytest.raises(InputError, match="alpha.png has an alpha channel") as exc:
        read_image(p)
    assert "--drop-alpha" in exc.value.hint
    img, info = read_image(p, drop_alpha=True)
    np.testing.assert_array_equal(img, rgba[..., :3])
    assert "alpha dropped" in info.handling


@pytest.mark.parametrize("channels", [1, 3])
def test_16bit_png_read_exactly(tmp_path, channels):
    arr = np.random.default_rng(1).integers(0, 65536, (6, 7, channels)).astype(np.uint16)
    img, info = read_image(save_png(tmp_path / "d.png", arr))
    assert img.dtype == np.uint16 and info.bit_depth == 16 and "1/65535" in info.handling
    np.testing.assert_array_equal(img, arr)
    np.testing.assert_allclose(to_float(img), arr / 65535.0)


def test_palette_png_is_expanded(tmp_path):
    p = tmp_path / "p.png"
    Image.fromarray(photo_like(8, 8)).convert("P").save(p)
    img, info = read_image(p)
    assert img.shape == (8, 8, 3) and "palette" in info.handling


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_file_is_a_clear_error(tmp_path, cut):
    p = save_png(tmp_path / "t.png", photo_like(64, 64, seed=3))
    data = p.read_bytes()
    p.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(InputError, match=r"cannot decode image file .*t\.png"):
        read_image(p)


def test_not_an_image_and_missing(tmp_path):
    p = tmp_path / "x.png"
    p.write_text("hello")
    with pytest.raises(InputError, match="cannot decode"):
        read_image(p)
    with pytest.raises(InputError, match="not found"):
        read_image(tmp_path / "nope.png")


def test_quantize_rounds_half_up_and_write_png_roundtrip(tmp_path):
    x = np.array([[[0.5 / 255, 1.5 / 255, -0.2]], [[1.3, 254.5 / 255, 0.999]]])
    np.testing.assert_array_equal(quantize_uint8(x)[..., 0].ravel(), [1, 255])
    img = photo_like(5, 6)
    write_png(tmp_path / "o" / "w.png", img)
    np.testing.assert_array_equal(read_image(tmp_path / "o" / "w.png")[0], img)
    assert not list((tmp_path / "o").glob(".*tmp"))


def test_atomic_writes_get_the_permissions_of_a_plain_open(tmp_path):
    import os

    from iqa_bench.io import atomic_path

    with atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_text("x")
    (tmp_path / "b.txt").write_text("x")
    mode = lambda p: os.stat(p).st_mode & 0o777  # noqa: E731
    assert mode(tmp_path / "a.txt") == mode(tmp_path / "b.txt")  # mkstemp alone gives 0600
