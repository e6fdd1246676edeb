"""FP16 and INT8 (QDQ) ONNX files from an FP32 export, with ONNX Runtime's tools.

INT8 follows what TensorRT's explicit quantization accepts, so one file serves ONNX Runtime on the
CPU and TensorRT on the GPU: QDQ format, signed int8 activations and weights, symmetric (zero
point 0), per-channel weights, biases kept in float (TensorRT rejects int32-bias DequantizeLinear).
OpenVINO INT8 is an IR quantized from the same FP32 export by NNCF (:func:`to_openvino_int8`).
Both keep the image-facing convolutions in float (:func:`is_image_facing`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np

from iqa_bench.deploy.calibration import CalibConfig
from iqa_bench.deploy.export import INPUT
from iqa_bench.deploy.graph import Rewritten, record as graph_record, rewritten_for_openvino


def to_fp16(src: Path, dst: Path) -> None:
    """Cast weights and activations to float16 in the graph; input and output stay float32."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True, disable_shape_infer=False)
    onnx.save(model, str(dst))


def is_image_facing(channels_in: int, channels_out: int, reading_only: bool = False) -> bool:
    """A convolution that reads or writes image-domain values (<= 3 channels in or out: the head,
    the tail, EDSR's mean shifts). Kept in float by the INT8 recipes: its int8 steps would show
    directly in the output image. ``reading_only``: only one that reads them (<= 3 channels in)."""
    return channels_in <= 3 if reading_only else min(channels_in, channels_out) <= 3


