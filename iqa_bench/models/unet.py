"""UNet restoration network and SR-UNet.

* ``UNet``: encoder-decoder (Ronneberger et al. 2015) with ``levels`` scales of two 3x3 conv +
  LeakyReLU blocks, strided-conv downsampling, transposed-conv upsampling and skip concatenation,
  predicting a residual on an image already at the output size (restoration / pre-upsampled SR).
* ``SRUNet``: the same UNet on the LR image, followed by a sub-pixel (PixelShuffle) upsampler, plus
  a global bicubic skip of the LR image, so the network learns the detail bicubic misses.
No official checkpoints exist for these generic designs; they load plain state_dicts of this layout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(0.2, True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.LeakyReLU(0.2, True))


class _UNetBody(nn.Module):
    def __init__(self, channels: int, feats: int, levels: int) -> None:
        super().__init__()
        widths = [feats * 2**i for i in range(levels)]
        self.head = _block(channels, widths[0])
        self.down = nn.ModuleList(nn.Conv2d(widths[i], widths[i], 4, stride=2, padding=1) for i in range(levels - 1))
        self.enc = nn.ModuleList(_block(widths[i], widths[i + 1]) for i in range(levels - 1))
        self.up = nn.ModuleList(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in range(levels - 1))
        self.dec = nn.ModuleList(_block(2 * widths[i], widths[i]) for i in range(levels - 1))
        self.levels = levels
        self.multiple_of = 2 ** (levels - 1)

    def forward(self, x: Tensor) -> Tensor:
        m = self.multiple_of
        h, w = x.shape[-2:]
        x = F.pad(x, (0, (-w) % m, 0, (-h) % m), mode="replicate")  # any size in, same size out
        skips = [self.head(x)]
        for down, enc in zip(self.down, self.enc):
            skips.append(enc(down(skips[-1])))
        y = skips.pop()
        for i in reversed(range(self.levels - 1)):
            y = self.dec[i](torch.cat((self.up[i](y), skips[i]), 1))
        return y[..., :h, :w]


class UNet(nn.Module):
    """Residual UNet on an image at output size; RGB in [0, 1]."""

    def __init__(self, channels: int = 3, feats: int = 32, levels: int = 4) -> None:
        super().__init__()
        self.body = _UNetBody(channels, feats, levels)
        self.tail = nn.Conv2d(feats, channels, 3, padding=1)
        self.multiple_of = self.body.multiple_of  # the side the body pads to; exporters may pad outside

    def forward(self, x: Tensor) -> Tensor:
        return x + self.tail(self.body(x))


class SRUNet(nn.Module):
    """UNet on the LR image, PixelShuffle upsampler, global bicubic skip; RGB in [0, 1]."""

    def __init__(self, scale: int, channels: int = 3, feats: int = 32, levels: int = 3) -> None:
        super().__init__()
        self.scale = scale
        self.body = _UNetBody(channels, feats, levels)
        self.multiple_of = self.body.multiple_of
        self.upsample = nn.Sequential(nn.Conv2d(feats, channels * scale * scale, 3, padding=1), nn.PixelShuffle(scale))

    def forward(self, x: Tensor) -> Tensor:
        # An integer output size rather than `scale_factor`: the same source coordinates (in/out is 1/scale
        # exactly as rounded), and a shape that compilers can keep symbolic (no float-to-int step).
        h, w = x.shape[-2:]
        skip = F.interpolate(x, size=(h * self.scale, w * self.scale), mode="bicubic", align_corners=False)
        return skip + self.upsample(self.body(x))
