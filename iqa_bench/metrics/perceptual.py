"""Deep-feature metrics: LPIPS v0.1 (AlexNet, VGG16, SqueezeNet 1.1) and DISTS.

Conventions: RGB in [0, 1] (a grey image expanded to three channels), no resizing of
any kind; LPIPS maps [0, 1] to [-1, 1] itself. Both are distances: lower is better.

Reference-side caching: ``reference(hr)`` computes the HR image's features once and
``compare(sr, ref)`` scores an output against them, so N models cost N + 1 forward passes per image,
not 2N. ``metric(sr, hr)`` does both. ``compare_many(srs, ref)`` scores the outputs of every model of
one HR image in batched forward passes (at most about :data:`BATCH_PIXELS` pixels each); a value
then differs from the single-image one by float rounding only (oneDNN may pick other kernels).

The backbones run channels-last (NHWC): oneDNN's convolutions are faster on it (VGG16 about 1.25x,
SqueezeNet 1.5x on an AVX-512 Xeon; AlexNet the same), and the values move by float rounding only
(about 1e-9).

The backbones' ImageNet weights come from the weights store (torchvision's ``features.*`` tensors);
nothing is downloaded behind the user's back. LPIPS's linear heads are the official v0.1 files that
ship inside the ``lpips`` package.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from iqa_bench.metrics._torch import as_tensor, ieee_fp32, resolve_device
from iqa_bench.metrics.base import MetricInfo, check_pair, check_shape
from iqa_bench.registry import Registry
from iqa_bench.weights import WeightSpec, WeightsStore

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    import torch

# The pixels of one batched forward pass: VGG16's first stage alone holds 64 float32 channels per
# pixel (256 bytes), several such maps at once, so 2 Mpx keep a pass near 2 GB.
BATCH_PIXELS = 2_000_000


def _batches(srs: Sequence[np.ndarray], device: torch.device) -> Iterator[torch.Tensor]:
    """``(N, 3, H, W)`` float32 tensors of the images ``srs`` (one shape), about :data:`BATCH_PIXELS` each."""
    import torch

    per = max(1, BATCH_PIXELS // (srs[0].shape[0] * srs[0].shape[1])) if len(srs) else 1
    for i in range(0, len(srs), per):
        yield torch.cat([as_tensor(sr, rgb=True, device=device) for sr in srs[i:i + per]])

_TV = "torchvision's ImageNet {} (IMAGENET1K_V1): save the 'features.*' entries of {} as a state_dict"
BACKBONES = {
    "alex": WeightSpec(
        "perceptual/alexnet_features_imagenet_torchvision.pth",
        "efe272311be54dcd133e061930526afaf1ab0917539f85e1c28170446b3558b3",
        source=_TV.format("AlexNet", "alexnet-owt-7be5be79.pth"),
    ),
    "vgg": WeightSpec(
        "perceptual/vgg16_features_imagenet_torchvision.pth",
        "9db78a14e73153518aaea3bb2f6bc0c748fdca3b564f1eaa84a21346f46ddbb5",
        source=_TV.format("VGG16", "vgg16-397923af.pth"),
    ),
    "squeeze": WeightSpec(
        "perceptual/squeezenet1_1_features_imagenet_torchvision.pth",
        "a2120cfbbd6ac00d37f2eb75086f283c9787a4a58eb9192344c0d133734fa346",
        source=_TV.format("SqueezeNet 1.1", "squeezenet1_1-b8a52dc0.pth"),
    ),
}
DISTS_WEIGHTS = WeightSpec(
    "perceptual/dists_weights.pt",
    "f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218",
    url="https://github.com/photosynthesis-team/piq/releases/download/v0.4.1/dists_weights.pt",
    source="the DISTS release (dingkeyan93/DISTS, weights.pt: alpha and beta)",
)


def _features_state(path: Path) -> dict[str, torch.Tensor]:
    import torch

    sd = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(sd, dict) or not any(k.startswith("features.") for k in sd):
        raise ValueError(f"{path} holds no 'features.*' tensors; expected a torchvision backbone state_dict")
    return {k: v for k, v in sd.items() if k.startswith("features.")}


@dataclass
class _Features:
    """Per-layer features of one image (already unit-normalised for LPIPS)."""

    layers: list[torch.Tensor]
    shape: tuple[int, ...]  # of the HR image, (H, W, C): an SR image of another shape is refused


class _DeepFeatureMetric:
    """A distance built from per-layer terms of a backbone's features: the HR image's features made
    once (:meth:`reference`), every output's scored against them, several outputs in batched passes.

    A subclass sets ``name`` and ``device`` and defines ``_features(x)`` (the per-layer features of
    ``(N, 3, H, W)`` on [0, 1]), ``_layer_terms(fx, fy)`` (the ``(N,)`` term of each layer) and
    ``_value(total)`` (the metric from the sum of the terms: a float, or in :meth:`torch_value` a tensor).
    """

    name: str
    device: torch.device

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def _layer_terms(self, fx: list[torch.Tensor], fy: list[torch.Tensor]) -> list[torch.Tensor]:
        raise NotImplementedError

    def _value(self, total: float) -> float:
        return total

    def reference(self, hr: np.ndarray) -> _Features:
        import torch

        with torch.inference_mode(), ieee_fp32():
            return _Features(self._features(as_tensor(hr, rgb=True, device=self.device)), hr.shape)

    def compare(self, sr: np.ndarray, ref: _Features) -> float:
        return self.compare_many([sr], ref)[0]

    def compare_many(self, srs: Sequence[np.ndarray], ref: _Features) -> list[float]:
        import torch

        for sr in srs:
            check_shape(sr, ref.shape, self.name)
        out: list[float] = []
        with torch.inference_mode(), ieee_fp32():
            for x in _batches(srs, self.device):
                terms = self._layer_terms(self._features(x), ref.layers)
                out += [self._value(sum(float(t[i]) for t in terms)) for i in range(len(x))]
        return out

    def __call__(self, sr: np.ndarray, hr: np.ndarray) -> float:
        check_pair(sr, hr, self.name)
        return self.compare(sr, self.reference(hr))

    def torch_value(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-image values of ``(N, C, H, W)`` tensors on [0, 1] (grey expanded), differentiable."""
        pred, target = _rgb(pred), _rgb(target)
        return self._value(sum(self._layer_terms(self._features(pred), self._features(target))))


