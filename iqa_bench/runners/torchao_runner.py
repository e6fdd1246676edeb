"""The ``torchao`` runner: PyTorch-native INT8 on the CPU, torchao's PT2E flow compiled by inductor.

Per scale, on first use (timed as the build, never as per-image time): the FP32 network is
exported with dynamic height and width (``torch.export``), annotated by torchao's
``X86InductorQuantizer`` (uint8 activations per tensor with min/max ranges, int8 weights per
channel) except the image-facing convolutions (<= 3 channels in or out, kept in float as in the
other int8 variants; ``--int8-float-precision bf16`` computes them in bfloat16) and, with
``--int8-float-layers K``, the K inner convolutions a per-layer sensitivity sweep on the calibration
patches finds most sensitive (kept in f32: they are the ones rounding hurts), with every sub-pixel
convolution rewritten into block order (same values, a contiguous shuffle: see
``_sub_pixel_in_block_order``), calibrated on the calibration patches (never the test set), converted, and
compiled by ``torch.compile`` with inductor (``dynamic=True``, weights frozen so that oneDNN's int8
convolutions are used). A network that pads its input to a multiple of ``multiple_of`` (the UNets)
is exported for such sizes and fed inputs padded the way it pads them itself. The build compiles
every graph an image size can need (one per range of input areas in which ATen keeps one
convolution algorithm), so no image's time holds a compilation. No file is cached: a compiled
graph lives in its process; the build is repeated per run.

Install with ``pip install 'iqa-bench[torchao]'``.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Iterator
from importlib import metadata
from typing import Any

import numpy as np

from iqa_bench._cpu import cpu_flags, numeric_kernels
from iqa_bench.deploy.quantize import seven_bit_weights
from iqa_bench.deploy.artefacts import calibration_record
from iqa_bench.deploy.calibration import CalibConfig, calibration_inputs, resolve_calibration
from iqa_bench.deploy.quantize import is_image_facing, sweep_float_layers
from iqa_bench.errors import InputError
from iqa_bench.models import ModelInfo
from iqa_bench.models.archs import build_network
from iqa_bench.runners.base import RunnerInfo, Upscaler
from iqa_bench.runners.network import NetworkUpscaler
from iqa_bench.weights import WeightsStore

INFO = RunnerInfo(
    description="PyTorch int8 on the CPU: torchao PT2E (X86InductorQuantizer, image-facing convs in float) "
    "compiled by inductor; `pip install 'iqa-bench[torchao]'`",
    variants=("int8",),
    devices=("cpu",),
    replaces=("torch",),
    int8_float_precisions=("f32", "bf16"),
    int8_layer_sweep=True,
    requires=("torchao",),
)
EXTRA_HINT = "pip install 'iqa-bench[torchao]'"
# ATen's CPU convolution takes oneDNN for a batch-1, ungrouped convolution whose kernel is at most 3
# wide or high only when its input holds more than this many elements (`use_mkldnn`,
# aten/src/ATen/native/Convolution.cpp). Dynamo guards on that choice, so each side of each such
# threshold is a graph of its own: the build compiles one input per side up front (`_warmup_sides`).
MKLDNN_MIN_NUMEL = 20480
UNTILED_SIDE = 1024  # the largest input side the warm-up covers when images are not tiled


def _versions() -> dict[str, str]:
    return {pkg: metadata.version(pkg) for pkg in ("torch", "torchao")}


@contextlib.contextmanager
def _compile_settings() -> Iterator[None]:
    """Inductor settings of every call that may compile: frozen weights (the compile-time option
    fails in oneDNN's qconv prepack; the config flag works) and no "duck" shape equality, which
    would compile square and non-square inputs apart."""
    import torch._inductor.config as inductor_config
    from torch.fx.experimental import _config as fx_config

    with inductor_config.patch(freezing=True), fx_config.patch(use_duck_shape=False):
        yield


def _minmax_config() -> Any:
    """The X86InductorQuantizer's default configuration with min/max activation ranges instead of its
    histogram observer, which clips bright regions (measured on VDSR x2: butterfly 32.5 dB against
    the FP32 output with the histogram, like NNCF's mean-min/max on OpenVINO)."""
    import dataclasses

    from torchao.quantization.pt2e import MinMaxObserver
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq

    cfg = xiq.get_default_x86_inductor_quantization_config()
    act = dataclasses.replace(cfg.input_activation, observer_or_fake_quant_ctr=MinMaxObserver.with_args(eps=2**-12))
    weight = dataclasses.replace(cfg.weight, quant_min=-64, quant_max=63) if seven_bit_weights() else cfg.weight
    return dataclasses.replace(cfg, input_activation=act, output_activation=act, weight=weight)


class TorchaoUpscaler(NetworkUpscaler):
    """One zoo model in int8 through torchao PT2E + inductor; one compiled graph per scale."""

    def __init__(self, info: ModelInfo, variant: str = "int8", *, device: str = "cpu", store: WeightsStore | None = None,
                 weights: dict[int, str] | None = None, tile: int | None = 256, overlap: int = 32,
                 calib: CalibConfig | None = None, threads: int | None = None, **_ignored: object) -> None:
        if variant not in INFO.variants:
            raise InputError(f"the torchao runner has variants {INFO.variants}, not {variant!r}", "pick one of them")
        if device != "cpu":
            raise InputError(f"the torchao runner runs on the CPU, not {device!r}", "use --device cpu")
        try:
            import torchao  # noqa: F401
        except ImportError as exc:
            raise InputError(f"the torchao runner needs the torchao package ({exc.msg})", EXTRA_HINT) from None
        if calib is not None and calib.method != "minmax":
            raise InputError(f"the torchao runner calibrates activation ranges by min/max only, not --calib-method "
                             f"{calib.method}", "leave --calib-method at minmax, or use --backend openvino")
        if calib is not None and calib.float_precision not in INFO.int8_float_precisions:
            raise InputError(f"the torchao runner's float layers compute in {' or '.join(INFO.int8_float_precisions)}, "
                             f"not {calib.float_precision}", "pick one of them with --int8-float-precision")
        if calib is not None and (not calib.float_ends or calib.float_input_only):
            raise InputError("the torchao runner keeps every image-facing convolution in float, none in int8",
                             "leave --int8-image-layers at float, or use --backend openvino")
        if calib is not None and calib.smooth_quant:
            raise InputError("SmoothQuant (--int8-smooth-quant) is part of OpenVINO's int8 recipe, not torchao's",
                             "leave --int8-smooth-quant unset, or use --backend openvino")
        if calib is not None and calib.activations == "symmetric":
            raise InputError("the torchao runner's int8 activations are asymmetric (uint8 with a zero point), not "
                             "symmetric", "leave --int8-activations unset, or use --backend openvino")
        super().__init__(info, variant, store=store, weights=weights, tile=tile, overlap=overlap)
        self.calib = calib if calib is not None else resolve_calibration()
        self.threads = threads
        self._graphs: dict[int, Any] = {}
        self._shrinks: dict[int, int] = {}
        self._multiples: dict[int, int] = {}
        self._records: dict[int, dict[str, Any]] = {}

    def _shrink(self, scale: int) -> int:
        self.graph(scale)
        return self._shrinks[scale]

    def graph(self, scale: int) -> Any:
        """The compiled int8 graph for ``scale`` (exported, calibrated, converted and compiled on first use)."""
        if scale not in self._graphs:
            self._graphs[scale] = self._build(scale)
        return self._graphs[scale]

    def _build(self, scale: int) -> Any:
        import torch
        from torch.export import Dim

        t0 = time.perf_counter()
        net = build_network(self.info, scale, self.weights_path(scale)).eval()
        shrink = self._shrinks[scale] = int(getattr(net, "shrink", 0))
        patches = calibration_inputs(self.calib, scale, self.network_input, shrink)
        least = 2 * shrink + 16  # a valid-padding network needs more than its receptive field
        multiple = self._multiples[scale] = int(getattr(net, "multiple_of", 1))
        if multiple > 1:
            # A network that pads its input to a multiple of `multiple` (UNets) is exported for such
            # sides only (`multiple * Dim`): torch.export cannot reason about the modulo of a free
            # dimension. `_call` replicate-pads outside, as the network itself would, and crops.
            dims = {2: multiple * Dim("h", min=-(-least // multiple), max=16384 // multiple),
                    3: multiple * Dim("w", min=-(-least // multiple), max=16384 // multiple)}
        else:
            dims = {2: Dim("h", min=least, max=16384), 3: Dim("w", min=least, max=16384)}
        convs = [name for name, m in net.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
        float_layers = [n for n in convs if is_image_facing(net.get_submodule(n).in_channels,
                                                             net.get_submodule(n).out_channels)]
        float_precision = self.calib.float_precision
        sweep: dict[str, Any] = {}
        chosen: list[str] = []
        if self.calib.sensitive_float > 0:
            macs = _conv_macs(net, patches[0])
            with torch.no_grad():
                reference = [net(torch.from_numpy(x)).double().numpy() for x in patches]
        if float_precision == "bf16":
            _wrap_in_bf16(net, float_layers)
        exported, reordered = _export(net, patches[0], multiple, dims)

        def quantize(kept: list[str]) -> Any:
            return _quantized(copy.deepcopy(exported), kept, patches)

        def run(model: Any) -> list[np.ndarray]:
            with torch.no_grad():
                return [model(torch.from_numpy(x)).double().numpy() for x in patches]

        if self.calib.sensitive_float > 0:
            candidates = [n for n in convs if n not in float_layers]
            # Ranked by gain per multiply-add: a layer kept in float is paid for in f32 time, and on
            # SRGAN/EDSR x2 the 4x costlier upsampling convolution gains no more than a trunk one.
            converted, chosen, sweep = sweep_float_layers(candidates, float_layers, self.calib.sensitive_float,
                                                          quantize, run, reference, str, cost=macs.__getitem__)
            sweep["ranked_by"] = "output SNR gain (dB) per multiply-add of the layer"
            sweep["macs_per_patch"] = {n: macs[n] for n in candidates}
            # The layers the sweep keeps compute in f32 whatever --int8-float-precision says: they are
            # the ones most sensitive to rounding (SRGAN x2, K = 4, Set5: -0.085 dB vs fp32 with them
            # in f32, -0.142 dB with them in bf16 too).
        else:
            converted = _quantized(exported, float_layers, patches)
        precision = {"int8": len(convs) - len(float_layers) - len(chosen), float_precision: len(float_layers)}
        if chosen:
            precision["f32"] = precision.get("f32", 0) + len(chosen)
        float_layers = float_layers + chosen
        graph = torch.compile(converted, dynamic=True)
        c = 1 if self.info.input == "y" else 3
        largest = self.tile + 2 * self.overlap + 2 * shrink if self.tile else UNTILED_SIDE
        sides = _warmup_sides(net, c, least, multiple, largest)
        with self._threads(), _compile_settings(), torch.no_grad():
            for h, w in sides:
                _call(graph, np.zeros((1, c, h, w), np.float32), multiple)
        self._records[scale] = {
            "tools": _versions(), "calibration": calibration_record(self.calib), "float_layers": float_layers,
            "conv_precision": precision,
            "quantizer": "X86InductorQuantizer: uint8 activations per tensor (min/max ranges), "
                         f"int8 weights per channel{' in 7 bits (int8 pair-sum CPU)' if seven_bit_weights() else ''}",
            "input_multiple": multiple, "sub_pixel_convs_in_block_order": reordered,
            "warmup_sides": [list(hw) for hw in sides],
            "build_seconds": round(time.perf_counter() - t0, 3), "cpu_flags": list(cpu_flags()), **sweep,
        }
        return graph

    @contextlib.contextmanager
    def _threads(self) -> Iterator[None]:
        import torch

        if not self.threads:
            yield
            return
        before = torch.get_num_threads()
        torch.set_num_threads(int(self.threads))
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def prepare(self, scale: int) -> None:
        self.graph(scale)

    def build_identity(self) -> dict:
        # bf16 float layers are torch bfloat16 tensors: rounded alike on every CPU, so only int8 is keyed
        return {"calibration": self.calib.identity("torchao-pt2e-x86-inductor-2"),
                "kernels": numeric_kernels(int8=True)}

    def provenance(self) -> dict:
        return {f"x{s}": r for s, r in self._records.items()}

    def _infer(self, x: np.ndarray, scale: int) -> np.ndarray:
        import torch

        graph = self.graph(scale)
        with self._threads(), _compile_settings(), torch.no_grad():
            return _call(graph, x, self._multiples[scale])


def _warmup_sides(net: Any, channels: int, least: int, multiple: int, largest: int) -> list[tuple[int, int]]:
    """One network-input size ``(H, W)`` per range of input areas in which every convolution keeps one
    ATen algorithm (see ``MKLDNN_MIN_NUMEL``), so that no image size compiles a graph after the build.

    Each such convolution's input size is measured relative to the network's input on a probe
    (forward hooks on the float network); sides are multiples of ``multiple``, from ``least`` to
    ``largest`` (the largest tile the runner feeds)."""
    import torch

    probe = multiple * max(8, -(-least // multiple))
    ratios: set[float] = set()

    def hook(module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        kh, kw = module.kernel_size
        if module.groups == 1 and not (kh > 3 and kw > 3):
            ratios.add(args[0].numel() / probe**2)

    handles = [m.register_forward_pre_hook(hook) for m in net.modules() if type(m) is torch.nn.Conv2d]
    try:
        with torch.no_grad():
            net(torch.zeros(1, channels, probe, probe))
    finally:
        for h in handles:
            h.remove()
    cuts = sorted({MKLDNN_MIN_NUMEL / r for r in ratios if least**2 < MKLDNN_MIN_NUMEL / r < largest**2})
    bounds = [least**2 - 1, *cuts, largest**2]
    first, last = -(-least // multiple), largest // multiple  # sides in units of `multiple`
    sides = []
    for lo, hi in zip(bounds, bounds[1:]):  # areas in (lo, hi]; the pair nearest the geometric middle
        target = (max(lo, 1) * hi) ** 0.5
        fits = []
        for h in range(first * multiple, last * multiple + 1, multiple):
            w = min(max(round(target / h / multiple), first), last) * multiple  # the nearest width for h
            if lo < h * w <= hi:
                fits.append((h, w))
        if fits:
            sides.append(min(fits, key=lambda hw: (abs(np.log(hw[0] * hw[1] / target)), abs(hw[0] - hw[1]))))
    return sides


def _conv_macs(net: Any, example: np.ndarray) -> dict[str, float]:
    """Multiply-adds of each convolution of ``net`` (by module name) on one ``example`` input."""
    import torch

    macs: dict[str, float] = {}
    hooks = []
    for name, m in net.named_modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            def hook(m: Any, args: tuple, out: torch.Tensor, name: str = name) -> None:
                k = m.kernel_size[0] * m.kernel_size[1]
                if isinstance(m, torch.nn.ConvTranspose2d):  # every input pixel scatters a kernel
                    macs[name] = float(args[0].numel() * m.out_channels // m.groups * k)
                else:
                    macs[name] = float(out.numel() * m.in_channels // m.groups * k)
            hooks.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad():
            net(torch.from_numpy(example))
    finally:
        for h in hooks:
            h.remove()
    return macs


def _export(net: Any, example: np.ndarray, multiple: int, dims: dict[int, Any]) -> tuple[Any, int]:
    """``net`` exported with dynamic height and width, its sub-pixel convolutions in block order;
    and how many were rewritten."""
    import torch
    from torch.export import export

    exported = export(net, (torch.from_numpy(_pad_to_multiple(example, multiple)),), dynamic_shapes=(dims,)).module()
    return exported, _sub_pixel_in_block_order(exported)


def _quantized(exported: Any, float_layers: list[str], patches: list[np.ndarray]) -> Any:
    """The exported graph annotated by the X86InductorQuantizer (min/max ranges) except the convolutions
    named in ``float_layers``, calibrated on ``patches`` and converted (modified in place)."""
    import torch
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq

    quantizer = xiq.X86InductorQuantizer().set_global(_minmax_config())
    for name in float_layers:
        quantizer.set_module_name_qconfig(name, None)
    prepared = prepare_pt2e(exported, quantizer)
    with torch.no_grad():
        for x in patches:
            prepared(torch.from_numpy(x))
    return convert_pt2e(prepared)


def _wrap_in_bf16(net: Any, names: list[str]) -> None:
    """Replace each convolution of ``net`` named in ``names`` by itself computing in bfloat16 (in place)."""
    for name in names:
        parent, _, leaf = name.rpartition(".")
        setattr(net.get_submodule(parent) if parent else net, leaf, _in_bf16(net.get_submodule(name)))


def _in_bf16(conv: Any) -> Any:
    """``conv`` (a float ``Conv2d``/``ConvTranspose2d``) computing in bfloat16: input, weights and bias
    rounded to bf16, output returned in float32 (``--int8-float-precision bf16``)."""
    import torch

    class Bf16(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = conv.to(torch.bfloat16)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x.to(torch.bfloat16)).float()

    return Bf16()


def _sub_pixel_in_block_order(gm: Any) -> int:
    """Rewrite every ``pixel_shuffle(conv2d(x), r)`` of the exported graph ``gm`` into the same values
    computed in "block" order: the convolution's output channels permuted from ``(c, i, j)`` to
    ``(i, j, c)`` (its weights and bias reordered) and the shuffle written as view -> permute -> reshape.
    Returns how many were rewritten.

    Why: inductor compiles ``pixel_shuffle`` on the channels-last tensors of oneDNN convolutions
    (with dynamic sizes) into a gather of one element at a time, which took 60 % of SRGAN x4's int8
    time (measured: 104 ms per 256 x 256 x 256 tensor); in block order each output pixel's channels
    are one contiguous run of the input, a vectorised copy (12 ms there, fused with the next quantize).
    Every output value is the same: each output channel of a convolution is computed on its own."""
    import operator

    import torch

    aten = torch.ops.aten
    graph, done = gm.graph, 0
    for shuffle in [n for n in graph.nodes if n.target is aten.pixel_shuffle.default]:
        conv, r = shuffle.args[0], int(shuffle.args[1])
        if conv.target is not aten.conv2d.default or len(conv.users) != 1:
            continue
        params = [a for a in conv.args[1:3] if a is not None]
        if any(a.op != "get_attr" or len(a.users) != 1 for a in params) or conv.args[6:] not in ((), (1,)):
            continue  # a shared or computed weight, or a grouped convolution: left as it is
        c = 0
        for a in params:
            owner_path, _, name = a.target.rpartition(".")
            owner = gm.get_submodule(owner_path) if owner_path else gm
            old = getattr(owner, name).detach()
            c = int(old.shape[0]) // (r * r)
            order = torch.arange(c * r * r).view(c, r, r).permute(1, 2, 0).reshape(-1)
            setattr(owner, name, torch.nn.Parameter(old[order].clone(), requires_grad=False))
        with graph.inserting_before(shuffle):
            n_, h, w = (graph.call_function(aten.sym_size.int, (conv, d)) for d in (0, 2, 3))
            blocks = graph.call_function(aten.view.default, (conv, [n_, r, r, c, h, w]))
            moved = graph.call_function(aten.permute.default, (blocks, [0, 3, 4, 1, 5, 2]))
            hr, wr = (graph.call_function(operator.mul, (s, r)) for s in (h, w))
            out = graph.call_function(aten.reshape.default, (moved, [n_, c, hr, wr]))
        shuffle.replace_all_uses_with(out)
        graph.erase_node(shuffle)
        done += 1
    if done:
        graph.lint()
        gm.recompile()
    return done


def _pad_to_multiple(x: np.ndarray, multiple: int) -> np.ndarray:
    """``x`` ``(1, C, H, W)`` replicate-padded at the bottom and right to sides divisible by ``multiple``."""
    h, w = x.shape[-2:]
    if multiple <= 1 or (h % multiple == 0 and w % multiple == 0):
        return x
    return np.pad(x, ((0, 0), (0, 0), (0, -h % multiple), (0, -w % multiple)), mode="edge")


def _call(graph: Any, x: np.ndarray, multiple: int) -> np.ndarray:
    """One patch through ``graph``, padded to ``multiple`` and the output cropped back to ``x``'s extent."""
    import torch

    padded = _pad_to_multiple(x, multiple)
    y = graph(torch.from_numpy(padded)).numpy()
    if padded is x:
        return y
    ratio = y.shape[-1] // padded.shape[-1]
    return np.ascontiguousarray(y[..., : x.shape[-2] * ratio, : x.shape[-1] * ratio])


def create(model: ModelInfo, variant: str, **kwargs: Any) -> Upscaler:
    """Factory registered as the ``torchao`` runner."""
    return TorchaoUpscaler(model, variant, **kwargs)
