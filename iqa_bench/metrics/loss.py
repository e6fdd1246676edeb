"""Differentiable metrics as training losses: ``create_metric(name, as_loss=True)``."""

from __future__ import annotations

from typing import Any

from iqa_bench.errors import InputError
from iqa_bench.metrics.base import Differentiable, MetricInfo


class MetricLoss:
    """A differentiable full-reference metric as a loss: ``loss(pred, target) -> scalar tensor``.

    ``pred`` and ``target`` are float torch tensors ``(N, C, H, W)`` or ``(C, H, W)`` on [0, 1],
    C = 1 or 3, on the metric's device, already cropped. The loss is ``1 - value`` for a
    higher-is-better metric (SSIM) and ``value`` for a lower-is-better one (LPIPS, DISTS), averaged
    over the batch (``reduction="none"``: per image). Its value is the metric's own, by the same
    code path as :meth:`Differentiable.torch_value` (tested against the scoring path); the
    networks' weights are frozen, gradients flow to the inputs only.

    >>> import torch
    >>> from iqa_bench import create_metric
    >>> loss = create_metric("ssim", as_loss=True)
    >>> target = torch.rand(1, 3, 32, 32, dtype=torch.float64)
    >>> pred = (target + 0.05 * torch.randn_like(target)).clamp(0, 1).requires_grad_()
    >>> value = loss(pred, target)
    >>> value.backward()
    >>> bool(0 < value < 1 and pred.grad.abs().sum() > 0)
    True
    """

    def __init__(self, name: str, info: MetricInfo, fn: Differentiable) -> None:
        self.name, self.info, self._fn = name, info, fn
        for module in _modules(fn):  # frozen: a training loop must not update the metric's network
            module.requires_grad_(False)

    def __call__(self, pred: Any, target: Any, reduction: str = "mean") -> Any:
        import torch

        if reduction not in ("mean", "sum", "none"):
            raise InputError(f"{self.name} loss: reduction {reduction!r}", "use 'mean', 'sum' or 'none'")
        shapes = []
        for role, x in (("pred", pred), ("target", target)):
            if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim not in (3, 4):
                what = f"a {x.dtype} tensor of shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
                raise InputError(f"{self.name} loss: {role} is {what}",
                                 "pass float tensors (N, C, H, W) or (C, H, W) on [0, 1]")
            shapes.append(tuple(x.shape))
        if shapes[0] != shapes[1]:
            raise InputError(f"{self.name} loss: pred {shapes[0]} and target {shapes[1]} differ in shape",
                             "compare tensors of the same shape")
        if pred.ndim == 3:
            pred, target = pred[None], target[None]
        if pred.shape[1] not in (1, 3):
            raise InputError(f"{self.name} loss: {pred.shape[1]} channels", "pass grey (C = 1) or RGB (C = 3), channels first")
        value = self._fn.torch_value(pred, target)
        per_image = 1.0 - value if self.info.higher_is_better else value
        return per_image if reduction == "none" else per_image.sum() if reduction == "sum" else per_image.mean()

    def __repr__(self) -> str:
        return f"<loss from metric {self.name}: {self.info.description}>"


def _modules(fn: object) -> list[Any]:
    import torch

    found = []
    for value in vars(fn).values():
        if isinstance(value, torch.nn.Module):
            found.append(value)
    return found
