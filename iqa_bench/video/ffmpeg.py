"""The ffmpeg binary video work runs on: finding it, checking what it was built with, coding clips.

Debian's (and many distributions') ffmpeg is built without libvmaf. The ``[video]`` extra installs
``imageio-ffmpeg``, whose wheel ships a static ffmpeg built with ``--enable-libvmaf`` and libx264;
that binary is the default. ``--ffmpeg PATH`` or ``$IQA_BENCH_FFMPEG`` choose another one, which is
checked for the filters and encoders a job needs before anything runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np

from iqa_bench.errors import ComputeError, InputError

ENV = "IQA_BENCH_FFMPEG"
INSTALL_HINT = (
    "pip install 'iqa-bench[video]' (imageio-ffmpeg ships an ffmpeg built with libvmaf and libx264) and "
    f"drop --ffmpeg/${ENV}, or point --ffmpeg at an ffmpeg configured with --enable-libvmaf"
)


@dataclass(frozen=True)
class FFmpeg:
    """A checked ffmpeg executable: its path, version line, filters and encoders."""

    path: str
    version: str
    filters: frozenset[str]
    encoders: frozenset[str]

    def require(self, filters: tuple[str, ...] = (), encoders: tuple[str, ...] = ()) -> "FFmpeg":
        """Raise :class:`InputError` naming what to install unless every filter and encoder is built in."""
        missing = [f"filter {f}" for f in filters if f not in self.filters]
        missing += [f"encoder {e}" for e in encoders if e not in self.encoders]
        if missing:
            raise InputError(
                f"the ffmpeg at {self.path} ({self.version}) has no {', '.join(missing)}", INSTALL_HINT
            )
        return self


def _bundled() -> str:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise InputError("no ffmpeg with libvmaf: the imageio-ffmpeg package is not installed", INSTALL_HINT) from None
    exe = os.path.join(os.path.dirname(imageio_ffmpeg.__file__), "binaries")
    found = sorted(Path(exe).glob("ffmpeg-*")) if os.path.isdir(exe) else []
    if not found:  # a platform without a bundled binary: imageio-ffmpeg's own search (system ffmpeg)
        return imageio_ffmpeg.get_ffmpeg_exe()
    return str(found[0])


def _names(listing: str) -> frozenset[str]:
    """Names in the second column of ``ffmpeg -filters`` / ``-encoders`` output (flag column first)."""
    out = set()
    for line in listing.splitlines():
        cols = line.split()
        if len(cols) >= 2 and not line.startswith(" =") and "=" not in cols[0]:
            out.add(cols[1])
    return frozenset(out)


@lru_cache(maxsize=8)
def _probe(path: str) -> FFmpeg:
    def run(*args: str) -> str:
        return subprocess.run([path, "-hide_banner", *args], capture_output=True, text=True, check=True).stdout

    try:
        version = run("-version").splitlines()[0]
        return FFmpeg(path, version, _names(run("-filters")), _names(run("-encoders")))
    except (OSError, subprocess.CalledProcessError, IndexError) as exc:
        raise InputError(f"cannot run ffmpeg at {path}: {exc}", INSTALL_HINT) from None


def find_ffmpeg(path: str | os.PathLike[str] | None = None) -> FFmpeg:
    """The ffmpeg to use: ``path``, else ``$IQA_BENCH_FFMPEG``, else imageio-ffmpeg's bundled binary.

    A name without a slash is looked up on ``PATH``. Raises :class:`InputError` when it is missing.
    """
    chosen = str(path) if path else os.environ.get(ENV) or _bundled()
    if os.sep not in chosen:
        located = shutil.which(chosen)
        if located is None:
            raise InputError(f"ffmpeg {chosen!r} not found on PATH", INSTALL_HINT)
        chosen = located
    if not os.path.isfile(chosen) or not os.access(chosen, os.X_OK):
        raise InputError(f"ffmpeg not found (or not executable) at {chosen}", INSTALL_HINT)
    return _probe(os.path.realpath(chosen))


def _run(ff: FFmpeg, args: list[str], stdin: bytes | None = None, what: str = "ffmpeg") -> bytes:
    head = [ff.path, "-hide_banner", "-y", "-v", "error"] + (["-nostdin"] if stdin is None else [])
    proc = subprocess.run([*head, *args], input=stdin, capture_output=True)
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise ComputeError(f"{what} failed (ffmpeg exit {proc.returncode}): {' | '.join(tail)}")
    return proc.stdout


def _raw_args(frames: np.ndarray, fps: Fraction) -> list[str]:
    t, h, w, c = frames.shape
    if c != 3:
        raise ValueError("ffmpeg coding here takes RGB frames")
    return ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{fps.numerator}/{fps.denominator}",
            "-i", "pipe:0"]


def _decode_raw(ff: FFmpeg, src: str, w: int, h: int, what: str, vf: list[str] | None = None) -> np.ndarray:
    raw = _run(ff, ["-i", src, *(vf or []), "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"], what=what)
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3).copy()


def h264_roundtrip(ff: FFmpeg, frames: np.ndarray, crf: int, preset: str = "medium",
                   fps: Fraction = Fraction(30)) -> np.ndarray:
    """Encode ``(T, H, W, 3)`` uint8 RGB frames with libx264 at ``crf`` (yuv420p, BT.601 matrix as
    swscale converts by default) and decode them back to RGB: the compressed LR a video SR model sees.

    Runs in its own temporary directory; the frame count is checked after decoding.
    """
    ff.require(encoders=("libx264",))
    t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise InputError(f"H.264 4:2:0 needs even frame sizes; the LR clip is {w}x{h}",
                         "use clips whose size divided by the scale is even")
    with tempfile.TemporaryDirectory(prefix="iqa-bench-h264-") as tmp:
        mp4 = os.path.join(tmp, "lr.mp4")
        _run(ff, [*_raw_args(frames, fps), "-c:v", "libx264", "-preset", preset, "-crf", str(crf),
                  "-pix_fmt", "yuv420p", "-x264-params", "log-level=error", mp4],
             stdin=np.ascontiguousarray(frames).tobytes(), what=f"H.264 encode (crf {crf})")
        out = _decode_raw(ff, mp4, w, h, "H.264 decode")
    if out.shape[0] != t:
        raise ComputeError(f"H.264 round trip returned {out.shape[0]} frames for {t}")
    return out


def ffmpeg_downscale(ff: FFmpeg, frames: np.ndarray, scale: int, flags: str = "bicubic") -> np.ndarray:
    """Shrink ``(T, H, W, 3)`` uint8 RGB frames by ``scale`` with ffmpeg's scale filter (swscale ``flags``)."""
    t, h, w, _ = frames.shape
    with tempfile.TemporaryDirectory(prefix="iqa-bench-scale-") as tmp:
        src = os.path.join(tmp, "hr.nut")
        _run(ff, [*_raw_args(frames, Fraction(30)), "-c:v", "rawvideo", src],
             stdin=np.ascontiguousarray(frames).tobytes(), what="raw video write")
        return _decode_raw(ff, src, w // scale, h // scale, f"ffmpeg scale ({flags})",
                           vf=["-vf", f"scale={w // scale}:{h // scale}:flags={flags}"])


def decode_rgb(path: str | os.PathLike[str]) -> tuple[np.ndarray, Fraction]:
    """All frames of a clip any ffmpeg reads, as ``(T, H, W, 3)`` uint8 RGB, and its frame rate.

    Decoded by imageio-ffmpeg (which also reports size and frame rate).
    """
    try:
        import imageio_ffmpeg
    except ImportError:
        raise InputError(f"cannot decode {path}: imageio-ffmpeg is not installed", INSTALL_HINT) from None
    try:
        gen = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
        meta = next(gen)
        w, h = meta["size"]
        frames = [np.frombuffer(b, np.uint8).reshape(h, w, 3) for b in gen]
    except (RuntimeError, OSError, StopIteration) as exc:
        raise InputError(f"cannot decode video {path}: {str(exc).strip().splitlines()[-1] if str(exc) else exc}",
                         "check that the file is a complete video ffmpeg can read") from None
    if not frames:
        raise InputError(f"video {path} has no frames", "check the file")
    fps = Fraction(meta.get("fps") or 30).limit_denominator(1001)
    return np.stack(frames), fps
