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
from typing import Any

import numpy as np

from iqa_bench.deploy.calibration import CalibConfig
from iqa_bench.deploy.export import INPUT


def to_fp16(src: Path, dst: Path) -> None:
    """Cast weights and activations to float16 in the graph; input and output stay float32."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True, disable_shape_infer=False)
    onnx.save(model, str(dst))


def is_image_facing(channels_in: int, channels_out: int) -> bool:
    """A convolution that reads or writes image-domain values (<= 3 channels in or out: the head,
    the tail, EDSR's mean shifts). Kept in float by the INT8 recipes: its int8 steps would show
    directly in the output image."""
    return min(channels_in, channels_out) <= 3


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


def to_int8(src: Path, dst: Path, inputs: list[np.ndarray], calib: CalibConfig) -> dict[str, Any]:
    """Static INT8 QDQ quantization calibrated on ``inputs`` (network inputs, one shape) by ``calib.method``;
    returns ``{"float_layers": [...]}``, the convolutions kept in float."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    if calib.sensitive_float:
        from iqa_bench.errors import InputError

        raise InputError("the sensitivity sweep (--int8-float-layers) is made for OpenVINO int8, not the QDQ file",
                         "use --backend openvino, or leave --int8-float-layers at 0")

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

    With ``calib.sensitive_float = k > 0``, a per-layer sensitivity sweep (:func:`sensitivity_sweep`,
    on the calibration patches, never the test set) keeps the ``k`` convolutions whose int8 costs the
    most in float as well (automatic mixed precision).

    Returns ``{"float_layers": [...]}`` (every convolution kept in float) and, after a sweep,
    ``sensitivity`` (dB of output SNR against FP32 won by keeping each layer in float) and
    ``calib_snr_db`` (all-int8 and final).
    """
    import openvino as ov

    ops = ov.Core().read_model(str(src)).get_ordered_ops()
    keep = [i for i, op in enumerate(ops) if _ov_image_facing(op)] if calib.float_ends else []
    record: dict[str, Any] = {}
    if calib.sensitive_float > 0:
        sweep = sensitivity_sweep(src, inputs, calib, keep)
        record = {k: v for k, v in sweep.items() if k != "chosen"}
        keep = keep + sweep["chosen"]
    quantized, names = _nncf_int8(src, inputs, calib, keep)
    ov.save_model(quantized, str(dst), compress_to_fp16=False)
    return {"float_layers": names, **record}


def _nncf_int8(src: Path, inputs: list[np.ndarray], calib: CalibConfig, keep: list[int]) -> tuple[Any, list[str]]:
    """The NNCF-quantized OpenVINO model of ``src`` with the ops at positions ``keep`` (in
    ``get_ordered_ops()`` order) left in float, and those ops' names. Ops are named by position
    because OpenVINO generates some names afresh on every read (``ConvolutionBackpropData_123``)."""
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    model = ov.Core().read_model(str(src))
    ops = model.get_ordered_ops()
    names = [ops[i].get_friendly_name() for i in keep]
    ranges = {"minmax": RangeEstimatorParametersSet.MINMAX, "entropy": RangeEstimatorParametersSet.MEAN_MINMAX,
              "percentile": RangeEstimatorParametersSet.MEAN_QUANTILE}[calib.method]
    nncf.set_log_level(logging.ERROR)
    quantized = nncf.quantize(
        model, nncf.Dataset(inputs), preset=nncf.QuantizationPreset.PERFORMANCE, subset_size=len(inputs),
        ignored_scope=nncf.IgnoredScope(names=names) if names else None,
        advanced_parameters=AdvancedQuantizationParameters(activations_range_estimator_params=ranges),
    )
    return quantized, names


SWEEP_MAX_LAYERS = 48  # a sweep quantizes the network once per candidate layer: bounded build time


def sensitivity_sweep(src: Path, inputs: list[np.ndarray], calib: CalibConfig, keep: list[int]) -> dict[str, Any]:
    """Rank the convolutions of ``src`` by what their int8 costs, on calibration patches.

    For each convolution not in ``keep`` (positions in ``get_ordered_ops()``), the network is
    quantized with that layer (and ``keep``) in float and its output compared with FP32's on the
    patches; the gain in output SNR (dB) over the all-int8 network is the layer's sensitivity.
    Returns ``chosen`` (positions of the ``calib.sensitive_float`` most sensitive layers with a
    positive gain), ``sensitivity`` (layer name -> dB, every candidate) and ``calib_snr_db``
    (``int8``: every candidate quantized; ``final``: the chosen ones in float). A network with more
    than :data:`SWEEP_MAX_LAYERS` candidates is not swept (``chosen`` is empty, ``sweep`` says why).
    """
    import openvino as ov

    core = ov.Core()
    ops = core.read_model(str(src)).get_ordered_ops()
    candidates = [i for i, op in enumerate(ops) if _ov_conv(op) and i not in keep]
    if len(candidates) > SWEEP_MAX_LAYERS:
        return {"chosen": [], "sweep": f"skipped: {len(candidates)} convolutions > {SWEEP_MAX_LAYERS}"}

    def outputs(model: Any) -> list[np.ndarray]:
        compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        return [np.asarray(compiled(x)[0], np.float64) for x in inputs]

    reference = outputs(core.read_model(str(src)))
    power = sum(float((r ** 2).sum()) for r in reference)

    def snr_db(kept: list[int]) -> float:
        out = outputs(_nncf_int8(src, inputs, calib, kept)[0])
        err = sum(float(((o - r) ** 2).sum()) for o, r in zip(out, reference))
        return float("inf") if err == 0 else 10.0 * float(np.log10(power / err))

    base = snr_db(keep)
    gain = {i: round(snr_db(keep + [i]) - base, 4) for i in candidates}
    chosen = sorted((i for i in candidates if gain[i] > 0), key=lambda i: -gain[i])[: calib.sensitive_float]
    return {"chosen": chosen, "sensitivity": {ops[i].get_friendly_name(): g for i, g in gain.items()},
            "calib_snr_db": {"int8": round(base, 3), "final": round(snr_db(keep + chosen), 3) if chosen else round(base, 3)}}


def _ov_conv(op: Any) -> bool:
    return op.get_type_name() in ("Convolution", "ConvolutionBackpropData", "GroupConvolution",
                                  "GroupConvolutionBackpropData")


def _ov_image_facing(op: Any) -> bool:
    """An OpenVINO convolution op with <= 3 channels in or out (weights: input 1, static shape)."""
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
    return is_image_facing(c_in, c_out)
