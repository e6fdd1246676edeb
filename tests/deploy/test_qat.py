"""Quantization-aware training's training mode on a network with batch norms (SRGAN): the
fake-quantizers train, the batch norms keep the statistics the network was trained with."""

from __future__ import annotations

import copy
import dataclasses
import logging

import pytest

from iqa_bench.models import MODELS
from iqa_bench.runners.torch_runner import TorchUpscaler

nncf = pytest.importorskip("nncf", reason="the openvino extra is not installed (pip install 'iqa-bench[openvino]')")


def test_training_mode_keeps_batch_norms_on_their_running_statistics(store, calib):
    import torch

    from iqa_bench.deploy.calibration import calibration_inputs
    from iqa_bench.deploy.qat import _train_mode, conv_nodes
    from iqa_bench.deploy.quantize import nncf_recipe

    up = TorchUpscaler(MODELS.get("srgan").meta, store=store)
    net = up.network(2).eval()
    cfg = dataclasses.replace(calib, patches=4)
    x = [torch.from_numpy(p) for p in calibration_inputs(cfg, 2, up.network_input)]
    nncf.set_log_level(logging.ERROR)
    q = nncf.quantize(copy.deepcopy(net), nncf.Dataset(x), subset_size=len(x),
                      **nncf_recipe(cfg, [n for n, facing in conv_nodes(net) if facing]))
    batch = torch.cat(x)
    bns = [m for m in q.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 10
    stats = [m.running_mean.clone() for m in bns]
    with torch.no_grad():
        q.eval()
        deployed = q(batch)
        _train_mode(q)
        trained_as = q(batch)
        assert q.training and not any(m.training for m in bns)
        assert torch.equal(trained_as, deployed)
        assert all(torch.equal(m.running_mean, s) for m, s in zip(bns, stats))
        q.train()  # what QAT did before: each batch normalised by its own statistics
        assert (q(batch) - deployed).abs().max() > 0.05
