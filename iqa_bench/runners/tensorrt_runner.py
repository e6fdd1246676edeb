"""The ``tensorrt`` runner: TensorRT engines built from the same ONNX artefacts as ``onnxruntime``.

Precision comes from the ONNX file, not from builder flags (TensorRT 11 networks are strongly
typed; its FP16/INT8 builder flags and implicit INT8 calibration are gone): ``fp32`` = the FP32
export with TF32 off unless asked for, ``fp16`` = the FP16 ONNX, ``int8`` = the QDQ ONNX
(explicit quantization). Engines are cached by the ONNX file's sha256, the TensorRT version, the
GPU name and compute capability, and the build options.

Requires an NVIDIA GPU and the ``tensorrt`` package (``pip install 'iqa-bench[tensorrt]'``). The
GPU is checked first: TensorRT objects are never created on a machine without one (its runtime
crashes the process there).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from iqa_bench.deploy.artefacts import ArtefactCache, default_artefact_dir
from iqa_bench.deploy.calibration import CalibConfig
from iqa_bench.deploy.export import INPUT, OUTPUT
from iqa_bench.errors import ComputeError, InputError
from iqa_bench.models import ModelInfo
from iqa_bench.runners.base import RunnerInfo, Upscaler
from iqa_bench.runners.onnx_backed import OnnxBackedUpscaler
from iqa_bench.weights import WeightsStore, sha256_of

INFO = RunnerInfo(
    description="TensorRT engine from the ONNX artefacts: fp32 (TF32 off), fp16 (FP16 ONNX), int8 (explicit QDQ); "
    "strongly typed; needs an NVIDIA GPU and `pip install 'iqa-bench[tensorrt]'`",
    variants=("fp32", "fp16", "int8"),
    devices=("cuda",),
    replaces=("torch",),
)


@dataclass(frozen=True)
class BuildOptions:
    """Engine build options (all part of the engine cache key).

    ``min_side``/``opt_side``/``max_side``: the optimization profile's input height/width range in
    network-input pixels; ``workspace_mib``: the builder's workspace pool; ``tf32``: allow TF32
    inner products in the fp32 engine (off: fp32 means fp32).
    """

    min_side: int
    opt_side: int
    max_side: int
    workspace_mib: int = 4096
    tf32: bool = False


def build_options(channels: int, tile: int | None, overlap: int, shrink: int, in_scale: int, *,
                  max_image_side: int = 1024, tf32: bool = False, workspace_mib: int = 4096) -> BuildOptions:
    """The profile for tiles of ``tile`` LR pixels with ``overlap`` (or whole images up to
    ``max_image_side`` LR pixels when not tiling); ``in_scale``: how much larger the network input
    is than the LR image (the scale for pre-upsampled networks, else 1)."""
    largest = (tile + 2 * overlap) if tile else max_image_side
    return BuildOptions(min_side=(8 * in_scale) + 2 * shrink, opt_side=min(largest, 256) * in_scale + 2 * shrink,
                        max_side=largest * in_scale + 2 * shrink, workspace_mib=workspace_mib, tf32=tf32)


def engine_key(onnx_sha256: str, trt_version: str, gpu: str, compute_capability: str, options: BuildOptions) -> str:
    """sha256 naming an engine: the same ONNX, TensorRT, GPU and options give the same engine."""
    payload = {"onnx": onnx_sha256, "tensorrt": trt_version, "gpu": gpu, "cc": compute_capability,
               "options": options.__dict__}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def require_tensorrt() -> Any:
    """The ``tensorrt`` module, after checking for a GPU; clear errors when either is missing."""
    import torch

    if not torch.cuda.is_available():
        raise InputError("the tensorrt runner needs an NVIDIA GPU, and torch sees none on this machine",
                         "run on a GPU machine, or use --backend onnxruntime (CPU)")
    try:
        import tensorrt
    except ImportError:
        raise InputError("TensorRT is not installed (no module named 'tensorrt')",
                         "pip install 'iqa-bench[tensorrt]' on a machine with an NVIDIA driver, "
                         "or use --backend onnxruntime") from None
    return tensorrt


class TensorRTUpscaler(OnnxBackedUpscaler):
    """One zoo model x variant as a TensorRT engine; engines built per scale on first use and cached."""

    def __init__(self, info: ModelInfo, variant: str = "fp32", *, device: str = "cuda", store: WeightsStore | None = None,
                 weights: dict[int, str] | None = None, tile: int | None = 256, overlap: int = 32,
                 calib: CalibConfig | None = None, cache: ArtefactCache | None = None, engine_dir: Path | None = None,
                 tf32: bool = False, **_ignored: Any) -> None:
        if variant not in INFO.variants:
            raise InputError(f"the tensorrt runner has variants {INFO.variants}, not {variant!r}", "pick one of them")
        if device != "cuda":
            raise InputError("the tensorrt runner runs on the GPU only", "pass --device cuda, or use --backend onnxruntime")
        super().__init__(info, variant, calib=calib, cache=cache, store=store, weights=weights, tile=tile,
                         overlap=overlap)
        self.trt = require_tensorrt()
        self.engine_dir = Path(engine_dir) if engine_dir else default_artefact_dir() / "engines"
        self.tf32 = tf32
        self._engines: dict[int, tuple[Any, Any, dict[str, Any]]] = {}
        self._logger = self.trt.Logger(self.trt.Logger.WARNING)

    def engine_path(self, scale: int) -> tuple[Path, BuildOptions, dict[str, Any]]:
        import torch

        art = self.artefact(scale)
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        channels = 1 if self.info.input == "y" else 3
        in_scale = scale if self.info.upsample == "bicubic" else 1
        opts = build_options(channels, self.tile, self.overlap, int(art.record.get("shrink", 0)), in_scale, tf32=self.tf32)
        meta = {"onnx": str(art.path), "onnx_sha256": sha256_of(art.path), "tensorrt": self.trt.__version__,
                "gpu": props.name, "cc": f"{props.major}.{props.minor}", "channels": channels}
        key = engine_key(meta["onnx_sha256"], meta["tensorrt"], meta["gpu"], meta["cc"], opts)
        return self.engine_dir / f"{self.info.arch}-x{scale}-{self.variant}-{key[:16]}.engine", opts, meta

    def _build(self, onnx_path: Path, channels: int, opts: BuildOptions) -> bytes:
        trt = self.trt
        builder = trt.Builder(self._logger)
        flags = 0
        if hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):  # TensorRT 10; ignored (always on) in 11
            flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, self._logger)
        if not parser.parse_from_file(str(onnx_path)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise ComputeError(f"TensorRT could not parse {onnx_path.name}: {errors}")
        config = builder.create_builder_config()
        if not opts.tf32:
            config.clear_flag(trt.BuilderFlag.TF32)
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, opts.workspace_mib << 20)
        profile = builder.create_optimization_profile()
        profile.set_shape(INPUT, (1, channels, opts.min_side, opts.min_side), (1, channels, opts.opt_side, opts.opt_side),
                          (1, channels, opts.max_side, opts.max_side))
        config.add_optimization_profile(profile)
        blob = builder.build_serialized_network(network, config)
        if blob is None:
            raise ComputeError(f"TensorRT failed to build an engine from {onnx_path.name} (see its log above)")
        return bytes(blob)

    def engine(self, scale: int) -> tuple[Any, Any, dict[str, Any]]:
        """(engine, execution context, record) for ``scale``; built and cached on first use."""
        if scale not in self._engines:
            path, opts, meta = self.engine_path(scale)
            sidecar = path.with_suffix(".json")
            if not (path.is_file() and sidecar.is_file()):
                t0 = time.perf_counter()
                blob = self._build(Path(meta["onnx"]), meta["channels"], opts)
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                tmp.write_bytes(blob)
                os.replace(tmp, path)
                sidecar.write_text(json.dumps({**meta, "options": opts.__dict__, "bytes": len(blob),
                                               "build_seconds": round(time.perf_counter() - t0, 3)}, indent=2))
            record = json.loads(sidecar.read_text())
            runtime = self.trt.Runtime(self._logger)
            eng = runtime.deserialize_cuda_engine(path.read_bytes())
            if eng is None:
                raise ComputeError(f"TensorRT could not load the cached engine {path}", "delete it to rebuild")
            self._engines[scale] = (eng, eng.create_execution_context(), record)
        return self._engines[scale]

    def provenance(self) -> dict:
        return {f"x{s}": rec for s, (_, _, rec) in self._engines.items()}

    def _infer(self, x: np.ndarray, scale: int) -> np.ndarray:
        import torch

        _, context, _ = self.engine(scale)
        inp = torch.from_numpy(x).to("cuda")
        context.set_input_shape(INPUT, tuple(inp.shape))
        out = torch.empty(tuple(context.get_tensor_shape(OUTPUT)), device="cuda", dtype=torch.float32)
        context.set_tensor_address(INPUT, inp.data_ptr())
        context.set_tensor_address(OUTPUT, out.data_ptr())
        stream = torch.cuda.current_stream()
        if not context.execute_async_v3(stream.cuda_stream):
            raise ComputeError(f"TensorRT execution failed for {self.info.arch} x{scale} {self.variant}")
        stream.synchronize()
        return out.cpu().numpy()


def create(model: ModelInfo, variant: str, **kwargs: Any) -> Upscaler:
    """Factory registered as the ``tensorrt`` runner."""
    return TensorRTUpscaler(model, variant, **kwargs)
