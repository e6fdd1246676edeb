"""Int8 on CPUs without a VNNI/AMX dot product: their kernels sum u8*s8 pairs in int16, so the recipes
quantize weights to 7 bits there (OpenVINO and torchao alike); without that, FSRCNN x2 fell to 19-31 dB
against FP32 on an AVX2-only CPU. The 7-bit path is exercised on every CPU by posing as a pair-sum one."""

from __future__ import annotations

import numpy as np
import pytest

from iqa_bench import _cpu
from iqa_bench.models import MODELS
from iqa_bench.runners import RUNNERS
from iqa_bench.runners.torch_runner import TorchUpscaler
from tests.conftest import psnr01

PAIR_SUM = ("avx2", "fma")
HELD_DB = 35.0  # measured 39.8-41.7 dB on the Set5 images (AVX2, 7-bit weights); saturated: 18.9-31.5


def _int8(backend, store, calib, tmp_path):
    runner = RUNNERS.get(backend)
    if not runner.meta.installed():
        pytest.skip(f"the {backend} extra is not installed")
    from iqa_bench.deploy.artefacts import ArtefactCache

    return runner.factory(MODELS.get("fsrcnn").meta, "int8", store=store, calib=calib,
                          cache=ArtefactCache(tmp_path / "artefacts"))


@pytest.mark.parametrize("backend", ["openvino", "torchao"])
def test_fsrcnn_int8_holds_on_this_cpu(backend, store, calib, butterfly, tmp_path):
    """Whatever this CPU's int8 kernels, the int8 output stays close to FP32's (the recipe matches them)."""
    fp32 = TorchUpscaler(MODELS.get("fsrcnn").meta, store=store).upscale(butterfly, 2)
    got = _int8(backend, store, calib, tmp_path).upscale(butterfly, 2)
    assert psnr01(got, fp32) > HELD_DB, f"cpu flags {_cpu.cpu_flags()}"


def test_openvino_weights_are_7_bit_on_a_pair_sum_cpu(store, calib, butterfly, tmp_path, monkeypatch):
    monkeypatch.setattr(_cpu, "cpu_flags", lambda: PAIR_SUM)
    up = _int8("openvino", store, calib, tmp_path)
    import openvino as ov

    art = up.artefact(2)
    assert art.record["weights"].startswith("7-bit")
    weights = [op.get_data() for op in ov.Core().read_model(str(art.path)).get_ordered_ops()
               if op.get_type_name() == "Constant" and op.get_element_type() == ov.Type.i8]
    assert weights and max(int(np.abs(w.astype(np.int16)).max()) for w in weights) <= 64
    fp32 = TorchUpscaler(MODELS.get("fsrcnn").meta, store=store).upscale(butterfly, 2)
    assert psnr01(up.upscale(butterfly, 2), fp32) > HELD_DB
    monkeypatch.setattr(_cpu, "cpu_flags", lambda: ("avx2", "fma", "avx512_vnni"))
    assert "weights" not in _int8("openvino", store, calib, tmp_path).artefact(2).record  # own key


def test_torchao_weights_are_7_bit_on_a_pair_sum_cpu(store, calib, butterfly, tmp_path, monkeypatch):
    monkeypatch.setattr(_cpu, "cpu_flags", lambda: PAIR_SUM)
    up = _int8("torchao", store, calib, tmp_path)
    fp32 = TorchUpscaler(MODELS.get("fsrcnn").meta, store=store).upscale(butterfly, 2)
    assert psnr01(up.upscale(butterfly, 2), fp32) > HELD_DB
    assert "7 bits" in up.provenance()["x2"]["quantizer"]
