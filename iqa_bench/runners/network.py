"""What every backend that runs a zoo network shares: input preparation, tiling, colour handling.

A backend (PyTorch, ONNX Runtime, TensorRT) implements only :meth:`NetworkUpscaler._infer` (one
``(1, C, H, W)`` patch through the network) and :meth:`NetworkUpscaler._shrink`; everything else
follows the zoo entry (``input``, ``value_range``, ``upsample``):

* RGB networks get the LR RGB image (a grey image replicated to three channels; the output's
  channels are averaged back to one, so a grey image stays grey).
* Y networks get BT.601 luma (grey as is), pre-upsampled with MATLAB bicubic in float when the
  entry says so; their Y output is recombined with the bicubic-upsampled Cb/Cr of the LR image.
* Large images run tiled (``tile`` LR pixels, ``overlap`` on each side, which must cover the
  network's receptive field for the result to equal the whole-image output).
* Valid-padding networks (SRCNN) get their input replicate-padded by ``shrink`` pixels so the
  output has the input's size.
"""

from __future__ import annotations

import numpy as np

from iqa_bench.data.colour import luma, rgb_to_ycbcr_bt601, ycbcr_to_rgb_bt601
from iqa_bench.data.imresize import imresize
from iqa_bench.errors import InputError
from iqa_bench.io import to_float
from iqa_bench.models import ModelInfo
from iqa_bench.runners.base import Upscaler
from iqa_bench.weights import WeightsError, WeightsStore


class NetworkUpscaler(Upscaler):
    """One zoo network in one variant on one backend (abstract: see the module docstring)."""

    def __init__(self, info: ModelInfo, variant: str, *, store: WeightsStore | None = None,
                 weights: dict[int, str] | None = None, tile: int | None = 256, overlap: int = 32) -> None:
        self.info = info
        self.variant = variant
        self.store = store or WeightsStore()
        self.explicit = weights or {}
        self.tile, self.overlap = tile, overlap
        self._paths: dict[int, str] = {}

    # -- what a backend implements
    def _infer(self, x: np.ndarray, scale: int) -> np.ndarray:
        """``(1, C, H, W)`` float32 network input -> ``(1, C', h', w')`` network output (any float dtype)."""
        raise NotImplementedError

    def _shrink(self, scale: int) -> int:
        """Pixels a valid-padding network loses on each side (0 for same-padding networks)."""
        return 0

    def prepare(self, scale: int) -> None:
        """Resolve the weights and build the backend's network for ``scale`` by running it once on a
        tiny input (every backend builds lazily on its first :meth:`_infer`)."""
        c = 1 if self.info.input == "y" else 3
        side = 8 * (scale if self.info.upsample == "bicubic" else 1) + 2 * self._shrink(scale)
        try:
            self._infer(np.zeros((1, c, side, side), dtype=np.float32), scale)
        except RuntimeError as exc:
            if "channels" not in str(exc):
                raise
            other = "rgb" if self.info.input == "y" else "y"
            raise InputError(
                f"{self.info.arch} x{scale}: the network does not take {c}-channel input "
                f"(input = {self.info.input!r}): {' '.join(str(exc).split())[:160]}",
                f"a {'luma (Y)' if other == 'y' else 'RGB'} network: pass --input {other} with --model, "
                f"or set input = \"{other}\" in its zoo entry",
            ) from None

    # -- shared
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
                               f"add weights.x{scale} to its zoo entry, or pass --model NAME=CKPT --arch ...")
        self._paths[scale] = str(self.store.resolve(spec))
        return self._paths[scale]

    def network_input(self, lr: np.ndarray, scale: int) -> np.ndarray:
        """:func:`network_input` of this upscaler's zoo entry."""
        return network_input(self.info, lr, scale)

    def padded_input(self, lr: np.ndarray, scale: int) -> np.ndarray:
        """:meth:`network_input` replicate-padded by the network's ``shrink``, as ``(1, C, H, W)`` float32."""
        x = self.network_input(lr, scale)
        shrink = self._shrink(scale)
        if shrink:
            x = np.pad(x, ((0, 0), (shrink, shrink), (shrink, shrink)), mode="edge")
        return np.ascontiguousarray(x[None], dtype=np.float32)

    def _forward(self, x: np.ndarray, scale: int, out_scale: int) -> np.ndarray:
        """``(C, H, W)`` float64 -> network output ``(C', out_scale*H, out_scale*W)`` float64, tiled when large."""
        shrink = self._shrink(scale)
        if shrink:
            x = np.pad(x, ((0, 0), (shrink, shrink), (shrink, shrink)), mode="edge")
        _, h, w = x.shape
        inner_h, inner_w = h - 2 * shrink, w - 2 * shrink

        def run(patch: np.ndarray) -> np.ndarray:
            y = self._infer(np.ascontiguousarray(patch[None], dtype=np.float32), scale)
            return np.asarray(y[0], dtype=np.float64)

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
        if out is None:
            raise InputError(f"empty input {x.shape}", "give an image of at least one pixel")
        return out

    def out_scale(self, scale: int) -> int:
        """How much larger the network's output is than its input (1 for pre-upsampled networks)."""
        return 1 if self.info.upsample == "bicubic" else scale

    def _run(self, lr: np.ndarray, scale: int) -> np.ndarray:
        """Network output ``(C, s*h, s*w)`` on [0, 1], not clipped."""
        return self._forward(self.network_input(lr, scale), scale, self.out_scale(scale)) / self.info.value_range

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


def _channels(info: ModelInfo, img: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` float64 on [0, 1]: BT.601 luma (grey as is) for a Y network, RGB (grey replicated) otherwise."""
    x = to_float(img)
    if info.input == "y":
        return luma(x)
    return np.repeat(x, 3, axis=2) if x.shape[2] == 1 else x


def network_input(info: ModelInfo, lr: np.ndarray, scale: int) -> np.ndarray:
    """``(C, H, W)`` float64 array a zoo network sees for the image ``lr``: its channels
    (:func:`_channels`), MATLAB-bicubic pre-upsampled where the entry says so, times its ``value_range``."""
    x = _channels(info, lr)
    if info.upsample == "bicubic":
        x = imresize(x, float(scale))
    return x.transpose(2, 0, 1) * info.value_range


def network_target(info: ModelInfo, hr: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` float64 array a zoo network should output for the HR image ``hr`` (its training
    target), in the same channels and ``value_range`` as :func:`network_input`."""
    return _channels(info, hr).transpose(2, 0, 1) * info.value_range
