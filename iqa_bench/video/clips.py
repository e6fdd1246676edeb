"""Clip files handed to video metrics, with their roles fixed by type.

A video metric is called as ``metric(DistortedClip, ReferenceClip)``: prediction first, reference
second, like every image metric. The two roles are different classes, and :func:`check_clip_pair`
refuses anything else, so a reference and a distorted clip cannot be swapped by argument order
anywhere in iqa-bench (VMAF is not symmetric: its motion
feature is computed on the reference; and the tools disagree on order: ffmpeg-quality-metrics'
command line takes ``dist ref``, its Python API ``(ref, dist)``, libvmaf's filter ``[dist][ref]``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from iqa_bench.errors import InputError
from iqa_bench.video.y4m import Y4MHeader, read_header


@dataclass(frozen=True)
class _ClipFile:
    path: Path
    header: Y4MHeader

    @classmethod
    def open(cls, path: str | os.PathLike[str]):
        """The clip at ``path`` (a ``.y4m`` file; see :mod:`iqa_bench.video.y4m`)."""
        p = Path(path)
        if not p.is_file():
            raise InputError(f"clip not found: {p}", "pass an existing .y4m file")
        return cls(p, read_header(p))

    @property
    def describe(self) -> str:
        h = self.header
        return f"{self.path} ({h.width}x{h.height}, {h.frames} frames)"


@dataclass(frozen=True)
class ReferenceClip(_ClipFile):
    """The pristine clip (HR ground truth)."""


@dataclass(frozen=True)
class DistortedClip(_ClipFile):
    """The clip under test (SR output, decoded encode, ...)."""


def check_clip_pair(dist: object, ref: object, metric: str) -> None:
    """Refuse swapped or mismatched clips before any metric runs.

    Raises
    ------
    TypeError
        ``dist`` is not a :class:`DistortedClip` or ``ref`` not a :class:`ReferenceClip` (a
        programming error: the roles were swapped or a bare path was passed).
    InputError
        Frame counts or frame sizes differ (metrics would silently compare only the overlap, or
        compare a rescaled clip).
    """
    if not isinstance(ref, ReferenceClip) or not isinstance(dist, DistortedClip):
        raise TypeError(
            f"{metric}: call it as metric(DistortedClip, ReferenceClip), prediction first, got "
            f"({type(dist).__name__}, {type(ref).__name__}); reference and distorted clips are not interchangeable"
        )
    r, d = ref.header, dist.header
    if (r.width, r.height) != (d.width, d.height):
        raise InputError(
            f"{metric}: distorted clip {dist.path} is {d.width}x{d.height} but its reference {ref.path} is "
            f"{r.width}x{r.height}",
            "SR output must have the reference's size; iqa-bench does not rescale clips before scoring",
        )
    if r.frames != d.frames:
        raise InputError(
            f"{metric}: distorted clip {dist.path} has {d.frames} frames but its reference {ref.path} has {r.frames}",
            "give both clips the same frames (a dropped or repeated frame shifts every later pair)",
        )
