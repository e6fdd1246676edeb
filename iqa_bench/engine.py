"""``evaluate()``: datasets x scales x images x sources (models, external output folders) x metrics.

Work is a set of independent cells. A source cell (model x variant x image) makes one SR output,
saved as PNG and reused on rerun; a metric cell (output x metric) makes one row of the results
table. Rows are flushed atomically after every source cell, so a killed run loses at most the cell
in flight and a rerun computes only what is missing. Nothing in a cell depends on global state or
on the order cells run in.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import platform
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from iqa_bench import __version__
from iqa_bench.data.datasets import Sample, resolve_dataset
from iqa_bench.data.degrade import DEGRADATIONS, modcrop
from iqa_bench.deploy.calibration import CalibConfig
from iqa_bench.deploy.qat import QatConfig
from iqa_bench.errors import (ComputeError, InputError, MetricUnavailableError, RunStateError, is_storage_error,
                              one_line_cause as _cause)
from iqa_bench.io import ImageInfo, list_images, png_text, quantize_uint8, read_image, to_float, write_png
from iqa_bench.metrics import METRICS, create_metric
from iqa_bench.metrics.base import BatchCompared, ReferenceCached
from iqa_bench.models import MODELS, ModelInfo
from iqa_bench.results import (MANIFEST_VERSION, ResultsStore, RunLock, TimingRows, TimingsStore, add_plan, read_manifest,
                               write_manifest)
from iqa_bench.runners import RUNNERS, Upscaler
from iqa_bench.runners.base import check_device, require_finite
from iqa_bench.weights import WeightsError, sha256_of


PNG_INPUTS = "iqa-bench:inputs"  # PNG text chunk of a saved SR output: the content id it was made from


@dataclass(frozen=True)
class EvalConfig:
    """Everything ``evaluate`` needs; every convention is explicit and written into the manifest.

    Attributes
    ----------
    datasets
        Registered dataset names or folders.
    models
        Zoo model names, or ``("all",)``.
    metrics
        Registered metric names.
    scales
        SR scale factors.
    out
        Run directory.
    degradation
        Name in :data:`iqa_bench.data.degrade.DEGRADATIONS` used to make LR images.
    lr_source
        ``auto`` (provided LR files when a folder has them), ``generate`` or ``provided``.
    quantize
        Score the SR output rounded to uint8 (the image as saved) rather than the float output.
    drop_alpha
        Drop alpha channels instead of refusing RGBA images.
    outputs
        ``(name, folder)`` pairs: SR images made elsewhere, matched to HR images by file stem. A name
        ``MODEL:VARIANT`` (e.g. ``vdsr:int8``) labels the folder as that variant of ``MODEL``: its
        rows are ``(MODEL, VARIANT, external)``, and the report compares them with ``MODEL``'s
        ``fp32`` (a zoo model evaluated in the same run, or another folder labelled ``MODEL:fp32``)
        with the TOST equivalence test, as it compares a variant computed here.
    skip_unavailable
        Skip (with a line in ``EvalReport.skipped``) metrics that cannot be created here, e.g. an
        unavailable metric or missing weights, instead of failing. Set for suites; a metric asked
        for by name fails clearly.
    variants
        Variants to run for each model (e.g. ``fp32, fp16``); empty: each runner's first. A model
        whose runner lacks a variant skips it with a note when ``models == ("all",)``.
    device
        ``cpu`` or ``cuda`` for runners that can use a GPU.
    extra_models
        ``(name, ModelInfo)`` pairs evaluated beside the zoo, e.g. a user's own checkpoint.
    backend
        Run every learned model on this runner (e.g. ``onnxruntime``) instead of its own; None:
        each model's backend, and for a variant it lacks the first runner that can replace it
        (``int8`` of a ``torch`` model runs on ``openvino`` when installed). ``VARIANT@RUNNER`` in
        ``variants`` pins one variant to a runner.
    calib
        Calibration images and method for ``int8`` variants (default: ``$IQA_BENCH_CALIB``).
    qat
        Fine-tuning of ``int8-qat`` variants (default: :class:`~iqa_bench.deploy.qat.QatConfig`).
    jobs
        Workers computing output cells (:mod:`iqa_bench.executor`); 1 with ``executor="local"``: in
        this process. This process stays the run directory's one writer; results equal a serial run's.
    executor
        ``local`` (worker processes on this machine) or ``ray`` (Ray actors; ``pip install
        'iqa-bench[ray]'``).
    address
        The Ray cluster (else ``$RAY_ADDRESS``, else a local Ray instance started for the run).
    threads
        PyTorch threads of this process and of every worker (None: PyTorch's default, one per
        core). Results are bit-identical between runs with the same ``threads``, whatever ``jobs``;
        ``jobs=2, threads=1`` on 2 cores uses them without oversubscribing.
    """

    datasets: tuple[str, ...] = ("default",)
    models: tuple[str, ...] = ("all",)
    metrics: tuple[str, ...] = ("psnr", "psnr_y", "ssim", "ssim_y")
    scales: tuple[int, ...] = (4,)
    out: Path = Path("runs/evaluate")
    degradation: str = "matlab"
    lr_source: str = "auto"
    quantize: bool = True
    drop_alpha: bool = False
    outputs: tuple[tuple[str, Path], ...] = ()
    skip_unavailable: bool = False
    variants: tuple[str, ...] = ()
    device: str = "cpu"
    extra_models: tuple[tuple[str, ModelInfo], ...] = ()
    backend: str | None = None
    calib: CalibConfig | None = None
    qat: QatConfig | None = None
    jobs: int = 1
    executor: str = "local"
    address: str | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        """Refuse values that would fail deep inside the run (or silently mean something else: a
        string where a tuple belongs is iterated letter by letter)."""
        for name in ("datasets", "models", "metrics", "scales", "outputs", "variants", "extra_models"):
            value = getattr(self, name)
            if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)):
                raise InputError(f"EvalConfig.{name} is a {type(value).__name__}: {value!r}",
                                 "pass a tuple, e.g. scales=(4,)" if name == "scales" else
                                 f"pass a tuple, e.g. {name}=({value!r},)" if isinstance(value, str) else "pass a tuple")
        if not self.scales or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in self.scales):
            raise InputError(f"EvalConfig.scales {self.scales!r} is not a tuple of positive integers",
                             "e.g. scales=(2, 4)")
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or self.jobs < 1:
            raise InputError(f"jobs = {self.jobs!r} is not a positive number of worker processes", "e.g. --jobs 2")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise InputError(f"threads = {self.threads!r} is not a positive thread count", "e.g. --threads 1")
        if self.executor not in ("local", "ray"):
            raise InputError(f"unknown executor {self.executor!r}", "use --executor local or --executor ray")


@dataclass
class EvalReport:
    """What a call to :func:`evaluate` did."""

    run_dir: Path
    computed_cells: int = 0
    reused_cells: int = 0
    recomputed_cells: int = 0  # of computed_cells: cells stored before from inputs that have since changed
    rows_added: int = 0
    skipped: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Source:
    """Something that yields an SR image per item (an image, or a clip's frame): a zoo model on a
    runner, or an output folder (whose files are matched to items by name)."""

    name: str
    variant: str
    backend: str
    make: Callable[[str, np.ndarray, int, bool], np.ndarray]  # (item name, lr, scale, quantize) -> SR
    describe: dict
    scales: tuple[int, ...] = ()  # scales it runs at; empty: all
    upscaler: Upscaler | None = None  # None for output folders
    identity: Callable[[str], str] = lambda item: ""  # content id of what makes this item's SR image


def conventions(cfg: EvalConfig) -> dict[str, str]:
    """The conventions of a run: compared on resume, written into the manifest."""
    if cfg.degradation not in DEGRADATIONS:
        raise InputError(f"unknown degradation {cfg.degradation!r}", f"choose one of {sorted(DEGRADATIONS)}")
    deg = DEGRADATIONS[cfg.degradation]
    return {
        "hr_crop": "top-left mod-crop to a multiple of the scale",
        "degradation": f"{deg.name}: {deg.description}",
        "lr_source": cfg.lr_source,
        "luma": "BT.601 limited range, Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255 on [0,1], float, not rounded",
        "grey_images": "scored on their grey values as they are (no RGB -> Y)",
        "border_crop": "FR metrics with crop='scale' drop `scale` pixels from every border",
        "sr_output": (
            "clipped and rounded half up to uint8 before scoring (the image as saved)"
            if cfg.quantize
            else "float output scored, clipped to [0,1] only"
        ),
        "alpha": "dropped" if cfg.drop_alpha else "refused",
        "bit_depth_16": (
            "scaled to [0,1] by 1/65535; its LR is resized in float on the 0..255 scale and rounded once to uint8"
        ),
        "dataset_value": "mean of per-image values; +inf (identical images) counted, not averaged",
    }


def versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Versions of Python, iqa-bench and the libraries numbers depend on (plus ``extra`` distributions)."""
    out = {"python": sys.version.split()[0], "iqa-bench": __version__}
    for dist in ("numpy", "scipy", "pillow", "pypng", "pandas", "pyarrow", "scikit-image", "torch", "torchvision",
                 "piq", "lpips", "onnxruntime", *extra):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def _file_record(info: ImageInfo) -> dict[str, str | int]:
    return {
        "path": info.path,
        "sha256": sha256_of(info.path),
        "mode": info.source_mode,
        "bit_depth": info.bit_depth,
        "handling": info.handling,
    }


def _same_channels(sr: np.ndarray, hr_channels: int, where: str) -> np.ndarray:
    """Bring SR to the HR's channel count where that loses nothing (grey stored as RGB)."""
    if sr.shape[2] == hr_channels:
        return sr
    if hr_channels == 1 and sr.shape[2] == 3 and (sr == sr[..., :1]).all():
        return sr[..., :1]
    raise InputError(
        f"{where} has {sr.shape[2]} channel(s) but its HR image has {hr_channels}",
        "save SR outputs with the HR image's colour layout (grey for grey HR images)",
    )


def model_sources(name: str, info: ModelInfo, cfg: EvalConfig, skipped: list[str] | None,
                  scale_notes: list[str] | None = None) -> list[_Source]:
    """One source per variant of a model; with ``skipped`` (``--models all``), what cannot run is noted
    and left out instead of failing. With ``scale_notes``, scales the model does not support are
    skipped with a note there whether the model was named or came with ``all`` (one rule)."""

    def refuse(message: str, hint: str) -> list[_Source]:
        if skipped is None:
            raise InputError(message, hint)
        skipped.append(f"{message} ({hint})")
        return []

    own = RUNNERS.get(info.backend)
    scales = [s for s in cfg.scales if not info.scales or s in info.scales]
    unsupported = sorted(set(cfg.scales) - set(scales))
    if unsupported and scale_notes is not None:
        scale_notes.append(f"model {name} supports scales {list(info.scales)}: "
                           f"{', '.join(f'x{s}' for s in unsupported)} skipped for it")
        if not scales:
            return []
    if not scales:
        return refuse(f"model {name} supports scales {list(info.scales)}, not {list(cfg.scales)}", "pick a supported --scale")
    if unsupported and skipped is None and scale_notes is None:
        raise InputError(f"model {name!r} supports scales {list(info.scales)}, not {unsupported}", "pick a supported --scale")
    sources = []
    hashes: dict[str, str] = {}  # weights files are the same for every variant: hash each once
    variants = own.meta.variants[:1] if own.meta.precision_free else (cfg.variants or own.meta.variants[:1])
    for spec in variants:
        variant, _, pinned = spec.partition("@")  # "int8@torchao": this variant on that runner
        backend = _runner_for(info, variant, cfg, pinned or None)
        if backend is None:
            choices = sorted({v for e in RUNNERS if e.name == info.backend or info.backend in e.meta.replaces
                              for v in e.meta.variants})
            refuse(f"model {name} has no variant {variant} on {pinned or cfg.backend or info.backend}"
                   + ("" if pinned or cfg.backend else " or on a runner that can replace it"),
                   f"its variants: {', '.join(choices)}")
            continue
        runner = RUNNERS.get(backend)
        try:
            upscaler: Upscaler = runner.factory(info, variant, device=cfg.device, calib=cfg.calib, qat=cfg.qat)
        except InputError as exc:  # e.g. TensorRT or a GPU missing: a clear reason, per variant
            refuse(f"model {name} ({backend} {variant}) skipped: {exc.message}", exc.hint or "")
            continue
        weights = {}
        try:
            for s in scales:
                path = upscaler.weights_path(s)
                if path is not None:
                    if path not in hashes:
                        hashes[path] = sha256_of(path)
                    weights[f"x{s}"] = {"path": str(path), "sha256": hashes[path]}
        except WeightsError as exc:
            return refuse(f"model {name} skipped: {exc.message}", exc.hint or "")

        def make(item: str, lr: np.ndarray, scale: int, quantize: bool = True, up: Upscaler = upscaler) -> np.ndarray:
            return up.upscale_uint8(lr, scale) if quantize else up.upscale(lr, scale)

        describe = {"arch": info.arch, "backend": backend, "variant": variant, "params": info.params,
                    "description": info.description, "weights": weights, "device": cfg.device,
                    **({"detected": info.detected} if info.detected else {})}
        ident = _digest(_model_identity(describe, upscaler))
        sources.append(_Source(name, variant, backend, make, describe, tuple(scales), upscaler,
                               lambda item, i=ident: i))
    return sources


def _digest(obj: object) -> str:
    """sha256 (32 hex chars) of a JSON-able object: the content ids that key result cells."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _model_identity(describe: dict, upscaler: Upscaler) -> dict:
    """What makes a model source's outputs, without file paths: architecture, parameters, weights
    sha256 per scale, variant, backend, device and, for calibrated variants, the calibration set's
    content and options and the INT8 recipe."""
    ident = {k: v for k, v in describe.items() if k != "weights"}
    ident["weights"] = {s: w["sha256"] for s, w in describe["weights"].items()}
    return ident | upscaler.build_identity()


def _runner_for(info: ModelInfo, variant: str, cfg: EvalConfig, pinned: str | None = None) -> str | None:
    """The runner that runs ``variant`` of a model, or None: ``pinned`` (``--variants int8@torchao``),
    else ``EvalConfig.backend``, else the model's own runner, else the preferred installed runner
    that can replace it."""
    own = RUNNERS.get(info.backend)
    if own.meta.precision_free:  # interpolation baselines stay on their exact runner
        return info.backend
    forced_name = pinned or cfg.backend
    if forced_name and forced_name != info.backend:
        forced = RUNNERS.get(forced_name)
        if info.backend in forced.meta.replaces and variant in forced.meta.variants:
            return forced_name
        return None
    if pinned:
        return pinned if variant in own.meta.variants else None
    if variant in own.meta.variants:
        return info.backend
    if cfg.backend:
        return None
    for e in sorted(RUNNERS, key=lambda e: (variant not in e.meta.preferred_for, e.name)):
        if (info.backend in e.meta.replaces and variant in e.meta.variants and cfg.device in e.meta.devices
                and e.meta.installed()):
            return e.name
    return None


EXTERNAL = "external"  # the variant and backend of an unlabelled output folder


def split_output_name(name: str) -> tuple[str, str]:
    """``--outputs`` NAME -> ``(model, variant)``: ``"vdsr:int8"`` -> ``("vdsr", "int8")``; a name
    without a label -> ``(name, "external")``."""
    model, sep, variant = name.partition(":")
    if not sep:
        return name, EXTERNAL
    model, variant = model.strip(), variant.strip().lower()
    if not model or not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", variant) or variant == EXTERNAL:
        raise InputError(f"--outputs {name!r}: not NAME or MODEL:VARIANT",
                         "e.g. --outputs mynet_trt=out/sr, or --outputs vdsr:int8=out/trt_int8 (a variant of vdsr)")
    return model, variant


def _refuse_name_collisions(model_names: list[str], cfg: EvalConfig) -> None:
    """Every source of a run needs its own name (case-insensitively: rows, output folders and
    reports are keyed by it); two inputs under one name would silently drop one. An output folder
    labelled ``MODEL:VARIANT`` is a variant of ``MODEL``, not a second source of that name: it may
    share ``MODEL`` with a zoo model, a checkpoint or other labelled folders, never a variant."""
    seen: dict[str, str] = {}
    named = ([(n, f"zoo model {n!r}") for n in model_names]
             + [(n, f"--model {n}=... (#{i + 1})") for i, (n, _) in enumerate(cfg.extra_models)])
    variants: dict[tuple[str, str], str] = {}
    for n, folder in cfg.outputs:
        model, variant = split_output_name(n)
        what = f"--outputs {n}={folder}"
        if variant == EXTERNAL:
            named.append((n, what))
        elif variants.setdefault((model.lower(), variant), what) != what:
            raise InputError(f"{what} and {variants[(model.lower(), variant)]} are the same variant of {model}",
                             "give each output folder its own MODEL:VARIANT")
    for name, what in named:
        other = seen.setdefault(name.lower(), what)
        if other != what:
            raise InputError(f"{what} and {other} have the same name (case-insensitively)",
                             "give each model, checkpoint and output folder its own NAME")


def _folder_source(name: str, folder: Path, drop_alpha: bool) -> _Source:
    if not folder.is_dir():
        raise InputError(f"--outputs {name}={folder}: folder not found", "give an existing folder of SR images")
    by_stem = {p.stem: p for p in list_images(folder)}

    def identity(item: str) -> str:
        p = by_stem.get(item)
        return sha256_of(p) if p is not None else "missing"

    def make(item: str, lr: np.ndarray, scale: int, quantize: bool = True) -> np.ndarray:
        p = by_stem.get(item)
        if p is None:
            raise InputError(
                f"--outputs {name}: no SR image named {item}.* in {folder}",
                f"add it, or evaluate a dataset whose images all have outputs in {folder}",
            )
        img, _ = read_image(p, drop_alpha=drop_alpha)
        return img

    model, variant = split_output_name(name)
    return _Source(model, variant, EXTERNAL, make, {"folder": str(folder.resolve()), "backend": EXTERNAL},
                   identity=identity)


def _check_sr(sr: np.ndarray, expected: tuple[int, ...], where: str) -> np.ndarray:
    if sr.shape[:2] != expected[:2]:
        raise InputError(
            f"{where} is {sr.shape[1]}x{sr.shape[0]} but the mod-cropped HR image is {expected[1]}x{expected[0]}",
            "SR outputs must have the size of the HR image cropped to a multiple of the scale",
        )
    if sr.dtype.kind == "f":
        require_finite(sr)
    return np.ascontiguousarray(sr)


def _create_metrics(cfg: EvalConfig, skipped: list[str]) -> tuple[list, dict[str, Callable]]:
    """Create the metric callables; with ``skip_unavailable``, note and drop those that cannot be made."""
    entries, fns = [], {}
    for name in cfg.metrics:
        e = METRICS.get(name)
        if e.meta.kind not in ("fr", "nr"):
            raise InputError(f"metric {e.name!r} is a {e.meta.kind} metric", "evaluate it on video clips")
        try:
            fns[e.name] = create_metric(e.name, device=cfg.device if cfg.device in e.meta.devices else None)
        except (MetricUnavailableError, WeightsError) as exc:
            if not cfg.skip_unavailable:
                raise
            skipped.append(f"metric {e.name} skipped: {exc.message}")
            continue
        entries.append(e)
    if not entries:
        raise InputError("no metric of the suite can be computed here", "; ".join(skipped) or "pass --metrics")
    return entries, fns


def open_manifest(run_dir: Path, conv: dict[str, str], sources: list[_Source], command: list[str] | None,
                  libs: dict[str, str]) -> dict:
    """The run's manifest, new or resumed, updated for this call (time, command, versions, hardware,
    conventions, one entry per model with each variant's runner); not yet written.

    Raises :class:`RunStateError` when ``run_dir`` was made with other conventions.
    """
    old = read_manifest(run_dir)
    if old is not None and old.get("conventions") != conv:
        diff = sorted(k for k in set(conv) | set(old.get("conventions", {})) if conv.get(k) != old["conventions"].get(k))
        raise RunStateError(
            f"{run_dir} was made with other conventions ({', '.join(diff)}); resuming would mix them",
            "use a new --out directory, or the settings of the original run",
        )
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    manifest = old or {"created": now, "datasets": {}, "models": {}, "metrics": {}}
    manifest.update(
        updated=now,
        command=command or [],
        versions=libs,
        hardware={"machine": platform.machine(), "system": platform.system(), "cpus": len(os.sched_getaffinity(0))},
        conventions=conv,
    )
    manifest["format_version"] = MANIFEST_VERSION
    for s in sources:  # one entry per model; each variant with the runner that computes it
        entry = manifest["models"].setdefault(s.name, {})
        variant = {"variant": s.variant, "backend": s.backend}
        if s.upscaler is None and s.variant != EXTERNAL:  # a labelled output folder: a variant of the model
            variant |= {k: v for k, v in s.describe.items() if k != "backend"}
        else:
            entry.update({k: v for k, v in s.describe.items() if k not in ("variant", "backend", "weights")})
            # merged per scale: a resumed run at x4 keeps what an x2 pass recorded
            entry.setdefault("weights", {}).update(s.describe.get("weights", {}))
        entry.setdefault("variants", {})[f"{s.variant}/{s.backend}"] = variant
    return manifest


def _prepare(src: _Source, scale: int, dataset: str, timings: TimingRows) -> None:
    """Build the source's network/artefact/engine for ``scale`` before its first image, timed as a
    ``build`` row of its own, so that no per-image SR time includes a build, calibration or compile."""
    assert src.upscaler is not None
    t0 = time.perf_counter()
    try:
        src.upscaler.prepare(scale)
    except Exception as exc:  # noqa: BLE001 - reported by the caller as this variant's failure
        if is_storage_error(exc):
            raise
        raise ComputeError(f"building {src.name} {src.variant} on {src.backend} for x{scale} failed: {_cause(exc)}") from exc
    timings.add_rows([{"kind": "build", "dataset": dataset, "scale": scale, "model": src.name, "variant": src.variant,
                       "backend": src.backend, "build_ms": (time.perf_counter() - t0) * 1e3}])


class _CellInputs:
    """The HR (mod-cropped, uint8 and float) and LR images of the current item, read (or degraded) once
    when first needed, and the reference-side work of FR metrics on it, shared by every source."""

    def __init__(self, cfg: EvalConfig, degrade: Callable[[np.ndarray, int], np.ndarray]) -> None:
        self.cfg, self.degrade = cfg, degrade
        self._key: tuple | None = None
        self._cache: dict[str, Any] = {}

    def _get(self, sample: Sample, scale: int) -> dict[str, Any]:
        if self._key != (sample.hr_path, scale):
            self._key, self._cache = (sample.hr_path, scale), {"references": {}}
        c = self._cache
        if "hr" not in c:
            hr, _ = read_image(sample.hr_path, drop_alpha=self.cfg.drop_alpha)
            c["hr"] = modcrop(hr, scale)
            c["hr_f"] = to_float(c["hr"])
            c["lr"] = (read_image(sample.lr_path, drop_alpha=self.cfg.drop_alpha)[0]
                       if sample.lr_path is not None else self.degrade(c["hr"], scale))
        return c

    def hr(self, sample: Sample, scale: int) -> np.ndarray:
        return self._get(sample, scale)["hr"]

    def hr_f(self, sample: Sample, scale: int) -> np.ndarray:
        return self._get(sample, scale)["hr_f"]

    def lr(self, sample: Sample, scale: int) -> np.ndarray:
        return self._get(sample, scale)["lr"]

    def references(self, sample: Sample, scale: int) -> dict[str, object]:
        if self._key != (sample.hr_path, scale):
            self._get(sample, scale)
        return self._cache["references"]


def _saved_output(png: Path, made_from: str) -> np.ndarray | None:
    """The saved SR PNG when it was made from these very inputs (its stamp), else None."""
    if png.exists() and png_text(png).get(PNG_INPUTS) == made_from:
        return read_image(png)[0]
    return None


def _make_output(src: _Source, item: str, lr: np.ndarray, hr_shape: tuple[int, ...], scale: int, dataset: str,
                 quantize: bool, where: str, prepared: set, timings: TimingRows) -> np.ndarray:
    """One source's SR output for one item, checked against the HR shape (uint8 when ``quantize``).

    The source is built once per scale first (a ``build`` timing row; ``prepared`` remembers it)
    and the SR call is timed on its own (an ``evaluate`` row).
    """
    if src.upscaler is not None and (src.name, src.variant, src.backend, scale) not in prepared:
        _prepare(src, scale, dataset, timings)
        prepared.add((src.name, src.variant, src.backend, scale))
    t0 = time.perf_counter()
    sr = src.make(item, lr, scale, quantize)
    if src.upscaler is not None:
        timings.add(dataset, scale, item, src.name, src.variant, src.backend, (time.perf_counter() - t0) * 1e3, lr.shape)
    sr = _same_channels(_check_sr(sr, hr_shape, where), hr_shape[2], where)
    if quantize and sr.dtype != np.uint8:
        sr = quantize_uint8(to_float(sr))
    return sr


def _score_cell(fn: Callable, meta: Any, name: str, sr_f: np.ndarray, hr_f: np.ndarray, scale: int,
                references: dict[str, object]) -> float:
    """One metric cell: the border crop of the metric's convention, then its value."""
    return _score(fn, meta.kind, _crop(sr_f, meta, scale), _crop(hr_f, meta, scale), references, name)


def _crop(img: np.ndarray, meta: Any, scale: int) -> np.ndarray:
    """``img`` without the border its metric's convention crops (``scale`` pixels, or none)."""
    c = scale if meta.crop == "scale" else 0
    return img[c:-c, c:-c] if c else img


def _score_cells(fn: Callable, meta: Any, name: str, srs_f: list[np.ndarray], hr_f: np.ndarray, scale: int,
                 references: dict[str, object]) -> list[float]:
    """One metric's cells for several outputs of one HR image: in one batched call where the metric
    has one (:class:`~iqa_bench.metrics.base.BatchCompared`), else one by one."""
    if meta.kind == "fr" and isinstance(fn, ReferenceCached) and isinstance(fn, BatchCompared):
        if name not in references:
            references[name] = fn.reference(_crop(hr_f, meta, scale))
        return fn.compare_many([_crop(sr, meta, scale) for sr in srs_f], references[name])
    return [_score_cell(fn, meta, name, sr, hr_f, scale, references) for sr in srs_f]


def _score(fn: Callable, kind: str, sr: np.ndarray, hr: np.ndarray, references: dict[str, object], name: str) -> float:
    """One metric value; a metric with ``reference``/``compare`` reuses its HR-side work across models."""
    if kind == "nr":
        return fn(sr)
    if isinstance(fn, ReferenceCached):
        if name not in references:
            references[name] = fn.reference(hr)
        return fn.compare(sr, references[name])
    return fn(sr, hr)


class CellLoop:
    """The one cell loop of every front door (images: :func:`evaluate`; clips:
    :func:`iqa_bench.video.evaluate.evaluate_video`).

    An *output cell* is one source's output for one item (an image or a clip); its *metric cells*
    are the rows ``(dataset, scale, item, model, variant, backend, metric)``. :meth:`run` reuses a
    metric cell only when it is stored with the same content id (``made_from`` + the metric's
    definition), makes the output once when any is missing, scores each missing metric, and flushes.
    A failure making the output is that source's (its remaining items are skipped, other sources go
    on); a failure scoring is that metric cell's; both are recorded with their cause in ``report``.
    """

    def __init__(self, store: ResultsStore, report: EvalReport, metric_ids: dict[str, str],
                 flush: Callable[[], None], on_cell: Callable[[str], None] | None, items: str = "images") -> None:
        self.store, self.report, self.metric_ids = store, report, metric_ids
        self._flush, self._on_cell, self._items = flush, on_cell, items
        self.failed: set[tuple[str, str, str]] = set()

    def run(self, dataset: str, scale: int, item: str, src: _Source, made_from: str, *, where: str, origin: str,
            produce: Callable[[], Any], score: Callable[[str, Any, tuple], float]) -> None:
        """One output cell and its missing metric cells, in this process.

        ``made_from`` is the content id of everything the output depends on; ``where`` names the
        output in messages, ``origin`` the item's file; ``produce()`` returns the output and
        ``score(metric, output, key)`` one metric's value.
        """
        self.run_item(dataset, scale, item, [_Output(src, made_from, where, produce)], origin=origin, score=score)

    def run_item(self, dataset: str, scale: int, item: str, outputs: list[_Output], *, origin: str,
                 score: Callable[[str, Any, tuple], float],
                 score_many: Callable[[str, list[Any]], list[float]] | None = None) -> None:
        """The output cells of every source for one item, their missing metric cells scored together.

        Each output is made (a failure is its source's, the others go on), then each metric scores
        the outputs that miss it: with ``score_many(metric, outputs)`` in one batched call when given
        and more than one needs it (should that call fail, each output again on its own, so that the
        failure is pinned to its cell), else with ``score`` one at a time.
        """
        made = []
        for out in outputs:
            todo = self.todo(dataset, scale, item, out.src, out.made_from)
            if todo is None:
                continue
            try:
                made.append((todo, out.produce()))
            except Exception as exc:  # noqa: BLE001 - one variant's failure (a build, a library error, NaN
                # output) is that variant's, recorded with its cause; the other models and variants go on
                if is_storage_error(exc):  # a full or read-only disk is the machine's: stop, keep what is written
                    raise
                self.output_failed(todo, out.where, _cause(exc))
        values, errors = score_outputs(
            list(self.metric_ids), [todo.missing for todo, _ in made],
            lambda m, i: score(m, made[i][1], made[i][0].keys[m]),
            None if score_many is None else lambda m, idx: score_many(m, [made[i][1] for i in idx]))
        for (todo, _), v, e in zip(made, values, errors):
            self.scored(todo, origin, v, e)

    def todo(self, dataset: str, scale: int, item: str, src: _Source, made_from: str) -> _Todo | None:
        """What one output cell still needs (None: every metric cell is stored with these inputs, or
        the source failed earlier; counted and shown as done)."""
        label = f"{dataset} x{scale} {item} {src.name} {src.variant}/{src.backend}"
        keys = {m: (dataset, scale, item, src.name, src.variant, src.backend, m) for m in self.metric_ids}
        inputs = {m: _digest([made_from, mid]) for m, mid in self.metric_ids.items()}
        missing = [m for m, k in keys.items() if not self.store.has(k, inputs[m])]
        self.report.recomputed_cells += any(self.store.has(keys[m]) for m in missing)  # stored from other inputs
        if (src.name, src.variant, src.backend) in self.failed or not missing:
            self.report.reused_cells += not missing
            if self._on_cell:
                self._on_cell(label)
            return None
        return _Todo(label, (src.name, src.variant, src.backend), scale, keys, inputs, missing)

    def output_failed(self, todo: _Todo, where: str, cause: str) -> None:
        """The output of ``todo`` could not be made: its source's remaining items are skipped."""
        if todo.side in self.failed:  # an item made in parallel before the first failure was seen
            return
        self.failed.add(todo.side)
        self.report.failures.append(f"{where}: {cause}; the model's remaining {self._items} are skipped, "
                                    "other models go on (check its weights and variant)")
        self._flush()

    def scored(self, todo: _Todo, origin: str, values: dict[str, float], errors: dict[str, str]) -> None:
        """Store the metric values of ``todo`` (a metric in ``errors`` failed: its cell stays missing)."""
        name, variant, backend = todo.side
        for m in todo.missing:
            if m in errors:
                self.report.failures.append(f"{m} of {name} {variant}/{backend} on {origin} (x{todo.scale}): {errors[m]}")
            elif m in values:
                self.store.add(todo.keys[m], values[m], todo.inputs[m])
                self.report.rows_added += 1
        self._flush()
        self.report.computed_cells += 1
        if self._on_cell:
            self._on_cell(todo.label)


def score_outputs(metrics: list[str], missing: list[list[str]], score: Callable[[str, int], float],
                  score_many: Callable[[str, list[int]], list[float]] | None = None,
                  ) -> tuple[list[dict[str, float]], list[dict[str, str]]]:
    """The missing metric cells of several outputs of one item (output ``i`` misses ``missing[i]``).

    Each metric scores the outputs that miss it: ``score_many(metric, indices)`` in one batched call
    when given and more than one needs it (should that call fail, each output again on its own, so
    that the failure is pinned to its cell), else ``score(metric, i)`` one at a time. Returns per
    output its values and its errors (metric -> cause); a full or unwritable disk is raised.
    The serial loop and every worker score through this one function, so that their values agree
    to the last bit (a batched pass may round otherwise than single ones).
    """
    values: list[dict[str, float]] = [{} for _ in missing]
    errors: list[dict[str, str]] = [{} for _ in missing]
    for m in metrics:
        need = [i for i, miss in enumerate(missing) if m in miss]
        if score_many is not None and len(need) > 1:
            try:
                for i, v in zip(need, score_many(m, need), strict=True):
                    values[i][m] = v
                continue
            except Exception as exc:  # noqa: BLE001 - scored one by one below, each failure in its cell
                if is_storage_error(exc):
                    raise
        for i in need:
            try:
                values[i][m] = score(m, i)
            except Exception as exc:  # noqa: BLE001 - one metric on one item; its cell stays missing
                if is_storage_error(exc):
                    raise
                errors[i][m] = _cause(exc)
    return values, errors


@dataclass(frozen=True)
class PlannedOutput:
    """One source's output cell of an item as planned: its content id, where its SR PNG is saved,
    and its name in messages."""

    src: _Source
    made_from: str
    png: Path
    where: str


@dataclass(frozen=True)
class _Output:
    """One source's output cell for one item: its content id, its name in messages, and how to make it."""

    src: _Source
    made_from: str
    where: str
    produce: Callable[[], Any]


@dataclass(frozen=True)
class _Todo:
    """One output cell to compute: its label, source side, scale, metric keys and content ids, and
    the metrics still missing."""

    label: str
    side: tuple[str, str, str]
    scale: int
    keys: dict[str, tuple]
    inputs: dict[str, str]
    missing: list[str]


def build_sources(cfg: EvalConfig, skipped: list[str]) -> list[_Source]:
    """Every source of a run, in order: each model's variants on their runners, then the output
    folders. With ``--models all`` what cannot run is noted in ``skipped``; a named model that
    cannot is an error."""
    everything = list(cfg.models) == ["all"]
    model_names = MODELS.names() if everything else list(cfg.models)
    models = [(n, MODELS.get(n).meta) for n in model_names] + list(cfg.extra_models)
    _refuse_name_collisions(model_names, cfg)
    sources = [src for n, info in models
               for src in model_sources(n, info, cfg, skipped if everything else None, skipped)]
    for name, folder in cfg.outputs:
        sources.append(_folder_source(name, Path(folder), cfg.drop_alpha))
    return sources


def evaluate(
    cfg: EvalConfig,
    *,
    command: list[str] | None = None,
    on_cell: Callable[[str], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    on_skipped: Callable[[list[str]], None] | None = None,
) -> EvalReport:
    """Run (or resume) an evaluation into ``cfg.out``; see :class:`EvalConfig`.

    Raises
    ------
    InputError, UnknownNameError, RunStateError
        Before any computation, for bad inputs, unknown names or a run directory made with other
        conventions. Compute errors (e.g. NaN output) of one model are collected in
        ``EvalReport.failures``; the other models go on.
    """
    conv = conventions(cfg)
    check_device(cfg.device)
    report = EvalReport(run_dir=Path(cfg.out))
    metric_entries, metric_fns = _create_metrics(cfg, report.skipped)
    metric_meta = {e.name: e.meta for e in metric_entries}
    sources = build_sources(cfg, report.skipped)
    if not sources:
        raise InputError("nothing to evaluate", "pass --models and/or --outputs NAME=DIR")
    deg = DEGRADATIONS[cfg.degradation]

    # Validate every input before computing anything (and record what each file is).
    plan: list[tuple[str, int, Sample]] = []
    datasets_record: dict[str, dict] = {}
    for spec in cfg.datasets:
        ds = resolve_dataset(spec)
        rec = datasets_record.setdefault(ds.name, {"root": str(ds.hr_dir)})
        if rec["root"] != str(ds.hr_dir):
            raise InputError(f"two datasets are named {ds.name!r}: {rec['root']} and {ds.hr_dir}",
                             "results are keyed by the dataset name: rename one of the folders")
        for scale in cfg.scales:
            for sample in ds.samples(scale, cfg.lr_source):
                hr, hr_info = read_image(sample.hr_path, drop_alpha=cfg.drop_alpha)
                entry = {"hr": _file_record(hr_info), "lr": "generated"}
                hr_size = modcrop(hr, scale).shape
                if hr_size[0] == 0 or hr_size[1] == 0:
                    raise InputError(f"{sample.hr_path} is smaller than the scale {scale}", "remove it")
                if sample.lr_path is not None:
                    lr, lr_info = read_image(sample.lr_path, drop_alpha=cfg.drop_alpha)
                    want = (hr_size[0] // scale, hr_size[1] // scale, hr.shape[2])
                    if lr.shape != want:
                        raise InputError(
                            f"LR {sample.lr_path} is {lr.shape[1]}x{lr.shape[0]}x{lr.shape[2]} but HR "
                            f"{sample.hr_path} mod-cropped to x{scale} needs {want[1]}x{want[0]}x{want[2]}",
                            "the LR must be the HR (top-left mod-cropped) shrunk by the scale; fix the pair "
                            "or pass --lr-source generate",
                        )
                    entry["lr"] = _file_record(lr_info)
                rec.setdefault(f"x{scale}", {})[sample.name] = entry
                if sample.lr_path is not None and cfg.degradation != "matlab":
                    raise InputError(
                        f"--degradation {cfg.degradation} was asked for, but {ds.name} provides LR files "
                        f"({sample.lr_path.parent}) that --lr-source {cfg.lr_source} would use instead",
                        "pass --lr-source generate to make LR images with that degradation",
                    )
                plan.append((ds.name, scale, sample))

    if cfg.threads is not None:
        import torch

        torch.set_num_threads(cfg.threads)  # workers take this process's count (see executor)
    with RunLock(Path(cfg.out)):  # one writer per run directory, from reading the manifest to the last write
        run_dir = Path(cfg.out)
        manifest = open_manifest(run_dir, conv, sources, command, versions())
        for name, rec in datasets_record.items():
            manifest["datasets"].setdefault(name, {}).update(rec)
        for e in metric_entries:
            manifest["metrics"][e.name] = asdict(e.meta)
        images: dict[tuple[str, int], list[str]] = {}
        for ds_name, scale, sample in plan:
            images.setdefault((ds_name, scale), []).append(sample.name)
        for (ds_name, scale), names in images.items():
            for src in sources:
                if not src.scales or scale in src.scales:
                    add_plan(manifest, ds_name, scale, src.name, src.variant, src.backend, names, list(metric_fns))
        run_dir.mkdir(parents=True, exist_ok=True)
        write_manifest(run_dir, manifest)

        store = ResultsStore(run_dir)
        timings = TimingsStore(run_dir)
        env_id = _digest([conv, versions()])  # conventions and library versions
        metric_ids = {m: _digest(manifest["metrics"][m]) for m in metric_fns}
        prepared: set[tuple[str, str, str, int]] = set()

        def flush() -> None:
            store.flush()
            timings.flush()

        loop = CellLoop(store, report, metric_ids, flush, on_cell)
        if on_skipped and report.skipped:  # before the run starts, not after it
            on_skipped(list(report.skipped))
        if on_total:
            on_total(sum(1 for _, sc, _ in plan for src in sources if not src.scales or sc in src.scales))
        cells = [(ds_name, scale, sample, i) for ds_name, scale, sample in plan
                 for i, src in enumerate(sources) if not src.scales or scale in src.scales]

        def made_from_of(ds_name: str, scale: int, sample: Sample, src: _Source) -> str:
            files = datasets_record[ds_name][f"x{scale}"][sample.name]
            lr_id = files["lr"]["sha256"] if isinstance(files["lr"], dict) else f"generated by {cfg.degradation}"
            return _digest([env_id, files["hr"]["sha256"], lr_id, src.identity(sample.name)])

        def items() -> Iterator[tuple[str, int, Sample, list[PlannedOutput]]]:
            """Each item's output cells, in the plan's order (the serial loop and the workers take these)."""
            for (ds_name, scale, sample), group in itertools.groupby(cells, key=lambda c: c[:3]):
                planned = []
                for src in (sources[c[3]] for c in group):
                    folder = run_dir / "outputs" / ds_name / f"x{scale}" / src.name / f"{src.variant}-{src.backend}"
                    planned.append(PlannedOutput(src, made_from_of(ds_name, scale, sample, src),
                                                 folder / f"{sample.name}.png",
                                                 f"SR output of {src.name} for {sample.hr_path.name} (x{scale})"))
                yield ds_name, scale, sample, planned

        if cfg.jobs > 1 or cfg.executor != "local":
            from iqa_bench.executor import run_cells_in_workers

            run_cells_in_workers(cfg, list(metric_fns), items(), loop, timings)
        else:
            cell_inputs = _CellInputs(cfg, deg)
            for ds_name, scale, sample, planned in items():
                outputs = []
                for out in planned:

                    def produce(out: PlannedOutput = out, ds_name: str = ds_name, scale: int = scale,
                                sample: Sample = sample) -> np.ndarray:
                        sr = _saved_output(out.png, out.made_from) if cfg.quantize else None
                        if sr is None:
                            hr_mod, lr = cell_inputs.hr(sample, scale), cell_inputs.lr(sample, scale)
                            sr = _make_output(out.src, sample.name, lr, hr_mod.shape, scale, ds_name, cfg.quantize,
                                              out.where, prepared, timings)
                            if cfg.quantize:
                                write_png(out.png, sr, text={PNG_INPUTS: out.made_from})
                        return np.clip(to_float(sr), 0.0, 1.0)

                    outputs.append(_Output(out.src, out.made_from, out.where, produce))

                def score(m: str, sr_f: np.ndarray, key: tuple, scale: int = scale, sample: Sample = sample) -> float:
                    return _score_cell(metric_fns[m], metric_meta[m], m, sr_f, cell_inputs.hr_f(sample, scale), scale,
                                       cell_inputs.references(sample, scale))

                def score_many(m: str, srs: list[np.ndarray], scale: int = scale,
                               sample: Sample = sample) -> list[float]:
                    return _score_cells(metric_fns[m], metric_meta[m], m, srs, cell_inputs.hr_f(sample, scale), scale,
                                        cell_inputs.references(sample, scale))

                loop.run_item(ds_name, scale, sample.name, outputs, origin=str(sample.hr_path), score=score,
                              score_many=score_many)
        store.compact()
        timings.compact()
        artefacts = {f"{s.name}/{s.variant}/{s.backend}": p for s in sources if s.upscaler is not None
                     for p in [s.upscaler.provenance()] if p}
        for key, per_scale in artefacts.items():  # merged per scale, like the weights
            manifest.setdefault("artefacts", {}).setdefault(key, {}).update(per_scale)
        had_failures = "failures" in manifest
        if report.failures:
            manifest["failures"] = report.failures  # this call's; earlier ones were retried by it
        else:
            manifest.pop("failures", None)
        if artefacts or report.failures or had_failures:
            write_manifest(run_dir, manifest)
        return report
