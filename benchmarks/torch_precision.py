"""Latency, peak memory and quality of every zoo model with weights, in fp32 / fp16 / bf16, PyTorch eager.

On CUDA: CUDA-event timing after warm-up, ``torch.cuda.max_memory_allocated`` as peak memory.
On CPU: wall-clock (perf_counter) and no memory figure (RSS is not per-variant). Quality: PSNR-Y
(crop = scale, uint8 output) on Set5 with the dataset's LR files, and the max |output - fp32 output|.

    IQA_BENCH_WEIGHTS=../shared/weights python benchmarks/torch_precision.py --data ../shared/data/Set5 --device cuda

Prints a table and writes JSON (default benchmarks/results/torch_precision.json).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from iqa_bench.data.datasets import resolve_dataset
from iqa_bench.data.degrade import modcrop
from iqa_bench.io import read_image, to_float
from iqa_bench.metrics import METRICS
from iqa_bench.models import MODELS
from iqa_bench.runners.torch_runner import TorchUpscaler
from iqa_bench.weights import WeightsError


def time_forward(up: TorchUpscaler, lr: np.ndarray, scale: int, device: str, reps: int) -> tuple[float, float, float]:
    """(median ms, p90 ms, peak MiB) of one whole-image upscale (network only) of ``lr``."""
    net = up.network(scale)
    t = torch.from_numpy(up.padded_input(lr, scale)).to(up.device, up.dtype)
    times = []
    with torch.inference_mode():
        for _ in range(3):
            net(t)
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            for _ in range(reps):
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                net(t)
                b.record()
                torch.cuda.synchronize()
                times.append(a.elapsed_time(b))
            peak = torch.cuda.max_memory_allocated() / 2**20
        else:
            for _ in range(reps):
                t0 = time.perf_counter()
                net(t)
                times.append((time.perf_counter() - t0) * 1e3)
            peak = float("nan")
    times.sort()
    return statistics.median(times), times[int(0.9 * (len(times) - 1))], peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/Set5")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--variants", default="fp32,fp16,bf16")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--time-image", default="butterfly", help="image whose LR is timed")
    ap.add_argument("--time-size", type=int, default=0,
                    help="if > 0, time on the timed LR reflect-padded to this many pixels per side")
    ap.add_argument("--out", default="benchmarks/results/torch_precision.json")
    args = ap.parse_args()
    ds = resolve_dataset(args.data)
    psnr_y = METRICS.create("psnr_y")
    rows = []
    for entry in MODELS:
        info = entry.meta
        if info.backend != "torch":
            continue
        scale = 4 if 4 in info.scales else info.scales[0]
        ref_out: dict[str, np.ndarray] = {}
        for variant in args.variants.split(","):
            up = TorchUpscaler(info, variant, device=args.device, tile=None)
            try:
                up.network(scale)
            except WeightsError:
                break
            psnrs, maxdiff = [], 0.0
            timed = None
            for sample in ds.samples(scale, "auto"):
                hr = modcrop(read_image(sample.hr_path)[0], scale)
                lr = read_image(sample.lr_path)[0]
                if sample.name == args.time_image:
                    timed = lr
                sr = up.upscale(lr, scale)
                if variant == "fp32":
                    ref_out[sample.name] = sr
                else:
                    maxdiff = max(maxdiff, float(np.abs(sr - ref_out[sample.name]).max()))
                sr8 = to_float(up.upscale_uint8(lr, scale))
                psnrs.append(psnr_y(sr8[scale:-scale, scale:-scale], to_float(hr)[scale:-scale, scale:-scale]))
            timed = timed if timed is not None else lr
            if args.time_size > 0:
                ph, pw = max(args.time_size - timed.shape[0], 0), max(args.time_size - timed.shape[1], 0)
                timed = np.pad(timed, ((0, ph), (0, pw), (0, 0)), mode="symmetric")[: args.time_size, : args.time_size]
            med, p90, peak = time_forward(up, timed, scale, args.device, args.reps)
            rows.append({"model": entry.name, "scale": scale, "variant": variant, "device": args.device,
                         "psnr_y": float(np.mean(psnrs)), "max_abs_diff_vs_fp32": maxdiff,
                         "latency_ms_median": med, "latency_ms_p90": p90, "peak_mib": peak})
            print(f"{entry.name:18s} x{scale} {variant:5s} PSNR-Y {rows[-1]['psnr_y']:.4f}  "
                  f"max|d| {maxdiff:.2e}  {med:8.2f} ms (p90 {p90:8.2f})  peak {peak:8.1f} MiB", flush=True)
            del up
            if args.device == "cuda":
                torch.cuda.empty_cache()
    base = {(r["model"]): r for r in rows if r["variant"] == "fp32"}
    print(f"\n{'model':18s} {'variant':6s} {'dPSNR-Y':>9s} {'speed-up':>9s} {'memory':>8s}")
    for r in rows:
        b = base[r["model"]]
        r["d_psnr_y"] = r["psnr_y"] - b["psnr_y"]
        r["speedup_vs_fp32"] = b["latency_ms_median"] / r["latency_ms_median"]
        r["memory_ratio_vs_fp32"] = r["peak_mib"] / b["peak_mib"] if b["peak_mib"] == b["peak_mib"] else float("nan")
        print(f"{r['model']:18s} {r['variant']:6s} {r['d_psnr_y']:+9.4f} {r['speedup_vs_fp32']:8.2f}x {r['memory_ratio_vs_fp32']:7.2f}x")
    env = {"torch": torch.__version__, "device": torch.cuda.get_device_name() if args.device == "cuda" else platform.processor(),
           "data": args.data, "time_image": args.time_image, "time_size": args.time_size, "reps": args.reps}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"environment": env, "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
