"""INT8 quality by calibration set, mixed precision and QAT: OpenVINO int8 against OpenVINO fp32.

For each model x scale x variant (``int8``: post-training quantization; ``int8-qat``: the same,
fine-tuned with fake quantization for ``--qat-steps``) x activations (``--activations``: symmetric
and/or asymmetric int8 activation ranges) x calibration (``builtin``: the built-in
colour photos; or a folder) x K (``--int8-float-layers``: the K most sensitive inner convolutions
kept in float by the per-layer sweep), prints and writes as JSON: mean ΔPSNR-Y of int8 against fp32 on each dataset (MATLAB bicubic
LR, border = scale, RGB images; grey ones are left out as they would be scored on their own), mean
ΔSSIM-Y, the worst image's PSNR-Y against the fp32 output, the
build seconds, the float layers and the calibration SNR the sweep measured. Quality only: speed is
``benchmarks/quantization.py``'s and ``iqa-bench bench``'s.

    IQA_BENCH_WEIGHTS=../shared/weights python benchmarks/int8_calibration.py \\
        --models vdsr,edsr_r8f64,srgan --scales 2 --calib builtin,../shared/data/T91 --k 0,4
    IQA_BENCH_WEIGHTS=../shared/weights python benchmarks/int8_calibration.py \
        --models fsrcnn,srgan --scales 2,4 --variants int8,int8-qat --k 0,1
    IQA_BENCH_WEIGHTS=../shared/weights python benchmarks/int8_calibration.py \
        --models srgan,realesrgan_x4plus,unet,srunet --scales 2,4 --activations symmetric,asymmetric
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from iqa_bench import create_metric
from iqa_bench._cpu import cpu_flags
from iqa_bench.data.datasets import resolve_dataset
from iqa_bench.data.degrade import DEGRADATIONS, modcrop
from iqa_bench.deploy.artefacts import ArtefactCache
from iqa_bench.deploy.calibration import CalibConfig, builtin_calibration
from iqa_bench.deploy.qat import QatConfig
from iqa_bench.errors import ComputeError
from iqa_bench.io import read_image, to_float
from iqa_bench.models import MODELS
from iqa_bench.runners.openvino_runner import OpenVinoUpscaler


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="srcnn,fsrcnn,vdsr,edsr_r8f64,srgan")
    ap.add_argument("--scales", default="2")
    ap.add_argument("--datasets", default="../shared/data/Set5,../shared/data/Set14")
    ap.add_argument("--calib", default="builtin", help="comma list: builtin and/or folders of training images")
    ap.add_argument("--k", default="0", help="comma list of --int8-float-layers values")
    ap.add_argument("--patches", type=int, default=64)
    ap.add_argument("--variants", default="int8", help="comma list: int8 (PTQ) and/or int8-qat")
    ap.add_argument("--activations", default="symmetric", help="comma list: symmetric and/or asymmetric")
    ap.add_argument("--qat-steps", type=int, default=QatConfig().steps)
    ap.add_argument("--json", default="benchmarks/results/int8_calibration.json")
    args = ap.parse_args()

    psnr_y, ssim_y = create_metric("psnr_y"), create_metric("ssim_y")
    rows = []
    with tempfile.TemporaryDirectory(prefix="iqa-bench-int8cal-") as tmp:
        cache = ArtefactCache(Path(tmp))  # fresh: every build is timed
        for model in args.models.split(","):
            info = MODELS.get(model).meta
            for scale in (int(s) for s in args.scales.split(",")):
                if info.scales and scale not in info.scales:
                    continue
                images = [(ds.name, modcrop(read_image(smp.hr_path)[0], scale))
                          for ds in (resolve_dataset(d) for d in args.datasets.split(","))
                          for smp in ds.samples(scale, "generate")]
                images = [(n, hr) for n, hr in images if hr.shape[2] == 3]
                fp32 = OpenVinoUpscaler(info, "fp32", cache=cache)
                for cal in args.calib.split(","):
                    base = (builtin_calibration(patches=args.patches) if cal == "builtin"
                            else CalibConfig(Path(cal), patches=args.patches))
                    for variant, k, act in ((v, int(x), a) for v in args.variants.split(",") for x in args.k.split(",")
                                            for a in args.activations.split(",")):
                        up = OpenVinoUpscaler(info, variant, cache=cache, qat=QatConfig(steps=args.qat_steps),
                                              calib=dataclasses.replace(base, sensitive_float=k, activations=act))
                        t0 = time.perf_counter()
                        try:
                            up.prepare(scale)
                        except ComputeError as exc:  # e.g. OpenVINO crashed running the new IR: that row alone
                            rows.append({"model": model, "scale": scale, "variant": variant, "calib": cal, "k": k,
                                         "activations": act, "failed": exc.message})
                            print(json.dumps(rows[-1]), flush=True)
                            continue
                        build = time.perf_counter() - t0
                        deltas: dict[str, list[float]] = {}
                        dssim: dict[str, list[float]] = {}
                        worst: dict[str, float] = {}
                        for name, hr in images:
                            lr = DEGRADATIONS["matlab"](hr, scale)
                            c, ref = scale, to_float(hr)[scale:-scale, scale:-scale]
                            a = to_float(up.upscale_uint8(lr, scale))[c:-c, c:-c]
                            b = to_float(fp32.upscale_uint8(lr, scale))[c:-c, c:-c]
                            deltas.setdefault(name, []).append(psnr_y(a, ref) - psnr_y(b, ref))
                            dssim.setdefault(name, []).append(ssim_y(a, ref) - ssim_y(b, ref))
                            worst[name] = min(worst.get(name, float("inf")), psnr_y(a, b))
                        rec = up.artefact(scale).record
                        row = {"model": model, "scale": scale, "variant": variant, "calib": cal, "k": k,
                               "activations": act, "build_s": round(build, 1),
                               "float_layers": len(rec.get("float_layers", [])),
                               "calib_snr_db": rec.get("calib_snr_db"), "qat": rec.get("qat"),
                               **{f"dpsnr_y_{n}": round(float(np.mean(v)), 3) for n, v in deltas.items()},
                               **{f"dssim_y_{n}": round(float(np.mean(v)), 5) for n, v in dssim.items()},
                               **{f"worst_psnr_y_vs_fp32_{n}": round(v, 2) for n, v in worst.items()}}
                        rows.append(row)
                        print(json.dumps(row), flush=True)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"cpu_flags": list(cpu_flags()), "patches": args.patches, "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
