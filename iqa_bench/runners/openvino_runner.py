"""The ``openvino`` runner: zoo networks through OpenVINO on the CPU, in fp32, bf16 or int8.

* ``fp32`` compiles the FP32 ONNX export with ``INFERENCE_PRECISION_HINT = f32``. Without that hint
  OpenVINO silently computes in bf16 on CPUs with AMX/AVX-512-BF16, so an "fp32" baseline would not
  be fp32.
* ``bf16`` compiles the same export with the ``bf16`` hint (AMX / AVX-512-BF16 kernels). On a CPU
  without bf16 support OpenVINO runs it in f32; the precision actually used is recorded.
* ``int8`` compiles an IR quantized by NNCF from the FP32 export
  (:func:`iqa_bench.deploy.quantize.to_openvino_int8`), cached by content like the ONNX artefacts;
  its float layers run with the f32 hint.
* ``int8-qat`` compiles an int8 IR made by quantization-aware training: the same recipe, then
  fine-tuned with fake quantization to reproduce the FP32 outputs on calibration-image patches
  (:mod:`iqa_bench.deploy.qat`; ``qat`` options, part of the cache key).

Every variant but ``int8-qat`` compiles the ONNX export rewritten exactly where OpenVINO's kernels are
slow (:mod:`iqa_bench.deploy.graph`: narrow transposed convolutions as sub-pixel ones, narrow
convolutions after a pixel shuffle moved before it); ``int8-qat`` swaps the narrow transposed
convolutions it kept in float for the same sub-pixel ones after fine-tuning. The manifest records
OpenVINO's and NNCF's versions, the CPU flags, the rewrites, the compiled precision and the runtime
precision of every convolution. Install with ``pip install 'iqa-bench[openvino]'``.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from iqa_bench._cpu import cpu_flags, numeric_kernels
from iqa_bench._parallel import cpu_count
from iqa_bench.deploy.artefacts import Artefact, ArtefactCache, calibration_record
from iqa_bench.deploy.calibration import CalibConfig, calibration_inputs
from iqa_bench.deploy.graph import record as graph_record, rewritten_for_openvino
from iqa_bench.deploy.qat import QatConfig
from iqa_bench.deploy.quantize import SMOOTH_QUANT_ALPHA, overflow_record
from iqa_bench.errors import InputError
from iqa_bench.models import ModelInfo
from iqa_bench.runners.base import RunnerInfo, Upscaler
from iqa_bench.runners.onnx_backed import OnnxBackedUpscaler
from iqa_bench.weights import WeightsStore

INFO = RunnerInfo(
    description="OpenVINO on the CPU from the ONNX export: fp32 (f32 precision hint), bf16 (AMX/AVX-512 BF16), "
    "int8 (NNCF post-training quantization, image-facing convs in float), int8-qat (the same, fine-tuned with "
    "fake quantization); `pip install 'iqa-bench[openvino]'`",
    variants=("fp32", "bf16", "int8", "int8-qat"),
    devices=("cpu",),
    replaces=("torch",),
    preferred_for=("int8",),
    int8_float_precisions=("f32", "bf16"),
    int8_layer_sweep=True,
    requires=("openvino", "nncf"),
)
HINTS = {"fp32": "f32", "bf16": "bf16"}  # int8 variants: their calibration's float_precision (f32 by default)
# The int8 (PTQ) recipe, part of the artefact key and of the result cells' identity: 4 = only what
# convolutions read is quantized at SmoothQuant strength 0 too (no addition; 3 quantized additions
# there, as NNCF's default scheme does; strengths > 0 build as in 3); 3 = the graph rewritten first
# (GRAPH); 2 = activations asymmetric unless --int8-activations says otherwise, falling back to
# symmetric where OpenVINO cannot run the asymmetric model (1: always symmetric).
PTQ_RECIPE = 4
# The exact graph rewrite every variant compiles (iqa_bench.deploy.graph; int8-qat's made on the
# fine-tuned PyTorch network), in the cells' identity (int8's: by PTQ_RECIPE).
GRAPH = "subpixel-1"
QAT_RECIPE = 5
# How --int8-float-layers ranks the layers it keeps in float (in the key of a swept artefact only): by
# output SNR gain per multiply-add (the gain alone, before).
SWEEP_RANKING = "gain-per-mac"
log = logging.getLogger(__name__)
EXTRA_HINT = "pip install 'iqa-bench[openvino]' (openvino and nncf wheels)"


def require_openvino() -> Any:
    """The ``openvino`` module, or one clear error saying how to install it."""
    try:
        import openvino
    except ImportError as exc:
        raise InputError(f"the openvino runner needs the openvino package ({exc.msg})", EXTRA_HINT) from None
    return openvino


def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("openvino", "nncf"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


class OpenVinoUpscaler(OnnxBackedUpscaler):
    """One zoo model x variant through OpenVINO; one compiled model per scale, made on first use."""

    qdq_int8 = False  # int8 is an NNCF-quantized IR, with every option of the calibration config

    def __init__(self, info: ModelInfo, variant: str = "fp32", *, device: str = "cpu", store: WeightsStore | None = None,
                 weights: dict[int, str] | None = None, tile: int | None = 256, overlap: int = 32,
                 calib: CalibConfig | None = None, cache: ArtefactCache | None = None, threads: int | None = None,
                 qat: QatConfig | None = None, **_ignored: object) -> None:
        if variant not in INFO.variants:
            raise InputError(f"the openvino runner has variants {INFO.variants}, not {variant!r}", "pick one of them")
        if device != "cpu":
            raise InputError(f"the openvino runner runs on the CPU, not {device!r}", "use --device cpu")
        require_openvino()
        if variant.startswith("int8"):
            try:
                import nncf  # noqa: F401
            except ImportError as exc:
                raise InputError(f"openvino int8 needs the nncf package ({exc.msg})", EXTRA_HINT) from None
        super().__init__(info, variant, calib=calib, cache=cache, store=store, weights=weights, tile=tile,
                         overlap=overlap)
        if variant == "int8" and self.calib.smooth_quant is None:  # the recipe's own strength, in its key
            self.calib = dataclasses.replace(self.calib, smooth_quant=SMOOTH_QUANT_ALPHA)
        if variant == "int8-qat" and self.calib.float_input_only:
            raise InputError("int8-qat keeps every image-facing convolution in float or none (--int8-image-layers "
                             "float or int8)", "pass --int8-image-layers float or int8 for int8-qat")
        self.threads = threads
        self.qat = qat or QatConfig()
        self._compiled: dict[int, Any] = {}
        self._runtime: dict[int, dict[str, Any]] = {}

    def _fp32(self, scale: int) -> Artefact:
        """The FP32 ONNX export (every variant starts from it)."""
        weights = self.weights_path(scale)
        if weights is None:
            raise InputError(f"{self.info.arch} has no network to export", "use the interp runner")
        return self.cache.get(self.info, scale, "fp32", weights, None, self.network_input)

    def artefact(self, scale: int) -> Artefact:
        """The file OpenVINO compiles at ``scale``: the FP32 ONNX, or for int8 the quantized IR."""
        if scale not in self._artefacts:
            build = {"int8": self._int8, "int8-qat": self._int8_qat}.get(self.variant, self._fp32)
            self._artefacts[scale] = build(scale)
        return self._artefacts[scale]

    def _int8(self, scale: int) -> Artefact:
        """The NNCF-quantized IR (.xml + .bin), found in or built into the artefact cache."""
        fp32 = self._fp32(scale)
        shrink = int(fp32.record["shrink"])
        calib = self.calib
        desc = {"from": fp32.key, "kind": "openvino-int8", "recipe": PTQ_RECIPE, "tools": _versions(),
                "calibration": calibration_record(calib), "shrink": shrink, **overflow_record(),
                **({"sweep_ranking": SWEEP_RANKING} if calib.sensitive_float else {})}

        def build(path: Any) -> dict[str, Any]:
            from iqa_bench.deploy.quantize import probe_inputs, probe_openvino_ir, to_openvino_int8
            from iqa_bench.errors import ComputeError

            inputs = calibration_inputs(calib, scale, self.network_input, shrink)
            what, probes = f"{self.info.arch} x{scale} int8", probe_inputs(inputs[0])
            if calib.activations:  # the user's choice, kept or failed as it is
                record = to_openvino_int8(fp32.path, path, inputs, calib)
                probe_openvino_ir(path, probes, what)
                return record
            # Default: asymmetric activations (measured better than or equal to symmetric on every zoo
            # network, README), symmetric where OpenVINO cannot run the asymmetric model.
            record = to_openvino_int8(fp32.path, path, inputs, dataclasses.replace(calib, activations="asymmetric"))
            try:
                probe_openvino_ir(path, probes, what)
                return record
            except ComputeError as exc:
                log.warning("%s; building it with symmetric activations instead", exc.message)
                fallback = f"asymmetric: {exc.message}"
            record = to_openvino_int8(fp32.path, path, inputs, dataclasses.replace(calib, activations="symmetric"))
            probe_openvino_ir(path, probes, what)
            return record | {"activations_fallback": fallback}

        return self.cache.find_or_build(f"{self.info.arch}-x{scale}-int8-openvino", desc, build, (".xml", ".bin"),
                                        variant="int8")

    def _int8_qat(self, scale: int) -> Artefact:
        """The QAT int8 IR (.xml + .bin), found in or built into the artefact cache."""
        fp32 = self._fp32(scale)
        shrink = int(fp32.record["shrink"])
        calib, qat = self.calib, self.qat
        # recipe 5: batch norms folded into their convolutions first (SmoothQuant then reaches SRGAN's
        # chains), only what convolutions read quantized (no addition, nothing before a pixel shuffle: as
        # OpenVINO int8); 4: fine-tuning starts from the best of SmoothQuant strengths x NNCF's bias correction
        # on/off on the calibration patches, and keeps its best checkpoint there;
        # 3: narrow transposed convolutions kept in float swapped for sub-pixel ones after
        # fine-tuning (GRAPH); 2: batch norms frozen (eval mode) during fine-tuning
        desc = {"from": fp32.key, "kind": "openvino-int8-qat", "recipe": QAT_RECIPE,
                "tools": _versions() | _torch_version(),
                "calibration": calibration_record(calib), "qat": qat.record(), "shrink": shrink, **overflow_record()}

        def build(path: Any) -> dict[str, Any]:
            from iqa_bench.deploy.qat import to_openvino_int8_qat
            from iqa_bench.deploy.quantize import probe_inputs, probe_openvino_ir
            from iqa_bench.models.archs import build_network

            net = build_network(self.info, scale, self.weights_path(scale))
            patches = calibration_inputs(calib, scale, self.network_input, shrink)
            train = calibration_inputs(dataclasses.replace(calib, patches=qat.patches, seed=calib.seed + qat.seed),
                                       scale, self.network_input, shrink)
            record = to_openvino_int8_qat(net, path, patches, train, calib, qat)
            probe_openvino_ir(path, probe_inputs(patches[0]), f"{self.info.arch} x{scale} int8-qat")
            return record

        return self.cache.find_or_build(f"{self.info.arch}-x{scale}-int8qat-openvino", desc, build, (".xml", ".bin"),
                                        variant="int8-qat")

    def build_identity(self) -> dict:
        int8, bf16 = self.variant.startswith("int8"), self._hint() == "bf16"
        kernels = {"kernels": numeric_kernels(int8=int8, bf16=bf16)} if int8 or bf16 else {}
        if self.variant == "int8":
            sweep = f"-{SWEEP_RANKING}" if self.calib.sensitive_float else ""
            return {"calibration": self.calib.identity(f"openvino-ptq-{PTQ_RECIPE}{sweep}")} | kernels
        if self.variant == "int8-qat":
            qat = self.qat.record() | {"recipe": QAT_RECIPE}
            return super().build_identity() | {"qat": qat, "graph": GRAPH} | kernels
        return {"graph": GRAPH} | kernels

    def compiled(self, scale: int) -> Any:
        """The compiled model for ``scale`` (built, quantized and compiled on first use)."""
        if scale not in self._compiled:
            ov = require_openvino()
            core = ov.Core()
            with tempfile.TemporaryDirectory(prefix="iqa-bench-ov-") as tmp:
                path, rewritten = self.artefact(scale).path, []
                if self.variant in HINTS:  # the FP32 ONNX, rewritten as int8's was before quantization
                    path, rewritten = rewritten_for_openvino(path, Path(tmp) / "graph.onnx")
                cm = core.compile_model(core.read_model(str(path)), "CPU", {
                    "INFERENCE_PRECISION_HINT": self._hint(),
                    "INFERENCE_NUM_THREADS": int(self.threads or cpu_count()),
                    "PERFORMANCE_HINT": "LATENCY",
                })
            self._compiled[scale] = cm
            precision = cm.get_property("INFERENCE_PRECISION_HINT")
            self._runtime[scale] = {"inference_precision": getattr(precision, "to_string", precision.__str__)(),
                                    "conv_runtime_precision": _conv_precisions(cm),
                                    **graph_record(rewritten)}
        return self._compiled[scale]

    def _hint(self) -> str:
        """The precision OpenVINO computes float layers in: the variant's, for int8 the calibration's
        ``float_precision`` (the layers kept in float)."""
        return self.calib.float_precision if self.variant.startswith("int8") else HINTS[self.variant]

    def prepare(self, scale: int) -> None:
        self.compiled(scale)

    def provenance(self) -> dict:
        runtime = {"openvino": _versions(), "cpu_flags": list(cpu_flags())}
        return {f"x{s}": self.artefact_record(s) | runtime | self._runtime.get(s, {}) for s in self._artefacts}

    def _infer(self, x: np.ndarray, scale: int) -> np.ndarray:
        return self.compiled(scale)(x)[0]


def _torch_version() -> dict[str, str]:
    return {"torch": metadata.version("torch")}


def _conv_precisions(compiled: Any) -> dict[str, int]:
    """How many convolutions of the compiled model run in each precision (e.g. ``{"i8": 18, "f32": 2}``)."""
    counts: Counter[str] = Counter()
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if "layerType" not in info:
            continue
        if info["layerType"].astype(str) in ("Convolution", "Deconvolution"):
            counts[info["runtimePrecision"].astype(str) if "runtimePrecision" in info else "?"] += 1
    return dict(sorted(counts.items()))


def create(model: ModelInfo, variant: str, **kwargs: Any) -> Upscaler:
    """Factory registered as the ``openvino`` runner."""
    return OpenVinoUpscaler(model, variant, **kwargs)
