"""The ``onnxruntime`` runner: zoo networks exported to ONNX, in fp32, fp16 or int8 (QDQ).

Artefacts come from :class:`iqa_bench.deploy.artefacts.ArtefactCache` (built on first use, then
found by content hash). CPU by default; ``device="cuda"`` uses the CUDA execution provider when
the installed onnxruntime has it. Input preparation, tiling and colour: :mod:`.network`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from iqa_bench._cpu import cpu_flags, has_int8_dot_product, numeric_kernels
from iqa_bench._parallel import cpu_count
from iqa_bench.deploy.artefacts import ArtefactCache
from iqa_bench.deploy.calibration import CalibConfig
from iqa_bench.deploy.export import INPUT
from iqa_bench.errors import InputError
from iqa_bench.models import ModelInfo
from iqa_bench.runners.base import RunnerInfo, Upscaler
from iqa_bench.runners.onnx_backed import OnnxBackedUpscaler
from iqa_bench.weights import WeightsStore

INFO = RunnerInfo(
    description="ONNX Runtime on an ONNX export (opset 20, dynamic H/W): fp32, fp16 (cast in the graph), "
    "int8 (static QDQ, symmetric, per-channel weights, calibrated)",
    variants=("fp32", "fp16", "int8"),
    devices=("cpu", "cuda"),
    replaces=("torch",),
)


def session_options(threads: int | None = None, *, exact_qdq: bool = False) -> Any:
    """ONNX Runtime session options used for every session of this runner.

    ``session.x64quantprecision = 1`` on x86 CPUs without a VNNI/AMX int8 dot product only: there,
    ORT's int8 convolution kernels overflow their u8*s8 pair sums and the int8 output is wrong
    (measured on an AVX2 machine: 24-39 dB against the exact QDQ result instead of 48-54). With
    VNNI/AMX the default kernels are exact, and the option would only slow them down (0.85-0.92x
    of PyTorch FP32 speed) and make session creation fail on EDSR-like graphs ("Attempt to replace
    the existing tensor"). ``allow_spinning = 0``: idle ORT threads would otherwise spin and slow
    whatever runs next. ``exact_qdq`` disables graph optimizations, so Quantize/DequantizeLinear
    run as written in float (the exact value of the QDQ model; slow).
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads or cpu_count()
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if needs_x64_quant_precision():
        so.add_session_config_entry("session.x64quantprecision", "1")
    if exact_qdq:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    return so


def needs_x64_quant_precision() -> bool:
    """True on x86-64 CPUs whose int8 kernels lack a VNNI/AMX dot product (see :func:`session_options`)."""
    import platform

    return platform.machine().lower() in ("x86_64", "amd64") and not has_int8_dot_product()


class OnnxUpscaler(OnnxBackedUpscaler):
    """One zoo model x variant through ONNX Runtime; one session per scale, created on first use."""

    def __init__(self, info: ModelInfo, variant: str = "fp32", *, device: str = "cpu", store: WeightsStore | None = None,
                 weights: dict[int, str] | None = None, tile: int | None = 256, overlap: int = 32,
                 calib: CalibConfig | None = None, cache: ArtefactCache | None = None, threads: int | None = None,
                 exact_qdq: bool = False, **_ignored: object) -> None:
        if variant not in INFO.variants:
            raise InputError(f"the onnxruntime runner has variants {INFO.variants}, not {variant!r}", "pick one of them")
        super().__init__(info, variant, calib=calib, cache=cache, store=store, weights=weights, tile=tile,
                         overlap=overlap)
        import onnxruntime as ort

        if device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise InputError("the installed onnxruntime has no CUDA execution provider",
                                 "pip install onnxruntime-gpu (instead of onnxruntime), or use --device cpu")
            self.providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        elif device == "cpu":
            self.providers = ["CPUExecutionProvider"]
        else:
            raise InputError(f"unknown device {device!r}", "use cpu or cuda")
        self.device = device
        self.threads, self.exact_qdq = threads, exact_qdq
        self._sessions: dict[int, Any] = {}

    def build_identity(self) -> dict:
        ident = super().build_identity()
        if self.variant.startswith("int8") and self.device == "cpu" and not self.exact_qdq:
            ident["kernels"] = numeric_kernels(int8=True)
        return ident

    def provenance(self) -> dict:
        session = {"cpu_flags": list(cpu_flags()), "x64quantprecision": needs_x64_quant_precision()}
        return {f"x{s}": self.artefact_record(s) | session for s in self._artefacts}

    def session(self, scale: int) -> Any:
        if scale not in self._sessions:
            import onnxruntime as ort

            path = self.artefact(scale).path
            self._sessions[scale] = ort.InferenceSession(
                str(path), session_options(self.threads, exact_qdq=self.exact_qdq), providers=self.providers)
        return self._sessions[scale]

    def _infer(self, x: np.ndarray, scale: int) -> np.ndarray:
        return self.session(scale).run(None, {INPUT: x})[0]


def create(model: ModelInfo, variant: str, **kwargs: Any) -> Upscaler:
    """Factory registered as the ``onnxruntime`` runner."""
    return OnnxUpscaler(model, variant, **kwargs)
