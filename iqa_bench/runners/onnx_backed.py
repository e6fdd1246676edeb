"""Base of the runners that execute the ONNX artefacts (``onnxruntime``, ``tensorrt``)."""

from __future__ import annotations

from typing import Any

from iqa_bench.deploy.artefacts import Artefact, ArtefactCache
from iqa_bench.deploy.calibration import CalibConfig, resolve_calibration
from iqa_bench.errors import InputError
from iqa_bench.models import ModelInfo
from iqa_bench.runners.network import NetworkUpscaler


ARTEFACT_FIELDS = ("file", "key", "bytes", "build_seconds", "opset", "tools", "calibration", "float_layers",
                   "activations", "activations_fallback", "sensitivity", "calib_snr_db", "sweep", "ranked_by",
                   "macs_per_patch", "batch_norms_folded", "smooth_quant", "bias_correction", "graph_rewrites",
                   "qat", "weights", "sha256")


class OnnxBackedUpscaler(NetworkUpscaler):
    """A network upscaler whose network is an ONNX artefact: one per scale, found in (or built into)
    the artefact cache on first use and kept, so per-image calls never re-hash weights or
    calibration images. ``calib`` defaults to ``$IQA_BENCH_CALIB``, else the built-in calibration
    set (:func:`~iqa_bench.deploy.calibration.builtin_calibration`, never the evaluation images)."""

    qdq_int8 = True  # its int8 is the symmetric QDQ ONNX file (ONNX Runtime, TensorRT); OpenVINO builds its own

    def __init__(self, info: ModelInfo, variant: str, *, calib: CalibConfig | None = None,
                 cache: ArtefactCache | None = None, **kwargs: Any) -> None:
        super().__init__(info, variant, **kwargs)
        self.calib = calib if calib is not None else resolve_calibration()
        if self.qdq_int8 and variant.startswith("int8"):
            from iqa_bench.deploy.quantize import check_qdq_options

            check_qdq_options(self.calib)  # here, not at build time: a cached file would skip the build
        self.cache = cache or ArtefactCache()
        self._artefacts: dict[int, Artefact] = {}

    def artefact(self, scale: int) -> Artefact:
        """The ONNX file this runner executes at ``scale`` (exported/quantized on first use, then cached)."""
        if scale not in self._artefacts:
            weights = self.weights_path(scale)
            if weights is None:
                raise InputError(f"{self.info.arch} has no network to export", "use the interp runner")
            self._artefacts[scale] = self.cache.get(self.info, scale, self.variant, weights, self.calib,
                                                    self.network_input)
        return self._artefacts[scale]

    def build_identity(self) -> dict:
        """An int8 variant's calibration set (content hash, method, patches) and INT8 recipe."""
        from iqa_bench.deploy.artefacts import INT8_RECIPE

        if not self.variant.startswith("int8"):
            return {}
        return {"calibration": self.calib.identity(INT8_RECIPE)}

    def artefact_record(self, scale: int) -> dict:
        """What the manifest records of the artefact built for ``scale``: its file, key, size, build
        time, tools, calibration, float layers, sha256 and path."""
        a = self._artefacts[scale]
        return {k: a.record[k] for k in ARTEFACT_FIELDS if k in a.record} | {"path": str(a.path)}

    def _shrink(self, scale: int) -> int:
        return int(self.artefact(scale).record.get("shrink", 0))
