"""Time per frame of the video metrics, and libvmaf vs vmaf-torch on the same pairs.

Pairs: the built-in synthetic clips (``--frames`` frames; ``--size HxW``, default 216x288, also try
1080x1920) as reference, their x2 MATLAB-bicubic down-and-up copies as distorted, written as 4:4:4
``.y4m`` outside the timed region. Each metric is timed on every pair through iqa-bench's API (what
``iqa-bench video evaluate`` calls; ffmpeg metrics include process start and decoding), the median of
``--repeats`` runs after one warm-up, divided by the frame count. vmaf-torch runs on the CPU and, when
torch sees one, on CUDA (synchronised; the first call, which builds kernels, is the warm-up).

    python benchmarks/video_metrics.py [--size 1080x1920] [--frames 30] [--json OUT]

Prints a table and writes JSON (default ``benchmarks/results/video_metrics.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="216x288", help="HxW of the generated clips")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=Path("benchmarks/results/video_metrics.json"))
    args = ap.parse_args()

    import torch

    from iqa_bench.data.degrade import DEGRADATIONS
    from iqa_bench.data.imresize import imresize
    from iqa_bench.metrics import METRICS
    from iqa_bench.video.clips import DistortedClip, ReferenceClip
    from iqa_bench.video.datasets import synthetic_dataset
    from iqa_bench.video.ffmpeg import find_ffmpeg
    from iqa_bench.video.y4m import write_y4m

    h, w = (int(x) for x in args.size.lower().split("x"))
    tmp = Path(tempfile.mkdtemp(prefix="iqa-bench-vbench-"))
    pairs = []
    for clip in synthetic_dataset(frames=args.frames, size=(h, w)).clips:
        hr, fps = clip.load()
        dist = np.stack([imresize(DEGRADATIONS["matlab"](f, 2), 2.0) for f in hr])
        write_y4m(tmp / f"{clip.name}.ref.y4m", hr, fps)
        write_y4m(tmp / f"{clip.name}.dist.y4m", dist, fps)
        pairs.append((clip.name, ReferenceClip.open(tmp / f"{clip.name}.ref.y4m"),
                      DistortedClip.open(tmp / f"{clip.name}.dist.y4m")))

    jobs = [(m, "cpu") for m in ("vmaf", "vmaf_neg", "ffmpeg_psnr_y", "ffmpeg_ssim_y", "vmaf_torch", "vmaf_neg_torch",
                                  "tgrad_mad", "flicker")]
    if torch.cuda.is_available():
        jobs += [("vmaf_torch", "cuda"), ("vmaf_neg_torch", "cuda")]
    rows = []
    for name, device in jobs:
        fn = METRICS.create(name, device=device)
        per_clip = {}
        times = []
        for clip, ref, dist in pairs:
            fn(dist, ref)  # warm-up
            ts = []
            for _ in range(args.repeats):
                if device == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                v = fn(dist, ref)
                if device == "cuda":
                    torch.cuda.synchronize()
                ts.append(time.perf_counter() - t0)
            times.append(statistics.median(ts) / ref.header.frames)
            per_clip[clip] = float(np.nanmean(v))
        rows.append({"metric": name, "device": device, "ms_per_frame": 1e3 * statistics.mean(times),
                     "clip_means": per_clip})

    by = {(r["metric"], r["device"]): r for r in rows}
    agreement = {}
    for lib, tor in (("vmaf", "vmaf_torch"), ("vmaf_neg", "vmaf_neg_torch")):
        for device in ("cpu", "cuda"):
            if (tor, device) in by:
                d = [abs(by[(lib, "cpu")]["clip_means"][c] - by[(tor, device)]["clip_means"][c]) for c, _, _ in pairs]
                agreement[f"{lib} vs {tor} ({device})"] = max(d)

    print(f"{len(pairs)} clips x {args.frames} frames, {w}x{h}; median of {args.repeats} after a warm-up")
    print(f"{'metric':<16}{'device':<8}{'ms/frame':>10}  " + "  ".join(f"{c:>16}" for c, _, _ in pairs))
    for r in rows:
        print(f"{r['metric']:<16}{r['device']:<8}{r['ms_per_frame']:>10.2f}  "
              + "  ".join(f"{r['clip_means'][c]:>16.4f}" for c, _, _ in pairs))
    for k, v in agreement.items():
        print(f"max |clip mean difference| {k}: {v:.4f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "size": [h, w], "frames": args.frames, "repeats": args.repeats, "rows": rows, "agreement": agreement,
        "ffmpeg": find_ffmpeg().version, "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "machine": platform.machine(), "cpus": len(os.sched_getaffinity(0)),
    }, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
