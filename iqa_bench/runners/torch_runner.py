"""The ``torch`` runner: zoo networks in PyTorch on CPU or CUDA, in fp32, fp16 or bf16.

Input handling follows each zoo entry (``input``, ``value_range``, ``upsample``):
* RGB networks get the LR RGB image (a grey image replicated to three channels; the output's
  channels are averaged back to one, so a grey image stays grey).
* Y networks get BT.601 luma (grey as is), pre-upsampled with MATLAB bicubic in float when the
  entry says so; their Y output is recombined with the bicubic-upsampled Cb/Cr of the LR image.
Large images run tiled (``tile`` LR pixels, ``overlap`` on each side, which must cover the network's
receptive field for the result to equal the whole-image output).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from iqa_bench.data.colour import luma, rgb_to_ycbcr_bt601, ycbcr_to_rgb_bt601
from iqa_bench.data.imresize import imresize
from iqa_bench.errors import InputError
from iqa_bench.io import to_float
from iqa_bench.models import ModelInfo
from iqa_bench.runners.base import RunnerInfo, Upscaler
from iqa_bench.weights import WeightsError, WeightsStore

if TYPE_CHECKING:
    import torch

INFO = RunnerInfo(
    description="PyTorch eager, inference_mode; fp32 (TF32 off), fp16, bf16; tiled with overlap for large images",
    variants=("fp32", "fp16", "bf16"),
    devices=("cpu", "cuda"),
)


def build_network(info: ModelInfo, scale: int, weights: str | None) -> torch.nn.Module:
    """The zoo entry's network for ``scale`` with ``weights`` loaded (random init when None), eval mode."""
    from iqa_bench.models.archs import ARCHS
    from iqa_bench.models.loading import load_into

    arch = ARCHS.get(info.arch)
    kwargs = dict(info.params)
    if arch.meta.takes_scale:
        kwargs["scale"] = scale
    try:
        net = arch.factory(**kwargs)
    except (TypeError, ValueError) as exc:
        raise InputError(f"cannot build {info.arch} with {kwargs}: {exc}", "check the zoo entry's parameters") from None
    if weights is not None:
        load_into(net, weights, what=f"{info.arch} x{scale} {info.params}", convert=arch.meta.convert)
    return net.eval()


