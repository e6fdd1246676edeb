"""Shared fixtures: the ../shared folder (skip with a reason when absent) and small image factories."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import png
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared() -> Path:
    """The ../shared folder with data, weights and oracles; tests needing it skip when it is absent."""
    if not (SHARED / "oracles" / "ORACLES.md").is_file():
        pytest.skip(f"../shared not found at {SHARED} (CI always has it)")
    return SHARED


def save_png(path: Path, arr: np.ndarray) -> Path:
    """Write uint8 (H, W[, C]) with Pillow or uint16 (H, W, C) with pypng (Pillow cannot write 16-bit RGB)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if arr.dtype == np.uint16:
        h, w, c = arr.shape
        writer = png.Writer(w, h, bitdepth=16, greyscale=(c == 1), alpha=(c in (2, 4)))
        with open(path, "wb") as fh:
            writer.write(fh, arr.reshape(h, w * c).tolist())
    else:
        Image.fromarray(arr[..., 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr).save(path)
    return path


def photo_like(h: int, w: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A smooth, textured uint8 test image (gradients + blobs + mild noise), deterministic."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    planes = []
    for c in range(channels):
        f = 0.5 + 0.3 * np.sin(6 * x + 2 * c) * np.cos(5 * y - c) + 0.15 * np.sin(25 * x * y + c)
        planes.append(f + 0.03 * rng.standard_normal((h, w)))
    return (np.clip(np.stack(planes, -1), 0, 1) * 255).round().astype(np.uint8)


@pytest.fixture(scope="session")
def small_run(tmp_path_factory) -> Path:
    """bicubic, nearest and lanczos on the built-in default data x4 (4 photos), PSNR-Y and SSIM-Y."""
    from iqa_bench.engine import EvalConfig, evaluate

    out = tmp_path_factory.mktemp("small") / "run"
    evaluate(EvalConfig(models=("bicubic", "nearest", "lanczos"), metrics=("psnr_y", "ssim_y"), out=out))
    return out


def moving_clip(frames: int = 8, h: int = 64, w: int = 96, seed: int = 0) -> np.ndarray:
    """A deterministic RGB clip: a photo-like image shifted by one pixel per frame."""
    base = photo_like(h, w + frames, seed=seed)
    return np.stack([base[:, i:i + w] for i in range(frames)])


@pytest.fixture
def clip_pair(tmp_path) -> tuple[Path, Path]:
    """A reference clip and a blurred, darkened copy of it (.y4m)."""
    from scipy import ndimage

    from iqa_bench.video.y4m import write_y4m

    ref = moving_clip()
    dist = np.clip(ndimage.uniform_filter(ref.astype(float), size=(1, 3, 3, 1)) - 4, 0, 255).round().astype(np.uint8)
    r, d = tmp_path / "ref.y4m", tmp_path / "dist.y4m"
    write_y4m(r, ref)
    write_y4m(d, dist)
    return r, d


# --- zoo networks on real weights (tests/deploy, tests/runners) ---------------------------------------------

def psnr01(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two float images clipped to [0, 1] (inf when identical)."""
    mse = float(np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


@pytest.fixture(scope="module")
def store(shared):
    """A weights store that reads ../shared/weights only (no cache, no download)."""
    from iqa_bench.weights import WeightsStore

    return WeightsStore(paths=[shared / "weights"], cache_dir=shared / "no-cache", allow_download=False)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A fresh artefact cache per test module."""
    from iqa_bench.deploy.artefacts import ArtefactCache

    return ArtefactCache(tmp_path_factory.mktemp("artefacts"))


@pytest.fixture(scope="module")
def calib(shared):
    """24 calibration patches from T91 (training images, never a test set)."""
    from iqa_bench.deploy.calibration import CalibConfig

    return CalibConfig(shared / "data" / "T91", patches=24)


@pytest.fixture(scope="module")
def butterfly(shared):
    """Set5 butterfly's MATLAB-made x2 LR image (uint8)."""
    from iqa_bench.io import read_image

    return read_image(shared / "data" / "Set5" / "LR_bicubic" / "X2" / "butterfly.png")[0]
