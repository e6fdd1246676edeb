"""ONNX export, FP16/INT8 conversion, the artefact cache and the onnxruntime runner, on real weights."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from iqa_bench.deploy.calibration import ENV_CALIB, CalibConfig, calibration_inputs
from iqa_bench.errors import InputError
from iqa_bench.models import MODELS
from iqa_bench.runners.onnx_runner import OnnxUpscaler, session_options
from iqa_bench.runners.torch_runner import TorchUpscaler
from tests.conftest import photo_like, psnr01, save_png


def ort(model, variant, store, cache, calib=None, **kw):
    return OnnxUpscaler(MODELS.get(model).meta, variant, store=store, cache=cache, calib=calib, **kw)


@pytest.mark.parametrize("model", ["fsrcnn", "srcnn", "vdsr", "srgan"])
def test_fp32_export_equals_torch_on_a_real_image(store, cache, butterfly, model):
    """Y nets (FSRCNN on LR; SRCNN valid-padded and VDSR on bicubic input) and an RGB net (SRGAN)."""
    ref = TorchUpscaler(MODELS.get(model).meta, store=store).upscale(butterfly, 2)
    got = ort(model, "fp32", store, cache).upscale(butterfly, 2)
    assert np.abs(got - ref).max() < 2e-5


def test_in_place_activations_export_out_of_place_and_the_network_keeps_them(store, tmp_path):
    """SRCNN's ReLUs are in place: exported out of place (the export's speed, same values), while the
    network handed to the export keeps them (it is the one PyTorch runs)."""
    import onnxruntime
    import torch

    from iqa_bench.deploy.export import export_onnx

    net = TorchUpscaler(MODELS.get("srcnn").meta, store=store).network(2).eval()
    export_onnx(net, 1, tmp_path / "srcnn.onnx")
    assert net.relu1.inplace and net.relu2.inplace
    x = np.random.default_rng(0).random((1, 1, 41, 57), dtype=np.float32)
    got = onnxruntime.InferenceSession(str(tmp_path / "srcnn.onnx")).run(None, {"x": x})[0]
    with torch.no_grad():
        assert np.abs(got - net(torch.from_numpy(x)).numpy()).max() < 2e-5


def test_export_has_dynamic_height_and_width(store, cache, shared):
    up = ort("fsrcnn", "fp32", store, cache, tile=None)
    torch_up = TorchUpscaler(MODELS.get("fsrcnn").meta, store=store, tile=None)
    for shape in ((17, 31, 3), (64, 40, 3)):
        lr = photo_like(*shape, seed=shape[0])
        out = up.upscale(lr, 2)
        assert out.shape == (2 * shape[0], 2 * shape[1], 3)
        assert np.abs(out - torch_up.upscale(lr, 2)).max() < 2e-5


def test_fp16_close_to_fp32(store, cache, butterfly):
    a = ort("vdsr", "fp32", store, cache).upscale(butterfly, 2)
    b = ort("vdsr", "fp16", store, cache).upscale(butterfly, 2)
    assert 0 < np.abs(a - b).max() < 5e-3  # really computed in fp16 (not bit-identical), and close
    assert psnr01(a, b) > 70


def test_int8_kernels_match_the_exact_qdq_model(store, cache, calib, butterfly):
    """ORT's int8 kernels must compute what the QDQ file says, on whatever CPU this runs. On an AVX2
    CPU without VNNI they overflow (~18 dB against the exact result, measured) unless
    session.x64quantprecision is set, which this runner does exactly there; with VNNI/AMX the
    default kernels are exact and the option is left off (it slows them and breaks EDSR graphs)."""
    from iqa_bench._cpu import has_int8_dot_product

    fast = ort("srcnn", "int8", store, cache, calib).upscale(butterfly, 2)
    exact = ort("srcnn", "int8", store, cache, calib, exact_qdq=True).upscale(butterfly, 2)
    fp32 = ort("srcnn", "fp32", store, cache).upscale(butterfly, 2)
    assert psnr01(fast, exact) > 45
    assert 30 < psnr01(exact, fp32) < 80  # a real quantization error, not a copy of fp32
    try:
        option = session_options().get_session_config_entry("session.x64quantprecision")
    except RuntimeError:  # ORT: "SessionOptions does not have configuration with key"
        option = None
    assert option == (None if has_int8_dot_product() else "1")


def test_int8_file_is_symmetric_qdq_with_float_bias(store, cache, calib):
    """What TensorRT's explicit quantization accepts: int8 Q/DQ pairs, zero points 0, no int32 bias."""
    import onnx
    from onnx import numpy_helper

    path = ort("fsrcnn", "int8", store, cache, calib).artefact(2).path
    model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") > 0 and ops.count("DequantizeLinear") > ops.count("QuantizeLinear")
    for node in model.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(node.input) > 2:
            zp = inits[node.input[2]]
            assert zp.dtype == np.int8 and not zp.any(), node.name
        if node.op_type == "DequantizeLinear" and node.input[0] in inits:
            assert inits[node.input[0]].dtype == np.int8  # weights int8; a bias would be int32


