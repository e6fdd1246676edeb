"""SmoothQuant on a PyTorch network: per-channel scales moved from an activation into the next
convolution's weights, so that a per-tensor int8 activation quantizer spends its steps evenly.

For a chain ``conv_a -> act -> conv_b`` where ``act`` is positively homogeneous per channel
(``act(x / s) = act(x) / s`` for ``s > 0``: ReLU, LeakyReLU, PReLU), dividing ``conv_a``'s output
channel ``c`` (weights and bias) by ``s_c`` and multiplying ``conv_b``'s input channel ``c`` by
``s_c`` leaves the network's function unchanged (to float rounding) while ``conv_b``'s input is
divided by ``s``. ``s_c = max|x_c|^alpha / max|w_c|^(1 - alpha)`` (Xiao et al. 2023, on convolutions:
``x_c`` the input channel ``c`` of ``conv_b`` over the calibration data, ``w_c`` its weights), the
scheme NNCF applies to OpenVINO models; here it is made on the torch network that
quantization-aware training fine-tunes, which NNCF's torch backend does not smooth.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def fold_batch_norms(net: torch.nn.Module) -> tuple[torch.nn.Module, int]:
    """A copy of ``net`` (eval mode) with each ``BatchNorm2d`` that reads a convolution's only output
    folded into that convolution (by its running statistics) and replaced by ``Identity``, and how
    many were folded. Module paths stay (NNCF names layers by them); equal to ``net`` to float
    rounding. A ``conv -> batch norm -> PReLU -> conv`` chain becomes one :func:`smoothable_chains`
    finds (SRGAN: 0 chains before, 5 after). ``net`` itself and 0 where there is nothing to fold or
    ``net`` cannot be traced."""
    import torch
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    graph = _trace(net)
    if graph is None:
        return net, 0
    mods = dict(net.named_modules())
    pairs = [(str(node.args[0].target), str(node.target)) for node in graph.nodes
             if _is_module(node, mods, (torch.nn.BatchNorm2d,)) and mods[str(node.target)].track_running_stats
             and _is_module(node.args[0], mods, (torch.nn.Conv2d,)) and len(node.args[0].users) == 1]
    if not pairs:
        return net, 0
    net = copy.deepcopy(net).eval()
    for conv, bn in pairs:
        _replace(net, conv, fuse_conv_bn_eval(net.get_submodule(conv), net.get_submodule(bn)))
        _replace(net, bn, torch.nn.Identity())
    return net, len(pairs)


def _replace(net: torch.nn.Module, path: str, module: torch.nn.Module) -> None:
    parent, _, name = path.rpartition(".")
    setattr(net.get_submodule(parent) if parent else net, name, module)


def _trace(net: torch.nn.Module) -> torch.fx.Graph | None:
    """``net``'s ``torch.fx`` graph, ``Identity`` modules traced through (a folded batch norm leaves
    one); None where ``net`` cannot be traced (data-dependent control flow)."""
    import torch
    import torch.fx

    class Tracer(torch.fx.Tracer):
        def is_leaf_module(self, m: torch.nn.Module, qualname: str) -> bool:
            return not isinstance(m, torch.nn.Identity) and super().is_leaf_module(m, qualname)

    try:
        return Tracer().trace(net)
    except Exception:
        return None


def _is_module(node: torch.fx.Node, mods: dict[str, torch.nn.Module], kinds: tuple[type, ...]) -> bool:
    return node.op == "call_module" and isinstance(mods[str(node.target)], kinds)


def smoothable_chains(net: torch.nn.Module) -> list[tuple[str, str]]:
    """``(conv_a, conv_b)`` module paths of every ``Conv2d -> ReLU|LeakyReLU|PReLU -> Conv2d`` chain of
    ``net`` in which each tensor has that one user (so no other consumer sees the scaled tensor);
    ``conv_b`` ungrouped. Empty when ``net`` cannot be traced by ``torch.fx``."""
    import torch

    graph = _trace(net)
    if graph is None:  # no chain is known, nothing is smoothed
        return []
    mods = dict(net.named_modules())
    homogeneous = (torch.nn.ReLU, torch.nn.LeakyReLU, torch.nn.PReLU)
    chains = []
    for node in graph.nodes:
        if not _is_module(node, mods, (torch.nn.Conv2d,)) or len(node.users) != 1:
            continue
        act = next(iter(node.users))
        if not _is_module(act, mods, homogeneous) or len(act.users) != 1:
            continue
        nxt = next(iter(act.users))
        if _is_module(nxt, mods, (torch.nn.Conv2d,)) and mods[str(nxt.target)].groups == 1:
            chains.append((str(node.target), str(nxt.target)))
    return chains


def smooth_quant(net: torch.nn.Module, alpha: float, inputs: list[torch.Tensor],
                 chains: list[tuple[str, str]]) -> torch.nn.Module:
    """A copy of ``net`` (eval mode) with each chain ``(conv_a, conv_b)`` smoothed at strength
    ``alpha`` in (0, 1], the activation maxima taken over ``inputs`` (calibration data)."""
    import torch

    net = copy.deepcopy(net).eval()
    mods = dict(net.named_modules())
    amax: dict[str, torch.Tensor] = {}

    def record(name: str) -> Callable[[torch.nn.Module, tuple[torch.Tensor, ...]], None]:
        def hook(_: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            m = args[0].detach().abs().amax(dim=(0, 2, 3))
            amax[name] = torch.maximum(amax[name], m) if name in amax else m
        return hook

    handles = [mods[b].register_forward_pre_hook(record(b)) for _, b in chains]
    try:
        with torch.no_grad():
            for x in inputs:
                net(x)
    finally:
        for h in handles:
            h.remove()
    with torch.no_grad():
        for a, b in chains:
            conv_a, conv_b = mods[a], mods[b]
            wmax = conv_b.weight.abs().amax(dim=(0, 2, 3))
            # floors keep a channel that is all zeros (dead activation or weights) at a finite scale
            s = (amax[b].clamp(min=1e-5) ** alpha / wmax.clamp(min=1e-5) ** (1.0 - alpha)).clamp(min=1e-5)
            conv_a.weight.div_(s.view(-1, *[1] * (conv_a.weight.dim() - 1)))
            if conv_a.bias is not None:
                conv_a.bias.div_(s)
            conv_b.weight.mul_(s.view(1, -1, *[1] * (conv_b.weight.dim() - 2)))
    return net
