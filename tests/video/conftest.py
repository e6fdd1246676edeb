"""Video fixtures: one session-wide video run (3 generated clips x 30 frames,
bicubic + FSRCNN + SRCNN at x2, the default video suite plus vmaf-torch and its NEG)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def video_run(tmp_path_factory, shared) -> Path:
    from iqa_bench.video.evaluate import DEFAULT_METRICS, VideoEvalConfig, evaluate_video

    out = tmp_path_factory.mktemp("video") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IQA_BENCH_WEIGHTS", str(shared / "weights"))
        mp.setenv("IQA_BENCH_OFFLINE", "1")
        report = evaluate_video(VideoEvalConfig(models=("bicubic", "fsrcnn", "srcnn"),
                                                metrics=(*DEFAULT_METRICS, "vmaf_torch", "vmaf_neg_torch"), out=out))
    assert report.failures == [] and report.computed_cells == 9
    return out
