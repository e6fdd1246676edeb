from __future__ import annotations

import numpy as np

from iqa_bench.data.colour import luma, rgb_to_y_bt601


def test_bt601_limited_range_endpoints_and_primaries():
    img = np.array([[[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]]], dtype=np.float64)
    y = rgb_to_y_bt601(img)[0, :, 0] * 255
    np.testing.assert_allclose(y, [16, 235, 16 + 65.481, 16 + 128.553, 16 + 24.966], atol=1e-12)


def test_grey_image_is_kept_as_is():
    g = np.random.default_rng(0).random((5, 6, 1))
    np.testing.assert_array_equal(luma(g), g)
    assert luma(np.repeat(g, 3, axis=2)).shape == (5, 6, 1)
