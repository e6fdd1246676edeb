"""The openvino runner on real zoo weights: fp32 equals PyTorch, bf16 and int8 close to fp32 and
really computed in their precision, int8 artefacts cached and verified, the default int8 backend."""

from __future__ import annotations

import json

import numpy as np
import pytest

from iqa_bench._cpu import cpu_flags
from iqa_bench.deploy.graph import MOVED, SUBPIXEL
from iqa_bench.errors import ComputeError, InputError
from iqa_bench.models import MODELS
from iqa_bench.runners import RUNNERS
from iqa_bench.runners.torch_runner import TorchUpscaler
from tests.conftest import psnr01

pytest.importorskip("openvino", reason="the openvino extra is not installed (pip install 'iqa-bench[openvino]')")
from iqa_bench.runners.openvino_runner import OpenVinoUpscaler  # noqa: E402


# measured on the butterfly (SRGAN x2, 24 T91 patches, asymmetric): 40.4 -> 43.0 dB at 0.65 (from 38.3 while
# strength 0 also quantized the additions, PTQ recipe 3)
SMOOTH_QUANT_GAIN_DB = 1.5
ASYM_GAIN_DB = 1.0  # measured on the butterfly (SRGAN x2, 24 T91 patches, strength 0): 38.1 -> 40.4 dB against fp32


def ov(model, variant, store, cache, calib=None, **kw):
    return OpenVinoUpscaler(MODELS.get(model).meta, variant, store=store, cache=cache, calib=calib, **kw)


def quantized_activation_readers(xml) -> list[str]:
    """The op type reading each activation FakeQuantize of an int8 IR (weights are stored compressed,
    without one)."""
    import openvino

    fqs = [op for op in openvino.Core().read_model(str(xml)).get_ordered_ops() if op.get_type_name() == "FakeQuantize"]
    return sorted(t.get_node().get_type_name() for op in fqs for t in op.output(0).get_target_inputs())


# SRGAN: 1.23e-5 measured on the butterfly, the same with its last convolution moved or not (its tanh)
@pytest.mark.parametrize("model, rewrites, tol", [
    ("fsrcnn", {"node_convolution": SUBPIXEL}, 1e-5), ("srcnn", None, 1e-5), ("edsr_r8f64", None, 1e-5),
    ("srgan", {"node_conv2d_13": MOVED}, 3e-5)])
def test_fp32_equals_torch_fp32(store, cache, butterfly, model, rewrites, tol):
    """The f32 precision hint makes OpenVINO compute in fp32 (without it, AMX CPUs run bf16); the
    graph rewrites (iqa_bench.deploy.graph: FSRCNN's transposed convolution as a sub-pixel one,
    SRGAN's last convolution moved before its pixel shuffle) keep it equal."""
    ref = TorchUpscaler(MODELS.get(model).meta, store=store).upscale(butterfly, 2)
    up = ov(model, "fp32", store, cache)
    got = up.upscale(butterfly, 2)
    assert np.abs(got - ref).max() < tol
    prov = up.provenance()["x2"]
    assert prov["inference_precision"] == "f32" and set(prov["conv_runtime_precision"]) == {"f32"}
    assert prov.get("graph_rewrites") == rewrites


def test_bf16_is_bf16_and_close(store, cache, butterfly):
    fp32 = ov("edsr_r8f64", "fp32", store, cache).upscale(butterfly, 2)
    up = ov("edsr_r8f64", "bf16", store, cache)
    got = up.upscale(butterfly, 2)
    assert 45 < psnr01(got, fp32)
    prov = up.provenance()["x2"]
    if {"amx_bf16", "avx512_bf16"} & set(cpu_flags()):  # else OpenVINO falls back to f32, and says so
        assert prov["inference_precision"] == "bf16" and "bf16" in prov["conv_runtime_precision"]
        assert psnr01(got, fp32) < 90  # really computed in bf16


