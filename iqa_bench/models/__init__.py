"""Model zoo: each entry of ``runners/zoo.toml`` is registered in ``MODELS`` with its metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from iqa_bench.config import load_toml
from iqa_bench.registry import Registry
from iqa_bench.weights import WeightSpec


@dataclass(frozen=True)
class ModelInfo:
    """Frozen metadata of a zoo model.

    Attributes
    ----------
    arch
        Architecture name (``"interp"`` for interpolation).
    backend
        Default runner (a name in ``RUNNERS``).
    params
        Architecture parameters from the zoo entry (e.g. ``{"kernel": "bicubic"}``).
    scales
        Scales the model supports; empty means any integer scale.
    published
        Published reference values, ``{"Set5/x4": 28.42, ...}`` (PSNR-Y unless the source says).
    weights
        Weights per scale, ``{"x2": WeightSpec, ...}``, or ``{"any": WeightSpec}`` for one file for
        every scale; empty for models without weights (interpolation).
    input
        What the network sees: ``"rgb"`` or ``"y"`` (BT.601 luma; a grey image as is). A Y model's
        output is recombined with the bicubic-upsampled Cb/Cr of the LR image.
    value_range
        Pixel scale the network works on: 1 ([0, 1]) or 255.
    upsample
        ``"bicubic"``: the network takes the LR image pre-upsampled (MATLAB bicubic, float);
        ``"none"``: it takes the LR image.
    detected
        For a checkpoint whose architecture was detected (``--model NAME=CKPT`` without ``--arch``):
        the architecture, scale, channels and size requirements found; recorded in the manifest.
    """

    arch: str
    backend: str
    description: str
    params: dict[str, Any] = field(default_factory=dict)
    scales: tuple[int, ...] = ()
    published: dict[str, float] = field(default_factory=dict)
    published_source: str = ""
    weights: dict[str, WeightSpec] = field(default_factory=dict)
    input: str = "rgb"
    value_range: float = 1.0
    upsample: str = "none"
    detected: dict[str, Any] = field(default_factory=dict)

    def weight_for(self, scale: int) -> WeightSpec | None:
        """The weights file for ``scale`` (None when the model needs none)."""
        return self.weights.get(f"x{scale}", self.weights.get("any"))


_META_KEYS = {"arch", "backend", "description", "scales", "published", "published_source", "weights", "input",
              "value_range", "upsample"}


def model_info_from_entry(entry: dict[str, Any]) -> ModelInfo:
    """Build :class:`ModelInfo` from one zoo table; keys that are not metadata become ``params``."""
    return ModelInfo(
        arch=entry["arch"],
        backend=entry["backend"],
        description=entry.get("description", ""),
        params={k: v for k, v in entry.items() if k not in _META_KEYS},
        scales=tuple(entry.get("scales", ())),
        published=dict(entry.get("published", {})),
        published_source=entry.get("published_source", ""),
        weights={k: WeightSpec(**v) for k, v in entry.get("weights", {}).items()},
        input=entry.get("input", "rgb"),
        value_range=float(entry.get("value_range", 1.0)),
        upsample=entry.get("upsample", "none"),
    )


def register_builtins(reg: Registry[ModelInfo]) -> None:
    """Register every model of ``runners/zoo.toml``."""
    for name, entry in load_toml("runners/zoo.toml")["models"].items():
        info = model_info_from_entry(entry)
        reg.register(name, lambda info=info: info, info)


MODELS: Registry[ModelInfo] = Registry("model", register_builtins)

__all__ = ["MODELS", "ModelInfo", "model_info_from_entry"]
