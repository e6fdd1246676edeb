"""RDN (Zhang et al., CVPR 2018) in the EDSR-PyTorch key layout (``SFENet1/2``, ``RDBs``, ``GFF``,
``UPNet``); config B (D=16, C=8, G=64) by default. RGB in/out on the 0..255 scale, no mean shift."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class _RDBConv(nn.Module):
    def __init__(self, cin: int, g: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(cin, g, 3, padding=1), nn.ReLU())

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat((x, self.conv(x)), 1)


class _RDB(nn.Module):
    def __init__(self, g0: int, g: int, c: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(*[_RDBConv(g0 + i * g, g) for i in range(c)])
        self.LFF = nn.Conv2d(g0 + c * g, g0, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.LFF(self.convs(x)) + x


class RDN(nn.Module):
    def __init__(self, scale: int, g0: int = 64, d: int = 16, c: int = 8, g: int = 64) -> None:
        super().__init__()
        self.SFENet1 = nn.Conv2d(3, g0, 3, padding=1)
        self.SFENet2 = nn.Conv2d(g0, g0, 3, padding=1)
        self.RDBs = nn.ModuleList(_RDB(g0, g, c) for _ in range(d))
        self.GFF = nn.Sequential(nn.Conv2d(d * g0, g0, 1), nn.Conv2d(g0, g0, 3, padding=1))
        if scale in (2, 3):
            up: list[nn.Module] = [nn.Conv2d(g0, g * scale * scale, 3, padding=1), nn.PixelShuffle(scale)]
        elif scale == 4:
            up = [nn.Conv2d(g0, g * 4, 3, padding=1), nn.PixelShuffle(2), nn.Conv2d(g, g * 4, 3, padding=1), nn.PixelShuffle(2)]
        else:
            raise ValueError(f"RDN supports scales 2, 3, 4, not {scale}")
        self.UPNet = nn.Sequential(*up, nn.Conv2d(g, 3, 3, padding=1))

    def forward(self, x: Tensor) -> Tensor:
        f1 = self.SFENet1(x)
        h = self.SFENet2(f1)
        outs = []
        for block in self.RDBs:
            h = block(h)
            outs.append(h)
        return self.UPNet(self.GFF(torch.cat(outs, 1)) + f1)
