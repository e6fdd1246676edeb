"""Speed and memory of model x variant x backend: latency percentiles, throughput, peak memory, sizes.

Latency is the network alone on one fixed input (no tiling, no colour conversion), after warm-up:
CUDA events on the GPU, ``perf_counter`` on the CPU. The configurations of a model are timed in
interleaved rounds (A B C, A B C, ...) so that drift of a shared machine hits all of them alike.
Peak memory: on the GPU ``torch.cuda.max_memory_allocated`` (torch backend); on the CPU the peak
RSS increase of a fresh child process that builds the session and runs it (``/proc/self/status``
VmHWM after resetting it through ``/proc/self/clear_refs``), so one configuration's memory never
counts towards another's.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from iqa_bench._cpu import cpu_flags
from iqa_bench.deploy.calibration import CalibConfig
from iqa_bench.deploy.qat import QatConfig
from iqa_bench.errors import InputError, is_storage_error, one_line_cause
from iqa_bench.models import MODELS
from iqa_bench.runners import RUNNERS
from iqa_bench.runners.network import NetworkUpscaler


@dataclass(frozen=True)
class BenchConfig:
    """One configuration to measure."""

    model: str
    variant: str
    backend: str
    scale: int
    size: int  # LR side in pixels
    device: str = "cpu"


def _lr_image(size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.stack([0.5 + 0.4 * np.sin(9 * x + c) * np.cos(7 * y - c) for c in range(3)], -1)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def backend_calib(backend: str, calib: CalibConfig | None) -> CalibConfig | None:
    """The int8 options one backend is measured with: ``--int8-activations``, ``--int8-smooth-quant``
    and ``--int8-image-layers input`` are OpenVINO's (its int8 is built by NNCF),
    ``--int8-float-precision`` and ``--int8-float-layers`` those of the runners that declare them; a
    bench across backends measures the others with their own settings (the QDQ file: symmetric, float
    layers in f32, no sweep; torchao: asymmetric)."""
    if calib is None or backend == "openvino":
        return calib
    meta = RUNNERS.get(backend).meta
    own = calib.float_precision in meta.int8_float_precisions
    return dataclasses.replace(calib, activations=None, smooth_quant=None, float_input_only=False,
                               float_precision=calib.float_precision if own else "f32",
                               sensitive_float=calib.sensitive_float if meta.int8_layer_sweep else 0)


def make_upscaler(cfg: BenchConfig, calib: CalibConfig | None, qat: QatConfig | None = None) -> NetworkUpscaler:
    info = MODELS.get(cfg.model).meta
    up = RUNNERS.get(cfg.backend).factory(info, cfg.variant, device=cfg.device, calib=backend_calib(cfg.backend, calib),
                                          qat=qat, tile=None)
    if not isinstance(up, NetworkUpscaler):
        raise InputError(f"{cfg.model} on {cfg.backend} is not a network", "bench learned models only")
    return up


def _sizes(up: NetworkUpscaler, scale: int) -> dict[str, Any]:
    """File size of what the backend executes (weights file, ONNX artefact or engine) and build time."""
    prov = up.provenance().get(f"x{scale}", {})
    build = float(prov.get("build_seconds", 0.0))
    if "bytes" in prov:
        return {"file_bytes": int(prov["bytes"]), "build_s": build}
    if build:  # built in the process (torchao's compiled graph), no file: no size to report
        return {"file_bytes": float("nan"), "build_s": build}
    path = up.weights_path(scale)
    return {"file_bytes": os.path.getsize(path) if path else 0, "build_s": 0.0}


def _prepare(up: NetworkUpscaler, cfg: BenchConfig) -> np.ndarray:
    up.prepare(cfg.scale)  # builds the network/session/engine (and its artefact) outside the timing
    x = up.padded_input(_lr_image(cfg.size), cfg.scale)
    up._infer(x, cfg.scale)
    return x


def _time_once(up: NetworkUpscaler, x: np.ndarray, scale: int, cuda: bool) -> float:
    if cuda:
        import torch

        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        up._infer(x, scale)
        b.record()
        torch.cuda.synchronize()
        return float(a.elapsed_time(b))
    t0 = time.perf_counter()
    up._infer(x, scale)
    return (time.perf_counter() - t0) * 1e3


def time_configs(configs: list[BenchConfig], calib: CalibConfig | None, *, reps: int = 10, rounds: int = 3,
                 warmup: int = 2, qat: QatConfig | None = None) -> list[dict[str, Any]]:
    """Latency of each configuration, interleaved in ``rounds`` of ``reps`` calls each.

    A configuration that cannot be made or built (a library refusing the model, a failed build) is
    its own row's failure: timings NaN and ``error`` its one-line cause; the others are measured.
    """
    ups: list[NetworkUpscaler | None] = []
    xs: list[np.ndarray | None] = []
    errors: list[str] = []
    for c in configs:
        try:
            up = make_upscaler(c, calib, qat)
            xs.append(_prepare(up, c))
            ups.append(up)
            errors.append("")
        except Exception as exc:  # noqa: BLE001 - one configuration's failure is its row's, the rest go on
            if is_storage_error(exc):
                raise
            ups.append(None)
            xs.append(None)
            errors.append(one_line_cause(exc))
    cuda = [c.device == "cuda" for c in configs]
    for u, x, c, g in zip(ups, xs, configs, cuda):
        for _ in range(warmup if u is not None else 0):
            _time_once(u, x, c.scale, g)
    times: list[list[float]] = [[] for _ in configs]
    for _ in range(rounds):
        for i, (u, x, c, g) in enumerate(zip(ups, xs, configs, cuda)):
            if u is not None:
                times[i].extend(_time_once(u, x, c.scale, g) for _ in range(reps))
    rows = []
    for c, u, t, e in zip(configs, ups, times, errors):
        if u is None:
            nan = float("nan")
            rows.append({**asdict(c), "kind": "bench", "median_ms": nan, "p90_ms": nan, "mpix_per_s": nan, "calls": 0,
                         "file_bytes": nan, "build_s": nan, "cpu_flags": " ".join(cpu_flags()), "error": e})
            continue
        t = sorted(t)
        out_pixels = (c.size * c.scale) ** 2
        med = statistics.median(t)
        rows.append({**asdict(c), "kind": "bench", "median_ms": med, "p90_ms": t[int(0.9 * (len(t) - 1))],
                     "mpix_per_s": out_pixels / med / 1e3, "calls": len(t), **_sizes(u, c.scale),
                     "cpu_flags": " ".join(cpu_flags())})
    return rows


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def _child_memory(cfg: BenchConfig, calib: CalibConfig | None, reps: int, qat: QatConfig | None = None) -> float:
    up = make_upscaler(cfg, calib, qat)
    x = up.padded_input(_lr_image(cfg.size), cfg.scale)
    base = _rss_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    for _ in range(reps):
        up._infer(x, cfg.scale)
    return (_rss_kib("VmHWM") - base) / 1024


def peak_memory_mib(cfg: BenchConfig, calib: CalibConfig | None, reps: int = 3, qat: QatConfig | None = None) -> float:
    """Peak memory of building and running one configuration, in MiB (see the module docstring)."""
    if cfg.device == "cuda" and cfg.backend != "torch":
        return float("nan")  # ORT/TensorRT allocate outside torch's allocator: not measured
    if cfg.device == "cuda":
        import torch

        up = make_upscaler(cfg, calib, qat)
        x = up.padded_input(_lr_image(cfg.size), cfg.scale)
        up._infer(x, cfg.scale)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        for _ in range(reps):
            up._infer(x, cfg.scale)
        return torch.cuda.max_memory_allocated() / 2**20
    if not Path("/proc/self/clear_refs").exists():
        return float("nan")
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return float(pool.apply(_child_memory, (cfg, calib, reps, qat)))


def bench(configs: list[BenchConfig], calib: CalibConfig | None, *, reps: int = 10, rounds: int = 3,
          memory: bool = True) -> list[dict[str, Any]]:
    """Time every configuration (interleaved) and, with ``memory``, measure each one's peak memory."""
    rows = time_configs(configs, calib, reps=reps, rounds=rounds)
    for row, cfg in zip(rows, configs):
        row["peak_mib"] = peak_memory_mib(cfg, calib) if memory and "error" not in row else float("nan")
        row["memory"] = ("cuda max_memory_allocated" if cfg.device == "cuda" else "peak RSS increase") if memory else ""
    return rows
