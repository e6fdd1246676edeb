"""The CLI as a user runs it: published numbers, bad input, listing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from iqa_bench.cli import app
from iqa_bench.results import load_run, summarize
from tests.conftest import photo_like, save_png

runner = CliRunner()

# The Bicubic row of the SR papers' tables (EDSR/RCAN, MATLAB imresize, Y of BT.601, border = scale):
# (PSNR-Y, SSIM-Y); tolerance 0.05 dB / 0.002.
PUBLISHED_BICUBIC = {
    ("Set5", 2): (33.66, 0.9299), ("Set5", 3): (30.39, 0.8682), ("Set5", 4): (28.42, 0.8104),
    ("Set14", 2): (30.24, 0.8688), ("Set14", 3): (27.55, 0.7742), ("Set14", 4): (26.00, 0.7027),
}


def _means(run: Path) -> dict[tuple[str, int, str], float]:
    s = summarize(load_run(run))
    return {(r.dataset, int(r.scale), r.metric): r.mean for r in s.itertuples()}


def test_console_script_reproduces_published_bicubic_set5_x4(shared, tmp_path):
    """Must-show 3 through the installed console script, exactly as a user types it."""
    exe = shutil.which("iqa-bench", path=str(Path(sys.executable).parent))
    assert exe, "the iqa-bench console script is not installed next to this Python"
    proc = subprocess.run(
        [exe, "evaluate", "--models", "bicubic", "--dataset", str(shared / "data" / "Set5"), "--scale", "4",
         "--out", str(tmp_path / "r")],
        capture_output=True, text=True, check=True,
    )
    assert "Set5 x4" in proc.stdout and "bicubic" in proc.stdout
    m = _means(tmp_path / "r")
    assert m[("Set5", 4, "psnr_y")] == pytest.approx(28.42, abs=0.05)
    assert m[("Set5", 4, "ssim_y")] == pytest.approx(0.8104, abs=0.002)


@pytest.mark.parametrize("dataset", ["Set5", "Set14"])
def test_published_bicubic_rows(shared, tmp_path, dataset):
    """The published Bicubic row (Set14's grey `bridge` scored as grey)."""
    res = runner.invoke(app, ["evaluate", "--models", "bicubic", "--dataset", str(shared / "data" / dataset),
                              "--scale", "2,3,4", "--suite", "paper", "--out", str(tmp_path / dataset)])
    assert res.exit_code == 0, res.output
    m = _means(tmp_path / dataset)
    for scale in (2, 3, 4):
        psnr, ssim = PUBLISHED_BICUBIC[(dataset, scale)]
        assert m[(dataset, scale, "psnr_y")] == pytest.approx(psnr, abs=0.05), (dataset, scale)
        assert m[(dataset, scale, "ssim_y")] == pytest.approx(ssim, abs=0.002), (dataset, scale)
    if dataset == "Set14":  # our measured grey-as-is values, to 1e-3
        for scale, v in ((2, 30.235), (3, 27.541), (4, 25.998)):
            assert m[(dataset, scale, "psnr_y")] == pytest.approx(v, abs=1e-3)


def _dataset(root: Path, n: int = 2, size=(48, 40)) -> Path:
    for i in range(n):
        save_png(root / f"img{i}.png", photo_like(*size, seed=i))
    return root


def _fails(args: list[str], *needles: str) -> str:
    res = runner.invoke(app, args)
    assert res.exit_code != 0, res.output
    assert "Traceback" not in res.output
    assert "error:" in res.output
    for needle in needles:
        assert needle in res.output, res.output
    return res.output


def test_bad_inputs_give_one_clear_message_and_keep_results(tmp_path):
    """Must-show 5: each bad input -> message naming what, which file and the fix; exit != 0."""
    out = tmp_path / "run"
    good = _dataset(tmp_path / "good")
    ok = runner.invoke(app, ["evaluate", "-m", "bicubic", "-d", str(good), "--out", str(out)])
    assert ok.exit_code == 0, ok.output
    before = (out / "results.parquet").read_bytes()

    # mismatched HR / LR sizes
    paired = tmp_path / "paired"
    save_png(paired / "HR" / "a.png", photo_like(48, 48))
    save_png(paired / "LR_bicubic" / "X4" / "a.png", photo_like(11, 12))
    _fails(["evaluate", "-m", "bicubic", "-d", str(paired), "--out", str(out)],
           "LR_bicubic/X4/a.png", "HR/a.png", "fix:")
    # RGBA
    rgba = tmp_path / "rgba"
    save_png(rgba / "a.png", np.dstack([photo_like(16, 16), np.full((16, 16), 9, np.uint8)]))
    _fails(["evaluate", "-m", "bicubic", "-d", str(rgba), "--out", str(out)], "rgba/a.png", "--drop-alpha")
    # truncated file
    trunc = _dataset(tmp_path / "trunc")
    f = trunc / "img1.png"
    f.write_bytes(f.read_bytes()[:300])
    _fails(["evaluate", "-m", "bicubic", "-d", str(trunc), "--out", str(out)], "trunc/img1.png", "truncated")
    # empty folder
    (tmp_path / "empty").mkdir()
    _fails(["evaluate", "-m", "bicubic", "-d", str(tmp_path / "empty"), "--out", str(out)], "no images", "empty")
    # unknown model / metric / dataset name
    _fails(["evaluate", "-m", "bicubc", "--out", str(out)], "unknown model 'bicubc'", "did you mean bicubic")
    _fails(["evaluate", "-m", "bicubic", "--metrics", "psnr_Y2", "--out", str(out)], "unknown metric", "psnr_y")
    _fails(["evaluate", "-m", "bicubic", "-d", "defualt", "--out", str(out)], "unknown dataset", "default")
    # malformed options
    _fails(["evaluate", "-m", "bicubic", "--suite", "nope", "--out", str(out)], "unknown metric suite 'nope'")
    _fails(["evaluate", "-m", "bicubic", "--scale", "x4", "--out", str(out)], "--scale 'x4'", "e.g. --scale 4")
    _fails(["evaluate", "--outputs", "just_a_dir", "--out", str(out)], "is not NAME=DIR")
    # --outputs with a wrong size
    wrong = tmp_path / "wrong"
    for i in range(2):
        save_png(wrong / f"img{i}.png", photo_like(10, 10))
    _fails(["evaluate", "-d", str(good), "--outputs", f"mine={wrong}", "--out", str(out)],
           "SR output of mine for img0.png", "is 10x10")
    assert (out / "results.parquet").read_bytes() == before  # earlier results kept, untouched


def test_grey_16bit_and_dropped_alpha_are_handled_and_recorded(tmp_path):
    root = tmp_path / "mixed"
    save_png(root / "grey.png", photo_like(32, 36, channels=1, seed=1))
    save_png(root / "deep.png", (photo_like(32, 36, seed=2).astype(np.uint16) * 257))
    save_png(root / "alpha.png", np.dstack([photo_like(32, 36, seed=3), np.full((32, 36), 255, np.uint8)]))
    res = runner.invoke(app, ["evaluate", "-m", "bicubic", "-d", str(root), "--drop-alpha", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    man = json.loads((tmp_path / "r" / "manifest.json").read_text())
    files = man["datasets"]["mixed"]["x4"]
    assert "grey, kept single-channel" in files["grey"]["hr"]["handling"]
    assert "16-bit" in files["deep"]["hr"]["handling"] and files["deep"]["hr"]["bit_depth"] == 16
    assert "alpha dropped" in files["alpha"]["hr"]["handling"]
    df = load_run(tmp_path / "r")
    assert len(df) == 3 * 4 and np.isfinite(df["value"]).all()
    # A 16-bit copy (x257) of an 8-bit image scores close to it, not identically: its LR is resized in
    # float and rounded once, without MATLAB's uint8 rounding between the passes.
    save_png(tmp_path / "eight" / "deep.png", photo_like(32, 36, seed=2))
    runner.invoke(app, ["evaluate", "-m", "bicubic", "-d", str(tmp_path / "eight"), "--out", str(tmp_path / "r8")])
    a = df[df.image == "deep"].set_index("metric")["value"]
    b = load_run(tmp_path / "r8").set_index("metric")["value"]
    assert (a - b).abs().max() < 0.05 and not a.equals(b)


def test_identical_images_give_inf_reported_not_averaged(tmp_path):
    # A constant image survives down- and up-scaling exactly: PSNR is +inf.
    root = tmp_path / "flat"
    save_png(root / "flat.png", np.full((32, 32, 3), 128, np.uint8))
    save_png(root / "tex.png", photo_like(32, 32))
    res = runner.invoke(app, ["evaluate", "-m", "bicubic", "--metrics", "psnr", "-d", str(root), "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert "(+inf x1)" in res.output
    s = summarize(load_run(tmp_path / "r")).iloc[0]
    assert s["n"] == 2 and s["n_inf"] == 1 and np.isfinite(s["mean"])


@pytest.mark.parametrize("what", ["metrics", "models", "datasets", "runners"])
def test_list(what):
    res = runner.invoke(app, ["list", what])
    assert res.exit_code == 0, res.output
    expected = {"metrics": ["psnr_y", "higher", "y_bt601"], "models": ["bicubic", "lanczos", "interp"],
                "datasets": ["default", "scikit-image"], "runners": ["interp", "fp64"]}[what]
    for word in expected:
        assert word in res.output


# The project's own models with x4 weights inside the package (README, "Training").
PACKAGED_X4 = {"fsrcnn_s", "srunet", "unet"}


def test_default_command_runs_offline_without_shared(tmp_path, monkeypatch):
    """README's first command on a fresh machine (no weights folder, empty cache, offline):
    `iqa-bench evaluate --models all` on the built-in data evaluates the interpolators and the
    project's own learned models, which beat bicubic."""
    monkeypatch.setenv("IQA_BENCH_WEIGHTS", "")
    monkeypatch.setenv("IQA_BENCH_OFFLINE", "1")
    monkeypatch.setenv("IQA_BENCH_CACHE", str(tmp_path / "cache"))
    res = runner.invoke(app, ["evaluate", "--models", "all", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    df = load_run(tmp_path / "r")
    assert set(df["model"]) == {"bicubic", "bilinear", "lanczos", "nearest"} | PACKAGED_X4
    assert set(df["image"]) == {"astronaut", "camera", "chelsea", "coffee"}
    m = summarize(df).set_index(["model", "metric"])["mean"]
    # sanity ordering of classic interpolators on natural images
    assert m[("lanczos", "psnr_y")] > m[("bicubic", "psnr_y")] > m[("bilinear", "psnr_y")] > m[("nearest", "psnr_y")]
    for model in PACKAGED_X4:
        assert m[(model, "psnr_y")] > m[("bicubic", "psnr_y")] + 0.3, model


def test_weights_commands(shared, tmp_path, monkeypatch):
    monkeypatch.setenv("IQA_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("IQA_BENCH_WEIGHTS", str(shared / "weights"))
    res = runner.invoke(app, ["weights", "list"])
    assert res.exit_code == 0 and "present" in res.output and "niqe" in res.output, res.output
    assert "present" in runner.invoke(app, ["list", "metrics"]).output
    assert runner.invoke(app, ["weights", "verify"]).exit_code == 0
    # a corrupt copy earlier on the search path is reported, not used
    bad = tmp_path / "bad" / "nr"
    bad.mkdir(parents=True)
    (bad / "niqe_modelparameters_live_release.mat").write_bytes(b"not the model")
    monkeypatch.setenv("IQA_BENCH_WEIGHTS", f"{tmp_path / 'bad'}:{shared / 'weights'}")
    res = runner.invoke(app, ["weights", "verify"])
    assert res.exit_code == 1 and "bad/nr/niqe_modelparameters_live_release.mat has sha256" in res.output
    # offline and missing: names the file, its hash, where it goes and where to get it
    monkeypatch.setenv("IQA_BENCH_WEIGHTS", "")
    monkeypatch.setenv("IQA_BENCH_OFFLINE", "1")
    res = runner.invoke(app, ["weights", "fetch"])
    assert res.exit_code == 2 and "niqe_release.zip" in res.output and "fa2aa4d1" in res.output


def test_suite_skips_unavailable_metrics_with_one_warning_each(shared, tmp_path, monkeypatch):
    monkeypatch.setenv("IQA_BENCH_WEIGHTS", str(shared / "weights"))
    res = runner.invoke(app, ["evaluate", "--models", "bicubic", "--suite", "pirm", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    warnings = [line for line in res.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2 and "nrqm" in warnings[0] and "pi" in warnings[1], res.output
    assert set(load_run(tmp_path / "r")["metric"]) == {"psnr_y", "niqe"}
    # asked for by name it is an error, before anything is computed
    res = runner.invoke(app, ["evaluate", "--models", "bicubic", "--metrics", "psnr_y,nrqm", "--out", str(tmp_path / "s")])
    assert res.exit_code == 2 and "metric 'nrqm' is not available" in res.output
    assert not (tmp_path / "s" / "results.parquet").exists()


def test_list_metrics_shows_unavailable_and_conventions(monkeypatch):
    from iqa_bench import cli

    monkeypatch.setattr(cli.out, "width", 400)
    res = runner.invoke(app, ["list", "metrics"])
    assert res.exit_code == 0
    for word in ("pieapp", "UNAVAILABLE", "lpips", "dists", "fsimc", "yiq", "brisque", "lower"):
        assert word in res.output, word
    rows = {line.split("│")[1].strip(): line for line in res.output.splitlines() if line.count("│") > 3}
    assert "perceptual, loss" in rows["lpips"] and "loss" in rows["ssim_y"] and "perceptual" in rows["niqe"]
    assert "perceptual" not in rows["psnr"] and "loss" not in rows["psnr"]


def test_user_checkpoint_runs_and_a_nan_model_fails_alone(shared, tmp_path, monkeypatch):
    import torch

    monkeypatch.setenv("IQA_BENCH_OFFLINE", "1")
    good = shared / "weights" / "sr" / "fsrcnn_x4.pth"
    sd = torch.load(good, weights_only=True)
    sd["last_part.bias"] = sd["last_part.bias"] * float("nan")
    torch.save(sd, tmp_path / "nan.pth")
    res = runner.invoke(app, [
        "evaluate", "--models", "bicubic", "--model", f"mine={good}", "--model", f"bad={tmp_path / 'nan.pth'}",
        "--arch", "fsrcnn", "--input", "y", "--dataset", str(shared / "data" / "Set5"), "--scale", "4",
        "--suite", "paper", "--out", str(tmp_path / "r"),
    ])
    assert res.exit_code == 1, res.output
    assert "SR output of bad" in res.output and "NaN" in res.output
    s = summarize(load_run(tmp_path / "r")).set_index(["model", "metric"])
    assert set(s.index.get_level_values(0)) == {"bicubic", "mine"} and (s["n"] == 5).all()
    assert s.loc[("mine", "psnr_y"), "mean"] == pytest.approx(30.52, abs=0.05)  # = zoo fsrcnn x4
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["models"]["mine"]["weights"]["x4"]["sha256"] == "f0a9ce0821428642bc948052267db1cb979d62a623500d2bae02e8fc6675e95d"


def test_models_all_lists_models_without_weights_as_skipped(tmp_path, monkeypatch):
    monkeypatch.setenv("IQA_BENCH_WEIGHTS", "")
    monkeypatch.setenv("IQA_BENCH_OFFLINE", "1")
    monkeypatch.setenv("IQA_BENCH_CACHE", str(tmp_path / "cache"))
    res = runner.invoke(app, ["evaluate", "--models", "all", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    for name in ("vdsr", "fsrcnn", "realesrgan_x4plus", "edsr_baseline"):
        assert f"model {name} skipped" in res.output, name
    assert "vdsr_twtygqyy.pth" in res.output and "model srcnn supports scales [2]: x4 skipped for it" in res.output


def test_tensorrt_backend_without_gpu_is_one_clear_error(tmp_path, monkeypatch):
    """On a machine without a GPU: exit 2, the reason and the fix, brackets in the hint intact."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    res = runner.invoke(app, ["evaluate", "--models", "fsrcnn", "--backend", "tensorrt", "--device", "cuda",
                              "--scale", "2", "--out", str(tmp_path / "run")])
    assert res.exit_code == 2, res.output
    assert "needs an NVIDIA GPU" in res.output and "--backend onnxruntime" in res.output


def test_list_runners_keeps_bracketed_text(monkeypatch):
    res = runner.invoke(app, ["list", "runners"], terminal_width=400)
    assert res.exit_code == 0
    assert "iqa-bench[tensorrt]" in res.output and "onnxruntime" in res.output


def test_quantize_and_bench_commands(shared, tmp_path, monkeypatch):
    monkeypatch.setenv("IQA_BENCH_WEIGHTS", str(shared / "weights"))
    monkeypatch.setenv("IQA_BENCH_ARTEFACTS", str(tmp_path / "art"))
    res = runner.invoke(app, ["quantize", "fsrcnn", "--scale", "2", "--variants", "fp32,int8", "--calib",
                              str(shared / "data" / "T91"), "--calib-patches", "8", "--json", str(tmp_path / "q.json")],
                        terminal_width=300)
    assert res.exit_code == 0, res.output
    built = json.loads((tmp_path / "q.json").read_text())
    assert [b["variant"] for b in built] == ["fp32", "int8"] and all(Path(b["path"]).is_file() for b in built)
    res = runner.invoke(app, ["bench", "-m", "fsrcnn", "--scale", "2", "--size", "32", "--variants", "fp32,int8",
                              "--backends", "torch,onnxruntime", "--reps", "2", "--rounds", "1", "--no-memory",
                              "--calib", str(shared / "data" / "T91"), "--run", str(tmp_path / "run")],
                        terminal_width=300)
    assert res.exit_code == 0, res.output
    t = pd.read_parquet(tmp_path / "run" / "timings.parquet")
    assert set(zip(t["backend"], t["variant"])) == {("torch", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "int8")}
    assert (t["median_ms"] > 0).all() and (t["kind"] == "bench").all()


def test_quantize_and_bench_with_openvino(shared, tmp_path, monkeypatch):
    pytest.importorskip("openvino", reason="the openvino extra is not installed")
    monkeypatch.setenv("IQA_BENCH_WEIGHTS", str(shared / "weights"))
    monkeypatch.setenv("IQA_BENCH_ARTEFACTS", str(tmp_path / "art"))
    res = runner.invoke(app, ["quantize", "fsrcnn", "--scale", "2", "--variants", "int8", "--backend", "openvino",
                              "--calib", str(shared / "data" / "T91"), "--calib-patches", "8", "--int8-smooth-quant",
                              "Auto", "--json", str(tmp_path / "q.json")], terminal_width=300)
    assert res.exit_code == 0, res.output
    built = json.loads((tmp_path / "q.json").read_text())
    assert built[0]["path"].endswith(".xml") and Path(built[0]["path"]).with_suffix(".bin").is_file()
    # auto: each strength built on the calibration patches, the one closest to fp32 kept
    sq = built[0]["smooth_quant"]
    assert built[0]["calibration"]["smooth_quant"] == "auto" and sq["chosen"] == float(max(sq["snr_db"],
                                                                                        key=sq["snr_db"].get))
    res = runner.invoke(app, ["quantize", "fsrcnn", "--variants", "int8", "--int8-smooth-quant", "strong"])
    assert res.exit_code == 2 and "--int8-smooth-quant 'strong': expected a strength from 0 to 1, or auto" in res.output
    # default backends: torch and every installed CPU runner that can replace it, openvino included
    res = runner.invoke(app, ["bench", "-m", "fsrcnn", "--scale", "2", "--size", "32", "--variants", "fp32,bf16",
                              "--reps", "2", "--rounds", "1", "--no-memory", "--run", str(tmp_path / "run")],
                        terminal_width=300)
    assert res.exit_code == 0, res.output
    t = pd.read_parquet(tmp_path / "run" / "timings.parquet")
    assert {("torch", "fp32"), ("openvino", "fp32"), ("openvino", "bf16"), ("onnxruntime", "fp32")} <= set(
        zip(t["backend"], t["variant"]))
    # OpenVINO-only int8 options apply to OpenVINO; ONNX Runtime int8 in the same bench is measured as its own
    res = runner.invoke(app, ["bench", "-m", "srcnn", "--scale", "2", "--size", "32", "--variants", "int8",
                              "--backends", "onnxruntime,openvino", "--int8-float-precision", "bf16",
                              "--calib", str(shared / "data" / "T91"), "--reps", "2", "--rounds", "1", "--no-memory",
                              "--run", str(tmp_path / "run2")], terminal_width=300)
    assert res.exit_code == 0, res.output
    t = pd.read_parquet(tmp_path / "run2" / "timings.parquet")
    assert set(zip(t["backend"], t["variant"])) == {("onnxruntime", "int8"), ("openvino", "int8")}
    res = runner.invoke(app, ["quantize", "fsrcnn", "--calib-patches", "0"])
    assert res.exit_code == 2 and "at least one is needed" in res.output


def test_silent_wrong_numbers_at_the_cli_are_refused_or_fixed(shared, tmp_path):
    """Item 5 of the trustworthy-core issue: `--models ""` ran nine models; `--degradation basicsr` with
    provided LR files recorded basicsr but used the files; `score --json` wrote Infinity (not JSON)."""
    res = runner.invoke(app, ["evaluate", "--models", "", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "names no model" in res.output and not (tmp_path / "r").exists()
    res = runner.invoke(app, ["evaluate", "--models", "bicubic", "--dataset", str(shared / "data" / "Set5"),
                              "--degradation", "basicsr", "--scale", "2", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "--lr-source generate" in res.output
    hr = shared / "data" / "Set5" / "HR" / "baby.png"
    res = runner.invoke(app, ["score", str(hr), str(hr), "--metrics", "psnr,ssim", "--json", str(tmp_path / "s.json")])
    assert res.exit_code == 0, res.output
    text = (tmp_path / "s.json").read_text()
    doc = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert doc["psnr"]["per_image"]["baby"] == "inf" and "Infinity" not in text


def test_named_models_and_all_follow_one_rule_for_scales_and_a_ci_log_shows_progress(shared, tmp_path, monkeypatch):
    """`--models a,b` aborted when one lacked a scale while `all` skipped silently; now both skip it with a
    warning printed before the run; without a terminal, plain progress lines with ETA reach the log."""
    monkeypatch.setenv("IQA_BENCH_WEIGHTS", str(shared / "weights"))
    res = runner.invoke(app, ["evaluate", "--models", "bicubic,fsrcnn", "--scale", "3,5", "--metrics", "psnr",
                              "--out", str(tmp_path / "r")], terminal_width=300)
    assert res.exit_code == 0, res.output
    warning = "warning: model fsrcnn supports scales [2, 3, 4]: x5 skipped for it"
    assert warning in res.output and res.output.index(warning) < res.output.index("evaluating 12 cells")
    assert "[12/12]" in res.output and "ETA" in res.output and "fp64/interp" in res.output  # labels name the variant
    assert set(zip(load_run(tmp_path / "r")["model"], load_run(tmp_path / "r")["scale"])) == {
        ("bicubic", 3), ("bicubic", 5), ("fsrcnn", 3)}


def test_bench_measures_the_rest_when_one_configuration_fails(shared, tmp_path, monkeypatch):
    """A configuration that cannot be built (int8 calibrated from a folder without images) is one line
    and exit 1; the other configurations are measured and stored, the failed one as its row's error."""
    pytest.importorskip("openvino", reason="the openvino extra is not installed")
    monkeypatch.setenv("IQA_BENCH_WEIGHTS", str(shared / "weights"))
    (tmp_path / "empty").mkdir()
    res = runner.invoke(app, ["bench", "-m", "srcnn", "--scale", "2", "--size", "32", "--variants", "fp32,int8",
                              "--backends", "torch,openvino", "--calib", str(tmp_path / "empty"), "--no-memory",
                              "--reps", "1", "--rounds", "1", "--run", str(tmp_path / "run")], terminal_width=300)
    t = pd.read_parquet(tmp_path / "run" / "timings.parquet")
    ok = t[t["error"].fillna("") == ""] if "error" in t else t
    assert set(zip(ok["backend"], ok["variant"])) >= {("torch", "fp32"), ("openvino", "fp32")}
    assert (ok["median_ms"] > 0).all()
    assert res.exit_code == 1 and "failed: srcnn int8 on openvino" in res.output
    assert "has no images" in res.output
