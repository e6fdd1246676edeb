"""MATLAB imresize parity: the benchmark LR files, a MathWorks example, and basic properties."""

from __future__ import annotations

import numpy as np
import pytest

from iqa_bench.data.degrade import DEGRADATIONS, modcrop
from iqa_bench.data.imresize import imresize, imresize_matrices
from iqa_bench.io import list_images, read_image


@pytest.mark.parametrize("dataset", ["Set5", "Set14"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_matlab_degradation_reproduces_benchmark_lr_files(shared, dataset, scale):
    """LR made from HR equals the LR files MATLAB's imresize made (Set5/Set14 LR_bicubic). Measured: max |diff| 0, 0 % of pixels."""
    root = shared / "data" / dataset
    n_pix = n_diff = max_diff = 0
    for hr_path in list_images(root / "HR"):
        hr, _ = read_image(hr_path)
        lr_ref, _ = read_image(root / "LR_bicubic" / f"X{scale}" / hr_path.name)
        lr = DEGRADATIONS["matlab"](modcrop(hr, scale), scale)
        assert lr.shape == lr_ref.shape, hr_path.name
        d = np.abs(lr.astype(int) - lr_ref.astype(int))
        n_pix, n_diff, max_diff = n_pix + d.size, n_diff + int((d > 0).sum()), max(max_diff, int(d.max()))
    print(f"{dataset} x{scale}: max abs diff {max_diff}, differing {n_diff}/{n_pix} = {n_diff / n_pix:.4%}")
    assert max_diff == 0 and n_diff == 0


def test_basicsr_preset_differs_only_near_borders(shared):
    """The BasicSR port mirrors borders; away from them it agrees with MATLAB's replicate rule."""
    hr, _ = read_image(shared / "data" / "Set5" / "HR" / "baby.png")
    a = imresize(hr, 1 / 4, border="symmetric")
    b = imresize(hr, 1 / 4, border="replicate")
    assert not np.array_equal(a, b)
    # Interior beyond the kernel's reach (width 16 px in HR = 4 LR px) can differ only by the
    # intermediate rounding, which both calls here leave off.
    np.testing.assert_array_equal(a[4:-4, 4:-4], b[4:-4, 4:-4])


def test_mathworks_bicubic_example():
    """imresize(A, size(A)*2, 'bicubic') on doubles, values printed by MATLAB (MathWorks Answers 1628)."""
    a = np.array([[3, 1, 2, 6], [1, 5, 2, 7], [1, 3, 6, 2], [4, 1, 9, 2]], dtype=np.float64)
    expected = np.array(
        [
            [3.3109, 2.6187, 1.1206, 0.7166, 1.4067, 2.8883, 5.1615, 6.2060],
            [2.6454, 2.4435, 2.0052, 1.7138, 1.5692, 2.8062, 5.4248, 6.6307],
            [1.2008, 2.0609, 3.9181, 3.8763, 1.9355, 2.6382, 5.9844, 7.5302],
            [0.4985, 1.6796, 4.2357, 4.6921, 3.0489, 3.2618, 5.3307, 6.2876],
            [0.5384, 1.2996, 2.9579, 4.1612, 4.9094, 4.6769, 3.4639, 2.9028],
            [1.5500, 1.6768, 1.9697, 3.5367, 6.3776, 6.1378, 2.8173, 1.2798],
            [3.5334, 2.8110, 1.2710, 2.8185, 7.4537, 7.6444, 3.3907, 1.4186],
            [4.4466, 3.3344, 0.9529, 2.4891, 7.9430, 8.3334, 3.6605, 1.4930],
        ]
    )
    np.testing.assert_allclose(imresize(a, 2.0), expected, atol=5.1e-5)


@pytest.mark.parametrize("kernel", ["bicubic", "bilinear", "nearest", "lanczos2", "lanczos3"])
@pytest.mark.parametrize("scale", [1 / 4, 1 / 3, 2.0, 3.0])
def test_constant_image_stays_constant(kernel, scale):
    img = np.full((24, 36, 3), 0.37)
    out = imresize(img, scale, kernel=kernel)
    assert out.shape == (round(24 * scale), round(36 * scale), 3)
    np.testing.assert_allclose(out, 0.37, atol=1e-12)


def test_nearest_upscale_repeats_pixels():
    img = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(imresize(img, 2.0, kernel="nearest"), img.repeat(2, 0).repeat(2, 1))


def test_uint8_output_is_rounded_half_up_and_clipped():
    # Bicubic overshoots at a step edge: the uint8 result must be clipped, not wrapped.
    img = np.zeros((8, 8), dtype=np.uint8)
    img[:, 4:] = 255
    out = imresize(img, 4.0)
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255
    fl = imresize(img.astype(np.float64), 4.0)
    np.testing.assert_array_equal(out, np.floor(np.clip(fl, 0, 255) + 0.5).astype(np.uint8))


def test_invalid_arguments():
    img = np.zeros((4, 4))
    with pytest.raises(ValueError, match="kernel"):
        imresize(img, 2, kernel="cubic-ish")
    with pytest.raises(ValueError, match="border"):
        imresize(img, 2, border="wrap")
    with pytest.raises(ValueError, match="positive"):
        imresize(img, 0)


@pytest.mark.parametrize("border", ["replicate", "symmetric"])
def test_matrices_applied_by_hand_resize_as_imresize(border):
    """``rows @ img @ cols.T`` with :func:`imresize_matrices` is :func:`imresize` (odd sides: ceil(scale n))."""
    img = np.random.default_rng(0).random((361, 125)) * 255
    rows, cols = imresize_matrices(img.shape, 0.5, border=border)
    assert rows.shape == (181, 361) and cols.shape == (63, 125)
    np.testing.assert_allclose(rows @ img @ cols.T, imresize(img, 0.5, border=border), rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="scale"):
        imresize_matrices(img.shape, 0)
