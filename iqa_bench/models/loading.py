"""Checkpoint loading for the layouts people have: plain state_dicts, BasicSR ``params``/``params_ema``,
``state_dict``/``model`` wrappers, DataParallel ``module.`` prefixes, and arch-specific renamings
(original ESRGAN keys). Always ``torch.load(..., weights_only=True)``: no pickled code runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from iqa_bench.errors import InputError, brief

_WRAPPERS = ("params_ema", "params", "state_dict", "model", "net", "generator")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensor dict inside a checkpoint file, unwrapped; a clear error when there is none."""
    p = Path(path)
    if p.is_file() and p.stat().st_size == 0:
        raise InputError(f"checkpoint {p} is empty (0 bytes)", "the download or copy was cut off: fetch the file again")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated, non-zip or pickled-code files
        raise InputError(
            f"checkpoint {p} cannot be read as PyTorch weights ({brief(exc)})",
            "the file is corrupt, truncated, or a pickled model object; re-download it, or save "
            "model.state_dict() with torch.save",
        ) from None
    for _ in range(2):
        if isinstance(obj, dict):
            inner = next((obj[k] for k in _WRAPPERS if isinstance(obj.get(k), dict)), None)
            if inner is not None and not all(isinstance(v, torch.Tensor) for v in obj.values()):
                obj = inner
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise InputError(
            f"checkpoint {p} holds no state_dict (found {type(obj).__name__})",
            f"expected a dict of tensors, possibly under one of {', '.join(_WRAPPERS)}",
        )
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def load_into(model: nn.Module, path: str | Path, *, what: str,
              convert: Callable[[dict], dict] | None = None) -> nn.Module:
    """Load ``path`` into ``model`` strictly; missing/unexpected keys and shape mismatches are named.

    ``what`` describes the model for the message (e.g. ``"fsrcnn x3"``). Tensors are cast to the
    model's dtype (a float16 file loads into a float32 model).
    """
    sd = read_state_dict(path)
    if convert is not None:
        sd = convert(sd)
    own = model.state_dict()
    missing = [k for k in own if k not in sd and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in own]
    shapes = [f"{k}: file {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in sd and sd[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        if shapes:
            parts.append(f"{len(shapes)} of another shape (e.g. {shapes[0]})")
        raise InputError(
            f"checkpoint {path} does not fit {what}: " + "; ".join(parts),
            "check that the weights are for this architecture, its parameters and this scale",
        )
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in sd.items()}, strict=False)
    return model