class LPIPS(_DeepFeatureMetric):
    """LPIPS v0.1 distance (Zhang et al. 2018) through the official ``lpips`` package's modules."""

    name = "lpips"

    def __init__(self, net: str, backbone_path: Path, device: str | None = "cpu") -> None:
        import lpips
        import torch

        self.device = resolve_device(device)
        with warnings.catch_warnings():  # lpips passes torchvision's deprecated `pretrained=False`
            warnings.simplefilter("ignore", UserWarning)
            model = lpips.LPIPS(net=net, version="0.1", pretrained=True, pnet_rand=True, verbose=False)
        # lpips splits torchvision's `features` into slices that keep the original indices:
        # slice{k}.{i}.{param} is features.{i}.{param}.
        feats = _features_state(backbone_path)
        wanted = model.net.state_dict()
        missing = [k for k in wanted if "features." + k.split(".", 1)[1] not in feats]
        if missing:
            raise ValueError(f"{backbone_path} lacks {len(missing)} tensors LPIPS-{net} needs, e.g. {missing[0]}")
        model.net.load_state_dict({k: feats["features." + k.split(".", 1)[1]] for k in wanted}, strict=True)
        self.model = model.eval().to(self.device, memory_format=torch.channels_last)
        self._normalize = lpips.normalize_tensor

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Unit-normalised features of ``(N, 3, H, W)`` on [0, 1] (the network runs channels-last)."""
        import torch

        x = self.model.scaling_layer(x * 2 - 1).contiguous(memory_format=torch.channels_last)
        return [self._normalize(o) for o in self.model.net(x)]

    def _layer_terms(self, fx: list[torch.Tensor], fy: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per layer, the ``(N,)`` weighted squared distance averaged over positions (LPIPS' terms)."""
        return [lin((a - b) ** 2).mean(dim=(1, 2, 3)) for lin, a, b in zip(self.model.lins, fx, fy)]


