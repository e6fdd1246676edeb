"""The TensorRT runner's CPU-testable parts: engine-cache keys, build options, clear errors.

Nothing here creates a TensorRT object: on a machine without a GPU that crashes the process.
"""

from __future__ import annotations

import sys

import pytest

from iqa_bench.errors import InputError
from iqa_bench.models import MODELS
from iqa_bench.runners import RUNNERS
from iqa_bench.runners.tensorrt_runner import (BuildOptions, TensorRTUpscaler, build_options, engine_key,
                                               require_tensorrt)


def test_engine_key_changes_with_each_input():
    opts = BuildOptions(8, 256, 320)
    base = engine_key("a" * 64, "11.0.0", "NVIDIA H100 80GB HBM3", "9.0", opts)
    others = [
        engine_key("b" * 64, "11.0.0", "NVIDIA H100 80GB HBM3", "9.0", opts),
        engine_key("a" * 64, "11.1.0", "NVIDIA H100 80GB HBM3", "9.0", opts),
        engine_key("a" * 64, "11.0.0", "NVIDIA H200", "9.0", opts),
        engine_key("a" * 64, "11.0.0", "NVIDIA H100 80GB HBM3", "8.9", opts),
        engine_key("a" * 64, "11.0.0", "NVIDIA H100 80GB HBM3", "9.0", BuildOptions(8, 256, 320, tf32=True)),
        engine_key("a" * 64, "11.0.0", "NVIDIA H100 80GB HBM3", "9.0", BuildOptions(8, 256, 384)),
    ]
    assert len({base, *others}) == 7
    assert base == engine_key("a" * 64, "11.0.0", "NVIDIA H100 80GB HBM3", "9.0", BuildOptions(8, 256, 320))


def test_build_options_cover_tiles_and_padding():
    # RGB net on LR tiles of 256 with 32 overlap: inputs up to 320 px
    o = build_options(3, 256, 32, 0, 1)
    assert (o.min_side, o.opt_side, o.max_side, o.tf32) == (8, 256, 320, False)
    # SRCNN x3: pre-upsampled input (x3) plus 6 px of valid padding on each side
    o = build_options(1, 256, 32, 6, 3)
    assert o.max_side == 320 * 3 + 12 and o.min_side == 24 + 12
    # untiled: the largest whole image
    assert build_options(3, None, 0, 0, 1, max_image_side=1024).max_side == 1024


def test_no_gpu_is_a_clear_error_before_tensorrt_is_touched(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # importing it would fail loudly if tried
    with pytest.raises(InputError, match="needs an NVIDIA GPU") as e:
        require_tensorrt()
    assert "--backend onnxruntime" in e.value.hint


def test_missing_tensorrt_is_a_clear_error(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # as if not installed
    with pytest.raises(InputError, match="TensorRT is not installed") as e:
        require_tensorrt()
    assert "iqa-bench[tensorrt]" in e.value.hint


def test_runner_refuses_cpu_and_unknown_variants():
    info = MODELS.get("fsrcnn").meta
    with pytest.raises(InputError, match="GPU only"):
        TensorRTUpscaler(info, "fp32", device="cpu")
    with pytest.raises(InputError, match="variants"):
        TensorRTUpscaler(info, "bf16", device="cuda")


def test_registered_with_its_metadata():
    meta = RUNNERS.get("tensorrt").meta
    assert meta.variants == ("fp32", "fp16", "int8") and meta.devices == ("cuda",) and "torch" in meta.replaces
