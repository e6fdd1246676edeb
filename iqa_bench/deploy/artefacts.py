"""Content-hashed cache of ONNX artefacts (FP32 export, FP16, INT8 QDQ) per zoo network and scale.

The key is the sha256 of: the weights file's sha256, architecture and parameters, scale, variant,
opset, the versions of the tools that wrote the file (torch, onnx, onnxruntime) and, for INT8, the
calibration set's content hash and options. Same inputs -> same file, found instead of rebuilt.
Every artefact has a JSON sidecar (what it was built from, build seconds, size, sha256 of each
file). Files are written to a temporary name and renamed, and the sidecar last, so an interrupted or
failed build leaves nothing that looks finished; a cached file that no longer matches its sha256
is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from iqa_bench.deploy.calibration import CalibConfig, calibration_inputs
from iqa_bench.deploy.export import OPSET, export_onnx
from iqa_bench.errors import InputError
from iqa_bench.io import atomic_path
from iqa_bench.models import ModelInfo
from iqa_bench.weights import sha256_of

log = logging.getLogger(__name__)

ENV_ARTEFACTS = "IQA_BENCH_ARTEFACTS"
VARIANTS = ("fp32", "fp16", "int8")
# Version of the INT8 recipe (which layers stay float, ...): part of the key, so a changed recipe
# never reuses a file built by the old one. 2: every image-facing convolution (<= 3 channels in or
# out, e.g. EDSR's mean shifts and head) stays float, not only the first and the last.
INT8_RECIPE = 2


def default_artefact_dir() -> Path:
    """``$IQA_BENCH_ARTEFACTS``, else ``$XDG_CACHE_HOME/iqa-bench/artefacts``, else ``~/.cache/iqa-bench/artefacts``."""
    if os.environ.get(ENV_ARTEFACTS):
        return Path(os.environ[ENV_ARTEFACTS]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "iqa-bench" / "artefacts"


def tool_versions() -> dict[str, str]:
    """Versions of the tools whose output the artefact is (part of the cache key)."""
    from importlib.metadata import version

    return {pkg: version(pkg) for pkg in ("torch", "onnx", "onnxruntime")}


@dataclass(frozen=True)
class Artefact:
    """One ONNX file in the cache and what it was built from (``record["shrink"]``: pixels a
    valid-padding network loses per border)."""

    path: Path
    key: str
    variant: str
    record: dict[str, Any] = field(default_factory=dict)


class ArtefactCache:
    """Build-or-find ONNX artefacts under ``root`` (default :func:`default_artefact_dir`)."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_artefact_dir()
        self._hashes: dict[str, str] = {}

    def _weights_hash(self, path: str) -> str:
        if path not in self._hashes:
            self._hashes[path] = sha256_of(path)
        return self._hashes[path]

    def describe(self, info: ModelInfo, scale: int, variant: str, weights: str, calib: CalibConfig | None) -> dict[str, Any]:
        """The cache-key inputs (also written to the sidecar)."""
        if variant not in VARIANTS:
            raise InputError(f"no ONNX variant {variant!r}", f"use one of {', '.join(VARIANTS)}")
        if variant == "int8" and calib is None:
            raise InputError("int8 needs a calibration set", "pass --calib FOLDER (training images, never the test set)")
        d: dict[str, Any] = {
            "arch": info.arch, "params": info.params, "input": info.input, "value_range": info.value_range,
            "upsample": info.upsample, "scale": scale, "variant": variant, "opset": OPSET,
            "weights_sha256": self._weights_hash(weights), "tools": tool_versions(),
        }
        if variant == "int8":
            assert calib is not None
            d["calibration"] = calibration_record(calib)
            d["recipe"] = INT8_RECIPE
        return d

    @staticmethod
    def key_of(description: dict[str, Any]) -> str:
        """sha256 of the description without the calibration folder's path (its content hash counts)."""
        d = json.loads(json.dumps(description))
        d.get("calibration", {}).pop("folder", None)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()

    def get(self, info: ModelInfo, scale: int, variant: str, weights: str, calib: CalibConfig | None,
            prepare: Callable[[np.ndarray, int], np.ndarray]) -> Artefact:
        """The ONNX artefact for this network x scale x variant, built (export, then convert) if missing.

        ``prepare(lr_uint8, scale) -> (C, H, W)`` turns an LR patch into the network's input (for
        calibration; the valid-padding ``shrink`` is added here).
        """
        desc = self.describe(info, scale, variant, weights, calib)
        key = self.key_of(desc)

        def build(tmp: Path) -> dict[str, Any]:
            if variant == "fp32":
                from iqa_bench.models.archs import build_network

                net = build_network(info, scale, weights)
                shrink = int(getattr(net, "shrink", 0))
                export_onnx(net, 1 if info.input == "y" else 3, tmp,
                            metadata={"iqa_bench.shrink": str(shrink), "iqa_bench.key": key})
                return {"shrink": shrink}
            fp32 = self.get(info, scale, "fp32", weights, None, prepare)
            src, shrink = fp32.path, int(fp32.record["shrink"])
            if variant == "fp16":
                from iqa_bench.deploy.quantize import to_fp16

                to_fp16(src, tmp)
                return {"shrink": shrink}
            from iqa_bench.deploy.quantize import to_int8

            assert calib is not None
            return {"shrink": shrink, **to_int8(src, tmp, calibration_inputs(calib, scale, prepare, shrink), calib)}

        return self.find_or_build(f"{info.arch}-x{scale}-{variant}", desc, build, (".onnx",), variant=variant)

    def find_or_build(self, stem: str, description: dict[str, Any], build: Callable[[Path], dict[str, Any]],
                      suffixes: tuple[str, ...], *, variant: str) -> Artefact:
        """The cached files ``<stem>-<key>{suffixes}`` for ``description``, or build them.

        ``build(path)`` writes ``path`` (named with ``suffixes[0]``; tools that write companions, e.g.
        OpenVINO's ``.bin`` beside its ``.xml``, put them beside it) and returns extra record fields.
        Files are built under temporary names and renamed; the sidecar, written last, holds each
        file's sha256. A cached artefact whose files are missing or do not match their sha256 (a
        truncated or overwritten file) is rebuilt, never used; a failed build leaves nothing behind.
        """
        key = self.key_of(description)
        path = self.root / f"{stem}-{key[:16]}{suffixes[0]}"
        files = [path.with_suffix(s) for s in suffixes]
        sidecar = path.with_suffix(".json")
        if sidecar.is_file():
            try:
                record = json.loads(sidecar.read_text())
                if all(f.is_file() and sha256_of(f) == record["sha256"][f.suffix] for f in files):
                    return Artefact(path, key, variant, record)
            except (json.JSONDecodeError, KeyError, TypeError):
                pass
            log.warning("artefact %s does not match its record: rebuilding it", path)
            sidecar.unlink(missing_ok=True)
        t0 = time.perf_counter()
        self.root.mkdir(parents=True, exist_ok=True)
        tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.stem}.", dir=self.root))
        try:
            tmp = tmp_dir / f"artefact{suffixes[0]}"
            extra = build(tmp)
            made = [tmp.with_suffix(s) for s in suffixes]
            hashes = {f.suffix: sha256_of(f) for f in made}
            for src, dst in zip(made, files):
                os.replace(src, dst)
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)
        record = {**description, **extra, "key": key, "file": path.name, "sha256": hashes,
                  "bytes": sum(f.stat().st_size for f in files), "build_seconds": round(time.perf_counter() - t0, 3)}
        with atomic_path(sidecar) as t:
            t.write_text(json.dumps(record, indent=2))
        return Artefact(path, key, variant, record)


def calibration_record(calib: CalibConfig) -> dict[str, Any]:
    """What the artefact key takes from a calibration set (its folder path is informative only)."""
    return {"folder": str(calib.folder), "method": calib.method, "patches": calib.patches, "patch": calib.patch,
            "seed": calib.seed, "percentile": calib.percentile, "float_ends": calib.float_ends,
            "files": list(calib.files) if calib.files is not None else None, "content_sha256": calib.content_hash(),
            **({"sensitive_float": calib.sensitive_float} if calib.sensitive_float else {}),
            **({"activations": calib.activations} if calib.activations else {}),
            **({"smooth_quant": calib.smooth_quant} if calib.smooth_quant is not None else {}),
            **({"float_input_only": True} if calib.float_input_only else {})}
