"""iqa_bench.bench: the options each backend is measured with."""

from __future__ import annotations

import dataclasses

from iqa_bench.bench import backend_calib


def test_each_backend_gets_the_int8_options_it_declares(calib):
    """--int8-float-precision bf16 and --int8-float-layers reach the runners that declare them
    (OpenVINO, torchao); the QDQ file is measured with its own f32 float layers, symmetric activations
    and no sweep, never refused."""
    asked = dataclasses.replace(calib, float_precision="bf16", activations="asymmetric", sensitive_float=3,
                                smooth_quant=0.5, float_input_only=True)
    assert backend_calib("openvino", asked) == asked
    torchao = backend_calib("torchao", asked)
    assert (torchao.float_precision, torchao.activations, torchao.sensitive_float, torchao.smooth_quant) == \
        ("bf16", None, 3, None)
    ort = backend_calib("onnxruntime", asked)
    assert (ort.float_precision, ort.activations, ort.sensitive_float, ort.smooth_quant) == ("f32", None, 0, None)
    assert not ort.float_input_only and not torchao.float_input_only
    assert backend_calib("onnxruntime", None) is None
