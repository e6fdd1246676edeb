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
    from iqa_bench.deploy.qat import _train_mode, allow_nncf_compile, conv_nodes
    from iqa_bench.deploy.quantize import nncf_recipe

    allow_nncf_compile()  # this may be the suite's first NNCF torch model: its extension compiles here

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


def test_float_output_layer_of_a_quantized_fsrcnn_becomes_a_subpixel_convolution_exactly(calib):
    """After fine-tuning, QAT swaps FSRCNN's HR deconvolution (kept in float) for its sub-pixel
    convolution in the NNCF-quantized network: the same outputs; one not named stays (a quantized one
    would: its fake-quantizer belongs to the original layer)."""
    import torch

    from iqa_bench.deploy.graph import subpixel_modules
    from iqa_bench.deploy.qat import allow_nncf_compile, conv_nodes
    from iqa_bench.deploy.quantize import nncf_recipe
    from iqa_bench.models.fsrcnn import FSRCNN

    allow_nncf_compile()

    torch.manual_seed(0)
    net = FSRCNN(2).eval()
    x = [torch.rand(1, 1, 24, 24) for _ in range(4)]
    keep = [n for n, facing in conv_nodes(net) if facing]
    assert keep == ["first_part/0/conv2d/0", "last_part/conv_transpose2d/0"]
    nncf.set_log_level(logging.ERROR)
    q = nncf.quantize(copy.deepcopy(net), nncf.Dataset(x), subset_size=len(x), **nncf_recipe(calib, keep))
    with torch.no_grad():
        before = q(x[0])
        assert subpixel_modules(q, {"mid_part.0"}) == []
        done = subpixel_modules(q, {"last_part"})
        after = q(x[0])
    assert [(r.name, r.channels_in, r.channels_out) for r in done] == [("last_part.0", 56, 1)]
    assert isinstance(q.last_part[1], torch.nn.PixelShuffle)
    assert (after - before).abs().max() < 1e-5 * before.abs().max()


def test_qat_quantizes_what_the_convolutions_read_as_openvino_int8_does(store, calib):
    """NNCF's torch backend, by default, also quantizes each residual addition (inputs and output) and
    SRGAN's upsampling output before its pixel shuffle, where OpenVINO's int8 IR of the same network
    (NNCF's transformer scheme, under SmoothQuant) quantizes only the 12 tensors its int8 convolutions
    read. QAT's recipe does the same: its start on SRGAN x2 went from 34.0 to 38.1 dB output SNR
    against fp32 on calibration patches (asymmetric, batch norms folded, smoothed at 0.5)."""
    import torch
    from nncf.torch.function_hook.nncf_graph.nncf_graph_builder import build_nncf_graph

    from iqa_bench.deploy.calibration import calibration_inputs
    from iqa_bench.deploy.qat import allow_nncf_compile, conv_nodes
    from iqa_bench.deploy.quantize import nncf_recipe
    from iqa_bench.deploy.smooth import fold_batch_norms

    allow_nncf_compile()
    up = TorchUpscaler(MODELS.get("srgan").meta, store=store)
    net, _ = fold_batch_norms(up.network(2).eval())
    cfg = dataclasses.replace(calib, patches=2)
    x = [torch.from_numpy(p) for p in calibration_inputs(cfg, 2, up.network_input)]
    keep = [n for n, facing in conv_nodes(net) if facing]
    nncf.set_log_level(logging.ERROR)

    def activation_quantizers(**options: bool) -> list[str]:
        q = nncf.quantize(copy.deepcopy(net), nncf.Dataset(x), subset_size=len(x), **nncf_recipe(cfg, keep, **options))
        names = [n.node_name for n in build_nncf_graph(q, x[0]).get_all_nodes()]
        # a weight's quantizer hooks a convolution's input 1; the others quantize activations
        return [n.split("__")[0] for n in names if n.endswith("_quantize/0") and "conv2d-0__1[" not in n]

    default, ours = activation_quantizers(), activation_quantizers(convolution_inputs_only=True)
    assert len(ours) == 12 and len(default) > len(ours)
    assert "block8/0/conv/post_hook" in default and "block8/0/conv/post_hook" not in ours