@pytest.mark.parametrize("model, floor", [("srcnn", 45), ("edsr_r8f64", 45)])
def test_int8_close_to_fp32_with_image_facing_convs_in_float(store, cache, calib, butterfly, model, floor):
    fp32 = ov(model, "fp32", store, cache).upscale(butterfly, 2)
    up = ov(model, "int8", store, cache, calib)
    got = up.upscale(butterfly, 2)
    assert floor < psnr01(got, fp32) < 80  # a real quantization error, not a copy of fp32
    prov = up.provenance()["x2"]
    precisions = prov["conv_runtime_precision"]
    assert precisions.get("i8", 0) + precisions.get("u8", 0) >= 1  # int8 kernels ran
    assert precisions["f32"] == len(prov["float_layers"]) >= 2  # exactly the image-facing convs stayed float
    assert prov["calibration"]["method"] == "minmax" and "openvino" in prov["tools"] and "nncf" in prov["tools"]


def test_int8_ir_is_cached_verified_and_rebuilt_when_broken(store, cache, calib, butterfly, monkeypatch):
    first = ov("srcnn", "int8", store, cache, calib)
    a = first.artefact(2)
    record = json.loads(a.path.with_suffix(".json").read_text())
    assert set(record["sha256"]) == {".xml", ".bin"} and a.path.with_suffix(".bin").is_file()
    out = first.upscale(butterfly, 2)

    import iqa_bench.deploy.quantize as quantize

    calls = []
    real = quantize.to_openvino_int8
    monkeypatch.setattr(quantize, "to_openvino_int8", lambda *args: calls.append(1) or real(*args))
    again = ov("srcnn", "int8", store, cache, calib)
    assert again.artefact(2).path == a.path and calls == []  # found, not rebuilt
    # a planted broken artefact (weights overwritten, sidecar intact) is detected and rebuilt
    a.path.with_suffix(".bin").write_bytes(b"\0" * 100)
    fixed = ov("srcnn", "int8", store, cache, calib)
    assert np.array_equal(fixed.upscale(butterfly, 2), out) and calls == [1]


def test_wrong_device_and_variant_are_clear_errors(store, cache):
    with pytest.raises(InputError, match="runs on the CPU"):
        OpenVinoUpscaler(MODELS.get("fsrcnn").meta, "fp32", device="cuda")
    with pytest.raises(InputError, match="variants"):
        OpenVinoUpscaler(MODELS.get("fsrcnn").meta, "fp16")


def test_missing_openvino_is_one_clear_error_and_never_chosen_automatically(monkeypatch):
    import sys

    from iqa_bench.engine import EvalConfig, _runner_for

    info = MODELS.get("fsrcnn").meta
    assert _runner_for(info, "int8", EvalConfig()) == "openvino"  # installed: the default int8 backend
    assert _runner_for(info, "bf16", EvalConfig()) == "torch" == _runner_for(info, "fp16", EvalConfig())
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if the extra were not installed
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name in ("openvino", "nncf") else object())
    assert not RUNNERS.get("openvino").meta.installed()
    assert _runner_for(info, "int8", EvalConfig()) == "onnxruntime"
    with pytest.raises(InputError, match=r"pip install 'iqa-bench\[openvino\]'"):
        OpenVinoUpscaler(info, "fp32")