def image_facing_onnx(path: Path) -> list[str]:
    """Names of the image-facing ``Conv``/``ConvTranspose`` nodes of an ONNX file (see :func:`is_image_facing`)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    dims = {i.name: list(i.dims) for i in graph.initializer}
    out = []
    for n in graph.node:
        if n.op_type not in ("Conv", "ConvTranspose") or len(dims.get(n.input[1], [])) < 2:
            continue
        group = next((a.i for a in n.attribute if a.name == "group"), 1)
        w = dims[n.input[1]]  # Conv: (out, in/group, k, k); ConvTranspose: (in, out/group, k, k)
        c_out, c_in = (w[0], w[1] * group) if n.op_type == "Conv" else (w[1] * group, w[0])
        if is_image_facing(c_in, c_out):
            out.append(n.name)
    return out


def check_qdq_options(calib: CalibConfig) -> None:
    """Refuse, in one line, int8 options the QDQ file (ONNX Runtime, TensorRT) cannot honour."""
    from iqa_bench.errors import InputError

    if calib.sensitive_float:
        raise InputError("the sensitivity sweep (--int8-float-layers) is made for OpenVINO int8, not the QDQ file",
                         "use --backend openvino, or leave --int8-float-layers at 0")
    if calib.float_precision != "f32":
        raise InputError(f"--int8-float-precision {calib.float_precision} is an OpenVINO and torchao setting, not the "
                         "QDQ file's", "use --backend openvino (or torchao), or leave --int8-float-precision at f32")
    if calib.float_input_only:
        raise InputError("--int8-image-layers input is an OpenVINO int8 setting, not the QDQ file's",
                         "use --backend openvino, or pass --int8-image-layers float or int8")
    if calib.smooth_quant:
        raise InputError("SmoothQuant (--int8-smooth-quant) is part of OpenVINO's int8 recipe, not the QDQ file's",
                         "use --backend openvino, or leave --int8-smooth-quant unset")
    if calib.activations == "asymmetric":
        raise InputError("the QDQ int8 file (ONNX Runtime, TensorRT) has symmetric activations only, not asymmetric",
                         "use --backend openvino (or torchao) for asymmetric activations, "
                         "or leave --int8-activations unset")


def to_int8(src: Path, dst: Path, inputs: list[np.ndarray], calib: CalibConfig) -> dict[str, Any]:
    """Static INT8 QDQ quantization calibrated on ``inputs`` (network inputs, one shape) by ``calib.method``;
    returns ``{"float_layers": [...]}``, the convolutions kept in float."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    check_qdq_options(calib)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(inputs)

        def get_next(self) -> dict[str, np.ndarray] | None:
            x = next(self._it, None)
            return None if x is None else {INPUT: x}

    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[calib.method]
    extra = {"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False}
    if calib.method == "percentile":
        extra["CalibPercentile"] = calib.percentile
    exclude = image_facing_onnx(src) if calib.float_ends else []
    logger = logging.getLogger()  # ORT logs a generic "consider pre-processing" warning on every call
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        quantize_static(
            str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8, per_channel=True, reduce_range=False, calibrate_method=method,
            calibration_providers=["CPUExecutionProvider"], extra_options=extra, nodes_to_exclude=exclude,
        )
    finally:
        logger.setLevel(level)
    return {"float_layers": exclude}


def to_openvino_int8(src: Path, dst: Path, inputs: list[np.ndarray], calib: CalibConfig) -> dict[str, Any]:
    """INT8 OpenVINO IR (``dst`` .xml + .bin) from the FP32 ONNX ``src`` by NNCF post-training quantization.

    Recipe (measured on this project's zoo, Set5 x2, against FP32): the PERFORMANCE preset
    (symmetric int8 weights and activations, per-channel weights), activation ranges from the
    calibration MIN/MAX (NNCF's default, the mean of per-sample extremes, clips bright regions: one
    image fell to 30 dB against FP32), NNCF's fast bias correction, and the image-facing
    convolutions in float (``calib.float_ends``). ``calib.method`` other than ``minmax`` maps to
    NNCF's ``MEAN_MINMAX`` (``entropy``) and ``MEAN_QUANTILE`` (``percentile``).

    ``calib.activations == "asymmetric"`` uses NNCF's MIXED preset instead (activations with a zero
    point, weights still symmetric): measured on SRGAN x2 (PReLU), Set5 / Set14 ΔPSNR-Y against FP32
    -1.18 / -0.70 dB symmetric, -0.62 / -0.37 asymmetric, at the same speed. OpenVINO 2026.4's CPU
    plugin crashed (SIGSEGV) running FSRCNN x2 and x4 built so: the openvino runner probes every IR
    (:func:`probe_openvino_ir`) and, by default, rebuilds a crashing asymmetric one symmetric.

    ``calib.smooth_quant = a > 0`` applies NNCF's SmoothQuant to the convolutions first (strength
    ``a``; see :class:`~iqa_bench.deploy.calibration.CalibConfig`); ``"auto"`` quantizes the network
    at each strength of :data:`SMOOTH_QUANT_GRID` and keeps the one whose output on the calibration
    patches is closest to FP32's (:func:`choose_smooth_quant`), before any sweep.

    With ``calib.sensitive_float = k > 0``, a per-layer sensitivity sweep (:func:`sweep_float_layers`,
    on the calibration patches, never the test set) keeps the ``k`` convolutions whose int8 costs the
    most in float as well (automatic mixed precision).

    The graph is first rewritten exactly (:func:`~iqa_bench.deploy.graph.rewrite`: SRGAN's last
    convolution moved before its pixel shuffle, FSRCNN's transposed convolution made a sub-pixel
    convolution, both several times faster on OpenVINO's kernels); a rewritten convolution is
    image-facing by its channels before the rewrite.

    Returns ``{"float_layers": [...]}`` (every convolution kept in float), with ``"auto"``
    ``smooth_quant`` (the strength chosen and each strength's output SNR) and, after a sweep,
    ``sensitivity`` (dB of output SNR against FP32 won by keeping each layer in float) and
    ``calib_snr_db`` (all-int8 and final), and ``graph_rewrites`` (what the rewrite changed) where it
    changed anything.
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="iqa-bench-ov-") as tmp:
        graph, rewritten = rewritten_for_openvino(src, Path(tmp) / "graph.onnx")
        record = _openvino_int8(graph, dst, inputs, calib, rewritten)
    return record | graph_record(rewritten)


def _openvino_int8(src: Path, dst: Path, inputs: list[np.ndarray], calib: CalibConfig,
                   rewritten: list[Rewritten]) -> dict[str, Any]:
    """:func:`to_openvino_int8` on the rewritten graph ``src``, whose ``rewritten`` convolutions count as
    image-facing by their channels before the rewrite."""
    import openvino as ov

    core = ov.Core()
    ops = core.read_model(str(src)).get_ordered_ops()
    facing = [m.name for m in rewritten if is_image_facing(m.channels_in, m.channels_out, calib.float_input_only)]

    def image_facing(op: Any) -> bool:
        # OpenVINO names a Conv node's convolution after it, "<node>/WithoutBiases" when it has a bias
        name = op.get_friendly_name()
        was = any(name == n or name.startswith(n + "/") for n in facing)
        return _ov_conv(op) and (was or _ov_image_facing(op, calib.float_input_only))

    keep = [i for i, op in enumerate(ops) if image_facing(op)] if calib.float_ends else []
    candidates = [i for i, op in enumerate(ops) if _ov_conv(op) and i not in keep]

    def run(model: Any) -> list[np.ndarray]:
        compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        return [np.asarray(compiled(x)[0], np.float64) for x in inputs]

    record: dict[str, Any] = {}
    # FP32's outputs on the calibration patches, for auto SmoothQuant and the sweep only
    reference = run(core.read_model(str(src))) if calib.smooth_quant == "auto" or calib.sensitive_float > 0 else []
    built: Any = None  # the network quantized with `keep` at the chosen strength, when auto built it
    if calib.smooth_quant == "auto":
        calib, built, record["smooth_quant"] = choose_smooth_quant(
            calib, lambda c: _nncf_int8(src, inputs, c, keep), lambda m: snr_db(run(m), reference))

    def quantize(kept: list[int]) -> Any:
        return built if kept == keep and built is not None else _nncf_int8(src, inputs, calib, kept)

    if calib.sensitive_float > 0:
        macs = ov_conv_macs(core.read_model(str(src)), inputs[0].shape)
        # Ranked by gain per multiply-add, as torchao's sweep: a layer kept in float is paid for in f32
        # time, and on SRGAN x4 the two most sensitive layers by gain alone were the upsampling
        # convolutions (4x and 16x a trunk convolution's work): 3.0 dB on the calibration patches, but
        # 1.67x PyTorch fp32 instead of 4.3x.
        quantized, chosen, swept = sweep_float_layers(
            candidates, keep, calib.sensitive_float, quantize, run, reference,
            lambda i: ops[i].get_friendly_name(), cost=macs.__getitem__)
        record |= swept
        record["ranked_by"] = "output SNR gain (dB) per multiply-add of the layer"
        record["macs_per_patch"] = {ops[i].get_friendly_name(): macs[i] for i in candidates}
        keep = keep + chosen
    else:
        quantized = quantize(keep)
    ov.save_model(quantized, str(dst), compress_to_fp16=False)
    return {"float_layers": [ops[i].get_friendly_name() for i in keep], "activations": calib.activations or "symmetric",
            **record}


_PROBE = """
import sys
import numpy as np
import openvino as ov
core = ov.Core()
compiled = core.compile_model(core.read_model(sys.argv[1]), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
for f in sys.argv[2:]:
    compiled(np.load(f))
"""


def probe_openvino_ir(xml: Path, inputs: list[np.ndarray], what: str, timeout: float = 600.0) -> None:
    """Run the OpenVINO IR ``xml`` once on each of ``inputs`` in a child process and raise
    :class:`~iqa_bench.errors.ComputeError` (naming ``what``) when the child dies.

    Why a child: OpenVINO's CPU plugin has crashed the whole process (SIGSEGV) on some int8 graphs
    (FSRCNN with asymmetric activations, OpenVINO 2026.4), which no ``try`` can catch; probing before
    the artefact is cached makes that one variant's failure, with the run going on.
    """
    import subprocess
    import sys
    import tempfile

    from iqa_bench.errors import ComputeError

    with tempfile.TemporaryDirectory(prefix="iqa-bench-probe-") as tmp:
        files = []
        for i, x in enumerate(inputs):
            files.append(str(Path(tmp) / f"x{i}.npy"))
            np.save(files[-1], x)
        try:
            done = subprocess.run([sys.executable, "-c", _PROBE, str(xml), *files], capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ComputeError(f"OpenVINO did not finish running the int8 model built for {what} in {timeout:.0f} s",
                               "retry, or use another variant or backend") from None
    if done.returncode != 0:
        why = (f"crashed (signal {-done.returncode})" if done.returncode < 0
               else f"failed: {(done.stderr.strip().splitlines() or ['exit ' + str(done.returncode)])[-1]}")
        raise ComputeError(f"OpenVINO {why} running the int8 model built for {what}; nothing was cached",
                           "use another variant or backend (e.g. --backend torch); built with --int8-activations "
                           "asymmetric, try symmetric")


def probe_inputs(patch: np.ndarray) -> list[np.ndarray]:
    """What :func:`probe_openvino_ir` runs: a calibration patch ``(1, C, h, w)`` and the same patch
    edge-padded to an odd, non-square size (another kernel path than the calibration shape)."""
    h, w = patch.shape[2:]
    big = np.pad(patch, ((0, 0), (0, 0), (0, 2 * h + 1 - h), (0, 3 * w + 1 - w)), mode="edge")
    return [patch, np.ascontiguousarray(big, dtype=np.float32)]


def _nncf_int8(src: Path, inputs: list[np.ndarray], calib: CalibConfig, keep: list[int]) -> Any:
    """The NNCF-quantized OpenVINO model of ``src`` with the ops at positions ``keep`` (in
    ``get_ordered_ops()`` order) left in float. Ops are named by position because OpenVINO
    generates some names afresh on every read (``ConvolutionBackpropData_123``)."""
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(src))
    ops = model.get_ordered_ops()
    names = [ops[i].get_friendly_name() for i in keep]
    nncf.set_log_level(logging.ERROR)
    # Only what convolutions read, at every SmoothQuant strength: strength 0 is then the same scheme
    # without smoothing, so `auto` compares like with like. Measured (output SNR against FP32, 64 T91
    # patches, x2, asymmetric): NNCF's default scheme at 0 / this scheme at 0 / at 0.65: SRGAN 33.8 /
    # 36.6 / 39.6 dB, EDSR-8 46.3 / 47.2 / 50.9, VDSR 49.4 / 53.1 / 54.1.
    recipe = nncf_recipe(calib, names, convolution_inputs_only=True)
    return nncf.quantize(model, nncf.Dataset(inputs), subset_size=len(inputs), **recipe)


def nncf_recipe(calib: CalibConfig, float_names: list[str], *, convolution_inputs_only: bool = False
                ) -> dict[str, Any]:
    """The keyword arguments of ``nncf.quantize`` of this project's INT8 recipe (see
    :func:`to_openvino_int8`), the same for an OpenVINO model (PTQ) and a torch one (QAT).

    With SmoothQuant NNCF quantizes in its transformer scheme, which leaves additions (and so a
    residual network's skip path) in float: only what the convolutions read is quantized; without it,
    each addition's inputs and output too. ``convolution_inputs_only`` asks for the former without
    SmoothQuant, and for a torch network also leaves a pixel shuffle's input alone (NNCF's torch
    backend quantizes SRGAN's upsampling output there, which only a float convolution reads). Both
    the OpenVINO PTQ and QAT recipes ask for it; without it, this is NNCF's default.
    """
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, AdvancedSmoothQuantParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    ranges = {"minmax": RangeEstimatorParametersSet.MINMAX, "entropy": RangeEstimatorParametersSet.MEAN_MINMAX,
              "percentile": RangeEstimatorParametersSet.MEAN_QUANTILE}[calib.method]
    preset = nncf.QuantizationPreset.MIXED if calib.activations == "asymmetric" else nncf.QuantizationPreset.PERFORMANCE
    overflow = nncf.OverflowFix.ENABLE if seven_bit_weights() else nncf.OverflowFix.FIRST_LAYER
    advanced = AdvancedQuantizationParameters(activations_range_estimator_params=ranges, overflow_fix=overflow)
    ignored = nncf.IgnoredScope(names=float_names) if float_names else None
    if convolution_inputs_only:  # no pixel shuffle in most networks: not an error
        ignored = nncf.IgnoredScope(names=float_names, types=["pixel_shuffle"], validate=False)
    recipe: dict[str, Any] = {"preset": preset, "ignored_scope": ignored, "advanced_parameters": advanced}
    if calib.smooth_quant == "auto":
        raise ValueError("SmoothQuant 'auto' is a choice made by choose_smooth_quant, not a strength NNCF takes")
    if calib.smooth_quant or convolution_inputs_only:
        # NNCF runs SmoothQuant in its transformer scheme only (ModelType.TRANSFORMER); the matmul
        # strength is moot, an SR network has convolutions only (-1: off)
        advanced.smooth_quant_alphas = AdvancedSmoothQuantParameters(convolution=float(calib.smooth_quant or -1),
                                                                     matmul=-1)
        recipe["model_type"] = nncf.ModelType.TRANSFORMER
    return recipe


def seven_bit_weights() -> bool:
    """True where the int8 recipes (NNCF's ``OverflowFix.ENABLE``, torchao's weight range -64..63)
    quantize every layer's weights to 7 bits: x86 CPUs without a VNNI/AMX int8 dot product.

    Their int8 kernels (OpenVINO's and oneDNN's, under torchao) sum u8*s8 pairs in int16, which
    saturates with 8-bit weights (255 * 128 * 2 > 32767). Measured on an AVX2-only CPU, FSRCNN x2 int8
    gave 18.9-31.5 dB PSNR against FP32 on the Set5 images, on OpenVINO (NNCF's default fix, on the
    first quantized layer only) and on torchao alike; with 7-bit weights in every layer, 39.0-41.4
    dB on OpenVINO. With a dot product the recipes keep 8-bit weights (NNCF's default: 7 bits in the
    first layer). The built model differs, so OpenVINO int8 artefacts are keyed by it.
    """
    from iqa_bench._cpu import has_int8_dot_product

    return not has_int8_dot_product()


def overflow_record() -> dict[str, str]:
    """What an NNCF-built artefact's cache key and record add for :func:`seven_bit_weights`: nothing on
    CPUs with an int8 dot product (their keys stay those built before this rule)."""
    return {"weights": "7-bit (int8 pair-sum CPU)"} if seven_bit_weights() else {}


# The strengths `--int8-smooth-quant auto` tries (0: off, the recipe without SmoothQuant).
SMOOTH_QUANT_GRID = (0.0, 0.5, 0.65, 0.8, 0.95)


def choose_smooth_quant(calib: CalibConfig, quantize: Callable[[CalibConfig], Any],
                        snr: Callable[[Any], float]) -> tuple[CalibConfig, Any, dict[str, Any]]:
    """The SmoothQuant strength of :data:`SMOOTH_QUANT_GRID` whose network, ``quantize(calib at that
    strength)``, has the highest output SNR against FP32 (``snr(network)``, dB, on the calibration
    patches; a tie goes to the weaker strength). Returns ``calib`` at that strength, its network and
    the record ``{"chosen": a, "snr_db": {a: dB}}``."""
    import dataclasses

    best: tuple[float, float, Any] = (-float("inf"), 0.0, None)
    scores: dict[str, float] = {}
    for a in SMOOTH_QUANT_GRID:
        model = quantize(dataclasses.replace(calib, smooth_quant=a))
        scores[f"{a:g}"] = round(snr(model), 3)
        if scores[f"{a:g}"] > best[0]:
            best = (scores[f"{a:g}"], a, model)
    return dataclasses.replace(calib, smooth_quant=best[1]), best[2], {"chosen": best[1], "snr_db": scores}


# OpenVINO int8's SmoothQuant strength when none is asked for (see CalibConfig.smooth_quant). Chosen on
# calibration patches (T91, never a test set): output SNR against fp32 of SRGAN x2 (asymmetric) 33.8 dB
# without, 38.0 / 39.6 / 36.9 / 35.2 dB at 0.5 / 0.65 / 0.8 / 0.95; FSRCNN x2 37.3 -> 41.0 dB at 0.65
# (best of 0.3-0.8); SRGAN x4, EDSR-8 x2 and VDSR x2 +4.4 to +5.0 dB at 0.65, above 0.5.
SMOOTH_QUANT_ALPHA = 0.65

SWEEP_MAX_LAYERS = 48  # a sweep quantizes the network once per candidate layer: bounded build time


def snr_db(outputs: list[np.ndarray], reference: list[np.ndarray]) -> float:
    """Output SNR (dB) of ``outputs`` against ``reference`` over all samples (inf when equal)."""
    power = sum(float((r.astype(np.float64) ** 2).sum()) for r in reference)
    err = sum(float(((o.astype(np.float64) - r) ** 2).sum()) for o, r in zip(outputs, reference))
    return float("inf") if err == 0 else 10.0 * float(np.log10(power / err))


def sweep_float_layers(candidates: list[Any], keep: list[Any], k: int, quantize: Callable[[list[Any]], Any],
                       run: Callable[[Any], list[np.ndarray]], reference: list[np.ndarray],
                       name: Callable[[Any], str],
                       cost: Callable[[Any], float] | None = None) -> tuple[Any, list[Any], dict[str, Any]]:
    """Per-layer sensitivity sweep: which ``k`` of the ``candidates`` to keep in float as well as ``keep``.

    ``quantize(kept)`` quantizes the network with the layers ``kept`` in float; ``run(model)`` gives
    its outputs on the calibration patches, compared with ``reference`` (FP32's). Each candidate is
    kept in float alone (with ``keep``); its sensitivity is the output SNR (dB) won over the
    all-int8 network. Returns the network quantized with ``keep`` + the chosen layers (the ``k``
    most sensitive with a positive gain; with ``cost``, e.g. a layer's multiply-adds, the ``k`` with
    the most gain per cost), the chosen layers, and the record: ``sensitivity``
    (name -> dB, every candidate) and ``calib_snr_db`` (``int8``: every candidate quantized;
    ``final``: the chosen ones in float). More than :data:`SWEEP_MAX_LAYERS` candidates are not swept
    (nothing chosen; ``sweep`` says why).
    """
    if len(candidates) > SWEEP_MAX_LAYERS:
        return quantize(keep), [], {"sweep": f"skipped: {len(candidates)} convolutions > {SWEEP_MAX_LAYERS}"}
    base_model = quantize(keep)
    base = snr_db(run(base_model), reference)
    gain: dict[Any, float] = {}

    def rank(c: Any) -> float:
        return gain[c] / (cost(c) if cost else 1.0)

    best: tuple[float, Any] = (0.0, None)  # the top-ranked layer's network, reused when k = 1
    for c in candidates:
        model = quantize(keep + [c])
        gain[c] = round(snr_db(run(model), reference) - base, 4)
        if gain[c] > 0 and (best[1] is None or rank(c) > best[0]):
            best = (rank(c), model)
    chosen = sorted((c for c in candidates if gain[c] > 0), key=lambda c: -rank(c))[:k]
    if not chosen:
        final_model, final = base_model, base
    elif len(chosen) == 1:  # the sweep built this one already
        final_model, final = best[1], base + gain[chosen[0]]
    else:
        final_model = quantize(keep + chosen)
        final = snr_db(run(final_model), reference)
    return final_model, chosen, {"sensitivity": {name(c): g for c, g in gain.items()},
                                 "calib_snr_db": {"int8": round(base, 3), "final": round(final, 3)}}


def ov_conv_macs(model: Any, input_shape: tuple[int, ...]) -> dict[int, float]:
    """Multiply-adds of each convolution of the OpenVINO ``model`` on one input of ``input_shape`` (the
    model is reshaped to it: pass a copy), by position in ``get_ordered_ops()`` (OpenVINO names some
    ops afresh on every read of a file, e.g. ``ConvolutionBackpropData_123``)."""
    model.reshape(list(input_shape))
    macs: dict[int, float] = {}
    for i, op in enumerate(model.get_ordered_ops()):
        if not _ov_conv(op):
            continue
        w = [int(d) for d in op.input_value(1).get_partial_shape().to_shape()]
        per_pixel = float(np.prod(w[2:] if op.get_type_name().startswith("Group") else w[1:]))
        if op.get_type_name().endswith("BackpropData"):  # every input pixel scatters a kernel
            pixels = float(np.prod([int(d) for d in op.input_value(0).get_partial_shape().to_shape()]))
        else:
            pixels = float(np.prod([int(d) for d in op.output(0).get_partial_shape().to_shape()]))
        macs[i] = pixels * per_pixel
    return macs


def _ov_conv(op: Any) -> bool:
    return op.get_type_name() in ("Convolution", "ConvolutionBackpropData", "GroupConvolution",
                                  "GroupConvolutionBackpropData")


def _ov_image_facing(op: Any, reading_only: bool = False) -> bool:
    """An OpenVINO convolution op with <= 3 channels in or out (weights: input 1, static shape);
    ``reading_only``: <= 3 channels in."""
    kind = op.get_type_name()
    if not _ov_conv(op):
        return False
    shape = op.input_value(1).get_partial_shape()
    if not shape.is_static:
        return False
    w = [int(d) for d in shape.to_shape()]
    if kind == "Convolution":                 # (out, in, k, k)
        c_out, c_in = w[0], w[1]
    elif kind == "ConvolutionBackpropData":   # (in, out, k, k)
        c_in, c_out = w[0], w[1]
    elif kind == "GroupConvolution":          # (groups, out/g, in/g, k, k)
        c_out, c_in = w[0] * w[1], w[0] * w[2]
    else:                                     # (groups, in/g, out/g, k, k)
        c_in, c_out = w[0] * w[1], w[0] * w[2]
    return is_image_facing(c_in, c_out, reading_only)
