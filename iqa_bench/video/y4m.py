"""YUV4MPEG2 (``.y4m``) files: the lossless clip format of video runs.

Frames are stored as 8-bit YCbCr 4:4:4 (``C444``): ffmpeg, libvmaf and players read it natively, it
keeps every pixel (no chroma subsampling) and its header carries size, frame rate and colour layout,
so a clip file is self-describing. Written and parsed here rather than through ffmpeg because the
format is a text header plus raw planes, and doing it in numpy keeps the Y plane bit-exact with the
image metrics' BT.601 luma (ffmpeg's RGB->YUV uses its own rounding).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from iqa_bench.io import round_half_up_uint8
from iqa_bench.errors import InputError
from iqa_bench.io import atomic_path

_MAGIC = b"YUV4MPEG2"
_FRAME = b"FRAME"


@dataclass(frozen=True)
class Y4MHeader:
    """What a ``.y4m`` header says: frame size in pixels, frame rate, chroma layout, frame count."""

    width: int
    height: int
    fps: Fraction
    chroma: str  # "444" or "mono" for files written here; "420jpeg" etc. read as well
    frames: int


def rgb_to_ycbcr_uint8(frame: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB -> ``(H, W, 3)`` uint8 BT.601 limited-range YCbCr (MATLAB ``rgb2ycbcr``:
    same coefficients as the image metrics' luma, rounded half up). A grey ``(H, W, 1)`` frame keeps its
    grey values as Y (the grey-image convention), with neutral chroma (128)."""
    from iqa_bench.data.colour import rgb_to_ycbcr_bt601

    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] not in (1, 3):
        raise ValueError(f"expected an (H, W, 1|3) uint8 frame, got {frame.dtype} {frame.shape}")
    if frame.shape[2] == 1:
        out = np.full(frame.shape[:2] + (3,), 128, np.uint8)
        out[..., 0] = frame[..., 0]
        return out
    return round_half_up_uint8(rgb_to_ycbcr_bt601(frame.astype(np.float64) / 255.0) * 255.0)


def write_y4m(path: str | os.PathLike[str], frames: Iterable[np.ndarray], fps: Fraction = Fraction(30)) -> int:
    """Write RGB (or grey) uint8 frames as a 4:4:4 ``.y4m`` clip, atomically; returns the frame count.

    Parameters
    ----------
    frames
        ``(H, W, 3)`` RGB or ``(H, W, 1)`` grey uint8 frames of one size (converted by
        :func:`rgb_to_ycbcr_uint8`).
    fps
        Frame rate written into the header (frames per second).
    """
    n = 0
    size = None
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        for frame in frames:
            ycc = rgb_to_ycbcr_uint8(frame)
            if size is None:
                size = ycc.shape[:2]
                f.write(b"%s W%d H%d F%d:%d Ip A1:1 C444 XYSCSS=444\n"
                        % (_MAGIC, size[1], size[0], fps.numerator, fps.denominator))
            elif ycc.shape[:2] != size:
                raise ValueError(f"frame {n} is {ycc.shape[1]}x{ycc.shape[0]}, the clip is {size[1]}x{size[0]}")
            f.write(_FRAME + b"\n")
            f.write(np.ascontiguousarray(ycc.transpose(2, 0, 1)).tobytes())
            n += 1
        if n == 0:
            raise ValueError(f"no frames to write to {path}")
    return n


def _plane_sizes(h: int, w: int, chroma: str) -> tuple[int, int]:
    """Bytes of the Y plane and of each chroma plane of one 8-bit frame."""
    if chroma == "mono":
        return h * w, 0
    if chroma == "444":
        return h * w, h * w
    if chroma == "422":
        return h * w, h * ((w + 1) // 2)
    if chroma.startswith("420"):
        return h * w, ((h + 1) // 2) * ((w + 1) // 2)
    raise InputError(f"unsupported y4m chroma layout C{chroma}", "convert the clip with ffmpeg -pix_fmt yuv444p")


def read_header(path: str | os.PathLike[str]) -> Y4MHeader:
    """Parse a ``.y4m`` header and count its frames (from the file size); a truncated or non-y4m file
    raises :class:`InputError` naming it."""
    p = Path(path)
    with open(p, "rb") as f:
        line = f.readline(4096)
        offset = f.tell()
    if not line.startswith(_MAGIC) or not line.endswith(b"\n"):
        raise InputError(f"{p} is not a YUV4MPEG2 (.y4m) file", "write clips with iqa-bench or ffmpeg -f yuv4mpegpipe")
    fields = {t[:1]: t[1:] for t in line[len(_MAGIC):].split()}
    try:
        w, h = int(fields[b"W"]), int(fields[b"H"])
        num, den = (int(x) for x in fields.get(b"F", b"30:1").split(b":"))
        fps = Fraction(num, den)
    except (KeyError, ValueError, ZeroDivisionError):
        raise InputError(f"{p}: malformed y4m header {line[:80]!r}", "re-encode the clip with ffmpeg") from None
    chroma = fields.get(b"C", b"420jpeg").decode("ascii", "replace")
    if chroma.endswith("p10") or chroma.endswith("p16") or chroma.endswith("p12"):
        raise InputError(f"{p}: {chroma} y4m clips are more than 8 bits", "convert it to 8 bits (-pix_fmt yuv444p)")
    y, c = _plane_sizes(h, w, chroma)
    frame_bytes = y + 2 * c
    # each frame: "FRAME" + optional parameters + "\n" + planes; files written here have no parameters
    per_frame = len(_FRAME) + 1 + frame_bytes
    body = p.stat().st_size - offset
    if body % per_frame:
        raise InputError(f"{p} is truncated or has frame parameters this reader does not handle "
                         f"({body} bytes after the header, frames of {per_frame})",
                         "re-write the clip (iqa-bench writes complete files atomically)")
    return Y4MHeader(w, h, fps, chroma, body // per_frame)


def iter_y(path: str | os.PathLike[str]) -> Iterator[np.ndarray]:
    """The Y planes of a ``.y4m`` clip, one ``(H, W)`` uint8 array per frame."""
    hdr = read_header(path)
    y, c = _plane_sizes(hdr.height, hdr.width, hdr.chroma)
    with open(path, "rb") as f:
        f.readline()
        for _ in range(hdr.frames):
            f.readline()
            plane = np.frombuffer(f.read(y), np.uint8).reshape(hdr.height, hdr.width)
            f.seek(2 * c, os.SEEK_CUR)
            yield plane


def read_y(path: str | os.PathLike[str]) -> np.ndarray:
    """All Y planes of a ``.y4m`` clip: ``(T, H, W)`` uint8."""
    return np.stack(list(iter_y(path)))
