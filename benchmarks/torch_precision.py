"""Latency, peak memory and quality of the zoo models in PyTorch: fp32 / fp16 / bf16 eager, channels_last,
torch.compile (max-autotune, CUDA graphs), FP8 (torchao) — what a TensorRT int8 engine is compared with.

Configurations (``--variants``):

* ``fp32`` (TF32 off: the reference), ``fp16``, ``bf16``: the torch runner, eager.
* ``fp16-cl``: fp16 with the network and its input in ``channels_last`` (cuDNN's NHWC kernels).
* ``fp16-compile``: ``fp16-cl`` through ``torch.compile(mode=--compile-mode)``; on CUDA ``max-autotune``
  (Triton/cuBLAS autotuning and CUDA graphs). Compile seconds are their own column, never in latency;
  one compilation per input shape (the dataset's images, the timed size, a frame's tiles): with
  max-autotune minutes for a large network, so bound a GPU session's run with ``--models``.
* ``fp8``: torchao ``Float8DynamicActivationFloat8WeightConfig`` (per-tensor) on the bf16 network in
  ``channels_last``; where torchao has no FP8 convolution kernel for the device (torchao 0.18: MSLK
  kernels on compute capability >= 10.0 only) the row says why instead of a number.

Per configuration: PSNR-Y on the dataset (crop = scale, uint8 output, the dataset's LR files) and the
largest |output - fp32 output|; latency (median, p90) and peak memory of one network call on an LR
``--time-size`` input (CUDA events and ``torch.cuda.max_memory_allocated`` on a GPU; wall clock and no
memory figure on the CPU); with ``--frame 1080p`` also the time of one tiled 1080p output frame through
the runner's tiling (``--tile``, overlap 32; host copies and stitching included).

    IQA_BENCH_WEIGHTS=../shared/weights python benchmarks/torch_precision.py --data ../shared/data/Set5 \\
        --device cuda --time-size 256 --frame 1080p --out reports/gpu/torch_precision_h200.json

Prints a table (ratios against fp32 eager, with the TensorRT int8 reference of 2.5x speed, -63 % memory)
and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from iqa_bench._cpu import cpu_flags
from iqa_bench.data.datasets import resolve_dataset
from iqa_bench.data.degrade import modcrop
from iqa_bench.io import quantize_uint8, read_image, to_float
from iqa_bench.metrics import METRICS
from iqa_bench.models import MODELS
from iqa_bench.runners.base import require_finite
from iqa_bench.runners.torch_runner import TorchUpscaler
from iqa_bench.weights import WeightsError

CONFIGS = ("fp32", "fp16", "bf16", "fp16-cl", "fp16-compile", "fp8")
FRAMES = {"1080p": (1080, 1920), "720p": (720, 1280), "360p": (360, 640)}
THESIS = {"speedup": 2.5, "memory_ratio": 0.37}  # TensorRT int8 on a Titan Xp: 2.5x faster, 63 % less memory


class _ChannelsLast(torch.nn.Module):
    """Feeds the wrapped network its input in ``channels_last`` (NHWC) memory order."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net.to(memory_format=torch.channels_last)
        self.shrink = getattr(net, "shrink", 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.contiguous(memory_format=torch.channels_last))


def _fp8(net: torch.nn.Module) -> torch.nn.Module:
    from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerTensor, quantize_

    quantize_(net, Float8DynamicActivationFloat8WeightConfig(granularity=PerTensor()),
              filter_fn=lambda m, _: isinstance(m, torch.nn.Conv2d))
    return net


def make_upscaler(info: Any, config: str, device: str, compile_mode: str, tile: int | None) -> TorchUpscaler:
    """The torch runner for ``config``, its network for each scale replaced by the configured one."""
    variant = {"fp16-cl": "fp16", "fp16-compile": "fp16", "fp8": "bf16"}.get(config, config)
    up = TorchUpscaler(info, variant, device=device, tile=tile)
    if config in ("fp32", "fp16", "bf16"):
        return up
    build, configured = up.network, {}

    def network(scale: int) -> torch.nn.Module:
        if scale not in configured:
            net = build(scale)
            if config == "fp8":
                net = _fp8(net)
            net = _ChannelsLast(net)
            if config == "fp16-compile":
                # one graph per input shape (Set5's five, the timed size, a frame's tile shapes): more
                # than dynamo's default limit of 8, after which it would run the rest eagerly unnoticed
                torch._dynamo.config.recompile_limit = 64
                net = torch.compile(net, mode=compile_mode, dynamic=False)
            configured[scale] = net
        return configured[scale]

    up.network = network  # type: ignore[method-assign]
    return up


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_call(fn: Callable[[], Any], device: str, reps: int) -> tuple[float, float]:
    """(median ms, p90 ms) of ``fn()`` after 3 warm-up calls: CUDA events on a GPU, else wall clock."""
    for _ in range(3):
        fn()
    _sync(device)
    times = []
    for _ in range(reps):
        if device == "cuda":
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            torch.cuda.synchronize()
            times.append(a.elapsed_time(b))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return statistics.median(times), times[max(0, math.ceil(0.9 * len(times)) - 1)]  # nearest-rank p90


