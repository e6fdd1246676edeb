"""INT8 that pays: speed, memory, size and quality of every CPU variant against PyTorch FP32 eager.

One run on one machine (its CPU flags are recorded with the numbers):

* speed: network-only latency on one LR ``--size`` x ``--size`` input, every configuration of a
  model timed in interleaved rounds (``iqa_bench.bench``), with the ``--threads`` the runners use;
  ratios against PyTorch FP32 eager (> 1: faster);
* memory: peak RSS increase of a fresh child process that builds and runs one configuration;
  file size of what the backend executes; build (export + calibration + quantization) seconds;
* quality: PSNR-Y / SSIM-Y of each variant on ``--datasets`` through the normal evaluation engine,
  the mean difference against FP32, the worst image's PSNR (RGB) of the variant's output against the
  FP32 output, and the report's TOST equivalence verdict (within the metrics' margins: PSNR 0.05 dB,
  SSIM 0.001) after Holm correction.

    IQA_BENCH_WEIGHTS=../shared/weights python benchmarks/quantization.py --calib ../shared/data/T91 \\
        --datasets ../shared/data/Set5,../shared/data/Set14 --scales 2,4
    IQA_BENCH_WEIGHTS=../shared/weights python benchmarks/quantization.py --models srunet,unet,srgan \\
        --qat-models "" --int8-float-precision bf16

Configurations: PyTorch fp32 eager (the reference), ONNX Runtime fp32 and int8 (QDQ), OpenVINO fp32,
bf16 and int8 (NNCF PTQ), torchao int8 (PT2E + inductor) and, for ``--qat-models``, OpenVINO
int8-qat (``--qat-steps`` of quantization-aware training).

Prints one table per model and scale and writes JSON (default benchmarks/results/quantization.json).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from iqa_bench._cpu import cpu_description, has_native_bf16
from iqa_bench.bench import BenchConfig, backend_calib, peak_memory_mib, time_configs
from iqa_bench.stats import compare
from iqa_bench.deploy.calibration import CalibConfig
from iqa_bench.deploy.qat import QatConfig
from iqa_bench.engine import EvalConfig, evaluate
from iqa_bench.io import read_image, to_float
from iqa_bench.models import MODELS
from iqa_bench.results import load_run
from iqa_bench.runners import RUNNERS

REFERENCE = ("torch", "fp32")
# (backend, variant) measured for speed; the quality runs skip the fp32 of other backends (equal to
# PyTorch's to 1e-5, tested in tests/deploy and tests/runners).
SPEED = [("torch", "fp32"), ("onnxruntime", "fp32"), ("openvino", "fp32"), ("openvino", "bf16"),
         ("onnxruntime", "int8"), ("openvino", "int8"), ("torchao", "int8")]
QUALITY = [("torch", ("fp32",)), ("openvino", ("bf16", "int8")), ("onnxruntime", ("int8",)), ("torchao", ("int8",))]
QAT = ("openvino", "int8-qat")  # only for --qat-models: minutes of training per model on this CPU


def native(variant: str) -> bool:
    """False for OpenVINO bf16 on a CPU without bf16, where OpenVINO computes it in f32 (a copy of fp32's row)."""
    return variant != "bf16" or has_native_bf16()


def available(backend: str, selected: set[str] | None = None) -> bool:
    """``backend`` is installed and, when ``selected`` (``--backends``) is given, in it or the reference."""
    if selected is not None and backend not in selected | {REFERENCE[0]}:
        return False
    return backend in RUNNERS and RUNNERS.get(backend).meta.installed()


def quality(models: list[str], datasets: list[str], scales: list[int], calib: CalibConfig, out: Path,
            qat_models: list[str], qat: QatConfig, selected: set[str] | None = None) -> pd.DataFrame:
    """Per-image PSNR-Y/SSIM-Y of every quality configuration (one run directory)."""
    for backend, variants in QUALITY + [(QAT[0], (QAT[1],))]:
        variants = tuple(v for v in variants if native(v))
        if not available(backend, selected) or not variants:
            continue
        for scale in scales:
            ms = tuple(m for m in (qat_models if variants == (QAT[1],) else models) if scale in MODELS.get(m).meta.scales)
            if not ms:
                continue
            rep = evaluate(EvalConfig(datasets=tuple(datasets), models=ms, scales=(scale,), metrics=("psnr_y", "ssim_y"),
                                      variants=variants, backend=None if backend == "torch" else backend, out=out,
                                      calib=backend_calib(backend, calib), qat=qat))
            for f in rep.failures:
                print("quality:", f)
    return load_run(out)


def worst_vs_fp32(run: Path, model: str, scale: int, variant: str, backend: str) -> float:
    """Lowest PSNR (RGB, dB) of a variant's saved output against the FP32 output, over every image."""
    worst = math.inf
    for ds_dir in sorted((run / "outputs").iterdir()):
        base = ds_dir / f"x{scale}" / model
        for ref in sorted((base / "fp32-torch").glob("*.png")):
            other = base / f"{variant}-{backend}" / ref.name
            if not other.exists():
                continue
            a, b = to_float(read_image(ref)[0]), to_float(read_image(other)[0])
            mse = float(np.mean((a - b) ** 2))
            worst = min(worst, math.inf if mse == 0 else 10 * math.log10(1 / mse))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="srcnn,fsrcnn,vdsr,edsr_r8f64,srgan,realesrgan_x4plus")
    ap.add_argument("--scales", default="2,4")
    ap.add_argument("--size", type=int, default=128, help="LR side of the timed input")
    ap.add_argument("--datasets", default="../shared/data/Set5,../shared/data/Set14")
    ap.add_argument("--calib", default="../shared/data/T91")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-quality", action="store_true", help="speed and memory only")
    ap.add_argument("--qat-models", default="srcnn,fsrcnn", help="models that also get the int8-qat variant")
    ap.add_argument("--qat-steps", type=int, default=QatConfig().steps)
    ap.add_argument("--int8-activations", default=None,
                    help="OpenVINO int8: symmetric or asymmetric (default: its own)")
    ap.add_argument("--int8-smooth-quant", type=lambda v: v if v == "auto" else float(v), default=None,
                    help="OpenVINO int8: SmoothQuant strength, 0 (off) to 1, or auto (default: the recipe's own)")
    ap.add_argument("--int8-image-layers", default="float", choices=("float", "input", "int8"),
                    help="OpenVINO int8 and the QDQ file: the image-facing convolutions in float or int8; "
                         "input: only those reading the image in float (OpenVINO)")
    ap.add_argument("--int8-float-precision", default="f32", help="OpenVINO and torchao int8's float layers: f32 or bf16")
    ap.add_argument("--int8-float-layers", type=int, default=0,
                    help="OpenVINO and torchao int8: also keep the K most sensitive convolutions in float")
    ap.add_argument("--backends", default=None,
                    help="comma-separated backends to measure beside PyTorch fp32 (default: every installed one)")
    ap.add_argument("--json", default="benchmarks/results/quantization.json")
    args = ap.parse_args()
    selected = set(args.backends.split(",")) if args.backends else None
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle worker threads must not slow the next config
    calib = CalibConfig(Path(args.calib), activations=args.int8_activations, float_precision=args.int8_float_precision,
                        sensitive_float=args.int8_float_layers, smooth_quant=args.int8_smooth_quant,
                        float_ends=args.int8_image_layers != "int8",
                        float_input_only=args.int8_image_layers == "input")
    qat = QatConfig(steps=args.qat_steps)
    qat_models = [m for m in args.qat_models.split(",") if m]
    models = args.models.split(",")
    scales = [int(s) for s in args.scales.split(",")]
    datasets = args.datasets.split(",")
    cpu = cpu_description()
    print(f"CPU: {cpu['model']} ({cpu['machine']}), flags: {' '.join(cpu['flags'])}, threads: {os.cpu_count()}")
    if not has_native_bf16():
        print("no bf16 on this CPU: OpenVINO bf16 left out (it would compute in f32)")

    with tempfile.TemporaryDirectory(prefix="iqa-bench-quant-") as tmp:
        run = Path(tmp) / "run"
        stats = pd.DataFrame()
        df = pd.DataFrame()
        if not args.no_quality:
            df = quality(models, datasets, scales, calib, run, qat_models, qat, selected)
            stats = compare(run, baseline="none", metrics=["psnr_y", "ssim_y"])
        results: list[dict[str, Any]] = []
        for model in models:
            for scale in scales:
                if scale not in MODELS.get(model).meta.scales:
                    continue
                speed = SPEED + ([QAT] if model in qat_models else [])
                configs = [BenchConfig(model, v, b, scale, args.size) for b, v in speed
                           if available(b, selected) and native(v)]
                rows = time_configs(configs, calib, reps=args.reps, rounds=args.rounds, qat=qat)
                for row, c in zip(rows, configs):
                    row["peak_mib"] = peak_memory_mib(c, calib, qat=qat) if "error" not in row else math.nan
                ref = rows[0]
                print(f"\n{model} x{scale}: LR {args.size}x{args.size}, 2 threads; quality on "
                      f"{', '.join(Path(d).name for d in datasets)} vs PyTorch fp32")
                head = (f"{'backend':<12}{'variant':<9}{'ms':>9}{'speed':>8}{'MiB':>6}{'file MB':>8}{'build s':>8}"
                        f"  {'dataset':<7}{'dPSNR-Y':>8}{'dSSIM-Y':>9}{'worst dB':>9}  TOST")
                print(head)
                print("-" * len(head))
                for r in rows:
                    if r.get("error"):
                        print(f"{r['backend']:<12}{r['variant']:<9}  failed: {r['error']}")
                        r["quality"] = []
                        continue
                    r.update(cpu=cpu, speedup_vs_torch_fp32=ref["median_ms"] / r["median_ms"],
                             mem_vs_torch_fp32=r["peak_mib"] / ref["peak_mib"] if ref["peak_mib"] else math.nan)
                    lines = []
                    for ds in sorted(df["dataset"].unique()) if not df.empty else []:
                        q = df[(df["dataset"] == ds) & (df["scale"] == scale) & (df["model"] == model)]
                        mean = q.groupby(["variant", "backend", "metric"])["value"].mean()
                        key = (r["variant"], r["backend"])
                        if (*key, "psnr_y") not in mean.index:
                            continue
                        dp = mean[(*key, "psnr_y")] - mean[(*REFERENCE[::-1], "psnr_y")]
                        dsim = mean[(*key, "ssim_y")] - mean[(*REFERENCE[::-1], "ssim_y")]
                        s = stats[(stats["dataset"] == ds) & (stats["scale"] == scale) & (stats["model"] == model)
                                  & (stats["variant"] == r["variant"]) & (stats["backend"] == r["backend"])]
                        verdict = "/".join(s.set_index("metric").reindex(["psnr_y", "ssim_y"])["verdict"].fillna("-"))
                        worst = worst_vs_fp32(run, model, scale, *key) if key != REFERENCE[::-1] else math.inf
                        lines.append({"dataset": ds, "psnr_y": float(mean[(*key, "psnr_y")]), "dpsnr_y": float(dp),
                                      "dssim_y": float(dsim), "worst_psnr_vs_fp32": worst, "tost": verdict})
                    r["quality"] = lines
                    first = (f"{r['backend']:<12}{r['variant']:<9}{r['median_ms']:>9.1f}{r['speedup_vs_torch_fp32']:>7.2f}x"
                             f"{r['peak_mib']:>6.0f}{r['file_bytes'] / 1e6:>8.2f}{r['build_s']:>8.1f}")
                    if not lines:
                        print(first)
                    for i, q in enumerate(lines):
                        print((first if i == 0 else " " * len(first))
                              + f"  {q['dataset']:<7}{q['dpsnr_y']:>+8.3f}{q['dssim_y']:>+9.4f}"
                              f"{q['worst_psnr_vs_fp32']:>9.1f}  {q['tost']}")
                results.extend(rows)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"cpu": cpu, "args": vars(args), "rows": results}, indent=2, default=str))
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
