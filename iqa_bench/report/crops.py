"""Visual comparison crops: which images and which patch to show, read from a run directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from iqa_bench.data.degrade import modcrop
from iqa_bench.io import read_image
from iqa_bench.weights import sha256_of


def output_path(run_dir: Path, dataset: str, scale: int, model: str, variant: str, backend: str, image: str) -> Path:
    """Where ``evaluate`` saved the SR output that was scored."""
    return run_dir / "outputs" / dataset / f"x{scale}" / model / f"{variant}-{backend}" / f"{image}.png"


def read_hr(record: dict, scale: int) -> tuple[np.ndarray | None, str]:
    """The HR image as the run scored it (mod-cropped), or None and why not (moved or changed file:
    a crop of another image than the one scored would mislead)."""
    path = Path(record["path"])
    if not path.is_file():
        return None, f"{path} is no longer there"
    if record.get("sha256") and sha256_of(path) != record["sha256"]:
        return None, f"{path} changed since the run (sha256 differs from the manifest)"
    img, _ = read_image(path)
    return modcrop(img, scale), ""


def choose_patch(hr: np.ndarray, outputs: list[np.ndarray], size: int) -> tuple[int, int, int, int]:
    """``(y0, x0, h, w)`` of the ``size`` x ``size`` patch where the outputs differ most from each
    other and from HR: the per-pixel standard deviation over [HR, outputs...] (mean over channels),
    averaged over the patch."""
    h, w = hr.shape[:2]
    size = min(size, h, w)
    stack = np.stack([hr.astype(np.float32), *(o.astype(np.float32) for o in outputs)])
    spread = stack.std(axis=0).mean(axis=2)
    local = ndimage.uniform_filter(spread, size=size, mode="constant")
    half = size // 2
    inner = local[half : h - (size - half) + 1, half : w - (size - half) + 1]
    cy, cx = np.unravel_index(int(np.argmax(inner)), inner.shape)
    return int(cy), int(cx), size, size
