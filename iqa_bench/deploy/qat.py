"""INT8 by quantization-aware training (QAT): an OpenVINO int8 IR fine-tuned with fake quantization.

The network is quantized by NNCF with the same recipe as post-training int8
(:func:`iqa_bench.deploy.quantize.nncf_recipe`: symmetric int8, per-channel weights, MIN/MAX
ranges from the calibration patches, image-facing convolutions in float; smoothed and bias-corrected
or not, whichever start is closest to FP32 on the calibration patches), then fine-tuned with its
fake-quantizers in the graph to reproduce the FP32 network's own outputs (distillation: the goal is
an int8 network that matches FP32, not a new model; batch norms folded into their convolutions,
or frozen where the network cannot be traced), on LR patches of the calibration images
(training images, never the test set). A narrow strided transposed convolution kept in float
(FSRCNN's output layer) is then swapped for the sub-pixel convolution it equals
(:func:`iqa_bench.deploy.graph.subpixel_modules`), which OpenVINO's CPU plugin runs several times
faster. The result is exported to an OpenVINO IR, whose
FakeQuantize nodes OpenVINO runs as int8 kernels, and run by the ``openvino`` runner like the PTQ IR.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from iqa_bench.deploy.calibration import CalibConfig
from iqa_bench.deploy.graph import record as graph_record, subpixel_modules
from iqa_bench.deploy.quantize import choose_smooth_quant, is_image_facing, nncf_recipe, snr_db, sweep_float_layers
from iqa_bench.deploy.smooth import fold_batch_norms, smooth_quant, smoothable_chains
from iqa_bench.errors import InputError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class QatConfig:
    """How an ``int8-qat`` network is fine-tuned (part of its artefact key).

    Attributes
    ----------
    steps
        Optimizer steps (Adam). Measured on FSRCNN x2 (Set5/Set14 ΔPSNR-Y vs FP32): PTQ in torch
        -1.38 / -0.68 dB; 1000 steps at lr 1e-4 -0.55 / -0.28; lr 1e-3 was worse (-0.86 / -0.46),
        2e-5 too slow (-0.69 / -0.32).
    lr
        Adam learning rate (weights, biases and quantizer scales).
    batch
        Patches per step.
    patches
        LR training patches cut from the calibration images (another seed than the calibration
        patches).
    seed
        Seed of the patch positions and of the batch order.
    """

    steps: int = 1000
    lr: float = 1e-4
    batch: int = 16
    patches: int = 512
    seed: int = 1

    def __post_init__(self) -> None:
        for name in ("steps", "batch", "patches"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(f"QAT {name} = {v!r} is not a positive count", f"pass a whole number >= 1 for {name}")
        if not self.lr > 0:
            raise InputError(f"QAT learning rate {self.lr!r} is not positive", "e.g. lr = 1e-4")

    def record(self) -> dict[str, Any]:
        """What the artefact key and the manifest take from this configuration."""
        return asdict(self)


@dataclass(frozen=True)
class _Start:
    """A PTQ network QAT may start from: the network it quantized (smoothed or not), the quantized
    network, whether NNCF's bias correction was kept, and the SNR (dB) with it off and on."""

    base: Any
    model: Any
    bias_correction: bool
    snr_db: dict[str, float]


def allow_nncf_compile() -> None:
    """Give NNCF's torch fake-quantize extension room to compile on first use.

    NNCF compiles a C++ extension for its CPU fake-quantizers the first time one runs in a new
    environment (20-40 s on two cores) and gives up after 60 s (``ExtensionLoaderTimeoutException``),
    which a busy 2-core machine exceeded; this sets ``NNCF_EXTENSION_LOAD_TIMEOUT`` to 900 s unless
    the user set it. The extension is kept rather than NNCF's reference functions run eagerly (no
    compile, no compiler): those made QAT steps 16-32 % slower (batch 16, 32x32 patches, 2 cores:
    SRCNN 54.5 vs 72.0 ms, FSRCNN 93.0 vs 108.5 ms), more than the compile costs once.
    """
    os.environ.setdefault("NNCF_EXTENSION_LOAD_TIMEOUT", "900")


def conv_nodes(net: torch.nn.Module) -> list[tuple[str, bool]]:
    """``(NNCF node name, image-facing)`` of each convolution module of ``net``, in module order.

    NNCF names a torch operation by its module path with ``/`` and the call's function and index
    (``first_part/0/conv2d/0``); the zoo's networks call each convolution once.
    """
    import torch

    return [(_node_name(path, m), is_image_facing(m.in_channels, m.out_channels)) for path, m in net.named_modules()
            if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]


