"""The ``torchao`` runner: PyTorch-native INT8 on the CPU, torchao's PT2E flow compiled by inductor.

Per scale, on first use (timed as the build, never as per-image time): the FP32 network is
exported with dynamic height and width (``torch.export``), annotated by torchao's
``X86InductorQuantizer`` (uint8 activations per tensor with min/max ranges, int8 weights per
channel) except the image-facing convolutions (<= 3 channels in or out, kept in float as in the
other int8 variants), calibrated on the calibration patches (never the test set), converted, and
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
import time
from collections.abc import Iterator
from importlib import metadata
from typing import Any

import numpy as np

from iqa_bench._cpu import cpu_flags
from iqa_bench.deploy.artefacts import calibration_record
from iqa_bench.deploy.calibration import CalibConfig, calibration_inputs, resolve_calibration
from iqa_bench.deploy.quantize import is_image_facing
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
    return dataclasses.replace(cfg, input_activation=act, output_activation=act)


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
        if calib is not None and calib.sensitive_float:
            raise InputError("the sensitivity sweep (--int8-float-layers) is made for OpenVINO int8, not torchao",
                             "use --backend openvino, or leave --int8-float-layers at 0")
        if calib is not None and calib.float_precision != "f32":
            raise InputError(f"--int8-float-precision {calib.float_precision} is an OpenVINO setting, not torchao's",
                             "use --backend openvino, or leave --int8-float-precision at f32")
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
        from torch.export import Dim, export
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
        from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq

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
        example = torch.from_numpy(_pad_to_multiple(patches[0], multiple))
        exported = export(net, (example,), dynamic_shapes=(dims,)).module()
        quantizer = xiq.X86InductorQuantizer().set_global(_minmax_config())
        float_layers = []
        for name, m in net.named_modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) and is_image_facing(m.in_channels, m.out_channels):
                quantizer.set_module_name_qconfig(name, None)
                float_layers.append(name)
        prepared = prepare_pt2e(exported, quantizer)
        with torch.no_grad():
            for x in patches:
                prepared(torch.from_numpy(x))
        graph = torch.compile(convert_pt2e(prepared), dynamic=True)
        convs = sum(isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) for m in net.modules())
        c = 1 if self.info.input == "y" else 3
        largest = self.tile + 2 * self.overlap + 2 * shrink if self.tile else UNTILED_SIDE
        sides = _warmup_sides(net, c, least, multiple, largest)
        with self._threads(), _compile_settings(), torch.no_grad():
            for h, w in sides:
                _call(graph, np.zeros((1, c, h, w), np.float32), multiple)
        self._records[scale] = {
            "tools": _versions(), "calibration": calibration_record(self.calib), "float_layers": float_layers,
            "conv_precision": {"int8": convs - len(float_layers), "f32": len(float_layers)},
            "quantizer": "X86InductorQuantizer: uint8 activations per tensor (min/max ranges), "
                         "int8 weights per channel",
            "input_multiple": multiple, "warmup_sides": [list(hw) for hw in sides],
            "build_seconds": round(time.perf_counter() - t0, 3), "cpu_flags": list(cpu_flags()),
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
        return {"calibration": self.calib.identity("torchao-pt2e-x86-inductor-1")}

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
