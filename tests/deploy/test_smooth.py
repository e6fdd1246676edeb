"""SmoothQuant on a PyTorch network (iqa_bench.deploy.smooth): which chains it finds, the scales it
moves (the published formula), and the function it keeps."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from iqa_bench.deploy.smooth import fold_batch_norms, smooth_quant, smoothable_chains  # noqa: E402
from iqa_bench.models.fsrcnn import FSRCNN  # noqa: E402


class _Residual(torch.nn.Module):
    """conv1 -> relu -> conv2, where relu's output also feeds the sum: not a chain to scale."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.relu = torch.nn.ReLU()
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.act = torch.nn.PReLU(8)
        self.grouped = torch.nn.Conv2d(8, 8, 3, padding=1, groups=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.conv1(x))
        return self.grouped(self.act(self.conv2(h))) + h


class _Untraceable(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = torch.nn.Conv2d(1, 4, 3), torch.nn.Conv2d(4, 1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x))) if x.sum() > 0 else x  # data-dependent: fx cannot trace it


class _Normed(torch.nn.Module):
    """SRGAN's residual block: conv -> batch norm -> PReLU -> conv -> batch norm, plus the skip; and a
    convolution whose output a batch norm and the sum both read (not foldable)."""

    def __init__(self) -> None:
        super().__init__()
        nn = torch.nn
        self.block = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), nn.BatchNorm2d(8), nn.PReLU(8),
                                   nn.Conv2d(8, 4, 3, padding=1), nn.BatchNorm2d(4))
        self.shared = nn.Conv2d(4, 4, 1)
        self.shared_bn = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.shared(x + self.block(x))
        return self.shared_bn(y) + y


def test_batch_norms_fold_into_their_convolutions_and_open_the_chain_to_smoothing():
    torch.manual_seed(0)
    net = _Normed()
    for bn in (net.block[1], net.block[4], net.shared_bn):  # running statistics far from 0 / 1
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.2, 3)
        bn.weight.data.uniform_(0.5, 2)
        bn.bias.data.uniform_(-0.5, 0.5)
    net.eval()
    assert smoothable_chains(net) == []
    folded, n = fold_batch_norms(net)
    assert n == 2 and isinstance(folded.block[1], torch.nn.Identity) and isinstance(folded.block[4], torch.nn.Identity)
    assert isinstance(folded.shared_bn, torch.nn.BatchNorm2d)  # its convolution's output is read twice
    assert [p for p, _ in folded.named_modules()] == [p for p, _ in net.named_modules()]  # NNCF's layer names
    assert isinstance(net.block[1], torch.nn.BatchNorm2d)  # a copy: the network given is unchanged
    assert smoothable_chains(folded) == [("block.0", "block.3")]
    x = torch.rand(2, 4, 12, 12)
    with torch.no_grad():
        assert (folded(x) - net(x)).abs().max() < 1e-5 * net(x).abs().max()
    assert fold_batch_norms(FSRCNN(2))[1] == 0  # nothing to fold: the network itself
    assert fold_batch_norms(_Untraceable())[1] == 0


def test_chains_are_the_convolution_pairs_with_one_homogeneous_activation_between():
    assert smoothable_chains(FSRCNN(2).eval()) == [
        ("first_part.0", "mid_part.0"), ("mid_part.0", "mid_part.2"), ("mid_part.2", "mid_part.4"),
        ("mid_part.4", "mid_part.6"), ("mid_part.6", "mid_part.8"), ("mid_part.8", "mid_part.10")]
    # a tensor read twice (the skip), and a grouped convolution, are left alone
    assert smoothable_chains(_Residual().eval()) == []
    assert smoothable_chains(_Untraceable().eval()) == []


@pytest.mark.parametrize("alpha", [0.5, 0.65, 0.95])
def test_smoothing_moves_the_published_scales_and_keeps_the_function(alpha):
    torch.manual_seed(0)
    net = FSRCNN(2).eval()
    with torch.no_grad():  # PReLU slopes of both signs, as trained networks have
        for m in net.modules():
            if isinstance(m, torch.nn.PReLU):
                m.weight.uniform_(-0.5, 0.5)
    x = [torch.rand(2, 1, 24, 24) for _ in range(3)]
    chains = smoothable_chains(net)
    seen: dict[str, torch.Tensor] = {}
    hooks = [dict(net.named_modules())[b].register_forward_pre_hook(
        lambda _, a, b=b: seen.__setitem__(b, torch.maximum(seen.get(b, torch.zeros(a[0].shape[1])),
                                                            a[0].abs().amax(dim=(0, 2, 3))))) for _, b in chains]
    with torch.no_grad():
        want = [net(t) for t in x]
    for h in hooks:
        h.remove()
    smoothed = smooth_quant(net, alpha, x, chains)
    mods, orig = dict(smoothed.named_modules()), dict(net.named_modules())
    for a, b in chains:
        w = orig[b].weight
        s = seen[b] ** alpha / w.abs().amax(dim=(0, 2, 3)) ** (1 - alpha)
        if b not in {first for first, _ in chains}:  # an inner convolution's output channels are scaled too
            torch.testing.assert_close(mods[b].weight, w * s.view(1, -1, 1, 1), rtol=1e-6, atol=0)
        torch.testing.assert_close(mods[a].bias, orig[a].bias / s, rtol=1e-6, atol=0)
    assert smoothed is not net and torch.equal(net.mid_part[0].weight, orig["mid_part.0"].weight)
    with torch.no_grad():
        for t, ref in zip(x, want):
            torch.testing.assert_close(smoothed(t), ref, rtol=0, atol=1e-5)