def test_sensitivity_sweep_keeps_the_costliest_layers_in_float(store, cache, calib, butterfly):
    """Automatic mixed precision: every inner convolution of FSRCNN is ranked by the output SNR (against
    fp32, on calibration patches) won by keeping it in float, per multiply-add; the top one stays float,
    the record says which, by how much and at what cost, and the network really runs it in f32. With
    ``--int8-image-layers input`` the output layer is a candidate too (the HR deconvolution, rewritten
    as a 5x5 sub-pixel convolution on the LR grid)."""
    import dataclasses

    base = dataclasses.replace(calib, patches=8, float_input_only=True)
    swept = dataclasses.replace(base, sensitive_float=1)
    assert swept.content_hash() != base.content_hash()  # another artefact, never the plain int8 one
    plain = ov("fsrcnn", "int8", store, cache, base)
    up = ov("fsrcnn", "int8", store, cache, swept)
    up.upscale(butterfly, 2)
    prov = up.provenance()["x2"]
    sens = prov["sensitivity"]
    plain.upscale(butterfly, 2)
    image_facing = plain.provenance()["x2"]["float_layers"]
    convs = sum(plain.provenance()["x2"]["conv_runtime_precision"].values())
    assert len(sens) == convs - len(image_facing) >= 5  # every inner convolution was ranked
    macs = prov["macs_per_patch"]
    side = 48  # the calibration patch (LR): FSRCNN's four 12 -> 12 3x3 mapping layers, 56 -> 12 1x1 shrink
    assert sorted(macs.values()).count(side * side * 12 * 12 * 9) == 4 and min(macs.values()) == side * side * 56 * 12
    assert max(macs.values()) == side * side * 56 * 4 * 5 * 5  # the x2 deconvolution as a sub-pixel convolution
    best = max(sens, key=lambda n: sens[n] / macs[n])
    assert best in prov["float_layers"] and len(prov["float_layers"]) == len(image_facing) + 1 and sens[best] > 0
    assert prov["calib_snr_db"]["final"] == pytest.approx(prov["calib_snr_db"]["int8"] + sens[best], abs=1e-3)
    # one convolution more in f32 than without the sweep
    assert prov["conv_runtime_precision"]["f32"] == plain.provenance()["x2"]["conv_runtime_precision"]["f32"] + 1
    assert prov["calibration"]["sensitive_float"] == 1


def test_int8_qat_fine_tunes_towards_fp32_and_runs_int8(store, cache, calib, butterfly):
    """QAT: the NNCF int8 network, fine-tuned with fake quantization to reproduce FP32's outputs,
    exports to an IR that OpenVINO runs with int8 kernels; training raised its output SNR against
    fp32 on the calibration patches (held-out from its training patches), and its output on a real
    image is closer to fp32 than the same recipe without training (PTQ through the same torch path)."""
    import dataclasses

    from iqa_bench.deploy.qat import QatConfig

    # one SmoothQuant strength: the choice over all of them is tested on SRCNN (tests/deploy)
    small = dataclasses.replace(calib, patches=16, smooth_quant=0.65)
    fp32 = ov("fsrcnn", "fp32", store, cache).upscale(butterfly, 2)
    untrained = ov("fsrcnn", "int8-qat", store, cache, small, qat=QatConfig(steps=1, lr=1e-12, patches=16))
    up = ov("fsrcnn", "int8-qat", store, cache, small, qat=QatConfig(steps=150, patches=64))
    assert up.build_identity() != untrained.build_identity() != ov("fsrcnn", "int8", store, cache, small).build_identity()
    got = up.upscale(butterfly, 2)
    prov = up.provenance()["x2"]
    snr = prov["calib_snr_db"]
    assert snr["qat"] > snr["ptq"] + 0.3, snr
    # fine-tuning started from FSRCNN's six chains smoothed, bias correction on or off, whichever is closer
    smooth, start = prov["smooth_quant"], prov["bias_correction"]
    assert prov["batch_norms_folded"] == 0  # FSRCNN has none
    assert smooth["chosen"] == 0.65 and set(smooth["snr_db"]) == {"0.65"} and smooth["chains"] == 6
    assert snr["ptq"] == pytest.approx(max(start["snr_db"].values()), abs=1e-3)
    assert start["chosen"] == (start["snr_db"]["on"] > start["snr_db"]["off"])
    assert prov["qat"]["steps"] == 150 and prov["qat"]["loss_last"] < prov["qat"]["loss_first"]
    assert 0 < prov["qat"]["kept_step"] <= 150  # the best checkpoint on the calibration patches, trained
    # the fine-tuned float HR deconvolution swapped for its sub-pixel convolution
    assert prov["graph_rewrites"] == {"last_part.0": "as a sub-pixel convolution"}
    assert "ConvolutionBackpropData" not in up.artefact(2).path.read_text()
    precisions = prov["conv_runtime_precision"]
    assert precisions.get("i8", 0) + precisions.get("u8", 0) >= 6 and precisions["f32"] == len(prov["float_layers"]) == 2
    before = psnr01(untrained.upscale(butterfly, 2), fp32)
    assert 30 < before < psnr01(got, fp32) < 80
    again = ov("fsrcnn", "int8-qat", store, cache, small, qat=QatConfig(steps=150, patches=64))
    assert again.artefact(2).record["build_seconds"] == up.artefact(2).record["build_seconds"]  # found, not rebuilt


