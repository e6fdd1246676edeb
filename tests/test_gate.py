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
