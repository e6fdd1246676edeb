"""VDSR (Kim, Lee, Lee, CVPR 2016): 20 bias-free 3x3 convolutions with a global residual on the
bicubic-upsampled Y channel; one model for all scales. Key names of twtygqyy/pytorch-vdsr."""

from __future__ import annotations

from torch import Tensor, nn


class _ConvReLU(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.conv(x))


class VDSR(nn.Module):
    """``depth`` convolutions of ``channels`` features; input and output: Y in [0, 1] at HR size."""

    def __init__(self, depth: int = 20, channels: int = 64) -> None:
        super().__init__()
        self.input = nn.Conv2d(1, channels, 3, padding=1, bias=False)
        self.residual_layer = nn.Sequential(*[_ConvReLU(channels) for _ in range(depth - 2)])
        self.output = nn.Conv2d(channels, 1, 3, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.output(self.residual_layer(self.relu(self.input(x))))
