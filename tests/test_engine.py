"""Engine: resumable runs (SIGKILL), determinism, manifest, external outputs, failing models."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iqa_bench.data.degrade import DEGRADATIONS
from iqa_bench.engine import EvalConfig, evaluate
from iqa_bench.errors import RunStateError
from iqa_bench.models import MODELS, ModelInfo
from iqa_bench.results import COLUMNS, KEY, load_run
from iqa_bench.runners import RUNNERS, RunnerInfo, Upscaler
from iqa_bench.runners.interp import InterpUpscaler
from tests.conftest import photo_like, save_png

CLI = [sys.executable, "-m", "iqa_bench.cli"]


def _cmd(out: Path, *extra: str) -> list[str]:
    return [*CLI, "evaluate", "--models", "all", "--scale", "2,3,4", "--out", str(out), *extra]


def test_sigkill_mid_run_then_resume_equals_uninterrupted(tmp_path):
    """Must-show 4: kill -9 mid-run; rerun completes with identical table; a third run computes nothing."""
    full = tmp_path / "full"
    subprocess.run(_cmd(full), check=True, capture_output=True)
    expected = load_run(full)
    assert len(expected) == 4 * 3 * 4 * 4  # images x scales x models x metrics

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list((killed / "outputs").rglob("*.png"))) >= 6:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    partial = load_run(killed)
    assert 0 < len(partial) < len(expected)

    second = subprocess.run(_cmd(killed), check=True, capture_output=True, text=True)
    resumed = load_run(killed)
    assert not resumed.duplicated(list(KEY)).any()
    pd.testing.assert_frame_equal(resumed, expected, check_exact=True)
    assert "reused 0" not in second.stdout

    third = subprocess.run(_cmd(killed), check=True, capture_output=True, text=True)
    assert "computed 0 cells" in third.stdout
    pd.testing.assert_frame_equal(load_run(killed), expected, check_exact=True)


def test_two_runs_bit_identical(tmp_path):
    """Must-show 6: the same command twice gives bit-identical results values."""
    cfg = dict(models=("bicubic", "lanczos"), scales=(3,))
    evaluate(EvalConfig(out=tmp_path / "a", **cfg))
    evaluate(EvalConfig(out=tmp_path / "b", **cfg))
    a, b = load_run(tmp_path / "a"), load_run(tmp_path / "b")
    assert list(a.columns) == COLUMNS
    assert a["value"].to_numpy().tobytes() == b["value"].to_numpy().tobytes()
    assert (tmp_path / "a" / "results.parquet").read_bytes() == (tmp_path / "b" / "results.parquet").read_bytes()


def test_manifest_records_conventions_inputs_and_handling(tmp_path):
    evaluate(EvalConfig(out=tmp_path / "r", models=("bicubic",), scales=(4,)))
    man = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert "BT.601" in man["conventions"]["luma"]
    assert man["conventions"]["degradation"].startswith("matlab:")
    camera = man["datasets"]["default"]["x4"]["camera"]
    assert len(camera["hr"]["sha256"]) == 64 and "grey" in camera["hr"]["handling"]
    assert camera["lr"] == "generated"
    assert man["models"]["bicubic"]["params"] == {"kernel": "bicubic"}
    assert man["metrics"]["psnr_y"]["higher_is_better"] is True
    assert {"numpy", "scipy", "iqa-bench"} <= set(man["versions"])


def test_resume_with_other_conventions_is_refused(tmp_path):
    evaluate(EvalConfig(out=tmp_path / "r", models=("bicubic",), metrics=("psnr",)))
    with pytest.raises(RunStateError, match="other conventions .*sr_output"):
        evaluate(EvalConfig(out=tmp_path / "r", models=("bicubic",), metrics=("psnr",), quantize=False))


def test_adding_a_metric_computes_only_the_new_cells(tmp_path):
    out = tmp_path / "r"
    r1 = evaluate(EvalConfig(out=out, models=("bicubic",), metrics=("psnr",)))
    r2 = evaluate(EvalConfig(out=out, models=("bicubic",), metrics=("psnr", "ssim")))
    assert r1.rows_added == 4 and r2.rows_added == 4 and r2.computed_cells == 4
    df = load_run(out)
    assert sorted(df["metric"].unique()) == ["psnr", "ssim"] and len(df) == 8


def test_external_outputs_score_like_the_model_that_made_them(tmp_path):
    """--outputs NAME=DIR: a folder of SR images made elsewhere, matched by file name."""
    hr_dir = tmp_path / "hr"
    imgs = {f"im{i}": photo_like(40, 44, seed=i) for i in range(3)}
    folder = tmp_path / "sr"
    for name, img in imgs.items():
        save_png(hr_dir / f"{name}.png", img)
        lr = DEGRADATIONS["matlab"](img, 4)
        save_png(folder / f"{name}.png", InterpUpscaler("bicubic").upscale_uint8(lr, 4))
    evaluate(EvalConfig(datasets=(str(hr_dir),), models=("bicubic",), outputs=(("mine", folder),), out=tmp_path / "r"))
    df = load_run(tmp_path / "r")
    ext = df[df.model == "mine"].reset_index(drop=True)
    ref = df[df.model == "bicubic"].reset_index(drop=True)
    assert set(ext["backend"]) == {"external"} and len(ext) == 12
    np.testing.assert_array_equal(ext["value"].to_numpy(), ref["value"].to_numpy())


class _NaNUpscaler(Upscaler):
    def upscale(self, lr, scale):
        out = np.zeros((lr.shape[0] * scale, lr.shape[1] * scale, lr.shape[2]))
        out[0, 0, 0] = np.nan
        return out


def test_nan_output_fails_that_model_only(tmp_path):
    """A model whose output has NaN: clear error, other models' results intact, run goes on."""
    RUNNERS.register("nanrunner", lambda model, variant, **options: _NaNUpscaler(), RunnerInfo("test", ("fp32",)))
    info = ModelInfo(arch="test", backend="nanrunner", description="emits NaN")
    MODELS.register("nanmodel", lambda: info, info)
    try:
        rep = evaluate(EvalConfig(out=tmp_path / "r", models=("bicubic", "nanmodel"), metrics=("psnr",)))
    finally:
        MODELS.unregister("nanmodel")
        RUNNERS.unregister("nanrunner")
    assert len(rep.failures) == 1 and "NaN" in rep.failures[0] and "nanmodel" in rep.failures[0]
    df = load_run(tmp_path / "r")
    assert set(df["model"]) == {"bicubic"} and len(df) == 4
    assert not list((tmp_path / "r" / "outputs" / "default" / "x4").glob("nanmodel/*/*.png"))
    assert "failures" in json.loads((tmp_path / "r" / "manifest.json").read_text())


