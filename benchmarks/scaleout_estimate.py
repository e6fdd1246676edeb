"""What a large sweep costs, from per-cell costs measured on this machine: cells, CPU time, time on N
workers, and where the run's one writer becomes the bottleneck.

Measured here, on one DIV2K-sized image (2040x1356 HR, made by upscaling a Set14 image: only its
size matters), each on one process with this machine's threads:

* SR: PyTorch fp32 time of each zoo model at x2/x3/x4 (networks only, one LR image, tiled as in a run);
* metrics: time of each metric of the ``default`` and ``perceptual`` suites on the HR-sized pair;
* a worker's PNG encoding of the SR output (with its stamp), and the writer's share of one output
  cell: writing those bytes (atomically) and storing its rows (append + flush of a results part).

Then, for the sweep of the scale-out issue (DIV2K-val: 100 images x ``--models`` x ``--variants``
x x2/x3/x4 x both suites): total worker CPU time, wall time on N workers (cells spread evenly; each
worker's start-up added once), and the writer's wall time, which does not shrink with N. Prints a
table and writes JSON.

    IQA_BENCH_WEIGHTS=../shared/weights python benchmarks/scaleout_estimate.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from iqa_bench._cpu import cpu_description
from iqa_bench.data.imresize import imresize
from iqa_bench.io import png_bytes, quantize_uint8, read_image, to_float, write_bytes
from iqa_bench.metrics import create_metric
from iqa_bench.models import MODELS
from iqa_bench.results import ResultsStore
from iqa_bench.runners.torch_runner import TorchUpscaler

SUITES = {"default": ("psnr", "psnr_y", "ssim", "ssim_y"), "perceptual": ("lpips", "dists", "niqe")}
HR = (1356, 2040)  # DIV2K validation images are about 2040 x 1356


def _median_s(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="srcnn,fsrcnn,vdsr,edsr_r8f64,srgan")
    ap.add_argument("--sweep-models", type=int, default=30)
    ap.add_argument("--sweep-variants", type=int, default=3)
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--workers", default="1,8,100,800", help="worker counts to estimate (e.g. 100 nodes x 8)")
    ap.add_argument("--startup-s", type=float, default=20.0, help="a worker's start-up: imports, weights, metrics")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--source", default="../shared/data/Set14/HR/comic.png")
    ap.add_argument("--json", default="benchmarks/results/scaleout_estimate.json")
    args = ap.parse_args()
    cpu = cpu_description()
    base = to_float(read_image(Path(args.source))[0])
    grow = max(HR[0] / base.shape[0], HR[1] / base.shape[1])
    hr = quantize_uint8(imresize(base, grow))[: HR[0], : HR[1]]
    hr_f = to_float(hr)

    sr_s: dict[str, float] = {}
    for name in args.models.split(","):
        info = MODELS.get(name).meta
        up = TorchUpscaler(info, "fp32")
        for scale in (2, 3, 4):
            if info.scales and scale not in info.scales:
                continue
            lr = quantize_uint8(imresize(hr_f, 1 / scale))
            up.upscale(lr[:64, :64], scale)  # build the network outside the timing
            sr_s[f"{name} x{scale}"] = _median_s(lambda: up.upscale(lr, scale), 1)
            print(f"SR {name} x{scale}: {sr_s[f'{name} x{scale}']:.1f} s", flush=True)
    sr_mean = float(np.mean(list(sr_s.values())))

    sr_img = np.clip(hr_f + 0.01, 0, 1)
    metric_s: dict[str, float] = {}
    for suite, names in SUITES.items():
        for m in names:
            fn = create_metric(m)
            fn(sr_img[:256, :256], hr_f[:256, :256]) if m != "niqe" else fn(sr_img[:256, :256])  # loads weights
            call = (lambda fn=fn: fn(sr_img)) if m == "niqe" else (lambda fn=fn: fn(sr_img, hr_f))
            metric_s[m] = _median_s(call, args.repeats)
            print(f"metric {m}: {metric_s[m]:.2f} s", flush=True)
    metrics_all = sum(metric_s.values())

    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "out.png"
        encode_s = _median_s(lambda: png_bytes(hr, {"iqa-bench:inputs": "x" * 32}), args.repeats)
        data = png_bytes(hr, {"iqa-bench:inputs": "x" * 32})
        png_s = _median_s(lambda: write_bytes(png, data), 5)
        store = ResultsStore(Path(tmp) / "run")
        n_rows = len(metric_s)

        def store_cell(i=[0]) -> None:
            for m in metric_s:
                store.add(("DIV2K", 2, f"img{i[0]}", "model", "fp32", "torch", m), 0.5, "id")
            store.flush()
            i[0] += 1

        row_s = _median_s(store_cell, 20)
    writer_cell = png_s + row_s

    cells = args.images * args.sweep_models * args.sweep_variants * 3
    worker_cell = sr_mean + metrics_all + encode_s
    total_cpu = cells * worker_cell
    writer_total = cells * writer_cell
    print(f"\nCPU: {cpu['model']}, flags {' '.join(cpu['flags'])}")
    print(f"per output cell (2040x1356 HR): SR {sr_mean:.1f} s (mean over {len(sr_s)} model x scale), metrics "
          f"{metrics_all:.1f} s ({n_rows} metrics), PNG encoding {encode_s * 1e3:.0f} ms (worker); writer "
          f"{writer_cell * 1e3:.0f} ms (PNG bytes {png_s * 1e3:.0f} ms, rows {row_s * 1e3:.0f} ms)")
    print(f"sweep: {args.images} images x {args.sweep_models} models x {args.sweep_variants} variants x 3 scales = "
          f"{cells} output cells, {cells * n_rows} rows; worker CPU {total_cpu / 3600:.0f} h, writer {writer_total / 3600:.2f} h")
    print(f"{'workers':>8} {'compute h':>10} {'writer h':>9}  bottleneck")
    rows = []
    for n in (int(w) for w in args.workers.split(",")):
        compute = total_cpu / n + args.startup_s
        bottleneck = "writer" if writer_total > compute else "workers"
        rows.append({"workers": n, "compute_h": compute / 3600, "writer_h": writer_total / 3600, "bottleneck": bottleneck})
        print(f"{n:>8} {compute / 3600:>10.2f} {writer_total / 3600:>9.2f}  {bottleneck}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"cpu": cpu, "sr_s": sr_s, "metric_s": metric_s, "png_encode_s": encode_s,
                                           "png_write_s": png_s,
                                           "rows_store_s": row_s, "cells": cells, "rows": rows,
                                           "args": vars(args)}, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
