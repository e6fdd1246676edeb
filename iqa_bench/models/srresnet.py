"""SRResNet / SRGAN generators.

* ``SRGANLeftthomas``: the compact SRGAN generator of leftthomas/SRGAN (5 BN residual blocks,
  shared-parameter PReLUs, tanh output mapped to (0, 1)); key layout ``block1`` .. ``block8``.
* ``MSRResNet``: the BN-free "modified SRResNet" of BasicSR/ESRGAN (``conv_first``, ``body``,
  ``upconv1/2``, ``conv_hr``, ``conv_last``; LeakyReLU 0.1; bilinear global skip), the PSNR-oriented
  SRResNet most SR papers compare with.
Both take LR RGB in [0, 1].
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn


class _LtResidual(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(ch)
        self.prelu = nn.PReLU()
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(ch)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(x)))))


class _LtUpsample(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(ch, ch * 4, 3, padding=1)
        self.pixel_shuffle = nn.PixelShuffle(2)
        self.prelu = nn.PReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.prelu(self.pixel_shuffle(self.conv(x)))


class SRGANLeftthomas(nn.Module):
    """leftthomas/SRGAN ``Generator(scale_factor)``; scale a power of two."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        if scale < 2 or scale & (scale - 1):
            raise ValueError(f"this SRGAN generator supports scales 2, 4, 8, not {scale}")
        self.block1 = nn.Sequential(nn.Conv2d(3, 64, 9, padding=4), nn.PReLU())
        for k in range(2, 7):
            setattr(self, f"block{k}", _LtResidual(64))
        self.block7 = nn.Sequential(nn.Conv2d(64, 64, 3, padding=1), nn.PReLU())
        n = int(math.log2(scale))
        self.block8 = nn.Sequential(*[_LtUpsample(64) for _ in range(n)], nn.Conv2d(64, 3, 9, padding=4))

    def forward(self, x: Tensor) -> Tensor:
        b1 = self.block1(x)
        h = b1
        for k in range(2, 7):
            h = getattr(self, f"block{k}")(h)
        return (self.block8(b1 + self.block7(h)).tanh() + 1) / 2


class _ResidualNoBN(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class MSRResNet(nn.Module):
    """BasicSR ``MSRResNet(num_in_ch=3, num_out_ch=3, num_feat, num_block, upscale)``; scales 2, 3, 4."""

    def __init__(self, scale: int, num_feat: int = 64, num_block: int = 16) -> None:
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"MSRResNet supports scales 2, 3, 4, not {scale}")
        self.scale = scale
        self.conv_first = nn.Conv2d(3, num_feat, 3, padding=1)
        self.body = nn.Sequential(*[_ResidualNoBN(num_feat) for _ in range(num_block)])
        if scale == 4:
            self.upconv1 = nn.Conv2d(num_feat, num_feat * 4, 3, padding=1)
            self.upconv2 = nn.Conv2d(num_feat, num_feat * 4, 3, padding=1)
        else:
            self.upconv1 = nn.Conv2d(num_feat, num_feat * scale * scale, 3, padding=1)
        self.pixel_shuffle = nn.PixelShuffle(2 if scale == 4 else scale)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_last = nn.Conv2d(num_feat, 3, 3, padding=1)
        self.lrelu = nn.LeakyReLU(0.1, inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        feat = self.body(self.lrelu(self.conv_first(x)))
        out = self.lrelu(self.pixel_shuffle(self.upconv1(feat)))
        if self.scale == 4:
            out = self.lrelu(self.pixel_shuffle(self.upconv2(out)))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        return out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
