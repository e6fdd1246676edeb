"""What the CPU can do, for provenance of speed numbers and for choosing int8 kernels safely."""

from __future__ import annotations

import platform
from functools import lru_cache
from pathlib import Path

# The flags that decide how fast (and, without VNNI, how exactly) int8 and bf16 kernels run.
RELEVANT = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile")


@lru_cache(maxsize=1)
def cpu_flags() -> tuple[str, ...]:
    """The :data:`RELEVANT` flags this CPU reports (``/proc/cpuinfo``; empty where it cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ()
    for line in text.splitlines():
        if line.startswith("flags"):
            have = set(line.split(":", 1)[1].split())
            return tuple(f for f in RELEVANT if f in have)
    return ()


def cpu_description() -> dict[str, object]:
    """Model name, architecture and :func:`cpu_flags`: recorded with every speed number."""
    name = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"model": name or platform.processor(), "machine": platform.machine(), "flags": list(cpu_flags())}


def has_int8_dot_product() -> bool:
    """True where x86 int8 convolutions have a VNNI/AMX dot product (no u8*s8 pair-sum overflow)."""
    return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & set(cpu_flags()))


def has_native_bf16() -> bool:
    """True where the CPU computes bf16 itself (AVX-512 BF16 or AMX).

    Elsewhere OpenVINO's bf16 hint falls back to f32."""
    return bool({"avx512_bf16", "amx_bf16"} & set(cpu_flags()))


def numeric_kernels(*, int8: bool = False, bf16: bool = False) -> dict[str, str]:
    """The CPU kernel classes that change a quantized or bf16 network's outputs beyond float rounding.

    Part of the content id of such result cells, so that a run resumed on another CPU recomputes them
    instead of reusing them. ``int8``: ``"dot-product"`` (VNNI/AMX, exact int32 accumulation) or
    ``"pair-sum"`` (AVX2/AVX-512 without VNNI: u8*s8 pairs summed in int16, whose overflow the
    libraries avoid with 7-bit weights (OpenVINO, torchao: other values) or another kernel path (ONNX
    Runtime's ``x64quantprecision``: measured equal, keyed all the same, as nothing proves it always
    is)). ``bf16``: ``"native"`` or ``"f32-fallback"`` (OpenVINO computes in f32 where the CPU has no bf16).
    """
    out = {}
    if int8:
        out["int8"] = "dot-product" if has_int8_dot_product() else "pair-sum"
    if bf16:
        out["bf16"] = "native" if has_native_bf16() else "f32-fallback"
    return out
