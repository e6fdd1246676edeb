"""iqa-bench gate: A/A reruns pass, a planted 0.05 dB regression fails, an improvement passes,
incomparable baselines (conventions, metric definitions, versions) fail with a message that says so."""

from __future__ import annotations

import dataclasses
import json
import shutil
from xml.etree import ElementTree as ET

import pytest
import torch
from typer.testing import CliRunner

from iqa_bench.cli import app
from iqa_bench.engine import EvalConfig, evaluate
from iqa_bench.errors import InputError
from iqa_bench.gate import GateConfig, load_gate_config, markdown, read_baselines, run_gate, write_baseline, write_junit
from iqa_bench.models import MODELS
from iqa_bench.weights import WeightSpec


@pytest.fixture(scope="module")
def env(shared, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IQA_BENCH_WEIGHTS", str(shared / "weights"))
        mp.setenv("IQA_BENCH_OFFLINE", "1")
        yield shared, tmp_path_factory.mktemp("gate")


def _run(out, data, extra=(), models=("bicubic", "fsrcnn"), **kw):
    cfg = EvalConfig(datasets=(str(data),), models=models, extra_models=extra, scales=(2,),
                     metrics=kw.pop("metrics", ("psnr_y", "ssim_y")), out=out, **kw)
    report = evaluate(cfg)
    assert not report.failures
    return out


def _perturbed_fsrcnn(shared, tmp, sigma):
    """FSRCNN x2 with every weight multiplied by (1 + sigma * N(0, 1)), seed 0, under the name fsrcnn."""
    sd = torch.load(shared / "weights" / "sr" / "fsrcnn_x2.pth", weights_only=True)
    g = torch.Generator().manual_seed(0)
    sd = {k: v * (1 + sigma * torch.randn(v.shape, generator=g)) for k, v in sd.items()}
    path = tmp / f"fsrcnn_x2_sigma{sigma}.pth"
    torch.save(sd, path)
    return (("fsrcnn", dataclasses.replace(MODELS.get("fsrcnn").meta, weights={"x2": WeightSpec(str(path))})),)


def test_aa_twenty_reruns_give_no_false_alarm(env):
    shared, tmp = env
    base = _run(tmp / "aa0", shared / "data" / "Set5")
    write_baseline(base, tmp / "aa_baseline")
    alarms = 0
    for i in range(1, 21):
        run = _run(tmp / f"aa{i}", shared / "data" / "Set5")
        res = run_gate(tmp / "aa_baseline", run)
        assert res.problems == [] and len(res.cells) == 2 * 2
        alarms += res.exit_code != 0
        shutil.rmtree(run)
    assert alarms == 0


@pytest.fixture(scope="module")
def set14_runs(env):
    shared, tmp = env
    good = _run(tmp / "good", shared / "data" / "Set14")
    bad = _run(tmp / "bad", shared / "data" / "Set14", extra=_perturbed_fsrcnn(shared, tmp, 0.006), models=("bicubic",))
    write_baseline(good, tmp / "baseline_good")
    write_baseline(bad, tmp / "baseline_bad")
    return tmp


def test_planted_regression_of_005_db_fails_and_the_improvement_passes(set14_runs):
    tmp = set14_runs
    res = run_gate(tmp / "baseline_good", tmp / "bad")
    assert res.exit_code == 1
    cell = res.cells.set_index(["model", "metric"]).loc[("fsrcnn", "psnr_y")]
    assert -0.07 < cell["delta"] < -0.03  # the planted drop: about 0.05 dB on Set14
    assert cell["status"] == "regression" and cell["p_adj"] < 0.05 and cell["tolerance"] == 0.02
    assert res.cells.set_index(["model", "metric"]).loc[("bicubic", "psnr_y"), "status"] == "pass"

    back = run_gate(tmp / "baseline_bad", tmp / "good")  # the fix, gated against the broken baseline
    assert back.exit_code == 0
    assert back.cells.set_index(["model", "metric"]).loc[("fsrcnn", "psnr_y"), "status"] == "improved"

    # the same regression inside the tolerance passes; with significance off and direction "any", any move fails
    loose = run_gate(tmp / "baseline_good", tmp / "bad", GateConfig(tolerance={"psnr_y": 0.1, "ssim_y": 0.01}))
    assert loose.exit_code == 0
    strict = run_gate(tmp / "baseline_bad", tmp / "good", GateConfig(tolerance={"psnr_y": 1e-4, "ssim_y": 1e-4},
                                                                     direction="any", require_significance=False))
    assert strict.exit_code == 1 and "changed" in set(strict.cells["status"])

    write_junit(res, tmp / "gate.xml")
    root = ET.parse(tmp / "gate.xml").getroot()
    failures = [tc for tc in root.iter("testcase") if tc.find("failure") is not None]
    assert len(failures) == len(res.failed) >= 1
    assert any(tc.get("name") == "psnr_y" and "fsrcnn" in tc.get("classname") for tc in failures)
    md = markdown(res)
    assert "quality regression" in md and "| regression" in md and "fsrcnn" in md


def test_cli_exit_codes_and_reports(set14_runs):
    tmp = set14_runs
    runner = CliRunner()
    ok = runner.invoke(app, ["gate", "--baseline", str(tmp / "baseline_good"), "--run", str(tmp / "good")])
    assert ok.exit_code == 0 and "gate: passed" in ok.output
    assert "fsrcnn" not in ok.output and "cells: 4 pass" in ok.output  # a passing gate prints no rows...
    loud = runner.invoke(app, ["gate", "--baseline", str(tmp / "baseline_good"), "--run", str(tmp / "good"), "-v"])
    assert loud.exit_code == 0 and "fsrcnn" in loud.output  # ...unless asked
    bad = runner.invoke(app, ["gate", "-b", str(tmp / "baseline_good"), "-r", str(tmp / "bad"), "--junit",
                              str(tmp / "j.xml"), "--markdown", str(tmp / "s.md")])
    assert bad.exit_code == 1 and "cell(s) failed" in bad.output
    assert (tmp / "j.xml").is_file() and "regression" in (tmp / "s.md").read_text()
    upd = runner.invoke(app, ["baseline", "update", str(tmp / "good"), "--out", str(tmp / "b2")])
    assert upd.exit_code == 0 and (tmp / "b2" / "Set14_x2.json").is_file()
    doc = json.loads((tmp / "b2" / "Set14_x2.json").read_text())
    assert doc["conventions"]["luma"].startswith("BT.601") and doc["versions"]["torch"] == "2.14.1"
    assert doc["metrics"]["psnr_y"]["colour"] == "y_bt601" and len(doc["images"]) == 14
    assert {len(c["values"]) for c in doc["cells"]} == {14}
    assert runner.invoke(app, ["gate", "-b", str(tmp / "nothing"), "-r", str(tmp / "good")]).exit_code == 2
    bad_cfg = tmp / "bad.toml"
    bad_cfg.write_text('[gate]\ntest = "z"\n')
    res = runner.invoke(app, ["gate", "-b", str(tmp / "b2"), "-r", str(tmp / "good"), "--tolerance", str(bad_cfg)])
    assert res.exit_code == 2 and 'test = "t" or "wilcoxon"' in res.output


def test_mismatched_conventions_fail_with_a_message_that_says_so(env, set14_runs):
    shared, tmp = env
    # baseline on Y, run on RGB
    rgb = _run(tmp / "rgb", shared / "data" / "Set14", metrics=("psnr",), models=("bicubic",))
    res = run_gate(tmp / "baseline_good", rgb)
    assert res.exit_code == 2
    assert any("metric psnr_y (y_bt601) of the baseline is not in the run; the run has: psnr (rgb)" in p
               for p in res.problems)
    # another degradation: the conventions differ
    other = _run(tmp / "basicsr", shared / "data" / "Set14", models=("bicubic",), degradation="basicsr",
                 lr_source="generate")
    res = run_gate(tmp / "baseline_good", other)
    assert res.exit_code == 2 and any("conventions differ: degradation" in p for p in res.problems)
    assert "not comparable" in markdown(res)
    # another torch version
    moved = tmp / "moved"
    shutil.copytree(tmp / "good", moved)
    m = json.loads((moved / "manifest.json").read_text())
    m["versions"]["torch"] = "2.13.0"
    (moved / "manifest.json").write_text(json.dumps(m))
    res = run_gate(tmp / "baseline_good", moved)
    assert res.exit_code == 2 and any("versions differ: torch: baseline '2.14.1' vs run '2.13.0'" in p for p in res.problems)
    # a model of the baseline missing from the run fails as such
    only_bicubic = _run(tmp / "only_bicubic", shared / "data" / "Set14", models=("bicubic",))
    res = run_gate(tmp / "baseline_good", only_bicubic)
    assert res.exit_code == 1 and set(res.failed["status"]) == {"missing"}


def test_project_gate_config_and_baseline_files(tmp_path):
    cfg = load_gate_config()
    assert cfg.tolerance["psnr_y"] == 0.02 and cfg.test == "t" and cfg.direction == "worse"
    with pytest.raises(InputError, match="no baseline files"):
        read_baselines(tmp_path)
    (tmp_path / "x.json").write_text('{"format": "other"}')
    with pytest.raises(InputError, match="not an iqa-bench baseline"):
        read_baselines(tmp_path)


# --- numerical tolerance: float noise across CPUs and thread counts is no change -------------------------

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
CI_GATE = ROOT / "reports" / "baseline" / "ci-gate.toml"


def _reference_eval(shared, out, **env):
    """The CI gate's reference evaluation (.ci/gate) through the console script, with extra environment."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    exe = shutil.which("iqa-bench", path=str(Path(sys.executable).parent))
    full = {**os.environ, "IQA_BENCH_WEIGHTS": str(shared / "weights"), "IQA_BENCH_OFFLINE": "1", **env}
    subprocess.run([exe, "evaluate", "--models", "bicubic,fsrcnn,vdsr,edsr_r8f64", "--dataset",
                    str(shared / "data" / "Set5"), "--scale", "2", "--suite", "default", "--out", str(out)],
                   env=full, capture_output=True, text=True, check=True)
    return out


@pytest.mark.slow
def test_reference_run_on_1_thread_and_avx2_kernels_passes_the_ci_gate_of_a_2_thread_run(env):
    """Item 4 of the trustworthy-core issue: the project's own gate must not turn red on another CPU or
    thread count. One thread with AVX2 kernels (torch and oneDNN capped, as on an AVX2-only machine)
    against the default (2 threads, the best kernels here), gated with the CI's strict config."""
    shared, tmp = env
    one = _reference_eval(shared, tmp / "ref_t1_avx2", OMP_NUM_THREADS="1", ATEN_CPU_CAPABILITY="avx2",
                          ONEDNN_MAX_CPU_ISA="AVX2")
    two = _reference_eval(shared, tmp / "ref_t2", OMP_NUM_THREADS="2")
    write_baseline(one, tmp / "ref_baseline")
    cfg = load_gate_config(CI_GATE)
    res = run_gate(tmp / "ref_baseline", two, cfg)
    assert res.problems == [] and len(res.cells) == 16
    worst = res.cells.assign(a=res.cells["delta"].abs()).groupby("metric")["a"].max()
    print("largest |delta| of a cell mean, 1 thread AVX2 vs 2 threads default:", worst.to_dict())
    assert res.exit_code == 0, res.cells[res.cells["status"] != "pass"]
    assert (res.cells["delta"].abs() <= res.cells["noise"]).all()
    # the committed baseline (made on another machine) too: what .ci/gate checks
    assert run_gate(ROOT / "reports" / "baseline", two, cfg).exit_code == 0
    # the same strict gate without the noise tolerance is the old, machine-dependent one: it may fail here
    # (it did on AVX-512: 1.2-1.8e-5 dB), and a real move of 1e-3 dB must still fail with it
    moved = tmp / "ref_moved"
    shutil.copytree(tmp / "ref_baseline", moved)
    doc = json.loads((moved / "Set5_x2.json").read_text())
    for c in doc["cells"]:
        if (c["model"], c["metric"]) == ("fsrcnn", "psnr_y"):
            c["values"] = {k: v + 1e-3 for k, v in c["values"].items()}
            c["mean"] += 1e-3
    (moved / "Set5_x2.json").write_text(json.dumps(doc))
    res = run_gate(moved, two, cfg)
    assert res.exit_code == 1 and set(res.failed[["model", "metric"]].itertuples(index=False)) == {("fsrcnn", "psnr_y")}
    assert res.failed.iloc[0]["status"] == "changed"


def test_numerical_tolerance_is_separate_from_the_quality_tolerance(set14_runs, tmp_path):
    tmp = set14_runs
    doc = json.loads((tmp / "baseline_good" / "Set14_x2.json").read_text())

    def gate_with_shift(shift, cfg):
        d = json.loads(json.dumps(doc))
        for c in d["cells"]:
            if (c["model"], c["metric"]) == ("fsrcnn", "psnr_y"):
                c["values"] = {k: v + shift for k, v in c["values"].items()}
                c["mean"] += shift
        (tmp_path / "b").mkdir(exist_ok=True)
        (tmp_path / "b" / "Set14_x2.json").write_text(json.dumps(d))
        res = run_gate(tmp_path / "b", tmp / "good", cfg)
        return res.exit_code, res.cells.set_index(["model", "metric"]).loc[("fsrcnn", "psnr_y")]

    strict = GateConfig(tolerance={"psnr_y": 0.0, "ssim_y": 0.0}, direction="any", require_significance=False)
    code, cell = gate_with_shift(1.5e-4, strict)  # within the default float noise of 2e-4 dB
    assert code == 0 and cell["status"] == "pass" and cell["noise"] == 2e-4 and cell["tolerance"] == 2e-4
    code, cell = gate_with_shift(3e-4, strict)
    assert code == 1 and cell["status"] == "changed"
    no_noise = dataclasses.replace(strict, numerical={"psnr_y": 0.0, "ssim_y": 0.0})
    assert gate_with_shift(1.5e-4, no_noise)[0] == 1
    # the quality tolerance is the larger one in a normal gate: noise changes nothing there
    code, cell = gate_with_shift(0.01, load_gate_config())
    assert code == 0 and cell["tolerance"] == 0.02 and cell["noise"] == 2e-4
    # both tables come from the TOML file
    f = tmp_path / "g.toml"
    f.write_text('[gate]\nnumerical_relative = 0.5\n[numerical]\npsnr_y = 0.1\n')
    cfg = load_gate_config(f)
    assert cfg.noise_for("psnr_y", 30.0) == 0.1 and cfg.noise_for("niqe", 4.0) == 2.0 and cfg.noise_for("ssim_y", 1) == 2e-6
    f.write_text('[numerical]\npsnr_y = -1\n')
    with pytest.raises(InputError, match="must be >= 0"):
        load_gate_config(f)
    f.write_text('[numerical]\npsnr_y = "small"\n')
    with pytest.raises(InputError, match="wrong type"):
        load_gate_config(f)


# --- documented failure paths: never a traceback, never a silent pass ------------------------------------

def test_not_comparable_without_any_gated_cell_exits_2_not_keyerror(set14_runs, tmp_path):
    tmp = set14_runs
    doc = json.loads((tmp / "baseline_good" / "Set14_x2.json").read_text())
    doc["dataset"] = "Set99"  # the run has no results for it: nothing can be gated
    (tmp_path / "Set99_x2.json").write_text(json.dumps(doc))
    res = run_gate(tmp_path, tmp / "good")
    assert res.exit_code == 2 and res.failed.empty and "no results for Set99 x2" in res.problems[0]
    cli = CliRunner().invoke(app, ["gate", "-b", str(tmp_path), "-r", str(tmp / "good"), "--junit",
                                   str(tmp_path / "j.xml"), "--markdown", str(tmp_path / "s.md")])
    assert cli.exit_code == 2 and "not comparable" in cli.output and "Traceback" not in cli.output
    assert cli.exception is None or isinstance(cli.exception, SystemExit)
    assert "not comparable" in (tmp_path / "s.md").read_text()


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.pop("cells"), "non-empty 'cells' list"),
    (lambda d: d.__setitem__("cells", []), "non-empty 'cells' list"),
    (lambda d: d.__setitem__("cells", {"a": 1}), "non-empty 'cells' list"),
    (lambda d: d["cells"][0]["values"].__setitem__("baby", "31.2"), "'values' must map image names to numbers"),
    (lambda d: d["cells"][0].__setitem__("values", [31.0, 32.0]), "'values' must map image names to numbers"),
    (lambda d: d["cells"][0].__setitem__("mean", None), "'mean' must be a number"),
    (lambda d: d["cells"][0].pop("metric"), "needs string 'model'"),
    (lambda d: d["metrics"].clear(), "boolean 'higher_is_better'"),
    (lambda d: d.__setitem__("scale", "2"), "integer 'scale'"),
    (lambda d: d.__setitem__("images", ["a"]), "'images' must be an object"),
])
def test_hand_edited_baselines_are_refused_naming_the_file(set14_runs, tmp_path, edit, message):
    doc = json.loads((set14_runs / "baseline_good" / "Set14_x2.json").read_text())
    edit(doc)
    f = tmp_path / "Set14_x2.json"
    f.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=message) as exc:
        run_gate(tmp_path, set14_runs / "good")
    assert str(f) in str(exc.value) and "baseline update" in str(exc.value)
    cli = CliRunner().invoke(app, ["gate", "-b", str(tmp_path), "-r", str(set14_runs / "good")])
    assert cli.exit_code == 2 and "Traceback" not in cli.output
    (tmp_path / "list.json").write_text("[1, 2]")
    f.unlink()
    with pytest.raises(InputError, match="not an iqa-bench baseline"):
        read_baselines(tmp_path)


