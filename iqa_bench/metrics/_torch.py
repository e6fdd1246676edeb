"""numpy <-> torch glue shared by the torch-based metrics (piq, lpips, DISTS)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from iqa_bench._parallel import parallel_map
from iqa_bench.data.colour import yiq_luma_torch
from iqa_bench.errors import InputError
from iqa_bench.metrics.base import check_pair, check_shape

if TYPE_CHECKING:  # torch is imported where it is used: `iqa-bench list` and PSNR-only runs skip its start-up
    import torch


def as_tensor(img: np.ndarray, *, rgb: bool = False, device: str | torch.device = "cpu",
              dtype: torch.dtype | None = None) -> torch.Tensor:
    """``(H, W, C)`` float [0, 1] -> ``(1, C, H, W)`` tensor.

    ``rgb=True`` expands a grey image to three equal channels (for networks trained on RGB, as
    the project's grey-image convention says); otherwise the channels are kept as they are.
    """
    import torch

    if img.ndim != 3:
        raise ValueError(f"expected an (H, W, C) image, got shape {img.shape}")
    if rgb and img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    # one pass, transpose and cast together, by torch's multi-threaded copy (about half numpy's time)
    t = _viewable(img).permute(2, 0, 1).to(dtype=dtype or torch.float32, memory_format=torch.contiguous_format)
    t = t.contiguous()  # `to` keeps the permuted strides when the dtype is already right
    return t.unsqueeze(0).to(device=device)


def yiq_luma_tensor(img: np.ndarray, *, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
                    ) -> torch.Tensor:
    """``(H, W, C)`` float [0, 1] -> its full-range YIQ luma ``(1, 1, H, W)`` (C = 1: as it is), taken in
    float64 from the numpy image (a view where torch can take one), then one channel cast to ``dtype`` (float32)."""
    import torch

    return yiq_luma_torch(_viewable(img).permute(2, 0, 1)[None]).to(device, dtype or torch.float32)


def _viewable(img: np.ndarray) -> torch.Tensor:
    """``img`` as a CPU tensor, a view where torch can take one; a copy of a read-only array or of one
    with a negative stride (e.g. a BGR image flipped to RGB by ``[..., ::-1]``), which torch cannot view."""
    import torch

    return torch.from_numpy(img if img.flags.writeable and min(img.strides) >= 0 else np.array(img))


def gradient_kernels(kind: str, device: torch.device) -> torch.Tensor:
    """piq's ``"scharr"`` or ``"prewitt"`` 3x3 filter and its transpose, ``(2, 1, 3, 3)`` float32: the
    x and y kernels of ``piq.functional.gradient_map``."""
    import torch
    from piq.functional import prewitt_filter, scharr_filter

    f = {"scharr": scharr_filter, "prewitt": prewitt_filter}[kind](dtype=torch.float32)
    return torch.stack([f, f.transpose(-1, -2)]).to(device)


def block_average(x: torch.Tensor) -> torch.Tensor:
    """The authors' (and piq's) pre-filter of SR-SIM and MDSI: ``(N, C, H, W)`` averaged in ``k x k``
    blocks, ``k = max(1, round(min(H, W) / 256))``, after zero padding ``(k - 1) // 2`` before and
    ``k // 2`` after on each axis."""
    import torch.nn.functional as F

    k = max(1, round(min(x.shape[-2:]) / 256))
    if k // 2:
        x = F.pad(x, [(k - 1) // 2, k // 2] * 2)
    return F.avg_pool2d(x, k)


def resolve_device(device: str | None) -> torch.device:
    """``"auto"``/None: CUDA when available, else CPU; otherwise the device named."""
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@contextmanager
def ieee_fp32() -> Iterator[None]:
    """Full-precision float32 convolutions and matmuls for the duration (restored after).

    PyTorch lets cuDNN run float32 convolutions in TF32 (10-bit mantissa) on Ampere and newer GPUs
    by default, so a metric scored on such a GPU would not be the float32 metric its oracle test
    checked (vmaf-torch on an H100 was 2.4 VMAF off libvmaf with TF32, 0.01 on the CPU). Every
    metric's scoring path runs under this; the CPU is unaffected.
    """
    import torch

    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    old = cudnn.allow_tf32, matmul.allow_tf32
    cudnn.allow_tf32 = matmul.allow_tf32 = False
    try:
        yield
    finally:
        cudnn.allow_tf32, matmul.allow_tf32 = old


class FeatureMetric:
    """A full-reference metric computed from per-image torch features, the HR image's made once.

    A subclass sets ``name`` (and ``min_side``, the smallest height and width it can score) and defines
    ``features(img) -> F`` (one ``(H, W, C)`` float image on [0, 1]) and ``score(sr_features,
    hr_features) -> float``; it is then a
    :class:`~iqa_bench.metrics.base.ReferenceCached` metric: the engine calls :meth:`reference` once per
    HR image and :meth:`compare` once per model output, and ``metric(sr, hr)`` is the same value.
    """

    name: str
    min_side: int = 1

    def features(self, img: np.ndarray) -> Any:
        raise NotImplementedError

    def score(self, sr_features: Any, hr_features: Any) -> float:
        raise NotImplementedError

    def reference(self, hr: np.ndarray) -> tuple[tuple[int, ...], Any]:
        """The HR image's shape and features, made once per HR image."""
        import torch

        if min(hr.shape[:2]) < self.min_side:
            raise InputError(f"{self.name} cannot score a {hr.shape[1]}x{hr.shape[0]} image: it needs sides of at "
                             f"least {self.min_side} pixels", f"drop {self.name} from --metrics for images this small")
        with torch.inference_mode():
            return hr.shape, self.features(hr)

    def compare(self, sr: np.ndarray, ref: tuple[tuple[int, ...], Any]) -> float:
        """The metric of ``sr`` against a :meth:`reference`."""
        import torch

        shape, hr_features = ref
        check_shape(sr, shape, self.name)
        with torch.inference_mode():
            return self.score(self.features(sr), hr_features)

    def __call__(self, sr: np.ndarray, hr: np.ndarray) -> float:
        check_pair(sr, hr, self.name)
        if getattr(self, "device", None) is None or self.device.type != "cpu":
            return self.compare(sr, self.reference(hr))
        import torch

        # On the CPU the two images' features are made side by side on the shared pool: each is a chain
        # of small operations that keeps two cores only partly busy (measured on 2 cores, Set14 x4:
        # HaarPSI 1.4x, GMSD 1.3x faster), the same values to the bit. The TF32 flags are global: set
        # here around both threads, what each thread's own ieee_fp32 saves and restores is the same.
        with ieee_fp32():
            (_, hr_features), sr_features = parallel_map(lambda make: make(), [lambda: self.reference(hr),
                                                                              lambda: self._features(sr)])
        with torch.inference_mode():
            return self.score(sr_features, hr_features)

    def _features(self, img: np.ndarray) -> Any:
        import torch

        with torch.inference_mode():
            return self.features(img)