def _node_name(path: str, conv: torch.nn.Module) -> str:
    import torch

    return f"{path.replace('.', '/')}/{'conv2d' if isinstance(conv, torch.nn.Conv2d) else 'conv_transpose2d'}/0"


def _train_mode(model: torch.nn.Module) -> None:
    """Training mode for the fake-quantizers, every batch norm kept in eval mode.

    A batch norm in training mode normalises each batch of patches by its own statistics and
    overwrites the running ones: the int8 SRGAN x2's mean squared error against fp32 on random
    patches was 33 times larger in training mode (0.054 vs 0.0016), and 20 QAT steps lowered its
    output SNR. Frozen, it is a per-channel affine after the
    convolution, which OpenVINO folds into it; per-channel weight quantization commutes with that
    folding, so the fake-quantized weights are those OpenVINO runs.
    """
    import torch

    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()


def to_openvino_int8_qat(net: torch.nn.Module, dst: Path, calib_inputs: list[np.ndarray], train_inputs: list[np.ndarray],
                         calib: CalibConfig, qat: QatConfig) -> dict[str, Any]:
    """Quantize ``net`` (FP32, eval mode) with fake quantization, fine-tune it (:class:`QatConfig`) to
    reproduce its FP32 outputs on ``train_inputs``, and save it as an int8 OpenVINO IR ``dst`` (.xml + .bin).

    ``calib_inputs`` set the initial ranges (and rank layers when ``calib.sensitive_float > 0``).
    Returns ``float_layers``, ``batch_norms_folded`` (into their convolutions, before anything else),
    ``smooth_quant`` (the strength chosen, the chains it smoothed, each
    strength's calibration SNR), ``bias_correction`` (whether NNCF's bias correction was kept, with the
    calibration SNR of both starts), ``graph_rewrites`` (when a float layer was swapped), ``qat`` (the
    configuration, first and last training loss, seconds, the step whose network was kept: 0 for the
    start) and ``calib_snr_db`` (output SNR against FP32 on the calibration patches after PTQ and of
    the network kept), plus the sweep's ``sensitivity`` when one ran.
    """
    allow_nncf_compile()
    import nncf
    import openvino as ov
    import torch

    net.eval()
    calib_t = [torch.from_numpy(x) for x in calib_inputs]
    with torch.inference_mode():
        reference = [net(x).numpy() for x in calib_t]
    # batch norms folded first (QAT would keep them frozen: the same function), which opens SRGAN's
    # conv -> BN -> PReLU -> conv chains to SmoothQuant, as in the ONNX graph OpenVINO's int8 smooths.
    # Measured, SRGAN x2 start's output SNR on 16 calibration patches: symmetric, 29.9 dB as NNCF's
    # torch default (64 patches), 30.6 folded and smoothed; asymmetric, 34.0 folded and smoothed, 38.1
    # with only the convolutions' inputs quantized as well (quantize() below)
    net, folded = fold_batch_norms(net)
    nodes = conv_nodes(net)
    keep = [n for n, facing in nodes if facing] if calib.float_ends else []
    nncf.set_log_level(logging.ERROR)

    def quantize(base: torch.nn.Module, kept: list[str], bias_correction: bool) -> torch.nn.Module:
        recipe = nncf_recipe(dataclasses.replace(calib, smooth_quant=None), kept, convolution_inputs_only=True)
        recipe["advanced_parameters"].disable_bias_correction = not bias_correction
        return nncf.quantize(copy.deepcopy(base), nncf.Dataset(calib_t), subset_size=len(calib_t), **recipe)

    def run(model: torch.nn.Module) -> list[np.ndarray]:
        model.eval()
        with torch.no_grad():
            return [model(x).numpy() for x in calib_t]

    # The start of fine-tuning: the PTQ network closest to FP32 on the calibration patches (training
    # images, never the test set) over SmoothQuant strengths (NNCF smooths OpenVINO models, not torch
    # ones: made here, iqa_bench.deploy.smooth) and NNCF's bias correction on or off (its torch backend
    # corrects each quantized layer's bias where its OpenVINO backend left these networks' biases as
    # they were). Measured, FSRCNN x2 output SNR: 33.0 dB as NNCF's torch default, 37.2 without the
    # correction (OpenVINO's PTQ of the same recipe 38.0), 42.1 smoothed at 0.65 without it; FSRCNN x4
    # 40.8 with the correction, 40.2 without.
    names = {p: _node_name(p, m) for p, m in net.named_modules()}
    chains = [(a, b) for a, b in smoothable_chains(net) if names[b] not in keep]

    def start(c: CalibConfig) -> _Start:
        """The better of bias correction on and off at SmoothQuant strength ``c.smooth_quant``."""
        base = smooth_quant(net, float(c.smooth_quant), calib_t, chains) if c.smooth_quant and chains else net
        tried = {on: quantize(base, keep, on) for on in (False, True)}
        snr = {on: snr_db(run(m), reference) for on, m in tried.items()}
        on = snr[True] > snr[False]
        return _Start(base, tried[on], on, {"off": round(snr[False], 3), "on": round(snr[True], 3)})

    if calib.smooth_quant in (None, "auto") and chains:
        _, begun, smoothed = choose_smooth_quant(calib, start, lambda b: max(b.snr_db.values()))
    else:  # a strength given, or nothing to smooth
        alpha = float(calib.smooth_quant) if calib.smooth_quant not in (None, "auto") and chains else 0.0
        begun = start(dataclasses.replace(calib, smooth_quant=alpha))
        smoothed = {"chosen": alpha, "snr_db": {f"{alpha:g}": max(begun.snr_db.values())}}
    base, model, bias_correction = begun.base, begun.model, begun.bias_correction
    record: dict[str, Any] = {
        "batch_norms_folded": folded,
        "smooth_quant": {**smoothed, "chains": len(chains) if smoothed["chosen"] else 0},
        "bias_correction": {"chosen": bias_correction, "snr_db": begun.snr_db}}
    if calib.sensitive_float > 0:
        candidates = [n for n, _ in nodes if n not in keep]
        model, chosen, swept = sweep_float_layers(candidates, keep, calib.sensitive_float,
                                                  lambda kept: quantize(base, kept, bias_correction), run, reference,
                                                  str)
        record |= swept
        keep = keep + chosen
    ptq_snr = snr_db(run(model), reference)

    x = torch.from_numpy(np.concatenate(train_inputs))
    with torch.inference_mode():
        target = net(x)
    gen = torch.Generator().manual_seed(qat.seed)
    opt = torch.optim.Adam(model.parameters(), lr=qat.lr)
    # The network kept is the best on the calibration patches (held out from the training patches;
    # never the test set) of the start and ten checkpoints: SRCNN x2 smoothed at 0.5 (16 calibration
    # patches) fell from 52.5 to 39.3 dB output SNR in 20 steps at lr 1e-4, Adam's fixed step size
    # being large for the weights SmoothQuant scaled down, where unsmoothed it stayed at 48.4.
    every = max(1, qat.steps // 10)
    best_snr, best_step, best_state = ptq_snr, 0, copy.deepcopy(model.state_dict())
    _train_mode(model)
    t0, losses = time.perf_counter(), []
    for step in range(1, qat.steps + 1):
        idx = torch.randint(0, len(x), (qat.batch,), generator=gen)
        loss = torch.nn.functional.mse_loss(model(x[idx]), target[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if step % every == 0 or step == qat.steps:
            snr = snr_db(run(model), reference)
            if snr > best_snr:
                best_snr, best_step, best_state = snr, step, copy.deepcopy(model.state_dict())
            _train_mode(model)
    train_s = time.perf_counter() - t0
    model.load_state_dict(best_state)
    model.eval()
    qat_snr = best_snr
    # The ONNX rewrite of the other OpenVINO variants, made here on the fine-tuned network where a
    # layer stayed in float: its fine-tuned weights move exactly (a quantized one's fake-quantizer is
    # attached to the original layer). After training, so the IR is the network as trained: FSRCNN x2
    # fine-tuned with the sub-pixel layer in its place instead came out 0.05 dB worse (symmetric) and
    # 0.15 dB better (asymmetric) on Set5, a different training run rather than a better recipe.
    rewritten = subpixel_modules(model, {p for p, m in model.named_modules() if _node_name(p, m) in keep})

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's "not close" check trips on fake-quantized rounding
        converted = ov.convert_model(model, example_input=calib_t[0], input=[(1, calib_t[0].shape[1], -1, -1)])
    ov.save_model(converted, str(dst), compress_to_fp16=False)
    head = max(1, min(50, qat.steps // 10))  # mean loss of the first and last steps: one batch is noisy
    return {"float_layers": keep, "activations": calib.activations or "symmetric", **record,
            **graph_record(rewritten),
            "qat": {**qat.record(), "loss_first": float(np.mean(losses[:head])), "loss_last": float(np.mean(losses[-head:])),
                    "train_seconds": round(train_s, 1), "kept_step": best_step},
            "calib_snr_db": {**record.get("calib_snr_db", {}), "ptq": round(ptq_snr, 3), "qat": round(qat_snr, 3)}}
