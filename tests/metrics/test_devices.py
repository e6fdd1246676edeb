"""Metrics with a torch path score the same on a CUDA GPU as on the CPU (runs where a GPU exists).

Both sides compute in the precision the metric states (``MetricInfo.precision``), with TF32 off on
the GPU (:func:`iqa_bench.metrics._torch.ieee_fp32`); what remains is the order of float32
reductions and cuDNN/cuFFT's algorithms. Stated tolerance: :data:`GPU_RTOL` of the value, or
:data:`GPU_ATOL` near zero.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iqa_bench.io import read_image, to_float
from iqa_bench.metrics import METRICS, create_metric

GPU_RTOL = 1e-4
GPU_ATOL = 1e-5
ON_GPU = sorted(e.name for e in METRICS if "cuda" in e.meta.devices and e.meta.kind == "fr" and not e.meta.unavailable)


@pytest.fixture(scope="module")
def pairs(shared):
    """(distorted, reference) pairs of real images of >= 161 px (MS-SSIM's and IW-SSIM's least side):
    the official DISTS example pair, and a Baboon crop with noise and with a blur."""
    from scipy.ndimage import uniform_filter

    load = lambda name: to_float(read_image(shared / "oracles" / "images" / name, drop_alpha=True)[0])  # noqa: E731
    ref = load("baboon_GTmod12.png")[:256, :256]
    noisy = np.clip(ref + np.random.default_rng(0).normal(0, 0.03, ref.shape), 0, 1)
    blurred = uniform_filter(ref, size=(5, 5, 1))
    return [(load("dists_r1.png"), load("dists_r0.png")), (noisy, ref), (blurred, ref)]


def test_every_torch_metric_is_offered_on_the_gpu():
    assert {"lpips", "lpips_vgg", "dists", "ms_ssim", "fsim", "vsi", "gmsd"} <= set(ON_GPU)


@pytest.mark.parametrize("name", ON_GPU)
def test_gpu_value_equals_cpu_value(shared, pairs, name):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine: the CPU-vs-GPU equality runs where one exists")
    from iqa_bench.weights import WeightsStore

    opts = {}
    if METRICS.get(name).meta.weights:
        opts["store"] = WeightsStore(paths=[shared / "weights"], cache_dir=shared / "no-cache", allow_download=False)
    cpu, gpu = create_metric(name, "cpu", **opts), create_metric(name, "cuda", **opts)
    for dist, ref in pairs:
        a, b = cpu(dist, ref), gpu(dist, ref)
        assert abs(a - b) <= max(GPU_ATOL, GPU_RTOL * abs(a)), (name, a, b)
