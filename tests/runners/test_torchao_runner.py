"""The torchao runner (PT2E int8 + inductor) on real zoo weights: close to FP32 yet really int8,
one compiled graph for every image size, clear refusals."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from iqa_bench.errors import InputError
from iqa_bench.models import MODELS
from iqa_bench.runners.torch_runner import TorchUpscaler
from tests.conftest import psnr01

pytest.importorskip("torchao", reason="the torchao extra is not installed (pip install 'iqa-bench[torchao]')")
from iqa_bench.runners.torchao_runner import TorchaoUpscaler  # noqa: E402


@pytest.fixture(scope="module")
def srcnn_int8(store, calib):
    up = TorchaoUpscaler(MODELS.get("srcnn").meta, "int8", store=store, calib=calib, threads=2)
    up.prepare(2)
    return up


def test_int8_is_close_to_fp32_but_not_a_copy(srcnn_int8, store, butterfly):
    """SRCNN x2 (valid padding, a Y network) through the int8 graph against PyTorch FP32 eager on
    Set5 butterfly: within int8's error (measured 49.7 dB on this image), never equal; the image-facing
    convolutions stayed float and the record says so."""
    fp32 = TorchUpscaler(MODELS.get("srcnn").meta, store=store).upscale(butterfly, 2)
    got = srcnn_int8.upscale(butterfly, 2)
    assert got.shape == fp32.shape
    assert 40 < psnr01(got, fp32) < 80
    prov = srcnn_int8.provenance()["x2"]
    assert prov["float_layers"] == ["conv1", "conv3"] and prov["conv_precision"] == {"int8": 1, "f32": 2}
    assert "torchao" in prov["tools"] and "min/max" in prov["quantizer"] and prov["build_seconds"] > 0


def test_one_graph_serves_every_image_size(srcnn_int8):
    """Inputs of sizes the warm-up never saw (odd, non-square, larger than it) run without a new
    compilation: per-image times never hold a compile."""
    import torch._dynamo

    rng = np.random.default_rng(0)
    counters = torch._dynamo.utils.counters
    before = counters["stats"]["unique_graphs"]
    for h, w in ((37, 53), (90, 61), (211, 150)):
        out = srcnn_int8.upscale(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), 2)
        assert out.shape == (2 * h, 2 * w, 3) and np.isfinite(out).all()
    assert counters["stats"]["unique_graphs"] == before


def test_float_layers_in_bf16_compute_in_bf16_without_new_graphs(srcnn_int8, store, calib, butterfly):
    """``--int8-float-precision bf16``: SRCNN x2's two image-facing convolutions run in bfloat16 (the
    record says so), the output stays within int8's error of FP32 and differs from the f32 layers'
    output (the setting is used, not ignored); new image sizes reuse the build's graphs."""
    import torch._dynamo

    info = MODELS.get("srcnn").meta
    up = TorchaoUpscaler(info, "int8", store=store, calib=dataclasses.replace(calib, float_precision="bf16"), threads=2)
    up.prepare(2)
    prov = up.provenance()["x2"]
    assert prov["float_layers"] == ["conv1", "conv3"] and prov["conv_precision"] == {"int8": 1, "bf16": 2}
    assert up.build_identity()["calibration"]["float_precision"] == "bf16"
    fp32 = TorchUpscaler(info, store=store).upscale(butterfly, 2)
    got = up.upscale(butterfly, 2)
    assert 40 < psnr01(got, fp32) < 80
    assert not np.array_equal(got, srcnn_int8.upscale(butterfly, 2))
    counters = torch._dynamo.utils.counters
    before = counters["stats"]["unique_graphs"]
    for h, w in ((37, 53), (127, 90)):
        assert up.upscale(butterfly[:h, :w], 2).shape == (2 * h, 2 * w, 3)
    assert counters["stats"]["unique_graphs"] == before


def test_refusals_name_the_fix(store, calib):
    info = MODELS.get("srcnn").meta
    with pytest.raises(InputError, match="--device cpu"):
        TorchaoUpscaler(info, "int8", device="cuda", store=store)
    with pytest.raises(InputError, match="min/max only"):
        TorchaoUpscaler(info, "int8", store=store, calib=dataclasses.replace(calib, method="entropy"))
    with pytest.raises(InputError, match="variants"):
        TorchaoUpscaler(info, "fp16", store=store)
    with pytest.raises(InputError, match="(?s)asymmetric.*not symmetric"):
        TorchaoUpscaler(info, "int8", store=store, calib=dataclasses.replace(calib, activations="symmetric"))
    for recipe in ({"float_ends": False}, {"float_input_only": True}):
        with pytest.raises(InputError, match="(?s)every image-facing convolution in float.*--int8-image-layers"):
            TorchaoUpscaler(info, "int8", store=store, calib=dataclasses.replace(calib, **recipe))
    with pytest.raises(InputError, match="(?s)OpenVINO's int8 recipe, not torchao's.*--backend openvino"):
        TorchaoUpscaler(info, "int8", store=store, calib=dataclasses.replace(calib, smooth_quant=0.65))


