"""iqa_bench.bench: the options each backend is measured with."""

from __future__ import annotations

import dataclasses

from iqa_bench.bench import backend_calib


def test_each_backend_gets_the_int8_options_it_declares(calib):
    """--int8-float-precision bf16 reaches the runners that declare it (OpenVINO, torchao); the QDQ
    file is measured with its own f32 float layers and symmetric activations, never refused."""
    asked = dataclasses.replace(calib, float_precision="bf16", activations="asymmetric")
    assert backend_calib("openvino", asked) == asked
    torchao = backend_calib("torchao", asked)
    assert (torchao.float_precision, torchao.activations) == ("bf16", None)
    ort = backend_calib("onnxruntime", asked)
    assert (ort.float_precision, ort.activations) == ("f32", None)
    assert backend_calib("onnxruntime", None) is None
