"""Engine: resumable runs (SIGKILL), determinism, manifest, external outputs, failing models."""

from __future__ import annotations

import contextlib
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
    # the four interpolators (what `all` was before the project shipped learned models): fast, CPU-exact
    return [*CLI, "evaluate", "--models", "bicubic,bilinear,lanczos,nearest", "--scale", "2,3,4", "--out", str(out),
            *extra]


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


@contextlib.contextmanager
def _test_model(name: str, make_upscaler):
    """A model ``name`` on a runner ``name``-runner whose upscaler is ``make_upscaler()``, registered
    for the duration of the block."""
    RUNNERS.register(f"{name}runner", lambda model, variant, **options: make_upscaler(), RunnerInfo("test", ("fp32",)))
    info = ModelInfo(arch="test", backend=f"{name}runner", description="test model")
    MODELS.register(name, lambda: info, info)
    try:
        yield
    finally:
        MODELS.unregister(name)
        RUNNERS.unregister(f"{name}runner")


def test_nan_output_fails_that_model_only(tmp_path):
    """A model whose output has NaN: clear error, other models' results intact, run goes on."""
    with _test_model("nanmodel", _NaNUpscaler):
        rep = evaluate(EvalConfig(out=tmp_path / "r", models=("bicubic", "nanmodel"), metrics=("psnr",)))
    assert len(rep.failures) == 1 and "NaN" in rep.failures[0] and "nanmodel" in rep.failures[0]
    df = load_run(tmp_path / "r")
    assert set(df["model"]) == {"bicubic"} and len(df) == 4
    assert not list((tmp_path / "r" / "outputs" / "default" / "x4").glob("nanmodel/*/*.png"))
    assert "failures" in json.loads((tmp_path / "r" / "manifest.json").read_text())


def test_outputs_of_one_image_are_scored_in_one_batch_as_one_at_a_time(shared, tmp_path, monkeypatch):
    """The outputs of every model of one HR image are scored by LPIPS in one batched call (a spy
    counts them), each with its value scored alone; a model whose output fails is left out of the
    batch and fails alone."""
    from iqa_bench.metrics.perceptual import LPIPS

    monkeypatch.setenv("IQA_BENCH_WEIGHTS", str(shared / "weights"))
    batches: list[int] = []
    real = LPIPS.compare_many
    monkeypatch.setattr(LPIPS, "compare_many", lambda self, srs, ref: batches.append(len(srs)) or real(self, srs, ref))
    models = ("bicubic", "nanmodel", "bilinear", "nearest")
    with _test_model("nanmodel", _NaNUpscaler):
        rep = evaluate(EvalConfig(out=tmp_path / "all", models=models, metrics=("lpips", "psnr")))
    assert batches == [3, 3, 3, 3]  # the default data's four images, three models with an output each
    assert len(rep.failures) == 1 and "nanmodel" in rep.failures[0]
    together = load_run(tmp_path / "all").set_index(["model", "image", "metric"])["value"]
    evaluate(EvalConfig(out=tmp_path / "alone", models=("bilinear",), metrics=("lpips", "psnr")))
    alone = load_run(tmp_path / "alone").set_index(["model", "image", "metric"])["value"]
    assert len(alone) == 8 and batches[4:] == [1] * 4  # alone: one output per image
    np.testing.assert_allclose(together.loc[alone.index].to_numpy(), alone.to_numpy(), rtol=0, atol=1e-6)


def test_a_failed_batch_is_scored_one_output_at_a_time(shared, tmp_path, monkeypatch):
    """A batched call that fails (out of memory, say) costs nothing but time: each output is scored
    again alone, and a failure then is that output's cell."""
    from iqa_bench.metrics.perceptual import LPIPS

    monkeypatch.setenv("IQA_BENCH_WEIGHTS", str(shared / "weights"))
    real = LPIPS.compare_many

    def small_memory(self, srs, ref):
        if len(srs) > 1:
            raise MemoryError(f"a batch of {len(srs)} does not fit")
        return real(self, srs, ref)

    monkeypatch.setattr(LPIPS, "compare_many", small_memory)
    rep = evaluate(EvalConfig(out=tmp_path / "r", models=("bicubic", "nearest"), metrics=("lpips",)))
    assert not rep.failures and rep.rows_added == 8


class _BrokenBuild(InterpUpscaler):
    """Fails to build like ONNX Runtime did on Real-ESRGAN int8 ("Attempt to replace the existing tensor")."""

    def prepare(self, scale: int) -> None:
        raise RuntimeError("[ONNXRuntimeError] : 1 : FAIL : Attempt to replace the existing tensor\nmore detail")


