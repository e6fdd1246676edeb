"""``evaluate --jobs N`` against ``--jobs 1``: wall time, speed-up and bit-identity of the results.

Two sweeps, each run from an empty run directory once per ``--jobs`` value (artefacts and weights
already cached by a warm-up run, so only evaluation is timed):

* ``sr``: SR-heavy, VDSR + SRGAN + EDSR-8 on Set14 x2 with PSNR-Y and SSIM-Y;
* ``metrics``: metric-heavy, bicubic + FSRCNN on Set14 x2 with LPIPS and DISTS.

Prints a table (the CPU flags and core count with it) and writes JSON; ``identical`` says whether
every value and every SR PNG equals the ``--jobs 1`` run's.

    IQA_BENCH_WEIGHTS=../shared/weights python benchmarks/evaluate_jobs.py --jobs 1,2
    IQA_BENCH_WEIGHTS=../shared/weights python benchmarks/evaluate_jobs.py --jobs 1,2 --threads 1,1
    IQA_BENCH_WEIGHTS=../shared/weights python benchmarks/evaluate_jobs.py --jobs 1,2,2 --threads 1,1,1 \
        --executors local,local,ray     # Ray actors on a local Ray instance started by the run
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from iqa_bench._cpu import cpu_description
from iqa_bench.engine import EvalConfig, evaluate
from iqa_bench.io import read_image
from iqa_bench.results import load_run

SWEEPS = {
    "sr": (("vdsr", "srgan", "edsr_r8f64"), ("psnr_y", "ssim_y")),
    "metrics": (("bicubic", "fsrcnn"), ("lpips", "dists")),
}
KEY = ["dataset", "scale", "image", "model", "variant", "backend", "metric"]


def same_results(a: Path, b: Path) -> bool:
    """Whether two run directories hold the same rows with equal values and equal SR PNGs."""
    ra, rb = (load_run(r).sort_values(KEY).reset_index(drop=True) for r in (a, b))
    if not ra[KEY].equals(rb[KEY]) or not (ra["value"].to_numpy() == rb["value"].to_numpy()).all():
        return False
    pa = sorted(p.relative_to(a) for p in (a / "outputs").rglob("*.png"))
    pb = sorted(p.relative_to(b) for p in (b / "outputs").rglob("*.png"))
    return pa == pb and all(np.array_equal(read_image(a / p)[0], read_image(b / p)[0]) for p in pa)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", default="1,2")
    ap.add_argument("--dataset", default="../shared/data/Set14")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--sweeps", default="sr,metrics")
    ap.add_argument("--threads", default="", help="comma list: PyTorch threads per process for each --jobs value "
                    "(empty: the default)")
    ap.add_argument("--executors", default="", help="comma list: local or ray for each --jobs value (empty: local)")
    ap.add_argument("--json", default="benchmarks/results/evaluate_jobs.json")
    args = ap.parse_args()
    jobs = [int(j) for j in args.jobs.split(",")]
    threads = [int(t) for t in args.threads.split(",")] if args.threads else [None] * len(jobs)
    executors = args.executors.split(",") if args.executors else ["local"] * len(jobs)
    cpu = cpu_description()
    print(f"CPU: {cpu['model']}, {os.cpu_count()} cores, flags: {' '.join(cpu['flags'])}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="iqa-bench-jobs-") as tmp:
        for sweep in args.sweeps.split(","):
            models, metrics = SWEEPS[sweep]
            base = EvalConfig(datasets=(args.dataset,), models=models, metrics=metrics, scales=(args.scale,))
            evaluate(EvalConfig(**{**base.__dict__, "out": Path(tmp) / f"{sweep}-warm"}))  # caches, first builds
            runs = {}
            for n, (j, th, ex) in enumerate(zip(jobs, threads, executors, strict=True)):
                out = Path(tmp) / f"{sweep}-{n}-{j}-{th}-{ex}"
                t0 = time.perf_counter()
                rep = evaluate(EvalConfig(**{**base.__dict__, "out": out, "jobs": j, "threads": th, "executor": ex}))
                runs[(j, th, ex)] = (time.perf_counter() - t0, out, rep.computed_cells)
            first = (jobs[0], threads[0], executors[0])
            t1 = runs[first][0]
            for (j, th, ex), (t, out, cells) in runs.items():
                row = {"sweep": sweep, "models": list(models), "metrics": list(metrics), "jobs": j, "threads": th,
                       "executor": ex, "cells": cells,
                       "seconds": round(t, 1), "speedup": round(t1 / t, 2),
                       "identical": same_results(runs[first][1], out), "cpu": cpu}
                rows.append(row)
                print(f"{sweep:<8} {ex:<5} jobs {j} threads {th or 'default'}: {t:7.1f} s  {row['speedup']:.2f}x  "
                      f"cells {cells}  identical to the first: {row['identical']}", flush=True)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
