"""End to end: generated clips -> per-frame SR -> video metrics -> results, frames, report, gate."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from iqa_bench.errors import InputError, RunStateError
from iqa_bench.results import load_run, read_manifest
from iqa_bench.video.evaluate import VideoEvalConfig, evaluate_video, load_frames, pool_frames
from iqa_bench.video.y4m import read_header, write_y4m
from iqa_bench.weights import sha256_of
from tests.conftest import moving_clip, save_png

CLIPS = ["pan_astronaut", "panzoom_chelsea", "zoom_coffee"]
MODELS = ["bicubic", "fsrcnn", "srcnn"]


def _table(run) -> pd.DataFrame:
    return load_run(run).pivot_table(index=["image", "model"], columns="metric", values="value")


def test_every_clip_model_and_frame_is_scored(video_run):
    df = load_run(video_run)
    assert sorted(df["image"].unique()) == CLIPS and sorted(df["model"].unique()) == MODELS
    assert len(df) == 3 * 3 * 8 and df["value"].notna().all()
    frames = load_frames(video_run)
    n = frames.groupby(["image", "model", "metric"]).size().unstack("metric")
    assert (n[["vmaf", "vmaf_neg", "ffmpeg_psnr_y", "ffmpeg_ssim_y", "vmaf_torch"]] == 30).all().all()
    assert (n[["tgrad_mad", "flicker"]] == 29).all().all()  # frame 0 has no temporal value
    for clip in CLIPS:
        for model in MODELS:
            variant = "fp64-interp" if model == "bicubic" else "fp32-torch"
            out = video_run / "outputs" / "synthetic" / "x2" / model / variant / f"{clip}.y4m"
            hdr = read_header(out)
            assert (hdr.frames, hdr.width, hdr.height, hdr.chroma) == (30, 288, 216, "444")


def test_learned_models_beat_bicubic_on_every_clip(video_run):
    """Must-show 1: VMAF / PSNR-Y / SSIM-Y of bicubic and two zoo models on 3 clips x 30 frames."""
    t = _table(video_run)
    print("\n" + t[["vmaf", "vmaf_neg", "ffmpeg_psnr_y", "ffmpeg_ssim_y", "tgrad_mad"]].round(3).to_string())
    for clip in CLIPS:
        for model in ("fsrcnn", "srcnn"):
            for m in ("vmaf", "vmaf_neg", "ffmpeg_psnr_y", "ffmpeg_ssim_y"):
                assert t.loc[(clip, model), m] > t.loc[(clip, "bicubic"), m], (clip, model, m)
            assert t.loc[(clip, model), "tgrad_mad"] < t.loc[(clip, "bicubic"), "tgrad_mad"]
    assert 80 < t.xs("bicubic", level="model")["vmaf"].mean() < 95  # not saturated: the clips discriminate


def test_libvmaf_and_vmaf_torch_agree_on_every_pair(video_run):
    """Must-show 1: libvmaf (ffmpeg) vs vmaf-torch, same pair, clip means within 0.1 VMAF."""
    t = _table(video_run)
    diff = (t["vmaf"] - t["vmaf_torch"]).abs()
    diff_neg = (t["vmaf_neg"] - t["vmaf_neg_torch"]).abs()
    print(f"\n|libvmaf - vmaf-torch| per clip x model: max {diff.max():.4f}, mean {diff.mean():.4f}; "
          f"NEG max {diff_neg.max():.4f}")
    assert diff.max() < 0.1  # measured: max 0.014, mean 0.005
    # NEG's gain limiting amplifies the float-vs-integer feature differences (measured max 0.117,
    # on bicubic pan_astronaut); stated, not hidden
    assert diff_neg.max() < 0.15


def test_results_hold_the_mean_over_frames(video_run):
    res = load_run(video_run).set_index(["image", "model", "metric"])["value"]
    pooled = pool_frames(load_frames(video_run)).set_index(["image", "model", "metric"])
    assert np.allclose(pooled["mean"].reindex(res.index), res, rtol=0, atol=1e-12)
    vm = pooled.xs("vmaf", level="metric")
    assert (vm["hmean"] <= vm["mean"] + 1e-12).all() and (vm["min"] <= vm["p5"]).all()
    v = load_frames(video_run).query("image == 'zoom_coffee' and model == 'bicubic' and metric == 'vmaf'")["value"]
    assert vm.loc[("zoom_coffee", "bicubic"), "p5"] == np.percentile(v, 5)
    assert np.isclose(vm.loc[("zoom_coffee", "bicubic"), "hmean"], 1 / np.mean(1 / (v + 1)) - 1)  # libvmaf's
    assert (vm["n_frames"] == 30).all()


def test_manifest_records_clips_conventions_and_ffmpeg(video_run):
    m = read_manifest(video_run)
    assert m["kind"] == "video" and m["primary_metric"] == "vmaf"
    rec = m["datasets"]["synthetic"]["x2"]["pan_astronaut"]["hr"]
    assert rec["frames"] == 30 and rec["size"] == "288x216" and sha256_of(rec["path"]) == rec["sha256"]
    assert m["conventions"]["ffmpeg"].startswith("ffmpeg version") and "imageio-ffmpeg" in m["versions"]
    assert m["metrics"]["vmaf"]["kind"] == "video" and "ffmpeg ssim filter" in m["metrics"]["ffmpeg_ssim_y"]["description"]


def test_rerun_reuses_everything(video_run, tmp_path, shared, monkeypatch):
    monkeypatch.setenv("IQA_BENCH_WEIGHTS", str(shared / "weights"))
    run = tmp_path / "copy"
    shutil.copytree(video_run, run)
    before = (run / "results.parquet").read_bytes(), (run / "frames.parquet").read_bytes()
    cfg = VideoEvalConfig(models=tuple(MODELS), metrics=tuple(sorted(load_run(run)["metric"].unique())), out=run)
    report = evaluate_video(cfg)
    assert (report.computed_cells, report.reused_cells, report.rows_added) == (0, 9, 0)
    assert ((run / "results.parquet").read_bytes(), (run / "frames.parquet").read_bytes()) == before
    # other conventions cannot be mixed into it
    with pytest.raises(RunStateError, match="codec"):
        evaluate_video(VideoEvalConfig(models=("bicubic",), metrics=("vmaf",), out=run, codec="h264"))


def test_report_and_gate_pair_by_clip(video_run, tmp_path):
    from iqa_bench.gate import run_gate, write_baseline
    from iqa_bench.report import ReportOptions, build_report

    res = build_report(video_run, tmp_path / "report", ReportOptions(n_resamples=999))
    md = res.markdown.read_text()
    assert "## synthetic x2 (3 clips)" in md
    assert "| vmaf" in md and "fsrcnn" in md and "report_files/synthetic_x2_vmaf.png" in md
    stats = pd.read_csv(res.stats_csv)
    assert set(stats["n"]) == {3}  # paired per clip, not per frame
    base = tmp_path / "baseline"
    write_baseline(video_run, base)
    doc = json.loads((base / "synthetic_x2.json").read_text())
    assert sorted(doc["images"]) == CLIPS
    assert run_gate(base, video_run).exit_code == 0


def _tiny_folder(tmp_path):
    """A folder with a frame-sequence clip and an H.264 .mp4 clip."""
    from iqa_bench.video.ffmpeg import find_ffmpeg, h264_roundtrip

    root = tmp_path / "clips"
    seq = moving_clip(frames=6, h=48, w=64, seed=1)
    for i, f in enumerate(seq):
        save_png(root / "seq" / f"{i:03d}.png", f)
    mp4 = h264_roundtrip(find_ffmpeg(), moving_clip(frames=6, h=48, w=64, seed=2), crf=10)
    write_y4m(tmp_path / "src.y4m", mp4)
    subprocess.run([find_ffmpeg().path, "-v", "error", "-i", str(tmp_path / "src.y4m"), "-c:v", "libx264", "-crf", "0",
                    "-pix_fmt", "yuv444p", str(root / "coded.mp4")], check=True)
    return root


def test_folder_of_clips_and_h264_degradation(tmp_path):
    root = _tiny_folder(tmp_path)
    plain = evaluate_video(VideoEvalConfig(datasets=(str(root),), models=("bicubic",),
                                           metrics=("ffmpeg_psnr_y", "vmaf"), out=tmp_path / "plain"))
    coded = evaluate_video(VideoEvalConfig(datasets=(str(root),), models=("bicubic",),
                                           metrics=("ffmpeg_psnr_y", "vmaf"), out=tmp_path / "coded",
                                           codec="h264", crf=40))
    assert plain.computed_cells == coded.computed_cells == 2
    a, b = _table(tmp_path / "plain"), _table(tmp_path / "coded")
    assert sorted(a.index.get_level_values("image")) == ["coded", "seq"]
    assert (b["ffmpeg_psnr_y"] < a["ffmpeg_psnr_y"] - 0.5).all()
    assert "libx264 crf 40" in read_manifest(tmp_path / "coded")["conventions"]["codec"]


def test_bad_clips_are_clear_errors(tmp_path):
    root = tmp_path / "clips"
    save_png(root / "a" / "000.png", moving_clip(frames=1, h=48, w=64)[0])
    save_png(root / "a" / "001.png", moving_clip(frames=1, h=50, w=64)[0])
    with pytest.raises(InputError, match=r"001\.png is 64x50x3 but the clip's first frame is 64x48x3"):
        evaluate_video(VideoEvalConfig(datasets=(str(root),), models=("bicubic",), metrics=("flicker",),
                                       out=tmp_path / "run"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no clips in"):
        evaluate_video(VideoEvalConfig(datasets=(str(tmp_path / "empty"),), models=("bicubic",),
                                       metrics=("flicker",), out=tmp_path / "run2"))
    with pytest.raises(InputError, match="is an image"):
        evaluate_video(VideoEvalConfig(models=("bicubic",), metrics=("psnr_y",), out=tmp_path / "run3"))


def test_cli_video_evaluate(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "iqa_bench.cli", "video", "evaluate", "--models", "bicubic,nearest",
                           "--metrics", "vmaf,flicker", "--frames", "4", "--out", str(tmp_path / "run")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "harmonic mean" in proc.stdout and "frames.parquet" in proc.stdout
    assert len(load_frames(tmp_path / "run")) == 3 * 2 * (4 + 3)


def test_video_cells_are_keyed_by_content_and_planned(tmp_path):
    """The video front door runs the image engine's cell loop: a changed clip recomputes its cells
    (and only those), a saved output made from other inputs is not reused, and the planned cells
    are in the manifest, so gate/report see an incomplete video run."""
    from iqa_bench.results import missing_cells

    root = tmp_path / "clips"
    for name, seed in (("a", 1), ("b", 2)):
        for i, f in enumerate(moving_clip(frames=4, h=32, w=48, seed=seed)):
            save_png(root / name / f"{i:03d}.png", f)
    run = tmp_path / "run"

    def go():
        return evaluate_video(VideoEvalConfig(datasets=(str(root),), models=("bicubic", "nearest"),
                                              metrics=("tgrad_mad", "flicker"), out=run))

    first = go()
    assert (first.computed_cells, first.reused_cells, first.recomputed_cells) == (4, 0, 0)
    m = read_manifest(run)
    assert missing_cells(m, load_run(run))[:2] == (0, 2 * 2 * 2 * 1)  # nothing missing of 8 planned cells
    assert sorted(m["planned"]) == ["clips|x2|bicubic|fp64|interp", "clips|x2|nearest|fp64|interp"]
    before = load_run(run).set_index(["image", "model", "metric"])["value"]

    again = go()
    assert (again.computed_cells, again.reused_cells) == (0, 4)

    frame = moving_clip(frames=4, h=32, w=48, seed=1)[2].copy()
    frame[:8] = 255 - frame[:8]  # one frame of clip a changes
    save_png(root / "a" / "002.png", frame)
    changed = go()
    assert (changed.computed_cells, changed.reused_cells, changed.recomputed_cells) == (2, 2, 2)
    after = load_run(run).set_index(["image", "model", "metric"])["value"]
    assert (after.loc["b"] == before.loc["b"]).all() and (after.loc["a"] != before.loc["a"]).any()

    # a saved output whose content id does not match is remade, not rescored as it is
    out = run / "outputs" / "clips" / "x2" / "nearest" / "fp64-interp" / "b.y4m"
    stamp = out.with_name("b.y4m.inputs")
    assert stamp.is_file()
    stamp.write_text("something else")
    (run / "results.parquet").unlink()
    redo = go()
    assert redo.computed_cells == 4 and stamp.read_text() != "something else"
    assert np.allclose(load_run(run).set_index(["image", "model", "metric"])["value"].loc[after.index], after)
