"""Video datasets: a built-in synthetic set (pan/zoom over still photos) or a folder of clips.

Folder layout, one clip per entry, named by file or folder stem:

* ``ROOT/<clip>.{y4m,mp4,mkv,avi,mov,webm,nut}`` -- any file ffmpeg decodes (decoded to RGB);
* ``ROOT/<clip>/*.png`` -- a frame sequence (any image format iqa-bench reads), frames in name order.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

from iqa_bench.data.datasets import DatasetInfo
from iqa_bench.errors import InputError
from iqa_bench.io import list_images, read_image, round_half_up_uint8
from iqa_bench.registry import Registry

VIDEO_SUFFIXES = (".y4m", ".mp4", ".mkv", ".avi", ".mov", ".webm", ".nut")


@dataclass(frozen=True)
class ClipSource:
    """One clip of a dataset: ``load()`` gives ``(T, H, W, C)`` uint8 frames (C = 3, or 1 for grey
    frame sequences) and the frame rate."""

    name: str
    origin: str  # what it was made from, for the manifest
    load: Callable[[], tuple[np.ndarray, Fraction]]


@dataclass(frozen=True)
class VideoDataset:
    """A named list of clips."""

    name: str
    root: str
    clips: tuple[ClipSource, ...]


# ---- built-in synthetic clips -----------------------------------------------------------------

@dataclass(frozen=True)
class CameraPath:
    """A virtual camera over a still image: window centre (x, y) in source pixels and zoom (source
    pixels per output pixel), each moving linearly from start to end over the clip."""

    image: str  # scikit-image data file
    start: tuple[float, float, float]
    end: tuple[float, float, float]


SYNTHETIC = {
    "pan_astronaut": CameraPath("astronaut.png", (200.0, 170.0, 1.0), (290.0, 200.0, 1.0)),
    "zoom_coffee": CameraPath("coffee.png", (300.0, 190.0, 1.35), (300.0, 190.0, 1.0)),
    "panzoom_chelsea": CameraPath("chelsea.png", (190.0, 140.0, 1.2), (250.0, 160.0, 1.0)),
}


def render_camera_path(img: np.ndarray, path: CameraPath, frames: int, size: tuple[int, int]) -> np.ndarray:
    """``frames`` uint8 frames of ``size = (height, width)`` seen through ``path`` over ``img``.

    Sub-pixel positions are sampled with a cubic B-spline (``scipy.ndimage.map_coordinates``, order 3,
    mirrored borders): smooth, deterministic motion with real sub-pixel shifts between frames.
    """
    from scipy import ndimage

    h, w = size
    src = img.astype(np.float64)
    coeffs = [ndimage.spline_filter(src[..., c], order=3, mode="mirror") for c in range(src.shape[2])]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    ys -= (h - 1) / 2
    xs -= (w - 1) / 2
    out = np.empty((frames, h, w, src.shape[2]), np.uint8)
    for i in range(frames):
        t = i / max(frames - 1, 1)
        cx, cy, zoom = (a + (b - a) * t for a, b in zip(path.start, path.end))
        coords = np.stack([cy + ys * zoom, cx + xs * zoom])
        for c, k in enumerate(coeffs):
            out[i, ..., c] = round_half_up_uint8(
                ndimage.map_coordinates(k, coords, order=3, mode="mirror", prefilter=False))
    return out


def synthetic_dataset(frames: int = 30, size: tuple[int, int] = (216, 288)) -> VideoDataset:
    """The built-in clips (:data:`SYNTHETIC`): ``frames`` frames of ``size = (height, width)`` at 30 fps."""
    import skimage  # the photos ship inside the scikit-image wheel: no download

    data = Path(skimage.__file__).parent / "data"

    def loader(path: CameraPath) -> Callable[[], tuple[np.ndarray, Fraction]]:
        def load() -> tuple[np.ndarray, Fraction]:
            img, _ = read_image(data / path.image)
            return render_camera_path(img, path, frames, size), Fraction(30)

        return load

    clips = tuple(
        ClipSource(name, f"synthetic: {p.image} centre/zoom {p.start} -> {p.end}, {frames} frames "
                   f"{size[1]}x{size[0]}, cubic B-spline sampling", loader(p))
        for name, p in SYNTHETIC.items()
    )
    return VideoDataset("synthetic", "scikit-image package data", clips)


# ---- folders ----------------------------------------------------------------------------------

def _frame_sequence(folder: Path) -> Callable[[], tuple[np.ndarray, Fraction]]:
    def load() -> tuple[np.ndarray, Fraction]:
        frames = []
        for p in list_images(folder):
            img, _ = read_image(p)
            if img.dtype != np.uint8:
                raise InputError(f"{p} is {img.dtype}; video clips are 8-bit", "save the frames as 8-bit images")
            if frames and img.shape != frames[0].shape:
                raise InputError(f"{p} is {img.shape[1]}x{img.shape[0]}x{img.shape[2]} but the clip's first frame is "
                                 f"{frames[0].shape[1]}x{frames[0].shape[0]}x{frames[0].shape[2]}",
                                 "every frame of a clip must have the same size and channels")
            frames.append(img)
        return np.stack(frames), Fraction(30)

    return load


def _video_file(path: Path) -> Callable[[], tuple[np.ndarray, Fraction]]:
    def load() -> tuple[np.ndarray, Fraction]:
        from iqa_bench.video.ffmpeg import decode_rgb

        return decode_rgb(path)

    return load


def folder_video_dataset(root: str | Path) -> VideoDataset:
    """Clips in ``root`` (layout in the module docstring)."""
    r = Path(root).expanduser()
    if not r.is_dir():
        raise InputError(f"video dataset folder not found: {r}", "pass 'synthetic' or a folder of clips")
    clips: dict[str, ClipSource] = {}
    for p in sorted(r.iterdir()):
        if p.name.startswith("."):
            continue
        if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES:
            src = ClipSource(p.stem, str(p), _video_file(p))
        elif p.is_dir() and list_images(p):
            src = ClipSource(p.name, f"{p}/ ({len(list_images(p))} frames)", _frame_sequence(p))
        else:
            continue
        if src.name in clips:
            raise InputError(f"two clips are named {src.name!r} in {r}", "keep one file or folder per clip name")
        clips[src.name] = src
    if not clips:
        raise InputError(f"no clips in {r}",
                         f"put video files ({', '.join(VIDEO_SUFFIXES)}) or folders of frame images in it")
    return VideoDataset(r.resolve().name, str(r.resolve()), tuple(clips.values()))


def register_builtins(reg: Registry[DatasetInfo]) -> None:
    reg.register(
        "synthetic",
        synthetic_dataset,
        DatasetInfo(
            description=f"{len(SYNTHETIC)} generated clips (30 frames, 288x216, 30 fps): camera pans and zooms "
            "over scikit-image photos; for smoke runs and tests, not for publication",
            source="scikit-image package data",
            license="public domain (NASA) / CC0",
        ),
    )


VIDEO_DATASETS: Registry[DatasetInfo] = Registry("video_dataset", register_builtins)


def resolve_video_dataset(spec: str, frames: int | None = None) -> VideoDataset:
    """A registered video dataset name (``frames`` overrides a generated set's length), else a folder."""
    if spec.lower() in VIDEO_DATASETS:
        return VIDEO_DATASETS.create(spec, **({"frames": frames} if frames else {}))
    p = Path(spec).expanduser()
    if p.exists() or "/" in spec or spec.startswith("."):
        return folder_video_dataset(p)
    return VIDEO_DATASETS.create(spec)
