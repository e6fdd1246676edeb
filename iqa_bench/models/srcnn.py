"""SRCNN (Dong et al., ECCV 2014 / TPAMI 2016): three convolutions on the pre-upsampled Y channel.

``padding="valid"`` is the paper's (and Keras releases') form: layers f1 and f3 unpadded, the output
``f1 + f3 - 2`` pixels smaller per side pair; the runner then replicate-pads the input by that margin
so the output has the HR size. ``padding="same"`` zero-pads every layer (common PyTorch ports).
"""

from __future__ import annotations

from torch import Tensor, nn


class SRCNN(nn.Module):
    """``f1-f2-f3`` kernel sizes with ``n1``/``n2`` filters; input and output: Y in [0, 1]."""

    def __init__(self, f1: int = 9, f2: int = 5, f3: int = 5, n1: int = 64, n2: int = 32, padding: str = "valid") -> None:
        super().__init__()
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
        same = padding == "same"
        self.conv1 = nn.Conv2d(1, n1, f1, padding=f1 // 2 if same else 0)
        self.conv2 = nn.Conv2d(n1, n2, f2, padding=f2 // 2)
        self.conv3 = nn.Conv2d(n2, 1, f3, padding=f3 // 2 if same else 0)
        # one activation module per use: PT2E quantizers (torchao) match conv + ReLU by module and
        # refuse a module called twice ("Input partition has more than one output node")
        self.relu1, self.relu2 = nn.ReLU(inplace=True), nn.ReLU(inplace=True)
        self.shrink = 0 if same else (f1 // 2 + f3 // 2)  # pixels lost per border

    def forward(self, x: Tensor) -> Tensor:
        return self.conv3(self.relu2(self.conv2(self.relu1(self.conv1(x)))))
