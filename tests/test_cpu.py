"""CPU kernel classes: recorded with speed numbers, and part of the content id of the result cells whose
values they change (int8 without a dot product, OpenVINO bf16 without native bf16)."""

from __future__ import annotations

import dataclasses

import pytest

from iqa_bench import _cpu
from iqa_bench.models import MODELS

AVX2 = ("avx2", "fma")
AMX = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile")


def test_numeric_kernels_name_the_class(monkeypatch):
    monkeypatch.setattr(_cpu, "cpu_flags", lambda: AVX2)
    assert _cpu.numeric_kernels(int8=True, bf16=True) == {"int8": "pair-sum", "bf16": "f32-fallback"}
    monkeypatch.setattr(_cpu, "cpu_flags", lambda: AMX)
    assert _cpu.numeric_kernels(int8=True, bf16=True) == {"int8": "dot-product", "bf16": "native"}
    monkeypatch.setattr(_cpu, "cpu_flags", lambda: ("avx2", "avx_vnni"))  # VNNI without AVX-512 or bf16
    assert _cpu.numeric_kernels(int8=True, bf16=True) == {"int8": "dot-product", "bf16": "f32-fallback"}
    assert _cpu.numeric_kernels() == {}


def _identities(monkeypatch, make):
    out = []
    for flags in (AVX2, AMX):
        monkeypatch.setattr(_cpu, "cpu_flags", lambda flags=flags: flags)
        out.append(make().build_identity())
    return out


@pytest.mark.parametrize("backend, variant, float_precision, keyed", [
    ("openvino", "int8", "f32", True), ("openvino", "int8", "bf16", True), ("openvino", "bf16", "f32", True),
    ("openvino", "fp32", "f32", False), ("onnxruntime", "int8", "f32", True), ("onnxruntime", "fp32", "f32", False),
    ("torchao", "int8", "f32", True),
])
def test_result_cells_are_keyed_by_the_kernel_class(monkeypatch, store, calib, backend, variant, float_precision,
                                                    keyed):
    """A run made on an AMX CPU and resumed on an AVX2 one recomputes its int8 and OpenVINO bf16 cells
    (their values differ there), and reuses fp32 ones (float rounding only, within the gate's tolerance)."""
    from iqa_bench.runners import RUNNERS

    runner = RUNNERS.get(backend)
    if not runner.meta.installed():
        pytest.skip(f"{backend} is not installed")
    info = MODELS.get("fsrcnn").meta
    c = dataclasses.replace(calib, float_precision=float_precision)
    avx2, amx = _identities(monkeypatch, lambda: runner.factory(info, variant, store=store, calib=c))
    assert (avx2 != amx) is keyed
    if keyed:
        assert avx2["kernels"] != amx["kernels"]
