"""The ``torch`` runner: zoo networks in PyTorch on CPU or CUDA, in fp32, fp16 or bf16.

Input preparation, tiling and colour handling: :mod:`iqa_bench.runners.network`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from iqa_bench.errors import InputError
from iqa_bench.models import ModelInfo
from iqa_bench.models.archs import build_network
from iqa_bench.runners.base import RunnerInfo, Upscaler
from iqa_bench.runners.network import NetworkUpscaler
from iqa_bench.weights import WeightsStore

if TYPE_CHECKING:
    import torch

__all__ = ["INFO", "TorchUpscaler", "build_network", "create"]

INFO = RunnerInfo(
    description="PyTorch eager, inference_mode; fp32 (TF32 off), fp16, bf16; tiled with overlap for large images",
    variants=("fp32", "fp16", "bf16"),
    devices=("cpu", "cuda"),
)


class TorchUpscaler(NetworkUpscaler):
    """One zoo model in one precision on one device; networks built per scale on first use."""

    def __init__(self, info: ModelInfo, variant: str = "fp32", *, device: str = "cpu", store: WeightsStore | None = None,
                 weights: dict[int, str] | None = None, tile: int | None = 256, overlap: int = 32,
                 **_ignored: object) -> None:
        import torch

        if variant not in INFO.variants:
            raise InputError(f"the torch runner has variants {INFO.variants}, not {variant!r}", "pick one of them")
        super().__init__(info, variant, store=store, weights=weights, tile=tile, overlap=overlap)
        self.dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[variant]
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise InputError("device cuda was asked for but torch sees no GPU", "use --device cpu")
        self._nets: dict[int, torch.nn.Module] = {}

    @classmethod
    def wrapping(cls, info: ModelInfo, scale: int, net: torch.nn.Module, *, device: str = "cpu") -> TorchUpscaler:
        """An fp32 upscaler around an in-memory network ``net`` for ``scale`` (training's validation
        runs the network exactly as ``evaluate`` does); ``net`` is used as it is, not copied."""
        up = cls(info, "fp32", device=device)
        up._nets[scale] = net
        return up

    def network(self, scale: int) -> torch.nn.Module:
        if scale not in self._nets:
            import torch

            torch.backends.cudnn.allow_tf32 = False  # fp32 means fp32 (TF32 would change numbers on Ampere+)
            torch.backends.cuda.matmul.allow_tf32 = False
            net = build_network(self.info, scale, self.weights_path(scale))
            self._nets[scale] = net.to(device=self.device, dtype=self.dtype)
        return self._nets[scale]

    def _shrink(self, scale: int) -> int:
        return int(getattr(self.network(scale), "shrink", 0))

    def _infer(self, x: np.ndarray, scale: int) -> np.ndarray:
        import torch

        net = self.network(scale)
        t = torch.from_numpy(x).to(self.device, self.dtype)
        with torch.inference_mode():
            y = net(t)
        return y.float().cpu().numpy()


def create(model: ModelInfo, variant: str, **kwargs: object) -> Upscaler:
    """Factory registered as the ``torch`` runner."""
    return TorchUpscaler(model, variant, **kwargs)  # type: ignore[arg-type]
