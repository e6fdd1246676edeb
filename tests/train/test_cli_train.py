"""`iqa-bench train` at the command line: a few real steps, its table, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from iqa_bench.cli import app
from tests.conftest import photo_like, save_png

runner = CliRunner()


def test_train_command_writes_weights_log_and_table(tmp_path: Path) -> None:
    for i in range(3):
        save_png(tmp_path / "hr" / f"p{i}.png", photo_like(64, 64, seed=i))
    args = ["train", "fsrcnn_s", "--data", str(tmp_path / "hr"), "--out", str(tmp_path / "run"), "--scale", "2",
            "--steps", "6", "--batch", "2", "--patch", "12", "--val-every", "3", "--val-holdout", "1", "--threads", "1"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "training 6 steps" in res.output  # a CI log (no terminal) shows progress in plain lines
    assert "val psnr_y" in res.output and "fsrcnn_s_x2.pth" in res.output
    log = json.loads((tmp_path / "run" / "train.json").read_text())
    assert [h["step"] for h in log["history"]] == [3, 6] and log["threads"] == 1
    again = runner.invoke(app, args)  # finished: nothing left to train, same weights reported
    assert again.exit_code == 0 and log["sha256"] in again.output


def test_train_command_errors_are_one_line_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    res = runner.invoke(app, ["train", "srunet", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "r"),
                              "--scale", "2"])
    assert res.exit_code != 0
    assert "has 0 images; 4 are held out" in res.output and "fix:" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(app, ["train", "nosuchnet", "--data", str(tmp_path), "--out", str(tmp_path / "r")])
    assert res.exit_code != 0 and "nosuchnet" in res.output and "Traceback" not in res.output


def test_train_qat_builds_the_artefact_evaluate_uses(tmp_path: Path, monkeypatch) -> None:
    """`train --qat` fine-tunes trained weights into the int8-qat OpenVINO artefact that
    `evaluate --variants int8-qat --backend openvino --calib DATA` then finds by its key."""
    import pytest

    pytest.importorskip("nncf")
    from iqa_bench.results import load_run

    monkeypatch.setenv("IQA_BENCH_ARTEFACTS", str(tmp_path / "artefacts"))
    for i in range(2):
        save_png(tmp_path / "hr" / f"p{i}.png", photo_like(64, 64, seed=i))
    res = runner.invoke(app, ["train", "fsrcnn_s", "--qat", "--scale", "2", "--data", str(tmp_path / "hr"),
                              "--qat-steps", "3"])
    assert res.exit_code == 0, res.output
    assert "int8-qat fsrcnn_s x2" in res.output and "3 steps" in res.output
    built = sorted((tmp_path / "artefacts").glob("*int8qat*.xml"))
    assert len(built) == 1
    mtime = built[0].stat().st_mtime_ns
    for i in range(2):
        save_png(tmp_path / "eval" / f"e{i}.png", photo_like(48, 48, seed=10 + i))
    ev = runner.invoke(app, ["evaluate", "--models", "fsrcnn_s", "--scale", "2", "--variants", "int8-qat",
                             "--backend", "openvino", "--calib", str(tmp_path / "hr"), "--dataset",
                             str(tmp_path / "eval"), "--metrics", "psnr_y", "--qat-steps", "3",
                             "--out", str(tmp_path / "run")])
    assert ev.exit_code == 0, ev.output
    assert set(load_run(tmp_path / "run")["variant"]) == {"int8-qat"}
    assert sorted((tmp_path / "artefacts").glob("*int8qat*.xml")) == built and built[0].stat().st_mtime_ns == mtime
