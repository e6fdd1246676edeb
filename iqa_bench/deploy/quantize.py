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
    NNCF's ``MEAN_MINMAX`` (``entropy``) and ``MEAN_QUANTILE`` (``percentile``). Returns
    ``{"float_layers": [...]}``.
    """
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    model = ov.Core().read_model(str(src))
    keep = [op.get_friendly_name() for op in model.get_ordered_ops() if _ov_image_facing(op)] if calib.float_ends else []
    ranges = {"minmax": RangeEstimatorParametersSet.MINMAX, "entropy": RangeEstimatorParametersSet.MEAN_MINMAX,
              "percentile": RangeEstimatorParametersSet.MEAN_QUANTILE}[calib.method]
    nncf.set_log_level(logging.ERROR)
    quantized = nncf.quantize(
        model, nncf.Dataset(inputs), preset=nncf.QuantizationPreset.PERFORMANCE, subset_size=len(inputs),
        ignored_scope=nncf.IgnoredScope(names=keep) if keep else None,
        advanced_parameters=AdvancedQuantizationParameters(activations_range_estimator_params=ranges),
    )
    ov.save_model(quantized, str(dst), compress_to_fp16=False)
    return {"float_layers": keep}


def _ov_image_facing(op: Any) -> bool:
    """An OpenVINO convolution op with <= 3 channels in or out (weights: input 1, static shape)."""
    kind = op.get_type_name()
    if kind not in ("Convolution", "ConvolutionBackpropData", "GroupConvolution", "GroupConvolutionBackpropData"):
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
