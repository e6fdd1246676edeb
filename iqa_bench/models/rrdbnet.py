"""ESRGAN's RRDBNet (Wang et al., ECCVW 2018) in the BasicSR key layout; the original xinntao/ESRGAN
layout (``RRDB_trunk``, ``trunk_conv``, ``upconv1/2``, ``HRconv``) is converted by :func:`from_esrgan_keys`."""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class RDB(nn.Module):
    def __init__(self, nf: int, gc: int) -> None:
        super().__init__()
        for i in range(5):
            setattr(self, f"conv{i + 1}", nn.Conv2d(nf + i * gc, gc if i < 4 else nf, 3, padding=1))
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        feats = [x]
        for i in range(1, 5):
            feats.append(self.lrelu(getattr(self, f"conv{i}")(torch.cat(feats, 1))))
        return x + 0.2 * self.conv5(torch.cat(feats, 1))


class RRDB(nn.Module):
    def __init__(self, nf: int, gc: int) -> None:
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = RDB(nf, gc), RDB(nf, gc), RDB(nf, gc)

    def forward(self, x: Tensor) -> Tensor:
        return x + 0.2 * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBNet(nn.Module):
    """``RRDBNet(scale, num_feat, num_block, num_grow_ch)``, RGB in/out on [0, 1]; scale 2 or 4
    (x2 uses BasicSR's pixel-unshuffle input, as Real-ESRGAN x2plus)."""

    def __init__(self, scale: int = 4, num_feat: int = 64, num_block: int = 23, num_grow_ch: int = 32) -> None:
        super().__init__()
        if scale not in (1, 2, 4):
            raise ValueError(f"RRDBNet supports scales 1, 2, 4, not {scale}")
        self.scale = scale
        in_ch = 3 * {4: 1, 2: 4, 1: 16}[scale]
        self.conv_first = nn.Conv2d(in_ch, num_feat, 3, padding=1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_last = nn.Conv2d(num_feat, 3, 3, padding=1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        if self.scale < 4:
            x = F.pixel_unshuffle(x, 4 // self.scale)
        f = self.conv_first(x)
        f = f + self.conv_body(self.body(f))
        f = self.lrelu(self.conv_up1(F.interpolate(f, scale_factor=2, mode="nearest")))
        f = self.lrelu(self.conv_up2(F.interpolate(f, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(f)))


_OLD = [
    (r"^conv_first\.", "conv_first."),
    (r"^RRDB_trunk\.(\d+)\.RDB(\d)\.conv(\d)\.0\.", r"body.\1.rdb\2.conv\3."),
    (r"^RRDB_trunk\.(\d+)\.RDB(\d)\.conv(\d)\.", r"body.\1.rdb\2.conv\3."),
    (r"^trunk_conv\.", "conv_body."),
    (r"^upconv1\.", "conv_up1."),
    (r"^upconv2\.", "conv_up2."),
    (r"^HRconv\.", "conv_hr."),
    (r"^conv_last\.", "conv_last."),
]


def from_esrgan_keys(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename the original ESRGAN keys (``RRDB_trunk.0.RDB1.conv1.0.weight``) to BasicSR's; others pass."""
    if not any(k.startswith("RRDB_trunk.") for k in sd):
        return sd
    out = {}
    for k, v in sd.items():
        for pat, rep in _OLD:
            if re.match(pat, k):
                k = re.sub(pat, rep, k)
                break
        out[k] = v
    return out


def to_esrgan_keys(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Inverse of :func:`from_esrgan_keys` (used to test the conversion round trip)."""
    out = {}
    for k, v in sd.items():
        k = re.sub(r"^body\.(\d+)\.rdb(\d)\.conv(\d)\.", r"RRDB_trunk.\1.RDB\2.conv\3.0.", k)
        k = k.replace("conv_body.", "trunk_conv.").replace("conv_up1.", "upconv1.").replace("conv_up2.", "upconv2.")
        out[k.replace("conv_hr.", "HRconv.")] = v
    return out
