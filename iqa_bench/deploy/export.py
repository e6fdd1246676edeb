"""Export a zoo network to ONNX with dynamic height and width."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from iqa_bench.errors import ComputeError

if TYPE_CHECKING:
    import torch

OPSET = 20
INPUT, OUTPUT = "x", "y"


def export_onnx(net: torch.nn.Module, in_channels: int, path: Path, *, opset: int = OPSET,
                metadata: dict[str, str] | None = None) -> None:
    """Write ``net`` (fp32, eval) to ``path``: input ``x`` ``(1, C, H, W)`` with dynamic H and W, output ``y``.

    Uses the dynamo exporter (``torch.onnx.export(dynamo=True)``); ``metadata`` is stored in the
    model's ``metadata_props`` (the runners read e.g. the valid-padding ``shrink`` from it).
    """
    import copy

    import onnx
    import torch
    from torch.export import Dim

    # In-place activations (RRDBNet's LeakyReLU(inplace=True), SRCNN's ReLU) exported out of place:
    # torch.export decomposes each in-place op with symbolic-shape checks under dynamic H and W, which
    # took 45 of the 49 s of Real-ESRGAN x4's export here (its 280 LeakyReLUs); out of place, 25 s.
    # The values are the same; SRCNN's file is byte for byte the same.
    net = copy.deepcopy(net)
    for module in net.modules():
        if getattr(module, "inplace", False) is True:
            module.inplace = False
    x = torch.rand(1, in_channels, 40, 48)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's progress chatter
        try:
            program = torch.onnx.export(
                net.float().eval(), (x,), dynamo=True, opset_version=opset, input_names=[INPUT],
                output_names=[OUTPUT], dynamic_shapes={"x": {2: Dim("h"), 3: Dim("w")}}, verbose=False,
            )
        except Exception as exc:  # noqa: BLE001 - the exporter raises many types; say which net failed
            raise ComputeError(f"ONNX export of {type(net).__name__} failed: {exc}") from exc
    model = program.model_proto
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))

