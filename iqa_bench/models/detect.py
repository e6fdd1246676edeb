"""Architecture detection for checkpoints the zoo has no entry for, by ``spandrel``.

``spandrel`` (MIT) recognises the field's SR checkpoints (ESRGAN/Real-ESRGAN, SwinIR, HAT, DAT, SPAN,
Compact, RCAN, OmniSR, ...) from their state_dict keys and builds the network with its parameters and
scale. The zoo's own architectures keep their own loaders (they reproduce the papers' numbers with
their official key layouts); detection is the path for ``--model NAME=CKPT`` without ``--arch``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iqa_bench.errors import InputError

HINT = "pass --arch NAME (and --arch-param K=V) for an architecture of the zoo (`iqa-bench list models`)"


@dataclass(frozen=True)
class Detected:
    """What spandrel found in a checkpoint."""

    architecture: str  # spandrel's architecture id, e.g. "ESRGAN", "SwinIR"
    scale: int
    input_channels: int
    output_channels: int
    size_requirements: dict[str, Any]


def _load(path: str | Path) -> Any:
    try:
        from spandrel import ModelLoader
    except ImportError as exc:  # a dependency of iqa-bench; only a broken install lacks it
        raise InputError(f"checkpoint detection needs the spandrel package ({exc.msg})",
                         "pip install spandrel, or " + HINT) from None
    p = Path(path)
    if p.is_file() and p.stat().st_size == 0:
        raise InputError(f"checkpoint {p} is empty (0 bytes)", "the download or copy was cut off: fetch the file again")
    try:
        return ModelLoader(device="cpu").load_from_file(str(p))
    except Exception as exc:  # noqa: BLE001 - spandrel raises its own and torch's many error types
        from spandrel import MAIN_REGISTRY

        known = ", ".join(sorted({a.architecture.name for a in MAIN_REGISTRY.architectures()})[:60])
        why = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise InputError(f"the architecture of checkpoint {p} was not recognised ({why}); tried spandrel's {known}",
                         HINT) from None


def detect(path: str | Path) -> Detected:
    """The architecture, scale and channels of the checkpoint at ``path``; a clear error when unknown."""
    d = _load(path)
    req = d.size_requirements
    return Detected(d.architecture.id, int(d.scale), int(d.input_channels), int(d.output_channels),
                    {"minimum": req.minimum, "multiple_of": req.multiple_of, "square": req.square})


def build_detected(checkpoint: str) -> Any:
    """The network of ``checkpoint`` with its weights, in eval mode (the ``spandrel`` architecture's factory)."""
    return _load(checkpoint).model.eval()
