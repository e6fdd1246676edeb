"""Model zoo: each entry of ``runners/zoo.toml`` is registered in ``MODELS`` with its metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from iqa_bench.config import load_toml
from iqa_bench.registry import Registry


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
    """

    arch: str
    backend: str
    description: str
    params: dict[str, Any] = field(default_factory=dict)
    scales: tuple[int, ...] = ()
    published: dict[str, float] = field(default_factory=dict)
    published_source: str = ""


_META_KEYS = {"arch", "backend", "description", "scales", "published", "published_source"}


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
    )


def register_builtins(reg: Registry[ModelInfo]) -> None:
    """Register every model of ``runners/zoo.toml``."""
    for name, entry in load_toml("runners/zoo.toml")["models"].items():
        info = model_info_from_entry(entry)
        reg.register(name, lambda info=info: info, info)


MODELS: Registry[ModelInfo] = Registry("model", register_builtins)

__all__ = ["MODELS", "ModelInfo", "model_info_from_entry"]
