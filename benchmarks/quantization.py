"""Speed-up, memory ratio and quality delta of every variant against PyTorch FP32 and ONNX FP32, per model.

One run on one machine: latency of each configuration measured interleaved (``iqa_bench.bench``),
peak memory per configuration (CPU: peak RSS increase of a fresh child process; GPU: torch's
allocator, torch backend only), and quality of each variant on a dataset through the normal
evaluation engine (PSNR-Y, SSIM-Y; deltas against PyTorch FP32 on the same images).

    IQA_BENCH_WEIGHTS=../shared/weights python benchmarks/quantization.py --calib ../shared/data/T91 \\
        --dataset ../shared/data/Set5 --scale 2 --models srcnn,fsrcnn,vdsr,edsr_r8f64,srgan

On a GPU machine add ``--device cuda`` (torch fp16/bf16, and tensorrt fp32/fp16/int8 when TensorRT
is installed). Prints one table per model and writes JSON (default benchmarks/results/quantization.json).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import tempfile
from pathlib import Path
from typing import Any

from iqa_bench.bench import BenchConfig, peak_memory_mib, time_configs
from iqa_bench.deploy.calibration import CalibConfig
from iqa_bench.engine import EvalConfig, evaluate
from iqa_bench.errors import InputError
from iqa_bench.results import load_run


def configs_for(model: str, scale: int, size: int, device: str) -> list[BenchConfig]:
    """PyTorch FP32 first (the reference), ONNX FP32 second, then the other variants."""
    if device == "cuda":
        rows = [("torch", "fp32"), ("onnxruntime", "fp32"), ("torch", "fp16"), ("torch", "bf16")]
        try:
            from iqa_bench.runners.tensorrt_runner import require_tensorrt

            require_tensorrt()
            rows += [("tensorrt", "fp32"), ("tensorrt", "fp16"), ("tensorrt", "int8")]
        except InputError as exc:
            print(f"tensorrt not measured: {exc.message}")
    else:  # PyTorch fp16/bf16 on a CPU are 76-81x slower than fp32 (emulated): not a deployment option
        rows = [("torch", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "fp16"), ("onnxruntime", "int8")]
    return [BenchConfig(model, v, b, scale, size, device) for b, v in rows]


def quality(models: list[str], dataset: str, scale: int, calib: CalibConfig, device: str, out: Path) -> Any:
    """Mean PSNR-Y / SSIM-Y per (model, variant, backend): torch fp32 plus every ONNX variant."""
    common = dict(datasets=(dataset,), models=tuple(models), scales=(scale,), metrics=("psnr_y", "ssim_y"),
                  out=out, calib=calib, device="cpu")
    for backend, variants in (("torch", ("fp32",)), ("onnxruntime", ("fp32", "fp16", "int8"))):
        report = evaluate(EvalConfig(**common, variants=variants, backend=backend))
        for f in report.failures:
            print("quality:", f)
    df = load_run(out)
    return df.groupby(["model", "backend", "variant", "metric"])["value"].mean()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="srcnn,fsrcnn,vdsr,edsr_r8f64,srgan")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--size", type=int, default=128, help="LR side of the timed input")
    ap.add_argument("--dataset", default="../shared/data/Set5")
    ap.add_argument("--calib", default="../shared/data/T91")
    ap.add_argument("--calib-method", default="minmax")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", default="benchmarks/results/quantization.json")
    args = ap.parse_args()
    calib = CalibConfig(Path(args.calib), method=args.calib_method)
    models = args.models.split(",")

    with tempfile.TemporaryDirectory(prefix="iqa-bench-quant-") as tmp:
        q = quality(models, args.dataset, args.scale, calib, args.device, Path(tmp) / "run")
    results: list[dict[str, Any]] = []
    for model in models:
        configs = configs_for(model, args.scale, args.size, args.device)
        rows = time_configs(configs, calib, reps=args.reps, rounds=args.rounds)
        for row, cfg in zip(rows, configs):
            row["peak_mib"] = peak_memory_mib(cfg, calib)
        ref, onnx32 = rows[0], rows[1]
        print(f"\n{model} x{args.scale}, LR {args.size}x{args.size}, {args.device}; quality on {Path(args.dataset).name}")
        head = (f"{'backend':<12}{'variant':<8}{'median ms':>10}{'vs torch32':>11}{'vs onnx32':>10}{'peak MiB':>9}"
                f"{'mem/torch32':>12}{'mem/onnx32':>11}{'dPSNR-Y':>9}{'dSSIM-Y':>10}")
        print(head)
        print("-" * len(head))
        for r in rows:
            qa = (model, r["backend"], r["variant"])
            qref = (model, "torch", "fp32")
            dp = q.get((*qa, "psnr_y"), math.nan) - q.get((*qref, "psnr_y"), math.nan)
            ds = q.get((*qa, "ssim_y"), math.nan) - q.get((*qref, "ssim_y"), math.nan)
            r.update(speedup_vs_torch_fp32=ref["median_ms"] / r["median_ms"],
                     speedup_vs_onnx_fp32=onnx32["median_ms"] / r["median_ms"],
                     mem_vs_torch_fp32=r["peak_mib"] / ref["peak_mib"], mem_vs_onnx_fp32=r["peak_mib"] / onnx32["peak_mib"],
                     psnr_y=q.get((*qa, "psnr_y"), math.nan), dpsnr_y=dp, dssim_y=ds)
            print(f"{r['backend']:<12}{r['variant']:<8}{r['median_ms']:>10.2f}{r['speedup_vs_torch_fp32']:>10.2f}x"
                  f"{r['speedup_vs_onnx_fp32']:>9.2f}x{r['peak_mib']:>9.0f}{r['mem_vs_torch_fp32']:>11.2f}x"
                  f"{r['mem_vs_onnx_fp32']:>10.2f}x{dp:>+9.3f}{ds:>+10.4f}")
        results.extend(rows)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"machine": platform.machine(), "processor": platform.processor(),
                                           "args": vars(args), "rows": results}, indent=2, default=str))
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
