"""Deployment variants of zoo networks: ONNX export, FP16 and INT8 (QDQ) conversion, artefact cache.

``export``: torch -> ONNX with dynamic height and width; ``calibration``: LR patches for INT8
calibration; ``quantize``: FP16 and INT8 QDQ files; ``artefacts``: content-hashed cache so a rerun
does not re-export or re-quantize. The files serve the ``onnxruntime`` and ``tensorrt`` runners.
"""
