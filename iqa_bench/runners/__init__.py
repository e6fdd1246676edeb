"""Runners (backends): each registers a factory ``(model: ModelInfo, variant: str, **options) -> Upscaler``.

Options passed by the engine: ``device`` (``"cpu"``/``"cuda"``), ``calib`` (int8 calibration), ``qat`` (int8-qat
fine-tuning); a runner takes ``**kwargs`` and ignores those that do not apply.
"""

from __future__ import annotations

from iqa_bench.registry import Registry
from iqa_bench.runners import interp, torch_runner
from iqa_bench.runners.base import RunnerInfo, Upscaler


def register_builtins(reg: Registry[RunnerInfo]) -> None:
    """Register the built-in runners."""
    reg.register("interp", interp.create, interp.INFO)
    reg.register("torch", torch_runner.create, torch_runner.INFO)
    # imported on registration only: their modules pull in the deploy package, not onnxruntime or
    # openvino themselves. A variant a model's own runner lacks goes to an installed runner that
    # replaces it, preferring one whose RunnerInfo.preferred_for names the variant (int8: openvino).
    from iqa_bench.runners import onnx_runner, openvino_runner, tensorrt_runner, torchao_runner

    reg.register("openvino", openvino_runner.create, openvino_runner.INFO)
    reg.register("onnxruntime", onnx_runner.create, onnx_runner.INFO)
    reg.register("tensorrt", tensorrt_runner.create, tensorrt_runner.INFO)
    reg.register("torchao", torchao_runner.create, torchao_runner.INFO)


RUNNERS: Registry[RunnerInfo] = Registry("runner", register_builtins)

__all__ = ["RUNNERS", "RunnerInfo", "Upscaler"]
