"""``score_clips()``: video metrics on one reference/distorted pair of files, no SR involved."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from iqa_bench.errors import InputError
from iqa_bench.metrics import METRICS
from iqa_bench.video.clips import DistortedClip, ReferenceClip
from iqa_bench.video.evaluate import pool_values
from iqa_bench.video.ffmpeg import decode_rgb
from iqa_bench.video.y4m import write_y4m


def _as_y4m(path: Path, tmp: str, role: str) -> Path:
    """``.y4m`` files are scored as they are; anything else is decoded to RGB and written as 4:4:4
    BT.601 (the convention of video runs)."""
    if not path.is_file():
        raise InputError(f"{role} clip not found: {path}", "check the path")
    if path.suffix.lower() == ".y4m":
        return path
    frames, fps = decode_rgb(path)
    out = Path(tmp) / role / f"{path.stem}.y4m"
    out.parent.mkdir(parents=True)
    write_y4m(out, frames, fps)
    return out


def score_clips(reference: Path, distorted: Path, metrics: list[str], *, ffmpeg: str | None = None,
                device: str = "cpu") -> dict[str, dict]:
    """Score ``distorted`` against ``reference`` (keyword roles: they are never taken by position).

    Returns
    -------
    dict
        ``{metric: {"per_frame": [...], "mean", "hmean", "p5", "p95"}}``; per-frame NaN where a
        frame has no value (frame 0 of temporal metrics); pooled as in ``evaluate_video``
        (:func:`~iqa_bench.video.evaluate.pool_values`).
    """
    entries = [METRICS.get(m) for m in metrics]
    for e in entries:
        if e.meta.kind != "video":
            raise InputError(f"metric {e.name!r} is an image metric", "score frames with `iqa-bench score`")
    fns = {e.name: e.factory(ffmpeg=ffmpeg, device=device) for e in entries}
    result = {}
    with tempfile.TemporaryDirectory(prefix="iqa-bench-score-") as tmp:
        ref = ReferenceClip.open(_as_y4m(Path(reference), tmp, "reference"))
        dist = DistortedClip.open(_as_y4m(Path(distorted), tmp, "distorted"))
        for name, fn in fns.items():
            v = fn(dist, ref)
            result[name] = {"per_frame": [None if math.isnan(x) else float(x) for x in v], **pool_values(v)}
    return result
