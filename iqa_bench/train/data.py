"""Training pairs: HR images degraded exactly as ``evaluate`` degrades them, cut into random patches.

Each HR image is mod-cropped, degraded once per scale with the benchmark's degradation (MATLAB
bicubic by default) and prepared by the runners' own :func:`~iqa_bench.runners.network.network_input`
(luma or RGB, pre-upsampling, value range), so a network trains on what it will be evaluated on.
Patches are aligned LR/HR crops with one of the eight flips/rotations of the square.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from iqa_bench.data.degrade import DEGRADATIONS, modcrop
from iqa_bench.errors import InputError
from iqa_bench.io import list_images, read_image
from iqa_bench.models import ModelInfo
from iqa_bench.runners.network import network_input, network_target


@dataclass(frozen=True)
class Pair:
    """One training image: the network's input and target arrays ``(C, h, w)`` float32."""

    name: str
    input: np.ndarray
    target: np.ndarray


def split_folder(folder: str | Path, holdout: int) -> tuple[list[Path], list[Path]]:
    """``(train, validation)`` image paths of ``folder``: the last ``holdout`` images (by name) validate."""
    files = list_images(folder)
    if len(files) <= holdout:
        raise InputError(f"{folder} has {len(files)} images; {holdout} are held out for validation",
                         "give a folder with more training images, or fewer --val-holdout / a --val folder")
    return (files[: len(files) - holdout], files[len(files) - holdout :]) if holdout else (files, [])


def load_pairs(files: list[Path], info: ModelInfo, scale: int, degradation: str = "matlab") -> list[Pair]:
    """Degrade and prepare every image of ``files`` for ``info`` at ``scale``."""
    degrade = DEGRADATIONS[degradation]
    pairs = []
    for path in files:
        hr = modcrop(read_image(path, drop_alpha=True)[0], scale)
        lr = degrade(hr, scale)
        pairs.append(Pair(path.name, network_input(info, lr, scale).astype(np.float32),
                          network_target(info, hr).astype(np.float32)))
    return pairs


class PatchSampler:
    """Random aligned patches of :class:`Pair` s, drawn from a seeded :class:`numpy.random.Generator`.

    Parameters
    ----------
    pairs
        Training images.
    scale
        SR factor.
    patch
        LR patch side in pixels (the target is ``patch * scale``; a pre-upsampled network's input too).
    shrink
        Pixels a valid-padding network loses on each side of its output (its target is cropped by it).
    """

    def __init__(self, pairs: list[Pair], scale: int, patch: int, shrink: int = 0) -> None:
        if not pairs:
            raise InputError("no training images", "give a folder of HR images (PNG/JPEG)")
        self.pairs = [p for p in pairs if min(p.target.shape[1:]) >= patch * scale]
        if not self.pairs:
            raise InputError(f"no training image is at least {patch * scale} pixels on each side",
                             "use a smaller --patch")
        self.scale, self.patch, self.shrink = scale, patch, shrink

    def batch(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(inputs, targets)`` float32 ``(n, C, h, w)`` and ``(n, C, H, W)``."""
        xs, ys = [], []
        s, p = self.scale, self.patch
        for _ in range(n):
            pair = self.pairs[int(rng.integers(len(self.pairs)))]
            hr_h, hr_w = pair.target.shape[1:]
            lr_y, lr_x = int(rng.integers(hr_h // s - p + 1)), int(rng.integers(hr_w // s - p + 1))
            k = pair.input.shape[1] // (hr_h // s)  # 1: LR input; s: pre-upsampled input
            x = pair.input[:, lr_y * k : (lr_y + p) * k, lr_x * k : (lr_x + p) * k]
            y = pair.target[:, lr_y * s : (lr_y + p) * s, lr_x * s : (lr_x + p) * s]
            if self.shrink:
                c = self.shrink
                y = y[:, c:-c, c:-c]
            t = int(rng.integers(8))  # one of the 8 symmetries of the square, the same for input and target
            xs.append(_dihedral(x, t))
            ys.append(_dihedral(y, t))
        return np.stack(xs), np.stack(ys)


def _dihedral(a: np.ndarray, t: int) -> np.ndarray:
    if t & 4:
        a = a.transpose(0, 2, 1)
    return np.ascontiguousarray(np.rot90(a, t & 3, axes=(1, 2)))
