"""Metric metadata and the interface every metric implements."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from iqa_bench.weights import WeightSpec

# The ``colour`` metadata of the metrics on their authors' MATLAB conventions (as piq reproduces them):
# an RGB image reduced to the full-range YIQ luma, not the BT.601 limited-range luma of psnr_y/ssim_y.
YIQ_COLOUR = "yiq luma 0.299/0.587/0.114 (authors' MATLAB); grey as is"


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
    weights
        Files the metric needs, resolved through the weights store; empty when none.
    description
        One line with the formula or the library and the exact options.
    perceptual
        A perceptual-quality measure (learned, or natural-scene statistics) rather than a fidelity
        one: the y axis of the report's perception-distortion plot (Blau & Michaeli 2018).
    differentiable
        The metric has a torch path through which gradients flow (:class:`Differentiable`), so
        ``create_metric(name, as_loss=True)`` can train a model with it.
    equivalence_margin
        Default margin of the TOST equivalence test of a quantized variant against its FP32 model,
        in the metric's units (``|mean difference| <= margin``); None: no default, pass one.
    precision
        The arithmetic its value is computed in, e.g. ``"float64"`` (numpy), ``"float32"`` (a torch
        network), or the external tool's; chosen per metric so that its oracle test passes at its
        stated tolerance. None: not stated (a third-party plugin's).
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
    weights: tuple[WeightSpec, ...] = field(default_factory=tuple)
    devices: tuple[str, ...] = ("cpu",)
    perceptual: bool = False
    differentiable: bool = False
    equivalence_margin: float | None = None
    precision: str | None = None
    unavailable: str | None = None


@runtime_checkable
class ReferenceCached(Protocol):
    """A full-reference metric whose reference-only work can be done once per HR image.

    ``compare(sr, reference(hr)) == metric(sr, hr)``; the engine calls ``reference`` once per image
    and ``compare`` once per model output.
    """

    def reference(self, hr: np.ndarray) -> object: ...

    def compare(self, sr: np.ndarray, ref: object) -> float: ...


@runtime_checkable
class BatchCompared(Protocol):
    """A :class:`ReferenceCached` metric that scores several outputs of one HR image in one batched pass.

    ``compare_many(srs, ref)[i] == compare(srs[i], ref)`` up to float rounding (a batched torch
    forward may run other kernels than a single image's); the engine calls it with the outputs of
    every model and variant of one HR image.
    """

    def compare_many(self, srs: Sequence[np.ndarray], ref: object) -> list[float]: ...


@runtime_checkable
class Differentiable(Protocol):
    """A full-reference metric that can also be computed in torch, with gradients.

    ``torch_value(pred, target)`` takes ``(N, C, H, W)`` float tensors on [0, 1] (C = 1 or 3,
    already cropped) and returns the ``(N,)`` per-image values, equal to the numpy path's up to
    float precision.
    """

    def torch_value(self, pred: Any, target: Any) -> Any: ...


class FRMetric(Protocol):
    """A full-reference metric: ``metric(sr, hr) -> float``.

    Both images are float64 ``(H, W, C)`` in [0, 1], C = 1 or 3 and equal, already cropped.
    """

    def __call__(self, sr: np.ndarray, hr: np.ndarray) -> float: ...


def check_pair(sr: np.ndarray, hr: np.ndarray, metric: str) -> None:
    """Raise ``ValueError`` unless ``sr`` and ``hr`` have the same ``(H, W, C)`` shape."""
    check_shape(sr, hr.shape, metric)


def check_shape(sr: np.ndarray, hr_shape: tuple[int, ...], metric: str) -> None:
    """Raise ``ValueError`` unless ``sr`` is an ``(H, W, C)`` array of the HR image's shape (also for a
    cached reference, which keeps only the shape of its HR image)."""
    if sr.shape != tuple(hr_shape) or sr.ndim != 3:
        raise ValueError(f"{metric}: SR {sr.shape} and HR {tuple(hr_shape)} must be equal (H, W, C) arrays")


def as_unit_image(img: object, role: str, metric: str) -> np.ndarray:
    """``img`` as float64 ``(H, W, C)`` on [0, 1], converted by its dtype's true range or refused.

    uint8 is divided by 255 and uint16 by 65535; float images must already lie in [0, 1] (a float
    image on 0..255 would give silently wrong numbers, e.g. PSNR -8 dB). ``(H, W)`` becomes
    ``(H, W, 1)``; C must be 1 or 3. Raises :class:`~iqa_bench.errors.InputError` naming the metric,
    the argument and the fix.
    """
    from iqa_bench.errors import InputError

    where = f"{metric}: the {role} image"
    if not isinstance(img, np.ndarray):
        raise InputError(f"{where} is a {type(img).__name__}, not a numpy array",
                         "pass an (H, W[, C]) numpy array (uint8, uint16, or float on [0, 1])")
    a = img[..., None] if img.ndim == 2 else img
    if a.ndim != 3 or a.shape[2] not in (1, 3) or a.shape[0] == 0 or a.shape[1] == 0:
        raise InputError(f"{where} has shape {img.shape}", "pass (H, W) grey or (H, W, 3) RGB, channels last")
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0
    if a.dtype == np.uint16:
        return a.astype(np.float64) / 65535.0
    if a.dtype.kind != "f":
        raise InputError(f"{where} has dtype {a.dtype}", "pass uint8, uint16 or float images on [0, 1]")
    a = np.asarray(a, dtype=np.float64)
    # min and max propagate NaN and reach +-inf, so they also find non-finite values (no third pass)
    lo, hi = float(a.min()), float(a.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise InputError(f"{where} has NaN/inf values", "score finite images only")
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise InputError(f"{where} has float values in [{lo:.4g}, {hi:.4g}], outside [0, 1]",
                         "divide 0..255 images by 255 (or pass them as uint8); clip float outputs to [0, 1]")
    return a


class CheckedMetric:
    """An image metric behind the one contract of every Python call: ``metric(prediction, reference)``
    for full-reference metrics, ``metric(image)`` for no-reference ones, inputs validated and
    converted by :func:`as_unit_image`, and for FR metrics of equal shape.

    Attributes ``name`` and ``info`` (the :class:`MetricInfo`), and ``higher_is_better``.
    """

    def __init__(self, name: str, info: MetricInfo, fn: object) -> None:
        self.name, self.info, self._fn = name, info, fn
        self.higher_is_better = info.higher_is_better

    def _pair(self, prediction: object, reference: object) -> tuple[np.ndarray, np.ndarray]:
        from iqa_bench.errors import InputError

        p = as_unit_image(prediction, "prediction", self.name)
        r = as_unit_image(reference, "reference", self.name)
        if p.shape != r.shape:
            raise InputError(f"{self.name}: prediction {p.shape} and reference {r.shape} differ in shape",
                             "compare images of the same size and channel count (crop or convert one)")
        return p, r

    @contextmanager
    def _refusals(self) -> Iterator[None]:
        """The metric's own refusals (ValueError, and piq's ``assert`` checks of its input) become one
        :class:`~iqa_bench.errors.InputError` naming the metric."""
        from iqa_bench.errors import InputError

        try:
            yield
        except (ValueError, AssertionError) as exc:
            why = " ".join(str(exc).split()) or type(exc).__name__
            raise InputError(f"{self.name} cannot score this image: {why}",
                             "score images large and textured enough for this metric, or leave it out") from None

    def _run(self, fn: Any, *args: object) -> float:
        """Call the metric (see :meth:`_refusals`)."""
        with self._refusals():
            return float(fn(*args))

    def __call__(self, prediction: object, reference: object = None) -> float:
        if self.info.kind == "nr":
            if reference is not None:
                from iqa_bench.errors import InputError

                raise InputError(f"{self.name} is a no-reference metric: it takes one image", "call metric(image)")
            return self._run(self._fn, as_unit_image(prediction, "input", self.name))
        p, r = self._pair(prediction, reference)
        return self._run(self._fn, p, r)

    def __repr__(self) -> str:
        return f"<metric {self.name}: {self.info.description}>"


class CheckedReferenceMetric(CheckedMetric):
    """A :class:`CheckedMetric` whose reference-side work can be done once (see :class:`ReferenceCached`)."""

    def reference(self, hr: object) -> object:
        return self._fn.reference(as_unit_image(hr, "reference", self.name))  # type: ignore[attr-defined]

    def compare(self, sr: object, ref: object) -> float:
        return self._run(self._fn.compare, as_unit_image(sr, "prediction", self.name), ref)  # type: ignore[attr-defined]

    def compare_many(self, srs: Sequence[object], ref: object) -> list[float]:
        """:meth:`compare` of each of ``srs`` (outputs of one HR image), in one batched pass where the
        metric has one (:class:`BatchCompared`)."""
        images = [as_unit_image(sr, "prediction", self.name) for sr in srs]
        if not isinstance(self._fn, BatchCompared):
            return [self._run(self._fn.compare, sr, ref) for sr in images]  # type: ignore[attr-defined]
        with self._refusals():
            values = [float(v) for v in self._fn.compare_many(images, ref)]
        if len(values) != len(images):
            raise RuntimeError(f"{self.name}.compare_many returned {len(values)} values for {len(images)} images")
        return values