def test_a_baseline_without_image_hashes_is_not_comparable(set14_runs, tmp_path):
    doc = json.loads((set14_runs / "baseline_good" / "Set14_x2.json").read_text())
    doc.pop("images")
    (tmp_path / "Set14_x2.json").write_text(json.dumps(doc))
    res = run_gate(tmp_path, set14_runs / "good")
    assert res.exit_code == 2 and any("no HR image hashes" in p for p in res.problems)


def test_incomplete_run_is_refused_by_gate_baseline_and_report(set14_runs, tmp_path):
    """A run whose evaluation died (here: the rows of 9 of 14 images never written, as a kill leaves it)
    never passes a gate, never becomes a baseline, and is not reported as complete."""
    import pandas as pd

    from iqa_bench.errors import RunStateError
    from iqa_bench.report import ReportOptions, build_report
    from iqa_bench.results import RESULTS_FILE, missing_cells, read_manifest

    tmp = set14_runs
    killed = tmp_path / "killed"
    shutil.copytree(tmp / "good", killed)
    df = pd.read_parquet(killed / RESULTS_FILE)
    keep = sorted(df["image"].unique())[:5]
    df[df["image"].isin(keep) | (df["model"] == "bicubic")].to_parquet(killed / RESULTS_FILE, index=False)
    missing, planned, _ = missing_cells(read_manifest(killed), pd.read_parquet(killed / RESULTS_FILE))
    assert (missing, planned) == (9 * 2, 14 * 2 * 2)  # fsrcnn x 9 images x 2 metrics
    res = run_gate(tmp / "baseline_good", killed)
    assert res.exit_code == 2 and any("incomplete: 18 of 56 planned cells missing" in p for p in res.problems)
    cli = CliRunner().invoke(app, ["gate", "-b", str(tmp / "baseline_good"), "-r", str(killed)])
    assert cli.exit_code == 2 and "incomplete" in cli.output
    with pytest.raises(RunStateError, match="incomplete: 18 of 56"):
        write_baseline(killed, tmp_path / "b")
    assert not (tmp_path / "b").exists()
    with pytest.raises(RunStateError, match="needs a complete run"):
        build_report(killed, tmp_path / "r", ReportOptions(n_resamples=99, crops=0))
    marked = build_report(killed, tmp_path / "r", ReportOptions(n_resamples=99, crops=0, allow_incomplete=True))
    assert "INCOMPLETE RUN: 18 of 56 planned cells" in marked.html.read_text()
    # the complete run is complete
    assert missing_cells(read_manifest(tmp / "good"), pd.read_parquet(tmp / "good" / RESULTS_FILE))[0] == 0
