"""Quantized variants as first-class rows of an evaluation: runner choice, timings, provenance,
and a broken INT8 model that shows in the results without crashing the run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from iqa_bench._cpu import cpu_flags
from iqa_bench.deploy.calibration import CalibConfig
from iqa_bench.engine import EvalConfig, _runner_for, evaluate
from iqa_bench.io import read_image
from iqa_bench.models import MODELS
from iqa_bench.results import load_run
from tests.conftest import save_png


@pytest.fixture
def env(shared, tmp_path, monkeypatch):
    monkeypatch.setenv("IQA_BENCH_WEIGHTS", str(shared / "weights"))
    monkeypatch.setenv("IQA_BENCH_OFFLINE", "1")
    monkeypatch.setenv("IQA_BENCH_ARTEFACTS", str(tmp_path / "artefacts"))
    return shared


# the runner that int8 of a torch model goes to: openvino when its extra is installed, else onnxruntime
INT8 = _runner_for(MODELS.get("srcnn").meta, "int8", EvalConfig())


def _means(run):
    df = load_run(run)
    return df.groupby(["model", "variant", "backend", "metric"])["value"].mean()


def test_variants_side_by_side_with_the_right_runners(env, tmp_path):
    cfg = EvalConfig(datasets=(str(env / "data" / "Set5"),), models=("bicubic", "srcnn"), scales=(2,),
                     metrics=("psnr_y", "ssim_y"), variants=("fp32", "int8"), out=tmp_path / "run",
                     calib=CalibConfig(env / "data" / "T91", patches=24))
    report = evaluate(cfg)
    assert not report.failures
    m = _means(tmp_path / "run")
    rows = set(m.index.droplevel("metric"))
    assert rows == {("bicubic", "fp64", "interp"), ("srcnn", "fp32", "torch"), ("srcnn", "int8", INT8)}
    d = m[("srcnn", "int8", INT8, "psnr_y")] - m[("srcnn", "fp32", "torch", "psnr_y")]
    assert -0.3 < d < 0.05  # int8 (float ends) costs little PSNR-Y on Set5, far less than a broken model
    timings = pd.read_parquet(tmp_path / "run" / "timings.parquet")
    per_image = timings[timings["kind"] == "evaluate"]
    assert set(per_image.groupby(["model", "variant", "backend"]).size().to_dict().values()) == {5}
    assert (per_image["sr_ms"] > 0).all()
    # building (export, calibration, quantization, compilation) is its own row, never in an image's time
    builds = timings[timings["kind"] == "build"].set_index(["model", "variant", "backend"])["build_ms"]
    assert set(builds.index) == rows and (builds > 0).all()
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert set(manifest["models"]["srcnn"]["variants"]) == {"fp32/torch", f"int8/{INT8}"}
    art = manifest["artefacts"][f"srcnn/int8/{INT8}"]["x2"]
    assert art["calibration"]["method"] == "minmax" and art["bytes"] > 0 and len(art["key"]) == 64
    assert art["float_layers"] and art["cpu_flags"] == list(cpu_flags())


def test_an_output_folder_labelled_as_a_variant_is_compared_as_one_computed_here(env, tmp_path):
    """The thesis case: int8 outputs made elsewhere (e.g. a TensorRT engine) given as ``--outputs
    srcnn:int8=DIR`` are rows of srcnn's int8 variant, compared with srcnn's fp32 by the TOST. Made here
    from SRCNN's own int8 PNGs: the external rows and their statistics equal the computed ones."""
    from iqa_bench.stats import compare

    common = dict(datasets=(str(env / "data" / "Set5"),), scales=(2,), metrics=("psnr_y", "ssim_y"))
    evaluate(EvalConfig(models=("srcnn",), variants=("fp32", "int8"), out=tmp_path / "here",
                        calib=CalibConfig(env / "data" / "T91", patches=24), **common))
    folder = tmp_path / "here" / "outputs" / "Set5" / "x2" / "srcnn" / f"int8-{INT8}"
    report = evaluate(EvalConfig(models=("srcnn",), variants=("fp32",), outputs=(("srcnn:int8", folder),),
                                 out=tmp_path / "elsewhere", **common))
    assert not report.failures
    here, elsewhere = _means(tmp_path / "here"), _means(tmp_path / "elsewhere")
    assert set(elsewhere.index.droplevel("metric")) == {("srcnn", "fp32", "torch"), ("srcnn", "int8", "external")}
    for metric in ("psnr_y", "ssim_y"):
        assert elsewhere[("srcnn", "int8", "external", metric)] == here[("srcnn", "int8", INT8, metric)]
    a = compare(load_run(tmp_path / "here"), baseline=None).set_index("metric")
    b = compare(load_run(tmp_path / "elsewhere"), baseline=None).set_index("metric")
    assert set(b["comparison"]) == {"variant"} and set(b["baseline_variant"]) == {"fp32"}
    assert set(b["backend"]) == {"external"}
    cols = ["mean_diff", "ci90_low", "ci90_high", "p_tost_adj", "verdict"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    manifest = json.loads((tmp_path / "elsewhere" / "manifest.json").read_text())
    assert manifest["models"]["srcnn"]["variants"]["int8/external"]["folder"] == str(folder.resolve())
    assert "folder" not in manifest["models"]["srcnn"]  # the zoo model's own entry stays its own


def test_backend_option_runs_every_learned_model_there(env, tmp_path):
    cfg = EvalConfig(datasets=(str(env / "data" / "Set5"),), models=("bicubic", "fsrcnn"), scales=(2,),
                     metrics=("psnr_y",), variants=("fp32", "fp16"), backend="onnxruntime", out=tmp_path / "run")
    evaluate(cfg)
    m = _means(tmp_path / "run")
    assert set(m.index.droplevel("metric")) == {("bicubic", "fp64", "interp"), ("fsrcnn", "fp32", "onnxruntime"),
                                                ("fsrcnn", "fp16", "onnxruntime")}
    assert abs(m[("fsrcnn", "fp16", "onnxruntime", "psnr_y")] - m[("fsrcnn", "fp32", "onnxruntime", "psnr_y")]) < 0.01


def test_int8_without_calibration_uses_the_builtin_set_never_the_default_test_images(env, tmp_path, monkeypatch):
    from iqa_bench.data.datasets import DATASETS
    from iqa_bench.deploy.calibration import BUILTIN_CALIB_FILES

    monkeypatch.delenv("IQA_BENCH_CALIB", raising=False)
    cfg = EvalConfig(datasets=(str(env / "data" / "Set5"),), models=("fsrcnn",), scales=(2,), metrics=("psnr_y",),
                     variants=("fp32", "int8"), out=tmp_path / "run")
    report = evaluate(cfg)
    assert not report.failures
    m = _means(tmp_path / "run")
    assert m[("fsrcnn", "fp32", "torch", "psnr_y")] - m[("fsrcnn", "int8", INT8, "psnr_y")] < 3
    calib = json.loads((tmp_path / "run" / "manifest.json").read_text())["artefacts"][f"fsrcnn/int8/{INT8}"]["x2"]["calibration"]
    assert calib["files"] == list(BUILTIN_CALIB_FILES)
    default_images = {s.hr_path.name for s in DATASETS.create("default").samples(2)}
    assert default_images and not default_images & set(BUILTIN_CALIB_FILES)


def test_blank_calibration_shows_as_a_quality_drop_not_a_crash(env, tmp_path):
    blank = tmp_path / "blank"
    for i in range(3):
        save_png(blank / f"{i}.png", np.full((96, 96, 3), 100 + i, np.uint8))
    cfg = EvalConfig(datasets=(str(env / "data" / "Set5"),), models=("fsrcnn",), scales=(2,), metrics=("psnr_y",),
                     variants=("fp32", "int8"), out=tmp_path / "run", calib=CalibConfig(blank, patches=6))
    report = evaluate(cfg)
    assert not report.failures
    m = _means(tmp_path / "run")
    assert m[("fsrcnn", "fp32", "torch", "psnr_y")] - m[("fsrcnn", "int8", INT8, "psnr_y")] > 5


@pytest.mark.slow
def test_realesrgan_x4_int8_builds_or_fails_as_one_line_and_the_run_goes_on(env, tmp_path):
    """The issue's case: Real-ESRGAN x4 int8 on ONNX Runtime died with a raw traceback ("Attempt to replace
    the existing tensor") and poisoned the cache. Now it builds (this CPU) or fails as that variant alone."""
    data = tmp_path / "data"
    save_png(data / "crop.png", read_image(env / "data" / "Set5" / "HR" / "baby.png")[0][:64, :64])
    cfg = EvalConfig(datasets=(str(data),), models=("bicubic", "realesrgan_x4plus"), scales=(4,), metrics=("psnr_y",),
                     variants=("fp32", "int8"), backend="onnxruntime", out=tmp_path / "run",
                     calib=CalibConfig(env / "data" / "T91", patches=8))
    report = evaluate(cfg)
    rows = set(load_run(tmp_path / "run")[["model", "variant"]].itertuples(index=False, name=None))
    assert {("bicubic", "fp64"), ("realesrgan_x4plus", "fp32")} <= rows
    if ("realesrgan_x4plus", "int8") in rows:
        assert not report.failures
    else:
        assert len(report.failures) == 1 and "\n" not in report.failures[0] and "int8" in report.failures[0]


def test_a_variant_pinned_to_a_runner_runs_beside_the_default_one(env, tmp_path):
    """``--variants fp32,int8,int8-qat,int8@torchao``: SRCNN int8 on the default int8 runner, by QAT on
    OpenVINO, and pinned to torchao, each a row of its own with its own provenance, each compared
    with fp32 by the equivalence test; a pin to a runner without that variant is one refusal."""
    pytest.importorskip("torchao", reason="the torchao extra is not installed")
    pytest.importorskip("nncf", reason="the openvino extra is not installed")
    import dataclasses

    from iqa_bench.deploy.qat import QatConfig
    from iqa_bench.deploy.quantize import SMOOTH_QUANT_GRID
    from iqa_bench.errors import InputError
    from iqa_bench.stats import compare

    cfg = EvalConfig(datasets=(str(env / "data" / "Set5"),), models=("srcnn",), scales=(2,), metrics=("psnr_y",),
                     variants=("fp32", "int8", "int8-qat", "int8@torchao"), out=tmp_path / "run",
                     calib=CalibConfig(env / "data" / "T91", patches=16), qat=QatConfig(steps=20, patches=32))
    with pytest.raises(InputError, match="no variant fp16 on torchao"):
        evaluate(dataclasses.replace(cfg, variants=("fp32", "fp16@torchao"), out=tmp_path / "refused"))
    report = evaluate(cfg)
    assert not report.failures
    m = _means(tmp_path / "run")
    assert set(m.index.droplevel("metric")) == {("srcnn", "fp32", "torch"), ("srcnn", "int8", INT8),
                                                ("srcnn", "int8-qat", "openvino"), ("srcnn", "int8", "torchao")}
    for side in (("srcnn", "int8", "torchao"), ("srcnn", "int8-qat", "openvino")):
        assert -0.3 < m[(*side, "psnr_y")] - m[("srcnn", "fp32", "torch", "psnr_y")] < 0.05
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["artefacts"]["srcnn/int8/torchao"]["x2"]["conv_precision"] == {"int8": 1, "f32": 2}
    qat = manifest["artefacts"]["srcnn/int8-qat/openvino"]["x2"]
    assert qat["qat"]["steps"] == 20
    # its start: the PTQ network closest to fp32 on the calibration patches over every SmoothQuant
    # strength (SRCNN has one chain to smooth) and bias correction on/off
    assert set(qat["smooth_quant"]["snr_db"]) == {f"{a:g}" for a in SMOOTH_QUANT_GRID}
    assert qat["calib_snr_db"]["ptq"] == pytest.approx(max(qat["smooth_quant"]["snr_db"].values()), abs=1e-3)
    assert qat["calib_snr_db"]["ptq"] == pytest.approx(max(qat["bias_correction"]["snr_db"].values()), abs=1e-3)
    assert qat["smooth_quant"]["chains"] == (1 if qat["smooth_quant"]["chosen"] else 0)
    assert qat["calib_snr_db"]["qat"] >= qat["calib_snr_db"]["ptq"]  # the best checkpoint, or the start
    st = compare(load_run(tmp_path / "run"), baseline=None)
    compared = set(zip(st["variant"], st["backend"]))
    assert {("int8", "torchao"), ("int8-qat", "openvino"), ("int8", INT8)} <= compared
    assert set(st["comparison"]) == {"variant"} and st["margin"].notna().all()