class TorchUpscaler(Upscaler):
    """One zoo model in one precision on one device; networks built per scale on first use."""

    def __init__(self, info: ModelInfo, variant: str = "fp32", *, device: str = "cpu", store: WeightsStore | None = None,
                 weights: dict[int, str] | None = None, tile: int | None = 256, overlap: int = 32) -> None:
        import torch

        if variant not in INFO.variants:
            raise InputError(f"the torch runner has variants {INFO.variants}, not {variant!r}", "pick one of them")
        self.info = info
        self.variant = variant
        self.dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[variant]
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise InputError("device cuda was asked for but torch sees no GPU", "use --device cpu")
        self.store = store or WeightsStore()
        self.explicit = weights or {}
        self.tile, self.overlap = tile, overlap
        self._nets: dict[int, torch.nn.Module] = {}
        self._paths: dict[int, str] = {}

    def weights_path(self, scale: int) -> str | None:
        """Resolve (and verify) the weights file for ``scale``; raises WeightsError when unavailable."""
        if scale in self.explicit:
            return self.explicit[scale]
        if scale in self._paths:  # resolving verifies the sha256: do it once per file
            return self._paths[scale]
        spec = self.info.weight_for(scale)
        if spec is None:  # never run a learned network with random weights
            have = ", ".join(sorted(self.info.weights)) or "none"
            raise WeightsError(f"no weights file is configured for {self.info.arch} at x{scale} (configured: {have})",
                               "add weights.x{s} to its zoo entry, or pass --model NAME=CKPT --arch ...".replace("{s}", str(scale)))
        self._paths[scale] = str(self.store.resolve(spec))
        return self._paths[scale]

    def network(self, scale: int) -> torch.nn.Module:
        if scale not in self._nets:
            import torch

            torch.backends.cudnn.allow_tf32 = False  # fp32 means fp32 (TF32 would change numbers on Ampere+)
            torch.backends.cuda.matmul.allow_tf32 = False
            net = build_network(self.info, scale, self.weights_path(scale))
            self._nets[scale] = net.to(device=self.device, dtype=self.dtype)
        return self._nets[scale]

    def _forward(self, x: np.ndarray, scale: int, out_scale: int) -> np.ndarray:
        """``(C, H, W)`` float64 -> network output ``(C', out_scale*H, out_scale*W)`` float64, tiled when large."""
        import torch

        net = self.network(scale)
        shrink = getattr(net, "shrink", 0)
        if shrink:  # valid-padding net: replicate-pad the input so the output has the input's size
            x = np.pad(x, ((0, 0), (shrink, shrink), (shrink, shrink)), mode="edge")
        c, h, w = x.shape
        inner_h, inner_w = h - 2 * shrink, w - 2 * shrink

        def run(patch: np.ndarray) -> np.ndarray:
            t = torch.from_numpy(np.ascontiguousarray(patch)).unsqueeze(0).to(self.device, self.dtype)
            with torch.inference_mode():
                y = net(t)
            return y[0].float().cpu().numpy().astype(np.float64)

        if not self.tile or max(inner_h, inner_w) <= self.tile:
            return run(x)
        t, o, s = self.tile, self.overlap, out_scale
        out: np.ndarray | None = None
        for y0 in range(0, inner_h, t):
            for x0 in range(0, inner_w, t):
                y1, x1 = min(y0 + t, inner_h), min(x0 + t, inner_w)
                a0, b0 = max(y0 - o, 0), max(x0 - o, 0)
                a1, b1 = min(y1 + o, inner_h), min(x1 + o, inner_w)
                res = run(x[:, a0 : a1 + 2 * shrink, b0 : b1 + 2 * shrink])
                if out is None:
                    out = np.empty((res.shape[0], inner_h * s, inner_w * s))
                out[:, y0 * s : y1 * s, x0 * s : x1 * s] = res[:, (y0 - a0) * s : (y1 - a0) * s, (x0 - b0) * s : (x1 - b0) * s]
        assert out is not None
        return out

    def network_input(self, lr: np.ndarray, scale: int) -> np.ndarray:
        """``(C, H, W)`` float64 array the network sees: BT.601 luma (grey as is) or RGB (grey
        replicated), MATLAB-bicubic pre-upsampled where the entry says so, times ``value_range``."""
        x = to_float(lr)
        if self.info.input == "y":
            x = luma(x)
        elif x.shape[2] == 1:
            x = np.repeat(x, 3, axis=2)
        if self.info.upsample == "bicubic":
            x = imresize(x, float(scale))
        return x.transpose(2, 0, 1) * self.info.value_range

    def _run(self, lr: np.ndarray, scale: int) -> np.ndarray:
        """Network output ``(C, s*h, s*w)`` on [0, 1], not clipped."""
        out_scale = 1 if self.info.upsample == "bicubic" else scale
        return self._forward(self.network_input(lr, scale), scale, out_scale) / self.info.value_range

    def upscale_luma(self, lr: np.ndarray, scale: int) -> np.ndarray:
        """A Y network's own output: ``(H, W)`` luma on [0, 1], not clipped (the SR papers' protocol
        scores this directly; :meth:`upscale` recombines it with chroma into the RGB image as saved)."""
        if self.info.input != "y":
            raise InputError(f"{self.info.arch} is not a Y-channel network", "use upscale()")
        return self._run(lr, scale)[0]

    def upscale(self, lr: np.ndarray, scale: int) -> np.ndarray:
        grey = lr.shape[2] == 1
        if self.info.input == "y":
            y_sr = self.upscale_luma(lr, scale)
            if grey:
                return y_sr[..., None]
            ycbcr = rgb_to_ycbcr_bt601(imresize(to_float(lr), float(scale)))
            ycbcr[..., 0] = y_sr
            return ycbcr_to_rgb_bt601(ycbcr)
        sr = self._run(lr, scale).transpose(1, 2, 0)
        return sr.mean(axis=2, keepdims=True) if grey else sr


def create(model: ModelInfo, variant: str, **kwargs: object) -> Upscaler:
    """Factory registered as the ``torch`` runner."""
    return TorchUpscaler(model, variant, **kwargs)  # type: ignore[arg-type]