def test_asymmetric_activations_are_built_recorded_and_closer_on_a_prelu_network(store, cache, calib, butterfly):
    """--int8-activations asymmetric (NNCF MIXED: a zero point per activation tensor) gives SRGAN's
    PReLU outputs all 256 steps: closer to fp32 than symmetric int8, in its own artefact, recorded
    (without SmoothQuant, which narrows the gap: 42.2 vs 43.0 dB with it)."""
    import dataclasses

    fp32 = ov("srgan", "fp32", store, cache).upscale(butterfly, 2)
    got = {}
    for mode in ("symmetric", "asymmetric"):
        up = ov("srgan", "int8", store, cache, dataclasses.replace(calib, activations=mode, smooth_quant=0.0))
        got[mode] = psnr01(up.upscale(butterfly, 2), fp32)
        prov = up.provenance()["x2"]
        assert prov["activations"] == mode and prov["calibration"]["activations"] == mode
        assert prov["conv_runtime_precision"].get("i8", 0) + prov["conv_runtime_precision"].get("u8", 0) >= 1
    assert got["asymmetric"] > got["symmetric"] + ASYM_GAIN_DB, got


def test_image_layers_in_int8_leave_no_convolution_in_float(store, cache, calib, butterfly):
    """--int8-image-layers int8: the head and tail convolutions are quantized too (every convolution
    runs int8), a real quantization error, in its own artefact."""
    import dataclasses

    fp32 = ov("srcnn", "fp32", store, cache).upscale(butterfly, 2)
    up = ov("srcnn", "int8", store, cache, dataclasses.replace(calib, float_ends=False))
    assert 30 < psnr01(up.upscale(butterfly, 2), fp32) < 80
    prov = up.provenance()["x2"]
    assert prov["float_layers"] == [] and "f32" not in prov["conv_runtime_precision"]
    assert prov["calibration"]["float_ends"] is False
    assert up.build_identity() != ov("srcnn", "int8", store, cache, calib).build_identity()
    reading = ov("srcnn", "int8", store, cache, dataclasses.replace(calib, float_input_only=True))
    reading.upscale(butterfly, 2)
    prov = reading.provenance()["x2"]  # --int8-image-layers input: the head in float, the tail (32 -> 1) int8
    assert len(prov["float_layers"]) == 1 and prov["conv_runtime_precision"]["f32"] == 1
    assert prov["calibration"]["float_input_only"] is True
    with pytest.raises(InputError, match="(?s)int8-qat keeps every image-facing convolution"):
        ov("srcnn", "int8-qat", store, cache, dataclasses.replace(calib, float_input_only=True))


def test_smooth_quant_brings_int8_closer_to_fp32_with_int8_kernels(store, cache, calib, butterfly):
    """--int8-smooth-quant (NNCF SmoothQuant on the convolutions): SRGAN x2's activation outliers
    move into its weights, so its int8 output comes closer to fp32, still computed by int8 kernels;
    the strength is in the artefact, its record and the cells' identity. An unset strength is the
    recipe's own (SMOOTH_QUANT_ALPHA)."""
    import dataclasses

    from iqa_bench.deploy.quantize import SMOOTH_QUANT_ALPHA

    fp32 = ov("srgan", "fp32", store, cache).upscale(butterfly, 2)
    got = {}
    for a in (0.0, 0.65):
        up = ov("srgan", "int8", store, cache, dataclasses.replace(calib, smooth_quant=a))
        got[a] = psnr01(up.upscale(butterfly, 2), fp32)
        prov = up.provenance()["x2"]
        assert prov["calibration"]["smooth_quant"] == a
        assert prov["conv_runtime_precision"].get("i8", 0) + prov["conv_runtime_precision"].get("u8", 0) >= 10
        assert up.build_identity()["calibration"]["smooth_quant"] == a
        # the last convolution, moved before the pixel shuffle, is still image-facing: in float
        assert prov["graph_rewrites"] == {"node_conv2d_13": MOVED}
        assert prov["conv_runtime_precision"]["f32"] == len(prov["float_layers"]) == 2
        assert any(n.startswith("node_conv2d_13/") for n in prov["float_layers"])
        # at every strength (0 too) only what convolutions read is quantized: the residual additions
        # and the skip path stay float
        readers = quantized_activation_readers(up.artefact(2).path)
        assert set(readers) == {"Convolution"} and len(readers) >= 10, (a, readers)
    assert got[0.65] > got[0.0] + SMOOTH_QUANT_GAIN_DB, got
    assert ov("srgan", "int8", store, cache, calib).calib.smooth_quant == SMOOTH_QUANT_ALPHA


