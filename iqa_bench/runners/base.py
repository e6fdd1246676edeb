"""The runner interface: a backend that turns LR images into SR images for one model x variant."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from iqa_bench.errors import ComputeError
from iqa_bench.io import quantize_uint8


@dataclass(frozen=True)
class RunnerInfo:
    """Frozen metadata of a runner (backend).

    Attributes
    ----------
    variants
        Numeric variants it runs (``fp32``, ``fp16``, ``int8``...); the first is its default.
    devices
        ``cpu`` and/or ``cuda``.
    replaces
        Backends whose models this runner can also run (``onnxruntime`` runs any ``torch`` zoo
        model): a variant the model's own backend lacks is taken from the first such runner.
    precision_free
        The runner has one exact variant and no precision variants (interpolation): it runs that
        variant whatever ``--variants`` asks for, so baselines stay in every run.
    preferred_for
        Variants for which this runner is picked before other installed runners that could replace
        a model's own (e.g. ``openvino`` for ``int8``: the fastest faithful CPU int8 measured).
    int8_float_precisions
        What the layers its int8 keeps in float can compute in (``--int8-float-precision``).
    int8_layer_sweep
        Its int8 build can keep the most sensitive layers in float too (``--int8-float-layers``).
    requires
        Importable modules it needs (an optional extra). A runner whose modules are missing is
        never picked automatically for a variant; asked for by name, its factory says how to
        install them.
    """

    description: str
    variants: tuple[str, ...]
    devices: tuple[str, ...] = ("cpu",)
    replaces: tuple[str, ...] = ()
    precision_free: bool = False
    preferred_for: tuple[str, ...] = ()
    int8_float_precisions: tuple[str, ...] = ("f32",)
    int8_layer_sweep: bool = False
    requires: tuple[str, ...] = ()

    def installed(self) -> bool:
        """Whether every module in ``requires`` can be imported (checked without importing it)."""
        from importlib.util import find_spec

        return all(find_spec(m) is not None for m in self.requires)


DEVICES = ("cpu", "cuda")


def check_device(device: str) -> str:
    """``device`` if it names one this project runs on (``cpu``, ``cuda``, ``cuda:N``), else one clear error."""
    from iqa_bench.errors import InputError

    base, _, index = str(device).partition(":")
    if base not in DEVICES or (index and (base != "cuda" or not index.isdigit())):
        raise InputError(f"unknown device {device!r}", "use --device cpu or --device cuda (cuda:N for one GPU)")
    return device


def require_finite(sr: np.ndarray) -> None:
    """Raise :class:`ComputeError` when an SR output has NaN/inf values (never rounded away)."""
    bad = int(np.size(sr) - np.count_nonzero(np.isfinite(sr)))
    if bad:
        raise ComputeError(f"output contains {bad} NaN/inf values")


class Upscaler:
    """One model x variant on one backend.

    Subclasses implement :meth:`upscale`; :meth:`upscale_uint8` is the image as saved and scored by
    default (override it where the backend can round exactly, e.g. on the 0..255 scale).
    """

    def weights_path(self, scale: int) -> str | None:
        """The verified weights file used at ``scale`` (None when none is needed); raises
        :class:`~iqa_bench.weights.WeightsError` when it cannot be resolved."""
        return None

    def prepare(self, scale: int) -> None:
        """Build whatever the first image at ``scale`` would otherwise build (network, ONNX export,
        calibration, quantization, compilation), so that it is timed apart from per-image SR time.
        Default: nothing to build."""

    def build_identity(self) -> dict:
        """What, besides the model's description and weights, makes this upscaler's outputs (the
        calibration set and recipe of an int8 variant, a QAT configuration): part of the content id
        of its result cells. Default: nothing."""
        return {}

    def provenance(self) -> dict:
        """What the run manifest should record about files this upscaler built (ONNX artefacts,
        engines), keyed by ``x{scale}``; empty when it built none."""
        return {}

    def upscale(self, lr: np.ndarray, scale: int) -> np.ndarray:
        """``(h, w, C)`` uint8 LR -> ``(s*h, s*w, C)`` float64 SR on the [0, 1] scale, not clipped."""
        raise NotImplementedError

    def upscale_uint8(self, lr: np.ndarray, scale: int) -> np.ndarray:
        """SR output clipped and rounded to uint8; NaN/inf is an error, never rounded away."""
        sr = self.upscale(lr, scale)
        require_finite(sr)
        return quantize_uint8(sr)
