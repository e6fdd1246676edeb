"""EDSR (Lim et al., CVPRW 2017) in the official EDSR-PyTorch key layout (``sub_mean``, ``head``,
``body``, ``tail``, ``add_mean``). Baseline: 16 blocks x 64 features, res_scale 1; full: 32 x 256,
res_scale 0.1. Input and output RGB on the 0..``rgb_range`` scale."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

DIV2K_MEAN = (0.4488, 0.4371, 0.4040)


class MeanShift(nn.Conv2d):
    """1x1 convolution adding ``sign * rgb_range * mean`` per channel (official MeanShift, std 1)."""

    def __init__(self, rgb_range: float, sign: int) -> None:
        super().__init__(3, 3, 1)
        self.weight.data = torch.eye(3).view(3, 3, 1, 1)
        self.bias.data = sign * rgb_range * torch.tensor(DIV2K_MEAN)
        for p in self.parameters():
            p.requires_grad = False


class ResBlock(nn.Module):
    def __init__(self, feats: int, res_scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(feats, feats, 3, padding=1), nn.ReLU(True), nn.Conv2d(feats, feats, 3, padding=1))
        self.res_scale = res_scale

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x) * self.res_scale


def upsampler(scale: int, feats: int) -> nn.Sequential:
    """Sub-pixel upsampler of EDSR-PyTorch: log2(scale) x (conv -> PixelShuffle(2)), or one x3 stage."""
    layers: list[nn.Module] = []
    if scale & (scale - 1) == 0:
        for _ in range(int(math.log2(scale))):
            layers += [nn.Conv2d(feats, 4 * feats, 3, padding=1), nn.PixelShuffle(2)]
    elif scale == 3:
        layers += [nn.Conv2d(feats, 9 * feats, 3, padding=1), nn.PixelShuffle(3)]
    else:
        raise ValueError(f"EDSR upsampler supports scales 2^n and 3, not {scale}")
    return nn.Sequential(*layers)


class EDSR(nn.Module):
    def __init__(self, scale: int, n_resblocks: int = 16, n_feats: int = 64, res_scale: float = 1.0,
                 rgb_range: float = 255.0) -> None:
        super().__init__()
        self.sub_mean = MeanShift(rgb_range, -1)
        self.add_mean = MeanShift(rgb_range, +1)
        self.head = nn.Sequential(nn.Conv2d(3, n_feats, 3, padding=1))
        self.body = nn.Sequential(*[ResBlock(n_feats, res_scale) for _ in range(n_resblocks)],
                                  nn.Conv2d(n_feats, n_feats, 3, padding=1))
        self.tail = nn.Sequential(upsampler(scale, n_feats), nn.Conv2d(n_feats, 3, 3, padding=1))

    def forward(self, x: Tensor) -> Tensor:
        f = self.head(self.sub_mean(x))
        return self.add_mean(self.tail(f + self.body(f)))