class _BrokenBuild(InterpUpscaler):
    """Fails to build like ONNX Runtime did on Real-ESRGAN int8 ("Attempt to replace the existing tensor")."""

    def prepare(self, scale: int) -> None:
        raise RuntimeError("[ONNXRuntimeError] : 1 : FAIL : Attempt to replace the existing tensor\nmore detail")


def test_a_failing_build_fails_that_variant_with_one_line_and_the_run_goes_on(tmp_path):
    RUNNERS.register("brokenbuild", lambda model, variant, **options: _BrokenBuild("bicubic"),
                     RunnerInfo("test", ("fp32",)))
    info = ModelInfo(arch="test", backend="brokenbuild", description="cannot be built")
    MODELS.register("unbuildable", lambda: info, info)
    try:
        rep = evaluate(EvalConfig(out=tmp_path / "r", models=("unbuildable", "bicubic"), metrics=("psnr",)))
    finally:
        MODELS.unregister("unbuildable")
        RUNNERS.unregister("brokenbuild")
    assert len(rep.failures) == 1
    line = rep.failures[0]
    assert "\n" not in line and "building unbuildable fp32 on brokenbuild for x4 failed" in line
    assert "RuntimeError: [ONNXRuntimeError] : 1 : FAIL : Attempt to replace the existing tensor" in line
    df = load_run(tmp_path / "r")
    assert set(df["model"]) == {"bicubic"} and len(df) == 4  # every image of the other model was scored


def test_no_temp_files_left(tmp_path):
    evaluate(EvalConfig(out=tmp_path / "r", models=("nearest",), metrics=("psnr",)))
    assert not [p for p in (tmp_path / "r").rglob("*") if p.name.endswith(".tmp")]
    assert os.listdir(tmp_path / "r")


def test_second_writer_is_refused_and_a_killed_writers_lock_is_taken_over(tmp_path):
    from typer.testing import CliRunner

    from iqa_bench.cli import app
    from iqa_bench.results import LOCK_FILE, RunLock

    out = tmp_path / "r"
    evaluate(EvalConfig(out=out, models=("nearest",), metrics=("psnr",)))
    before = load_run(out)
    with RunLock(out):  # another evaluation is writing this run directory
        with pytest.raises(RunStateError, match=f"is being written by process {os.getpid()}"):
            evaluate(EvalConfig(out=out, models=("nearest", "bicubic"), metrics=("psnr",)))
        res = CliRunner().invoke(app, ["evaluate", "--models", "bicubic", "--metrics", "psnr", "--out", str(out)])
        assert res.exit_code == 2 and "two writers would lose each other's rows" in res.output
        assert "Traceback" not in res.output
    pd.testing.assert_frame_equal(load_run(out), before)  # nothing lost, nothing added
    assert not (out / LOCK_FILE).exists()
    # a lock left by a killed process (its pid no longer exists) is taken over
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / LOCK_FILE).write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename, "since": "then"}))
    rep = evaluate(EvalConfig(out=out, models=("nearest", "bicubic"), metrics=("psnr",)))
    assert rep.computed_cells == 4 and not (out / LOCK_FILE).exists()
    # --out that is a file
    f = tmp_path / "file"
    f.write_text("x")
    res = CliRunner().invoke(app, ["evaluate", "--models", "bicubic", "--out", str(f)])
    assert res.exit_code == 2 and "is a file" in res.output