def time_forward(up: TorchUpscaler, lr: np.ndarray, scale: int, device: str, reps: int) -> tuple[float, float, float]:
    """(median ms, p90 ms, peak MiB) of one whole-image network call on ``lr`` (the network only)."""
    net = up.network(scale)
    t = torch.from_numpy(up.padded_input(lr, scale)).to(up.device, up.dtype)
    with torch.inference_mode():
        if device == "cuda":
            net(t)
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        med, p90 = time_call(lambda: net(t), device, reps)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else float("nan")
    return med, p90, peak


def time_frame(up: TorchUpscaler, lr: np.ndarray, scale: int, device: str, reps: int) -> float:
    """Median ms of one tiled output frame through the runner (host copies and stitching included)."""
    def call() -> None:
        up.upscale(lr, scale)
        _sync(device)

    return time_call(call, "cpu", reps)[0]  # wall clock: the frame is host-to-host


def measure(entry: Any, scale: int, config: str, args: argparse.Namespace, ds: Any, psnr_y: Any,
            ref_out: dict[str, np.ndarray]) -> dict[str, Any]:
    """One row: quality on the dataset and speed of ``config`` of the model ``entry`` at ``scale``."""
    row: dict[str, Any] = {"model": entry.name, "scale": scale, "variant": config, "device": args.device}
    up = make_upscaler(entry.meta, config, args.device, args.compile_mode, tile=None)
    t0 = time.perf_counter()
    try:
        up.network(scale)
        timed = None
        psnrs, maxdiff = [], 0.0
        for sample in ds.samples(scale, "auto"):
            hr = modcrop(read_image(sample.hr_path)[0], scale)
            lr = read_image(sample.lr_path)[0]
            if sample.name == args.time_image:
                timed = lr
            sr = up.upscale(lr, scale)
            if config == "fp32":
                ref_out[sample.name] = sr
            elif sample.name in ref_out:
                maxdiff = max(maxdiff, float(np.abs(sr - ref_out[sample.name]).max()))
            require_finite(sr)
            sr8 = to_float(quantize_uint8(sr))  # as the runner's upscale_uint8, without a second call
            psnrs.append(psnr_y(sr8[scale:-scale, scale:-scale], to_float(hr)[scale:-scale, scale:-scale]))
    except WeightsError:
        raise
    except Exception as exc:  # noqa: BLE001 - a configuration this device or library cannot run is a row saying so
        row["unsupported"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
        print(f"{entry.name:18s} x{scale} {config:12s} not run here: {row['unsupported']}", flush=True)
        return row
    row["build_s"] = time.perf_counter() - t0  # weights, conversion, compilation and the dataset pass
    timed = timed if timed is not None else lr
    if args.time_size > 0:
        ph, pw = max(args.time_size - timed.shape[0], 0), max(args.time_size - timed.shape[1], 0)
        timed = np.pad(timed, ((0, ph), (0, pw), (0, 0)), mode="symmetric")[: args.time_size, : args.time_size]
    med, p90, peak = time_forward(up, timed, scale, args.device, args.reps)
    row.update(psnr_y=float(np.mean(psnrs)), max_abs_diff_vs_fp32=maxdiff, latency_ms_median=med,
               latency_ms_p90=p90, peak_mib=peak, lr_size=list(timed.shape[:2]))
    if args.frame:
        h, w = FRAMES[args.frame]
        up.tile = args.tile
        fh, fw = -(-h // scale), -(-w // scale)  # the LR of one output frame
        frame_lr = np.pad(timed, ((0, max(0, fh - timed.shape[0])), (0, max(0, fw - timed.shape[1])), (0, 0)),
                          mode="symmetric")[:fh, :fw]
        row["frame"] = args.frame
        row["frame_ms_median"] = time_frame(up, frame_lr, scale, args.device, max(3, args.reps // 5))
    print(f"{entry.name:18s} x{scale} {config:12s} PSNR-Y {row['psnr_y']:.4f}  max|d| {maxdiff:.2e}  "
          f"{med:8.2f} ms (p90 {p90:8.2f})  peak {peak:8.1f} MiB  build {row['build_s']:6.1f} s"
          + (f"  {args.frame} frame {row['frame_ms_median']:8.1f} ms" if args.frame else ""), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/Set5")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--models", default="", help="comma list of zoo models (default: every torch model with weights)")
    ap.add_argument("--scales", default="", help="comma list (default: x4 where the model has it, else its first)")
    ap.add_argument("--variants", default="fp32,fp16,bf16", help=f"comma list of {', '.join(CONFIGS)}")
    ap.add_argument("--compile-mode", default="",
                    help="torch.compile mode (default: max-autotune on CUDA, else default)")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--time-image", default="butterfly", help="image whose LR is timed")
    ap.add_argument("--time-size", type=int, default=0,
                    help="if > 0, time on the timed LR reflect-padded to this many pixels per side")
    ap.add_argument("--frame", default="", choices=["", *FRAMES], help="also time one tiled output frame of this size")
    ap.add_argument("--tile", type=int, default=256, help="LR tile side for --frame")
    ap.add_argument("--out", default="benchmarks/results/torch_precision.json")
    args = ap.parse_args()
    args.compile_mode = args.compile_mode or ("max-autotune" if args.device == "cuda" else "default")
    configs = [c for c in args.variants.split(",") if c]
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown or "fp32" not in configs:
        ap.error(f"--variants: {', '.join(unknown) or 'fp32 missing'} (choose from {', '.join(CONFIGS)}, fp32 first)")
    configs = ["fp32"] + [c for c in configs if c != "fp32"]
    ds = resolve_dataset(args.data)
    psnr_y = METRICS.create("psnr_y")
    wanted = set(args.models.split(",")) - {""}
    rows = []
    for entry in MODELS:
        if entry.meta.backend != "torch" or (wanted and entry.name not in wanted):
            continue
        own = entry.meta.scales
        scales = [int(s) for s in args.scales.split(",") if s] or [4 if 4 in own else own[0]]
        for scale in (s for s in scales if s in entry.meta.scales):
            ref_out: dict[str, np.ndarray] = {}
            try:
                for config in configs:
                    rows.append(measure(entry, scale, config, args, ds, psnr_y, ref_out))
                    if args.device == "cuda":
                        torch.cuda.empty_cache()
            except WeightsError:
                continue
    base = {(r["model"], r["scale"]): r for r in rows if r["variant"] == "fp32"}
    print(f"\n{'model':18s} {'x':>2s} {'variant':12s} {'dPSNR-Y':>9s} {'speed-up':>9s} {'memory':>8s}"
          + (f" {'frame':>9s}" if args.frame else ""))
    for r in rows:
        b = base[(r["model"], r["scale"])]
        if "unsupported" in r:
            print(f"{r['model']:18s} {r['scale']:2d} {r['variant']:12s} not run here")
            continue
        r["d_psnr_y"] = r["psnr_y"] - b["psnr_y"]
        r["speedup_vs_fp32"] = b["latency_ms_median"] / r["latency_ms_median"]
        r["memory_ratio_vs_fp32"] = r["peak_mib"] / b["peak_mib"] if b["peak_mib"] == b["peak_mib"] else float("nan")
        if args.frame:
            r["frame_speedup_vs_fp32"] = b["frame_ms_median"] / r["frame_ms_median"]
        print(f"{r['model']:18s} {r['scale']:2d} {r['variant']:12s} {r['d_psnr_y']:+9.4f} {r['speedup_vs_fp32']:8.2f}x "
              f"{r['memory_ratio_vs_fp32']:7.2f}x" + (f" {r['frame_speedup_vs_fp32']:8.2f}x" if args.frame else ""))
    print(f"(reference: TensorRT int8 on a Titan Xp, {THESIS['speedup']}x faster at {THESIS['memory_ratio']:.2f}x "
          "the memory of fp32)")
    gpu = torch.cuda.get_device_name() if args.device == "cuda" else None
    env = {"torch": torch.__version__, "device": gpu or platform.processor(), "cpu_flags": list(cpu_flags()),
           "capability": list(torch.cuda.get_device_capability()) if gpu else None, "data": args.data,
           "time_image": args.time_image, "time_size": args.time_size, "reps": args.reps,
           "compile_mode": args.compile_mode, "frame": args.frame, "tile": args.tile, "reference": THESIS}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"environment": env, "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