def _rgb(x: torch.Tensor) -> torch.Tensor:
    """Grey ``(N, 1, H, W)`` expanded to three equal channels (the networks were trained on RGB)."""
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def _l2pool(channels: int) -> torch.nn.Module:
    """DISTS's L2 pooling: sqrt(hanning-3x3 blur of x^2), stride 2 (replaces VGG's max-pooling)."""
    import torch
    import torch.nn.functional as F

    class L2Pool(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            a = torch.tensor([0.5, 1.0, 0.5], dtype=torch.float64)
            g = torch.outer(a, a)
            self.register_buffer("kernel", (g / g.sum()).float().expand(channels, 1, 3, 3).contiguous())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = F.conv2d(x * x, self.kernel, stride=2, padding=1, groups=x.shape[1])
            return (out + 1e-12).sqrt()

    return L2Pool()


class DISTS(_DeepFeatureMetric):
    """DISTS (Ding et al. 2020), official alpha/beta, written from the paper and the official release.

    Why not ``piq.DISTS``: it downloads VGG16 and its weights when constructed and silently resizes
    images whose short side exceeds 256 px; our convention scores the image as it is.
    """

    name = "dists"

    _CHANNELS = (3, 64, 128, 256, 512, 512)
    _STAGES = ((0, 4), (4, 9), (9, 16), (16, 23), (23, 30))  # torchvision VGG16 features up to relu{1..5}_{2,2,3,3,3}

    def __init__(self, vgg_path: Path, alpha_beta_path: Path, device: str | None = "cpu") -> None:
        import torch
        from torch import nn
        from torchvision.models import vgg16

        self.device = resolve_device(device)
        vgg = vgg16(weights=None).features
        vgg.load_state_dict({k.split(".", 1)[1]: v for k, v in _features_state(vgg_path).items()}, strict=True)
        layers = list(vgg)
        for i, layer in enumerate(layers):
            if isinstance(layer, nn.MaxPool2d):
                layers[i] = _l2pool(layers[i - 2].out_channels)
        self.stages = nn.ModuleList(nn.Sequential(*layers[a:b]) for a, b in self._STAGES).eval().to(
            self.device, memory_format=torch.channels_last)
        ab = torch.load(alpha_beta_path, map_location="cpu", weights_only=True)
        alpha, beta = ab["alpha"].double(), ab["beta"].double()
        total = alpha.sum() + beta.sum()
        self.alpha = [t.to(self.device) for t in torch.split(alpha / total, self._CHANNELS, dim=1)]
        self.beta = [t.to(self.device) for t in torch.split(beta / total, self._CHANNELS, dim=1)]
        self.mean = torch.tensor([0.485, 0.456, 0.406], device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225], device=self.device).view(1, 3, 1, 1)

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The image and the five stages' features of ``(N, 3, H, W)`` on [0, 1] (the stages run channels-last)."""
        import torch

        feats, h = [x], ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        for stage in self.stages:
            h = stage(h)
            feats.append(h)
        return feats

    def _layer_terms(self, fx: list[torch.Tensor], fy: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per layer, the ``(N,)`` alpha-weighted structure plus beta-weighted texture similarity (float64)."""
        c = 1e-6
        out = []
        for x, y, a, b in zip(fx, fy, self.alpha, self.beta):
            mx, my = x.mean([2, 3], keepdim=True), y.mean([2, 3], keepdim=True)
            vx, vy = ((x - mx) ** 2).mean([2, 3], keepdim=True), ((y - my) ** 2).mean([2, 3], keepdim=True)
            cov = (x * y).mean([2, 3], keepdim=True) - mx * my
            structure = (2 * mx * my + c) / (mx**2 + my**2 + c)
            texture = (2 * cov + c) / (vx + vy + c)
            out.append((a * structure.double()).sum(dim=(1, 2, 3)) + (b * texture.double()).sum(dim=(1, 2, 3)))
        return out

    def _value(self, total: float) -> float:
        return 1.0 - total


def _create_dists(store: WeightsStore | None = None, device: str | None = "cpu") -> DISTS:
    store = store or WeightsStore()
    return DISTS(store.resolve(BACKBONES["vgg"]), store.resolve(DISTS_WEIGHTS), device)


def register(reg: Registry[MetricInfo]) -> None:
    """Register ``lpips`` (AlexNet), ``lpips_vgg``, ``lpips_squeeze`` and ``dists``."""
    common = dict(kind="fr", higher_is_better=False, value_range=(0.0, 1.0), colour="rgb (grey expanded)",
                  crop="scale", devices=("cpu", "cuda"), differentiable=True,
                  perceptual=True)
    for name, net in (("lpips", "alex"), ("lpips_vgg", "vgg"), ("lpips_squeeze", "squeeze")):
        reg.register(
            name,
            lambda store=None, device="cpu", net=net: LPIPS(net, (store or WeightsStore()).resolve(BACKBONES[net]), device),
            MetricInfo(
                description=f"LPIPS v0.1, {net} trunk, official linear heads (lpips package), [0,1] -> [-1,1], no resize",
                weights=(BACKBONES[net],),
                equivalence_margin=0.005,
                precision="float32",
                **common,
            ),
        )
    reg.register(
        "dists",
        _create_dists,
        MetricInfo(
            description="DISTS, VGG16 with L2 pooling, official alpha/beta, ImageNet normalisation, no resize",
            weights=(BACKBONES["vgg"], DISTS_WEIGHTS),
            precision="float32 features, float64 pooling",
            **common,
        ),
    )