def test_a_unet_runs_at_every_size_from_the_build_graphs(store, calib, butterfly):
    """SR-UNet pads its input to a multiple of 4 inside, which torch.export cannot keep symbolic: it is
    exported for multiples of 4, and odd or non-square inputs are padded outside as the network would
    and cropped back. Every size then runs on the graphs compiled in the build (one per range of
    input areas in which ATen keeps one convolution algorithm), close to FP32 (measured 51.6 dB on a
    61x77 crop of butterfly) and never equal to it; Set5 butterfly x2 crops of several shapes."""
    import torch._dynamo

    info = MODELS.get("srunet").meta
    # 32-pixel tiles: 4 input-area ranges to compile instead of the default tile's 7 or more (CI time);
    # every crop runs as several tiles, whole and cut ones, of odd sizes at the edges
    up = TorchaoUpscaler(info, "int8", store=store, calib=calib, threads=2, tile=32, overlap=8)
    up.prepare(2)
    prov = up.provenance()["x2"]
    assert prov["input_multiple"] == 4 and len(prov["warmup_sides"]) >= 2
    assert all(h % 4 == 0 and w % 4 == 0 for h, w in prov["warmup_sides"])
    fp32 = TorchUpscaler(info, store=store)
    counters = torch._dynamo.utils.counters
    before = counters["stats"]["unique_graphs"]
    for h, w in ((61, 77), (37, 53), (90, 61), (128, 97)):
        lr = butterfly[:h, -w:]
        got, want = up.upscale(lr, 2), fp32.upscale(lr, 2)
        assert got.shape == want.shape == (2 * h, 2 * w, 3)
        assert 40 < psnr01(got, want) < 80, (h, w)
    assert counters["stats"]["unique_graphs"] == before


def test_sub_pixel_convolutions_are_reordered_into_blocks_with_every_value_unchanged():
    import torch
    from torch.export import Dim, export

    from iqa_bench.models.srresnet import SRGANLeftthomas
    from iqa_bench.runners.torchao_runner import _sub_pixel_in_block_order

    class Shared(torch.nn.Module):  # one weight feeding a shuffle and another output: left alone
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 12, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            return torch.nn.functional.pixel_shuffle(y, 2).mean() + y.mean()

    torch.manual_seed(0)
    x = torch.rand(1, 3, 21, 34)
    dims = ({2: Dim("h", min=8, max=256), 3: Dim("w", min=8, max=256)},)
    for net, rewritten in ((SRGANLeftthomas(4).eval(), 2), (Shared().eval(), 0)):
        gm = export(net, (x,), dynamic_shapes=dims).module()
        with torch.no_grad():
            before = gm(x)
            assert _sub_pixel_in_block_order(gm) == rewritten
            assert torch.equal(gm(x), before)
            other = torch.rand(1, 3, 17, 9)  # still dynamic in both sides
            assert torch.equal(gm(other), net(other))
    shuffles = [n for n in gm.graph.nodes if n.target is torch.ops.aten.pixel_shuffle.default]
    assert len(shuffles) == 1


def test_sensitivity_sweep_keeps_the_costliest_layers_in_f32(store, calib):
    """``--int8-float-layers 2`` with ``--int8-float-precision bf16``: every inner convolution of FSRCNN
    x2 is ranked by the output SNR (against fp32, on calibration patches) won by keeping it in float;
    the two that win most per multiply-add stay float, in f32 (the image-facing ones compute in bf16);
    the record gives every layer's gain and cost and the calibration SNR before and after."""
    info = MODELS.get("fsrcnn").meta
    swept = dataclasses.replace(calib, patches=8, sensitive_float=2, float_precision="bf16")
    up = TorchaoUpscaler(info, "int8", store=store, calib=swept, threads=2)
    up.prepare(2)
    prov = up.provenance()["x2"]
    sens = prov["sensitivity"]
    assert sorted(sens) == ["mid_part.0", "mid_part.10", "mid_part.2", "mid_part.4", "mid_part.6", "mid_part.8"]
    macs = prov["macs_per_patch"]
    side = 48  # the calibration patch (LR): FSRCNN's 12 -> 12 3x3 mapping, 1x1 shrink / expand
    assert macs["mid_part.2"] == side * side * 12 * 12 * 9 and macs["mid_part.0"] == side * side * 56 * 12
    top = sorted((n for n in sens if sens[n] > 0), key=lambda n: -sens[n] / macs[n])[:2]
    assert len(top) == 2 and prov["float_layers"] == ["first_part.0", "last_part", *top]
    assert prov["conv_precision"] == {"int8": 4, "bf16": 2, "f32": 2}
    assert prov["calib_snr_db"]["final"] > prov["calib_snr_db"]["int8"] + max(sens[n] for n in top)
    assert prov["calibration"]["sensitive_float"] == 2
    assert up.build_identity() != TorchaoUpscaler(info, "int8", store=store, calib=calib).build_identity()