def test_an_openvino_crash_fails_that_variant_in_one_line_and_caches_nothing(store, calib, butterfly, tmp_path,
                                                                             monkeypatch):
    """OpenVINO's CPU plugin can kill the process on some int8 graphs; the build runs the new IR in a
    child first. Real case: FSRCNN with asymmetric activations (SIGSEGV with OpenVINO 2026.4; a fixed
    OpenVINO builds it, which passes too): asked for explicitly, one line and nothing cached; by
    default, rebuilt symmetric. Then the child's crash itself, planted in the probe."""
    import dataclasses

    import iqa_bench.deploy.quantize as quantize
    from iqa_bench.deploy.artefacts import ArtefactCache

    fresh = ArtefactCache(tmp_path / "artefacts")
    up = ov("fsrcnn", "int8", store, fresh, dataclasses.replace(calib, activations="asymmetric"))
    try:
        up.artefact(2)
    except ComputeError as exc:
        assert "fsrcnn x2 int8; nothing was cached" in str(exc) and "asymmetric, try symmetric" in str(exc)
        assert not list(fresh.root.glob("*int8*"))
        crashed = True
    else:
        assert list(fresh.root.glob("fsrcnn-x2-int8-openvino-*.xml"))
        crashed = False
    # by default (no --int8-activations) the crashing asymmetric model is rebuilt symmetric, and said so
    default = ov("fsrcnn", "int8", store, fresh, calib)
    record = default.artefact(2).record
    if crashed:
        assert record["activations"] == "symmetric" and "crashed" in record["activations_fallback"]
    else:
        assert record["activations"] == "asymmetric" and "activations_fallback" not in record
    assert 30 < psnr01(default.upscale(butterfly, 2), ov("fsrcnn", "fp32", store, fresh).upscale(butterfly, 2))

    monkeypatch.setattr(quantize, "_PROBE", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    planted = ov("srcnn", "int8", store, fresh, calib)
    with pytest.raises(ComputeError, match=r"OpenVINO crashed \(signal 11\) running the int8 model built for srcnn x2"):
        planted.artefact(2)
    assert not list(fresh.root.glob("srcnn*int8*"))


def test_int8_float_layers_in_bf16_share_the_int8_file_and_are_keyed_apart(store, cache, calib, butterfly):
    """--int8-float-precision bf16: the same int8 IR, its float layers compiled in bf16 (where the CPU
    has bf16: else OpenVINO's f32 fallback is recorded); close to the f32 run, and keyed apart from it."""
    import dataclasses

    f32 = ov("srcnn", "int8", store, cache, calib)
    bf16 = ov("srcnn", "int8", store, cache, dataclasses.replace(calib, float_precision="bf16"))
    a, b = f32.upscale(butterfly, 2), bf16.upscale(butterfly, 2)
    assert bf16.artefact(2).path == f32.artefact(2).path
    assert bf16.build_identity() != f32.build_identity()
    assert bf16.build_identity()["calibration"]["float_precision"] == "bf16"
    prov = bf16.provenance()["x2"]
    if {"amx_bf16", "avx512_bf16"} & set(cpu_flags()):
        assert prov["inference_precision"] == "bf16" and "bf16" in prov["conv_runtime_precision"]
        assert 40 < psnr01(a, b) < 90  # really computed in bf16, and close
    else:
        assert prov["inference_precision"] == "f32"