def test_cache_finds_instead_of_rebuilding(store, cache, calib, monkeypatch):
    first = ort("fsrcnn", "int8", store, cache, calib).artefact(2)
    import iqa_bench.deploy.artefacts as artefacts

    def boom(*a, **k):
        raise AssertionError("rebuilt although cached")

    monkeypatch.setattr(artefacts, "export_onnx", boom)
    monkeypatch.setattr("iqa_bench.deploy.quantize.to_int8", boom)
    again = ort("fsrcnn", "int8", store, cache, calib).artefact(2)
    assert again.path == first.path and again.key == first.key
    record = json.loads(first.path.with_suffix(".json").read_text())
    assert record["calibration"]["method"] == "minmax" and record["weights_sha256"]


def test_cache_key_depends_on_every_input(store, cache, calib, shared):
    info = MODELS.get("fsrcnn").meta
    w2 = store.resolve(info.weight_for(2))
    w3 = store.resolve(info.weight_for(3))
    d = cache.describe(info, 2, "int8", str(w2), calib)
    keys = {
        cache.key_of(d),
        cache.key_of(cache.describe(info, 3, "int8", str(w3), calib)),
        cache.key_of(cache.describe(info, 2, "int8", str(w3), calib)),  # other weights
        cache.key_of(cache.describe(info, 2, "int8", str(w2), CalibConfig(calib.folder, method="entropy", patches=24))),
        cache.key_of(cache.describe(info, 2, "int8", str(w2), CalibConfig(calib.folder, patches=12))),
        cache.key_of(cache.describe(info, 2, "fp16", str(w2), None)),
    }
    assert len(keys) == 6
    # the calibration folder's path is not part of the key, its content is
    moved = dict(d, calibration=dict(d["calibration"], folder="/elsewhere"))
    assert cache.key_of(moved) == cache.key_of(d)


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_other_calibration_methods_give_working_models(store, cache, shared, butterfly, method):
    cfg = CalibConfig(shared / "data" / "T91", method=method, patches=12)
    fp32 = ort("srcnn", "fp32", store, cache).upscale(butterfly, 2)
    assert psnr01(ort("srcnn", "int8", store, cache, cfg).upscale(butterfly, 2), fp32) > 30


def test_calibration_patches_are_network_inputs(shared):
    cfg = CalibConfig(shared / "data" / "T91", patches=5, patch=20)
    up = TorchUpscaler(MODELS.get("vdsr").meta)
    xs = calibration_inputs(cfg, 3, up.network_input)
    assert len(xs) == 5 and all(x.shape == (1, 1, 60, 60) and x.dtype == np.float32 for x in xs)
    lo, hi = min(x.min() for x in xs), max(x.max() for x in xs)
    assert 0.0 < lo < 0.3 and 0.7 < hi < 1.0  # BT.601 Y on [0, 1] (bicubic may overshoot [16, 235]/255)
    srcnn = calibration_inputs(cfg, 2, TorchUpscaler(MODELS.get("srcnn").meta).network_input, shrink=6)
    assert srcnn[0].shape == (1, 1, 52, 52)


def test_calibration_errors(tmp_path):
    with pytest.raises(InputError, match="calibration folder not found"):
        CalibConfig(tmp_path / "missing")
    with pytest.raises(InputError, match="unknown calibration method"):
        CalibConfig(tmp_path, method="kl")
    with pytest.raises(InputError, match="has no images"):
        CalibConfig(tmp_path).content_hash()
    with pytest.raises(InputError, match="(?s)unknown int8 activation mode 'signed'.*symmetric, asymmetric"):
        CalibConfig(tmp_path, activations="signed")


def test_activation_mode_keys_artefacts_only_when_chosen(calib, store, cache):
    """Leaving --int8-activations unset keeps every existing artefact key; choosing a mode makes its own."""
    sym, asym = (dataclasses.replace(calib, activations=a) for a in ("symmetric", "asymmetric"))
    assert len({calib.content_hash(), sym.content_hash(), asym.content_hash()}) == 3
    assert "activations" not in calib.identity(2) and asym.identity(2)["activations"] == "asymmetric"
    with pytest.raises(InputError, match="(?s)symmetric activations only.*--backend openvino"):
        ort("fsrcnn", "int8", store, cache, asym)
    with pytest.raises(InputError, match="(?s)OpenVINO and torchao setting.*--backend openvino"):
        ort("fsrcnn", "int8", store, cache, dataclasses.replace(calib, float_precision="bf16"))
    with pytest.raises(InputError, match="(?s)unknown precision 'fp8'.*f32, bf16"):
        dataclasses.replace(calib, float_precision="fp8")


