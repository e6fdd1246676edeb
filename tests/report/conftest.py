"""A real quantization run on Set5+Set14 shared by the report tests (needs ../shared)."""

from __future__ import annotations

from pathlib import Path

import pytest

from iqa_bench.deploy.calibration import CalibConfig
from iqa_bench.engine import EvalConfig, evaluate


@pytest.fixture(scope="session")
def variants_run(shared, tmp_path_factory) -> Path:
    """bicubic, FSRCNN and SRCNN with their fp16/int8 variants (onnxruntime) on Set5 and Set14 x2:
    PSNR-Y, SSIM-Y and GMSD (lower is better). About a minute on 2 cores."""
    out = tmp_path_factory.mktemp("variants") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IQA_BENCH_WEIGHTS", str(shared / "weights"))
        mp.setenv("IQA_BENCH_OFFLINE", "1")
        mp.setenv("IQA_BENCH_ARTEFACTS", str(out.parent / "artefacts"))
        report = evaluate(EvalConfig(
            datasets=(str(shared / "data" / "Set5"), str(shared / "data" / "Set14")), models=("bicubic", "fsrcnn", "srcnn"),
            scales=(2,), metrics=("psnr_y", "ssim_y", "gmsd"), variants=("fp32", "fp16", "int8"),
            backend="onnxruntime", calib=CalibConfig(shared / "data" / "T91", patches=32), out=out))
    assert not report.failures
    return out
