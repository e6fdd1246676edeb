"""Metric metadata and the interface every metric implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from iqa_bench.weights import WeightSpec


@dataclass(frozen=True)
class MetricInfo:
    """Frozen metadata of a registered metric (torchmetrics' ``higher_is_better`` and more).

    Attributes
    ----------
    kind
        ``"fr"`` full-reference, ``"nr"`` no-reference, ``"video"``.
    higher_is_better
        Direction used by statistics, ranking and the gate.
    value_range
        Closed range of finite values; PSNR's upper end is ``inf`` (identical images).
    colour
        What the metric looks at, e.g. ``"rgb"`` or ``"y_bt601"`` (grey images: their grey values).
    crop
        ``"scale"``: the engine removes ``scale`` pixels from every border before scoring (SR
        convention); ``"none"``: the whole image.
    quantized_input
        Whether the SR output is rounded to uint8 before scoring by default.
    weights
        Files the metric needs, resolved through the weights store; empty when none.
    description
        One line with the formula or the library and the exact options.
    equivalence_margin
        Default margin of the TOST equivalence test of a quantized variant against its FP32 model,
        in the metric's units (``|mean difference| <= margin``); None: no default, pass one.
    unavailable
        Why the metric cannot be computed with this install (e.g. its weights cannot be had), or
        None. An unavailable metric is listed but its factory raises
        :class:`~iqa_bench.errors.MetricUnavailableError`.
    """

    kind: Literal["fr", "nr", "video"]
    higher_is_better: bool
    value_range: tuple[float, float]
    colour: str
    crop: Literal["scale", "none"]
    description: str
    quantized_input: bool = True
    weights: tuple[WeightSpec, ...] = field(default_factory=tuple)
    devices: tuple[str, ...] = ("cpu",)
    batchable: bool = False
    equivalence_margin: float | None = None
    unavailable: str | None = None


class ReferenceCached(Protocol):
    """A full-reference metric whose reference-only work can be done once per HR image.

    ``compare(sr, reference(hr)) == metric(sr, hr)``; the engine calls ``reference`` once per image
    and ``compare`` once per model output.
    """

    def reference(self, hr: np.ndarray) -> object: ...

    def compare(self, sr: np.ndarray, ref: object) -> float: ...


class FRMetric(Protocol):
    """A full-reference metric: ``metric(sr, hr) -> float``.

    Both images are float64 ``(H, W, C)`` in [0, 1], C = 1 or 3 and equal, already cropped.
    """

    def __call__(self, sr: np.ndarray, hr: np.ndarray) -> float: ...


def check_pair(sr: np.ndarray, hr: np.ndarray, metric: str) -> None:
    """Raise ``ValueError`` unless ``sr`` and ``hr`` have the same ``(H, W, C)`` shape."""
    if sr.shape != hr.shape or sr.ndim != 3:
        raise ValueError(f"{metric}: SR {sr.shape} and HR {hr.shape} must be equal (H, W, C) arrays")