def test_a_failing_build_fails_that_variant_with_one_line_and_the_run_goes_on(tmp_path):
    with _test_model("unbuildable", lambda: _BrokenBuild("bicubic")):
        rep = evaluate(EvalConfig(out=tmp_path / "r", models=("unbuildable", "bicubic"), metrics=("psnr",)))
    assert len(rep.failures) == 1
    line = rep.failures[0]
    assert "\n" not in line and "building unbuildable fp32 on unbuildablerunner for x4 failed" in line
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


# --- resume trusts contents, not names --------------------------------------------------------------------

def _values(run):
    return load_run(run).set_index(["image", "model", "metric"])["value"]


def test_changed_hr_image_is_recomputed_not_reused(tmp_path):
    data = tmp_path / "data"
    for i in range(3):
        save_png(data / f"img{i}.png", photo_like(48, 48, seed=i))
    cfg = EvalConfig(datasets=(str(data),), models=("bicubic",), metrics=("psnr", "ssim"), scales=(2,), out=tmp_path / "r")
    evaluate(cfg)
    before = _values(tmp_path / "r")
    save_png(data / "img1.png", photo_like(48, 48, seed=99))  # same name, other content
    rep = evaluate(cfg)
    assert rep.computed_cells == 1 and rep.recomputed_cells == 1 and rep.reused_cells == 2
    after = _values(tmp_path / "r")
    assert after.loc["img1"].ne(before.loc["img1"]).all() and after.drop("img1").equals(before.drop("img1"))
    # the value equals a fresh run on the new data
    fresh = evaluate(EvalConfig(**{**cfg.__dict__, "out": tmp_path / "fresh"}))
    assert fresh.computed_cells == 3 and _values(tmp_path / "fresh").equals(after)


def test_regenerated_outputs_folder_and_replaced_checkpoint_are_recomputed(shared, tmp_path, monkeypatch):
    import dataclasses

    import torch

    from iqa_bench.weights import WeightSpec

    monkeypatch.setenv("IQA_BENCH_WEIGHTS", str(shared / "weights"))
    set5 = shared / "data" / "Set5"
    # --outputs: one SR file regenerated with other content
    outs = tmp_path / "outs"
    for p in sorted((set5 / "HR").glob("*.png")):
        save_png(outs / p.name, read_hr(p))
    cfg = EvalConfig(datasets=(str(set5),), models=(), outputs=(("mine", outs),), metrics=("psnr_y",), scales=(2,),
                     out=tmp_path / "o")
    evaluate(cfg)
    img = read_hr(outs / "bird.png").copy()
    img[:8] = 0
    save_png(outs / "bird.png", img)
    rep = evaluate(cfg)
    assert (rep.computed_cells, rep.recomputed_cells, rep.reused_cells) == (1, 1, 4)
    assert _values(tmp_path / "o").loc[("bird", "mine", "psnr_y")] < 40
    # --model NAME=CKPT: the checkpoint file replaced in place (same path, other weights)
    ckpt = tmp_path / "ckpt.pth"
    sd = torch.load(shared / "weights" / "sr" / "fsrcnn_x2.pth", weights_only=True)
    torch.save(sd, ckpt)
    info = dataclasses.replace(MODELS.get("fsrcnn").meta, weights={"x2": WeightSpec(str(ckpt))})
    mcfg = EvalConfig(datasets=(str(set5),), models=(), extra_models=(("myfsrcnn", info),), metrics=("psnr_y",),
                      scales=(2,), out=tmp_path / "m")
    evaluate(mcfg)
    first = _values(tmp_path / "m")
    torch.save({k: v * 1.01 for k, v in sd.items()}, ckpt)
    rep = evaluate(mcfg)
    assert rep.computed_cells == 5 and rep.recomputed_cells == 5 and rep.reused_cells == 0
    assert (_values(tmp_path / "m") != first).all()  # the saved PNGs of the old weights were not reused


def read_hr(path):
    from iqa_bench.io import read_image

    return read_image(path)[0]


def test_deleted_manifest_and_other_conventions_do_not_relabel_old_rows(shared, tmp_path):
    set5 = str(shared / "data" / "Set5")
    cfg = EvalConfig(datasets=(set5,), models=("bicubic",), metrics=("psnr_y",), scales=(2,), out=tmp_path / "r",
                     lr_source="generate")
    evaluate(cfg)
    matlab = _values(tmp_path / "r")
    (tmp_path / "r" / "manifest.json").unlink()
    rep = evaluate(EvalConfig(**{**cfg.__dict__, "degradation": "basicsr"}))
    assert rep.computed_cells == 5 and rep.recomputed_cells == 5
    assert (_values(tmp_path / "r") != matlab).all()