def test_smooth_quant_strength_keys_artefacts_and_is_refused_where_it_is_not_the_recipe(calib, store, cache):
    """--int8-smooth-quant: a strength in [0, 1] or auto, in the artefact key and the cells' identity
    when set, refused by the QDQ file (ONNX Runtime, TensorRT) whose recipe has none."""
    off, strong, auto = (dataclasses.replace(calib, smooth_quant=a) for a in (0.0, 0.65, "auto"))
    assert len({calib.content_hash(), off.content_hash(), strong.content_hash(), auto.content_hash()}) == 4
    assert "smooth_quant" not in calib.identity(2) and strong.identity(2)["smooth_quant"] == 0.65
    assert auto.identity(2)["smooth_quant"] == "auto"
    for bad in (1.5, -0.1, True, "0.5", "automatic"):
        with pytest.raises(InputError, match="(?s)SmoothQuant strength .* is not in \\[0, 1\\].*--int8-smooth-quant"):
            dataclasses.replace(calib, smooth_quant=bad)
    for asked in (strong, auto):
        with pytest.raises(InputError, match="(?s)OpenVINO's int8 recipe, not the QDQ file's.*--backend openvino"):
            ort("fsrcnn", "int8", store, cache, asked)
    ort("fsrcnn", "int8", store, cache, off)  # off: nothing to refuse
    with pytest.raises(InputError, match="(?s)--int8-image-layers input is an OpenVINO int8 setting.*--backend "):
        ort("fsrcnn", "int8", store, cache, dataclasses.replace(calib, float_input_only=True))
    with pytest.raises(InputError, match="(?s)float_ends is off.*--int8-image-layers"):
        dataclasses.replace(calib, float_ends=False, float_input_only=True)


def test_int8_calibration_comes_from_calib_then_env_then_the_builtin_set(store, cache, monkeypatch, shared, tmp_path):
    from iqa_bench.deploy.calibration import BUILTIN_CALIB_FILES

    monkeypatch.delenv(ENV_CALIB, raising=False)
    up = ort("fsrcnn", "int8", store, cache)
    assert up.calib.files == BUILTIN_CALIB_FILES and len(up.calib.images()) == len(BUILTIN_CALIB_FILES)
    assert np.isfinite(up.upscale(photo_like(16, 16), 2)).all()
    monkeypatch.setenv(ENV_CALIB, str(shared / "data" / "T91"))
    assert ort("fsrcnn", "int8", store, cache).calib.folder == shared / "data" / "T91"
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="has no images"):
        ort("fsrcnn", "int8", store, cache, CalibConfig(tmp_path / "empty")).upscale(photo_like(16, 16), 2)


def test_blank_calibration_breaks_int8_visibly(store, cache, tmp_path, butterfly):
    """Calibrating on flat grey images collapses the activation ranges: the int8 model still runs
    (no crash, finite output) and its quality drop is large and visible."""
    for i in range(3):
        save_png(tmp_path / f"grey{i}.png", np.full((96, 96, 3), 128, np.uint8))
    fp32 = ort("fsrcnn", "fp32", store, cache).upscale(butterfly, 2)
    good = ort("fsrcnn", "int8", store, cache, CalibConfig(tmp_path.parent / tmp_path.name, patches=6))
    broken = good.upscale(butterfly, 2)
    assert np.isfinite(broken).all()
    assert psnr01(broken, fp32) < 25


def test_smooth_quant_auto_keeps_the_strength_closest_to_fp32(calib):
    """``choose_smooth_quant``: every strength of the grid is built once, in order; the one with the
    highest output SNR against fp32 wins, a tie going to the weaker strength; the record gives each."""
    from iqa_bench.deploy.quantize import SMOOTH_QUANT_GRID, choose_smooth_quant

    snr = {0.0: 30.0, 0.5: 38.0, 0.65: 39.5, 0.8: 39.5, 0.95: 35.0}
    built = []

    def quantize(c: CalibConfig) -> float:
        built.append(c.smooth_quant)
        return c.smooth_quant

    auto = dataclasses.replace(calib, smooth_quant="auto", sensitive_float=1)
    chosen, network, record = choose_smooth_quant(auto, quantize, snr.__getitem__)
    assert built == list(SMOOTH_QUANT_GRID) == sorted(snr)
    assert chosen.smooth_quant == network == record["chosen"] == 0.65 and chosen.sensitive_float == 1
    assert record["snr_db"] == {"0": 30.0, "0.5": 38.0, "0.65": 39.5, "0.8": 39.5, "0.95": 35.0}
