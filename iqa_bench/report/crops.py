"""Visual comparison crops: which images and which patch to show, read from a run directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np

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


def choose_patch(hr: np.ndarray, best: np.ndarray, size: int, border: int = 0) -> tuple[int, int, int, int]:
    """``(y0, x0, h, w)`` of the ``size`` x ``size`` patch, inside the scored area (``border`` pixels
    off every side: the metrics' border crop), where ``best`` (the best model's output) differs most
    from HR: the mean absolute difference over the patch (mean over channels). Chosen on the best
    output, not the spread of all outputs, so that one broken model cannot pick the patch."""
    h, w = hr.shape[:2]
    if min(h, w) - 2 * border < 1:
        border = 0
    size = max(1, min(size, h - 2 * border, w - 2 * border))
    err = np.abs(best.astype(np.float32) - hr.astype(np.float32)).mean(axis=2)
    inner = err[border : h - border, border : w - border]
    # mean over every size x size window, top-left anchored: a box sum from the integral image
    c = np.pad(inner.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = c[size:, size:] - c[:-size, size:] - c[size:, :-size] + c[:-size, :-size]
    y, x = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(y) + border, int(x) + border, size, size


def error_map(out: np.ndarray, hr: np.ndarray) -> np.ndarray:
    """Absolute difference ``|out - HR|`` in uint8 levels, mean over channels (float, 2-D)."""
    return np.abs(out.astype(np.float32) - hr.astype(np.float32)).mean(axis=2)
