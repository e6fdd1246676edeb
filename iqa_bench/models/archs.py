"""Architecture registry: name -> builder ``(scale, **params) -> nn.Module`` with its checkpoint layouts.

A new architecture is one module in this package plus one ``reg.register`` line here (or an entry
point in the ``iqa_bench.architectures`` group); the zoo entry in ``runners/zoo.toml`` names it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from iqa_bench.registry import Registry

if TYPE_CHECKING:
    import torch

    from iqa_bench.models import ModelInfo


@dataclass(frozen=True)
class ArchInfo:
    """Frozen metadata of an architecture.

    Attributes
    ----------
    description
        Paper and key layout.
    takes_scale
        Whether the builder needs the scale (False: one network for every scale, e.g. VDSR).
    layouts
        Checkpoint layouts the loader accepts, for messages and docs.
    convert
        Optional ``state_dict -> state_dict`` renaming an alternative official layout to ours.
    loads_weights
        The factory takes ``checkpoint=PATH`` and returns the network with its weights loaded.
    """

    description: str
    takes_scale: bool = True
    layouts: tuple[str, ...] = ("plain state_dict",)
    convert: Callable[[dict], dict] | None = None
    loads_weights: bool = False  # the factory builds the network from the checkpoint itself (spandrel)


def _lazy(module: str, cls: str) -> Callable[..., Any]:
    def build(**kwargs: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(f"iqa_bench.models.{module}"), cls)(**kwargs)

    return build


def _esrgan_convert(sd: dict) -> dict:
    from iqa_bench.models.rrdbnet import from_esrgan_keys

    return from_esrgan_keys(sd)


def register_builtins(reg: Registry[ArchInfo]) -> None:
    """Register the built-in architectures."""
    reg.register("srcnn", _lazy("srcnn", "SRCNN"), ArchInfo("SRCNN (Dong 2014), pre-upsampled Y", takes_scale=False))
    reg.register("fsrcnn", _lazy("fsrcnn", "FSRCNN"), ArchInfo("FSRCNN (Dong 2016), LR Y; yjn870 layout"))
    reg.register("vdsr", _lazy("vdsr", "VDSR"), ArchInfo("VDSR (Kim 2016), pre-upsampled Y; twtygqyy layout",
                                                         takes_scale=False))
    reg.register("edsr", _lazy("edsr", "EDSR"), ArchInfo("EDSR (Lim 2017), RGB 0..255", layouts=("EDSR-PyTorch",)))
    reg.register("rdn", _lazy("rdn", "RDN"), ArchInfo("RDN (Zhang 2018), RGB 0..255", layouts=("EDSR-PyTorch",)))
    reg.register("msrresnet", _lazy("srresnet", "MSRResNet"),
                 ArchInfo("BN-free SRResNet (BasicSR MSRResNet)", layouts=("BasicSR params/params_ema",)))
    reg.register("srgan_leftthomas", _lazy("srresnet", "SRGANLeftthomas"),
                 ArchInfo("SRGAN generator of leftthomas/SRGAN (5 BN blocks)"))
    reg.register("spandrel", _lazy("detect", "build_detected"),
                 ArchInfo("any architecture spandrel recognises from the checkpoint's keys (ESRGAN, SwinIR, HAT, "
                          "DAT, SPAN, Compact, ...)", takes_scale=False, layouts=("spandrel-detected",),
                          loads_weights=True))
    reg.register("rrdbnet", _lazy("rrdbnet", "RRDBNet"),
                 ArchInfo("ESRGAN RRDBNet (Wang 2018)", layouts=("BasicSR params/params_ema", "original ESRGAN keys"),
                          convert=_esrgan_convert))
    reg.register("unet", _lazy("unet", "UNet"), ArchInfo("residual UNet on an output-size image", takes_scale=False))
    reg.register("srunet", _lazy("unet", "SRUNet"), ArchInfo("SR-UNet: UNet + PixelShuffle + bicubic skip"))


ARCHS: Registry[ArchInfo] = Registry("architecture", register_builtins)


def build_network(info: ModelInfo, scale: int, weights: str | None) -> torch.nn.Module:
    """The zoo entry's network for ``scale`` with ``weights`` loaded (random init when None), eval mode."""
    from iqa_bench.errors import InputError
    from iqa_bench.models.loading import load_into

    arch = ARCHS.get(info.arch)
    kwargs = dict(info.params)
    if arch.meta.takes_scale:
        kwargs["scale"] = scale
    try:
        net = arch.factory(**kwargs)
    except (TypeError, ValueError) as exc:
        raise InputError(f"cannot build {info.arch} with {kwargs}: {exc}", "check the zoo entry's parameters") from None
    if weights is not None and not arch.meta.loads_weights:
        load_into(net, weights, what=f"{info.arch} x{scale} {info.params}", convert=arch.meta.convert)
    return net.eval()
