"""``benchmarks/torch_precision.py`` runs its CPU-runnable configurations and reports the others.

The script is what a session with a GPU runs first, in minutes it cannot spend on a script that
fails; here every configuration runs on FSRCNN x2 on the CPU (tiny sizes: a check that it works and
that its numbers mean what they say, not a speed measurement)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT


def test_every_configuration_gives_a_row_with_its_numbers_or_why_not(shared, tmp_path):
    out = tmp_path / "tp.json"
    env = os.environ | {"IQA_BENCH_WEIGHTS": str(shared / "weights"), "IQA_BENCH_OFFLINE": "1"}
    cmd = [sys.executable, str(ROOT / "benchmarks" / "torch_precision.py"), "--data", str(shared / "data" / "Set5"),
           "--device", "cpu", "--models", "fsrcnn", "--scales", "2", "--variants", "fp32,fp16,fp16-cl,fp8",
           "--reps", "2", "--time-size", "32", "--frame", "360p", "--tile", "128", "--out", str(out)]
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    data = json.loads(out.read_text())
    rows = {r["variant"]: r for r in data["rows"]}
    assert list(rows) == ["fp32", "fp16", "fp16-cl", "fp8"]
    assert data["environment"]["cpu_flags"] and data["environment"]["frame"] == "360p"
    fp32 = rows["fp32"]
    assert abs(fp32["psnr_y"] - 37.14) < 0.05  # FSRCNN x2 on Set5, as tests/models/test_zoo.py
    assert fp32["max_abs_diff_vs_fp32"] == 0 and fp32["speedup_vs_fp32"] == 1 and fp32["frame_ms_median"] > 0
    for r in (rows["fp32"], rows["fp16"], rows["fp16-cl"]):
        assert 0 < r["latency_ms_median"] <= r["latency_ms_p90"]  # p90 of two calls is the slower one
    for name in ("fp16", "fp16-cl"):  # half precision: close to fp32, not equal
        assert 0 < rows[name]["max_abs_diff_vs_fp32"] < 0.01 and abs(rows[name]["d_psnr_y"]) < 0.01
    # channels_last changes the memory order only: the same fp16 numbers up to kernel rounding
    assert abs(rows["fp16-cl"]["psnr_y"] - rows["fp16"]["psnr_y"]) < 1e-3
    fp8 = rows["fp8"]  # no FP8 convolution on a CPU: the row says why, and carries no made-up number
    assert ("unsupported" in fp8) != ("psnr_y" in fp8)
    assert "not run here" in res.stdout or "psnr_y" in fp8