def test_colliding_names_are_refused(shared, tmp_path):
    import dataclasses

    from iqa_bench.errors import InputError

    a, b = tmp_path / "a" / "Set5", tmp_path / "b" / "Set5"
    for d in (a, b):
        save_png(d / "x.png", photo_like(32, 32))
    with pytest.raises(InputError, match="two datasets are named 'Set5'"):
        evaluate(EvalConfig(datasets=(str(a), str(b)), models=("bicubic",), out=tmp_path / "r"))
    info = dataclasses.replace(MODELS.get("fsrcnn").meta)
    with pytest.raises(InputError, match="same name"):
        evaluate(EvalConfig(datasets=(str(a),), models=("fsrcnn",), extra_models=(("fsrcnn", info),), out=tmp_path / "r"))
    with pytest.raises(InputError, match="same name"):
        evaluate(EvalConfig(datasets=(str(a),), models=(), outputs=(("Mine", a), ("mine", b)), out=tmp_path / "r"))
    # a folder labelled MODEL:VARIANT is a variant of MODEL: one per variant, and never an unlabelled twin
    with pytest.raises(InputError, match="are the same variant of"):
        evaluate(EvalConfig(datasets=(str(a),), models=(), outputs=(("mine:int8", a), ("Mine:INT8", b)),
                            out=tmp_path / "r"))
    for bad in ("mine:", ":int8", "mine:int 8", "mine:external"):
        with pytest.raises(InputError, match="not NAME or MODEL:VARIANT"):
            evaluate(EvalConfig(datasets=(str(a),), models=(), outputs=((bad, a),), out=tmp_path / "r"))
    assert not (tmp_path / "r").exists()


def test_results_are_appended_as_parts_and_compacted_at_the_end(tmp_path):
    """Item 3 of the trustworthy-core issue: a flush appends only its new rows (never rewrites what was
    written); load_run sees parts a killed run left; compaction gives the same sorted file as ever."""
    from iqa_bench.results import PARTS_DIR, ResultsStore

    run = tmp_path / "r"
    store = ResultsStore(run)
    store.add(("d", 2, "b", "m", "fp32", "torch", "psnr"), 30.0, "h1")
    store.flush()
    store.add(("d", 2, "a", "m", "fp32", "torch", "psnr"), 31.0, "h1")
    store.flush()
    store.flush()  # nothing new: no file
    parts = sorted((run / PARTS_DIR).iterdir())
    assert [p.name for p in parts] == ["part-00000001.parquet", "part-00000002.parquet"]
    assert len(pd.read_parquet(parts[1])) == 1 and not (run / "results.parquet").exists()
    assert list(load_run(run)["image"]) == ["a", "b"]  # a killed run's parts are read, sorted by key
    # reopened (a resumed run): the stored cells are known; other inputs replace a value in a later part
    again = ResultsStore(run)
    assert again.has(("d", 2, "a", "m", "fp32", "torch", "psnr"), "h1")
    again.add(("d", 2, "a", "m", "fp32", "torch", "psnr"), 29.0, "h2")
    again.flush()
    assert load_run(run).set_index("image").loc["a", "value"] == 29.0
    again.compact()
    assert not (run / PARTS_DIR).exists()
    df = pd.read_parquet(run / "results.parquet")
    assert list(df.columns) == COLUMNS and list(zip(df["image"], df["value"], df["inputs"])) == [
        ("a", 29.0, "h2"), ("b", 30.0, "h1")]
    mtime = (run / "results.parquet").stat().st_mtime_ns
    ResultsStore(run).compact()  # nothing to merge: the file is left as it is
    assert (run / "results.parquet").stat().st_mtime_ns == mtime


def test_timings_are_appended_as_parts_and_compacted_at_the_end(tmp_path):
    """Timings are written like results: a flush appends a part (a run killed mid-way keeps its
    timings and never rewrites timings.parquet), compaction keeps every row in written order."""
    from iqa_bench.results import TIMINGS_FILE, TIMINGS_PARTS, TimingsStore, read_timings

    run = tmp_path / "r"
    assert read_timings(run) is None
    first = TimingsStore(run)
    first.add("d", 2, "a", "m", "fp32", "torch", 5.0, (8, 8))
    first.compact()  # an earlier, finished run
    before = (run / TIMINGS_FILE).stat().st_mtime_ns
    store = TimingsStore(run)
    store.add("d", 2, "b", "m", "fp32", "torch", 6.0, (8, 8))
    store.flush()
    store.add_rows([{"kind": "build", "dataset": "d", "scale": 2, "model": "m", "build_ms": 70.0}])
    store.flush()
    assert sorted(p.name for p in (run / TIMINGS_PARTS).iterdir()) == ["part-00000001.parquet", "part-00000002.parquet"]
    assert (run / TIMINGS_FILE).stat().st_mtime_ns == before  # not rewritten by a flush
    t = read_timings(run)  # what a report of a killed run sees
    assert list(t["kind"]) == ["evaluate", "evaluate", "build"] and list(t["sr_ms"][:2]) == [5.0, 6.0]
    store.compact()
    assert not (run / TIMINGS_PARTS).exists()
    merged = pd.read_parquet(run / TIMINGS_FILE)
    assert list(merged["kind"]) == ["evaluate", "evaluate", "build"] and merged["build_ms"].iloc[2] == 70.0


