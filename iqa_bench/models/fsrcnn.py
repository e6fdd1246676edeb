"""FSRCNN (Dong, Loy, Tang, ECCV 2016): feature extraction, shrinking, mapping, expanding on the LR
Y channel, then a 9x9 transposed convolution of stride ``scale``.

Key layout of the common PyTorch port (yjn870): ``first_part``, ``mid_part``, ``last_part``; every
convolution "same"-padded and followed by a per-channel PReLU.
"""

from __future__ import annotations

from torch import Tensor, nn


class FSRCNN(nn.Module):
    """FSRCNN(d, s, m) for one integer ``scale``; input LR Y in [0, 1], output HR Y."""

    def __init__(self, scale: int, d: int = 56, s: int = 12, m: int = 4) -> None:
        super().__init__()
        self.first_part = nn.Sequential(nn.Conv2d(1, d, 5, padding=2), nn.PReLU(d))
        mid: list[nn.Module] = [nn.Conv2d(d, s, 1), nn.PReLU(s)]
        for _ in range(m):
            mid += [nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s)]
        mid += [nn.Conv2d(s, d, 1), nn.PReLU(d)]
        self.mid_part = nn.Sequential(*mid)
        self.last_part = nn.ConvTranspose2d(d, 1, 9, stride=scale, padding=4, output_padding=scale - 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.last_part(self.mid_part(self.first_part(x)))
