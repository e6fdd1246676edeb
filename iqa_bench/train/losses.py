"""Training objectives: pixel losses and the GAN recipe (LPIPS + SSIM + adversarial, CNN discriminator).

The LPIPS and SSIM terms are the registered metrics used as losses
(:func:`iqa_bench.create_metric` with ``as_loss=True``): one implementation scores and trains.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from iqa_bench.errors import InputError

LOSSES = ("l1", "l2", "gan")


@dataclass(frozen=True)
class LossWeights:
    """Weights of the ``gan`` generator loss ``pixel*L1 + lpips*LPIPS + ssim*(1 - SSIM) + adv*BCE(D(G(x)), real)``.

    The thesis recipe: LPIPS + SSIM for the generator plus a small adversarial term, after
    ``warmup`` steps on the L1 loss alone (a GAN started from random weights learns nothing useful).
    """

    pixel: float = 0.0
    lpips: float = 1.0
    ssim: float = 1.0
    adv: float = 5e-3
    warmup: int = 0


class Discriminator(nn.Module):
    """Small CNN discriminator: four stride-2 stages (32..256 channels, LeakyReLU), global average
    pool, one logit per image. Any patch size >= 16."""

    def __init__(self, channels: int = 3, feats: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = channels
        for i in range(4):
            cout = feats * 2**i
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(0.2, True),
                       nn.Conv2d(cout, cout, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(cin, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))[:, 0]


class Objective:
    """The generator's loss (and the discriminator's, for ``gan``) on network-range tensors.

    Parameters
    ----------
    kind
        ``"l1"``, ``"l2"`` or ``"gan"``.
    value_range
        The network's value range (targets are ``[0, value_range]``); the metric losses see ``x / value_range``.
    weights
        :class:`LossWeights` of ``gan``.
    channels
        Network output channels (the discriminator's input).
    """

    def __init__(self, kind: str, value_range: float, weights: LossWeights, channels: int, device: torch.device) -> None:
        if kind not in LOSSES:
            raise InputError(f"unknown loss {kind!r}", f"use one of {', '.join(LOSSES)}")
        self.kind, self.value_range, self.w = kind, value_range, weights
        self.disc: Discriminator | None = None
        if kind == "gan":
            from iqa_bench.metrics import create_metric

            self.lpips = create_metric("lpips", as_loss=True, device=device.type) if weights.lpips else None
            self.ssim = create_metric("ssim", as_loss=True) if weights.ssim else None
            self.disc = Discriminator(channels).to(device)

    def generator(self, pred: Tensor, target: Tensor, step: int) -> tuple[Tensor, dict[str, float]]:
        """Generator loss at ``step`` and its terms (floats, for the log)."""
        if self.kind == "l2":
            loss = F.mse_loss(pred, target)
            return loss, {"l2": loss.item()}
        l1 = F.l1_loss(pred, target)
        if self.kind == "l1" or step < self.w.warmup:
            return l1, {"l1": l1.item()}
        p, t = pred / self.value_range, target / self.value_range
        terms: dict[str, Tensor] = {}
        if self.w.pixel:
            terms["l1"] = self.w.pixel * l1
        if self.lpips is not None:
            terms["lpips"] = self.w.lpips * self.lpips(p, t)
        if self.ssim is not None:
            terms["ssim"] = self.w.ssim * self.ssim(p, t)
        if self.w.adv and self.disc is not None:
            logits = self.disc(p)
            terms["adv"] = self.w.adv * F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        loss = sum(terms.values())
        return loss, {k: v.item() for k, v in terms.items()}  # type: ignore[return-value]

    def discriminator(self, pred: Tensor, target: Tensor) -> Tensor:
        """Discriminator loss: real HR patches vs the generator's (detached) outputs."""
        if self.disc is None:
            raise RuntimeError(f"the {self.kind} loss has no discriminator")
        real = self.disc(target / self.value_range)
        fake = self.disc(pred.detach() / self.value_range)
        return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))

    def adversarial(self, step: int) -> bool:
        """Whether the discriminator trains at ``step``."""
        return self.disc is not None and bool(self.w.adv) and step >= self.w.warmup
