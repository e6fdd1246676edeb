"""Per-stage time per image of the evaluation pipeline; prints a table and writes JSON.

Usage: python benchmarks/evaluate_speed.py [--dataset ../shared/data/Set14] [--scale 4] [--repeats 5]
       [--json benchmarks/results/evaluate_speed.json]

Stages: MATLAB degradation, bicubic upscaling, each metric; scikit-image's SSIM on the same pairs as
a reference point. Times are medians over repeats of the per-image mean, in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
from skimage.metrics import structural_similarity

from iqa_bench.data.datasets import resolve_dataset
from iqa_bench.data.degrade import DEGRADATIONS, modcrop
from iqa_bench.io import read_image, to_float
from iqa_bench.metrics import METRICS
from iqa_bench.runners.interp import InterpUpscaler


def _time(fn, items, repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for it in items:
            fn(*it)
        runs.append((time.perf_counter() - t0) / len(items) * 1e3)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_ds = Path(__file__).resolve().parents[2] / "shared" / "data" / "Set14"
    ap.add_argument("--dataset", default=str(default_ds) if default_ds.is_dir() else "default")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", default="benchmarks/results/evaluate_speed.json")
    args = ap.parse_args()

    s = args.scale
    ds = resolve_dataset(args.dataset)
    hrs = [modcrop(read_image(x.hr_path)[0], s) for x in ds.samples(s, "generate")]
    deg = DEGRADATIONS["matlab"]
    lrs = [deg(h, s) for h in hrs]
    up = InterpUpscaler("bicubic")
    pairs = [(to_float(up.upscale_uint8(lr, s))[s:-s, s:-s], to_float(h)[s:-s, s:-s]) for lr, h in zip(lrs, hrs)]

    rows = {
        "degrade (matlab bicubic 1/s)": _time(deg, [(h, s) for h in hrs], args.repeats),
        "upscale (bicubic x s)": _time(up.upscale_uint8, [(lr, s) for lr in lrs], args.repeats),
    }
    for name in ("psnr", "psnr_y", "ssim", "ssim_y"):
        rows[name] = _time(METRICS.create(name), pairs, args.repeats)

    def sk_ssim(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.mean([structural_similarity(a[..., c], b[..., c], gaussian_weights=True, sigma=1.5,
                                                    use_sample_covariance=False, data_range=1.0)
                              for c in range(a.shape[2])]))

    rows["reference: skimage ssim (same options)"] = _time(sk_ssim, pairs, args.repeats)

    mpix = statistics.mean(h.shape[0] * h.shape[1] for h in hrs) / 1e6
    print(f"{ds.name} x{s}: {len(hrs)} images, mean {mpix:.3f} MP, {args.repeats} repeats, "
          f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()})")
    print(f"{'stage':42s} {'ms/image':>10s}")
    for k, v in rows.items():
        print(f"{k:42s} {v:10.2f}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"dataset": ds.name, "scale": s, "images": len(hrs), "mean_megapixels": mpix,
                               "repeats": args.repeats, "ms_per_image": rows,
                               "machine": {"cpus": os.cpu_count(), "arch": platform.machine()}}, indent=2) + "\n")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