def test_resume_at_another_scale_merges_provenance_and_newer_manifests_are_refused(shared, tmp_path, monkeypatch):
    """An x4 pass used to erase the x2 weights (and int8 artefacts) from the manifest."""
    monkeypatch.setenv("IQA_BENCH_WEIGHTS", str(shared / "weights"))
    base = dict(datasets=(str(shared / "data" / "Set5"),), models=("fsrcnn",), metrics=("psnr_y",), out=tmp_path / "r")
    evaluate(EvalConfig(**base, scales=(2,)))
    evaluate(EvalConfig(**base, scales=(4,)))
    m = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert set(m["models"]["fsrcnn"]["weights"]) == {"x2", "x4"} and m["format_version"] == 2
    assert set(load_run(tmp_path / "r")["scale"]) == {2, 4}
    m["format_version"] = 99
    (tmp_path / "r" / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(RunStateError, match="format_version 99"):
        evaluate(EvalConfig(**base, scales=(2,)))


def test_many_flushes_merge_parts_in_tiers_never_the_whole_table(tmp_path, monkeypatch):
    """Item 3 of the scale-out issue: parts merge like a counter in base PARTS_FANOUT (here 2), so a
    run keeps few files and a row is rewritten once per tier (log2 of the flushes), not once per
    flush; the store keeps no values in memory; a reopened store sees every cell."""
    import iqa_bench.results as results

    monkeypatch.setattr(results, "PARTS_FANOUT", 2)
    run = tmp_path / "r"
    writes: dict[str, int] = {}
    real_combine = results._combine

    def counting_combine(files, extra=None):
        df = real_combine(files, extra)
        for img in df["image"]:
            writes[img] = writes.get(img, 0) + 1
        return df

    monkeypatch.setattr(results, "_combine", counting_combine)
    store = results.ResultsStore(run)
    for i in range(11):
        store.add(("d", 2, f"img{i:02d}", "m", "fp32", "torch", "psnr"), float(i), "h")
        store.flush()
        parts = sorted(p.name for p in (run / results.PARTS_DIR).iterdir())
        assert len(parts) == bin(i + 1).count("1")  # 11 flushes: parts of 8, 2 and 1 rows
    assert parts == ["part-00000008-t3.parquet", "part-00000010-t1.parquet", "part-00000011.parquet"]
    assert max(writes.values()) == 3 and not hasattr(store, "_rows")  # img00: merged into tiers 1, 2, 3
    assert list(load_run(run)["value"]) == [float(i) for i in range(11)]
    assert len(results.ResultsStore(run)) == 11


def test_a_run_killed_during_a_tier_merge_reads_the_same_rows(tmp_path, monkeypatch):
    """The merged part is written (atomically) before its inputs are removed; a run killed in
    between leaves both, and the reading order gives the same table (the merged part sorts before
    the last input, which only repeats its own newest rows)."""
    import shutil

    import iqa_bench.results as results

    monkeypatch.setattr(results, "PARTS_FANOUT", 2)
    run = tmp_path / "r"
    store = results.ResultsStore(run)
    key = ("d", 2, "a", "m", "fp32", "torch", "psnr")
    store.add(key, 1.0, "h1")
    store.flush()
    parts = run / results.PARTS_DIR
    keep = tmp_path / "first"
    shutil.copy(parts / "part-00000001.parquet", keep)
    store.add(key, 2.0, "h2")  # replaced (its inputs changed) in the second part
    store.add(("d", 2, "b", "m", "fp32", "torch", "psnr"), 3.0, "h2")
    store.flush()  # merges parts 1 and 2 into part-00000002-t1
    assert sorted(p.name for p in parts.iterdir()) == ["part-00000002-t1.parquet"]
    # as if killed before the inputs were removed: both inputs back beside the merged part
    shutil.copy(keep, parts / "part-00000001.parquet")
    results._frame({key: (2.0, "h2"), ("d", 2, "b", "m", "fp32", "torch", "psnr"): (3.0, "h2")}).to_parquet(
        parts / "part-00000002.parquet", index=False)
    again = results.ResultsStore(run)
    assert again.has(key, "h2") and not again.has(key, "h1")
    df = load_run(run)
    assert list(zip(df["image"], df["value"])) == [("a", 2.0), ("b", 3.0)]
    again.compact()
    assert pd.read_parquet(run / "results.parquet")["value"].tolist() == [2.0, 3.0]