"""FP16 and INT8 (QDQ) ONNX files from an FP32 export, with ONNX Runtime's tools.

INT8 follows what TensorRT's explicit quantization accepts, so one file serves ONNX Runtime on the
CPU and TensorRT on the GPU: QDQ format, signed int8 activations and weights, symmetric (zero
point 0), per-channel weights, biases kept in float (TensorRT rejects int32-bias DequantizeLinear).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from iqa_bench.deploy.calibration import CalibConfig
from iqa_bench.deploy.export import INPUT


def to_fp16(src: Path, dst: Path) -> None:
    """Cast weights and activations to float16 in the graph; input and output stay float32."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True, disable_shape_infer=False)
    onnx.save(model, str(dst))


def to_int8(src: Path, dst: Path, inputs: list[np.ndarray], calib: CalibConfig) -> None:
    """Static INT8 QDQ quantization calibrated on ``inputs`` (network inputs, one shape) by ``calib.method``."""
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
    exclude: list[str] = []
    if calib.float_ends:
        import onnx

        convs = [n.name for n in onnx.load(str(src), load_external_data=False).graph.node
                 if n.op_type in ("Conv", "ConvTranspose")]
        exclude = sorted({convs[0], convs[-1]}) if convs else []
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
