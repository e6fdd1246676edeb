"""``evaluate_video()``: clips x scales x sources (models x variants) x video metrics.

Per clip and scale: the reference (HR frames, each top-left mod-cropped) is written once as a
``.y4m``; the LR clip is made frame by frame (MATLAB bicubic, or ffmpeg's scaler) and optionally
compressed with H.264 at a CRF; every source upscales it frame by frame into a lossless ``.y4m``
(kept, with the content id of what made it in a ``.y4m.inputs`` file beside it, and reused on a
rerun only when that id is unchanged); every metric scores that against the reference.

The cells run through the image engine's one loop (:class:`iqa_bench.engine.CellLoop`): values
are keyed by content (the reference clip's sha256, the model's weights/variant/backend, the
conventions, library and ffmpeg versions, the metric's definition), so a changed clip, checkpoint
or setting recomputes its cells; a source's failure skips its remaining clips, a metric's failure
only its cell.

The run directory is the image engine's, so ``report``, ``compare``, ``baseline update`` and
``gate`` work on it unchanged, pairing by clip: ``results.parquet`` holds one row per clip (the
frame values pooled by the mean, libvmaf's own pooling), ``frames.parquet`` one row per frame.
Rows are flushed after each clip x source, so a killed run keeps everything before it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from iqa_bench.data.degrade import DEGRADATIONS, modcrop
from iqa_bench.deploy.calibration import CalibConfig
from iqa_bench.engine import (CellLoop, EvalConfig, EvalReport, _digest, _prepare, _Source, model_sources, open_manifest,
                              versions)
from iqa_bench.errors import InputError, MetricUnavailableError
from iqa_bench.metrics import METRICS
from iqa_bench.metrics.base import MetricInfo
from iqa_bench.metrics.video import VideoMetric
from iqa_bench.models import MODELS
from iqa_bench.io import atomic_path
from iqa_bench.results import ParquetTable, ResultsStore, RunLock, TimingsStore, add_plan, read_table, write_manifest
from iqa_bench.video.clips import DistortedClip, ReferenceClip
from iqa_bench.video.datasets import resolve_video_dataset
from iqa_bench.video.ffmpeg import FFmpeg, ffmpeg_downscale, find_ffmpeg, h264_roundtrip
from iqa_bench.video.y4m import write_y4m
from iqa_bench.weights import WeightsError, sha256_of

DEFAULT_METRICS = ("vmaf", "vmaf_neg", "ffmpeg_psnr_y", "ffmpeg_ssim_y", "tgrad_mad", "flicker")
VIDEO_DEGRADATIONS = ("matlab", "ffmpeg-bicubic")
FRAMES_FILE = "frames.parquet"


@dataclass(frozen=True)
class VideoEvalConfig:
    """Everything ``evaluate_video`` needs; conventions are written into the manifest.

    Attributes
    ----------
    datasets
        Video dataset names (``synthetic``) or folders of clips.
    models, variants, device, backend, calib
        As in :class:`iqa_bench.engine.EvalConfig`.
    metrics
        Registered video metric names.
    scales
        SR scale factors.
    degradation
        ``matlab`` (MATLAB bicubic per frame, uint8) or ``ffmpeg-bicubic`` (ffmpeg's scale filter).
    codec
        None, or ``h264``: the LR clip is encoded with libx264 at ``crf`` and decoded (what the SR
        model sees is the compressed clip).
    crf, preset
        libx264 constant rate factor (0-51, lower is better) and preset.
    frames
        Length of generated clips (None: the dataset's default).
    ffmpeg
        ffmpeg executable for metrics and coding; None: ``$IQA_BENCH_FFMPEG`` or imageio-ffmpeg's.
    skip_unavailable
        Note and skip metrics that cannot be created here instead of failing.
    """

    datasets: tuple[str, ...] = ("synthetic",)
    models: tuple[str, ...] = ("all",)
    metrics: tuple[str, ...] = DEFAULT_METRICS
    scales: tuple[int, ...] = (2,)
    out: Path = Path("runs/video")
    degradation: str = "matlab"
    codec: str | None = None
    crf: int = 23
    preset: str = "medium"
    frames: int | None = None
    variants: tuple[str, ...] = ()
    device: str = "cpu"
    backend: str | None = None
    calib: CalibConfig | None = None
    ffmpeg: str | None = None
    skip_unavailable: bool = False


def video_conventions(cfg: VideoEvalConfig, ff: FFmpeg) -> dict[str, str]:
    """The conventions of a video run: compared on resume, written into the manifest."""
    if cfg.degradation not in VIDEO_DEGRADATIONS:
        raise InputError(f"unknown video degradation {cfg.degradation!r}", f"choose one of {VIDEO_DEGRADATIONS}")
    if cfg.codec not in (None, "h264"):
        raise InputError(f"unknown codec {cfg.codec!r}", "use h264, or no codec")
    if cfg.codec and not 0 <= cfg.crf <= 51:
        raise InputError(f"--crf {cfg.crf} is outside 0..51", "libx264's CRF runs from 0 (lossless) to 51")
    deg = (f"matlab: {DEGRADATIONS['matlab'].description}" if cfg.degradation == "matlab"
           else "ffmpeg scale filter, flags=bicubic, on rgb24 frames")
    return {
        "hr_crop": "every frame top-left mod-cropped to a multiple of the scale",
        "degradation": f"per frame, {deg}",
        "codec": (f"LR clip encoded with libx264 crf {cfg.crf} preset {cfg.preset}, yuv420p, and decoded to RGB"
                  if cfg.codec else "none (uncompressed LR)"),
        "clip_format": "8-bit YCbCr 4:4:4 .y4m, BT.601 limited range (MATLAB rgb2ycbcr), rounded half up; "
                       "grey frames: grey values as Y",
        "sr_output": "each frame clipped and rounded half up to uint8, then converted as clip_format",
        "scaling": "none: reference and SR clips must have equal size and frame count",
        "pooling": "results.parquet: mean over frames with a value (frame 0 of temporal metrics has none); "
                   "frames.parquet: every frame",
        "ffmpeg": ff.version,
    }


class FramesStore(ParquetTable):
    """``frames.parquet``: per-frame values, keyed like ``results.parquet`` plus the frame index
    (0-based). A clip x source x metric is written whole; writing it again replaces it."""

    COLUMNS = ["dataset", "scale", "image", "model", "variant", "backend", "metric", "frame", "value"]

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / FRAMES_FILE
        self._parts: dict[tuple, np.ndarray] = {}
        if self.path.exists():
            df = read_table(self.path)
            for key, g in df.groupby(self.COLUMNS[:7], sort=False):
                vals = np.full(int(g["frame"].max()) + 1, np.nan)
                vals[g["frame"].to_numpy()] = g["value"].to_numpy()
                self._parts[tuple(key)] = vals
        self._dirty = False

    def put(self, key: tuple, values: np.ndarray) -> None:
        self._parts[key] = np.asarray(values, np.float64)
        self._dirty = True

    def frame(self) -> pd.DataFrame:
        recs = [(*k, i, float(v)) for k, vals in self._parts.items() for i, v in enumerate(vals) if not np.isnan(v)]
        df = pd.DataFrame.from_records(recs, columns=self.COLUMNS)
        return df.sort_values(self.COLUMNS[:8], kind="stable", ignore_index=True).astype(
            {"scale": "int64", "frame": "int64", "value": "float64"})


def load_frames(run_dir: str | Path) -> pd.DataFrame:
    """The per-frame table of a video run."""
    p = Path(run_dir) / FRAMES_FILE
    if not p.exists():
        raise InputError(f"no {FRAMES_FILE} in {run_dir}", "run `iqa-bench video evaluate --out DIR` first")
    return read_table(p)


def harmonic_mean(values: np.ndarray) -> float:
    """libvmaf's harmonic-mean pooling, ``1 / mean(1 / (x + 1)) - 1`` (defined for x > -1)."""
    v = np.asarray(values, np.float64)
    return float(1.0 / np.mean(1.0 / (v + 1.0)) - 1.0) if v.size and (v > -1).all() else float("nan")


def pool_values(values: np.ndarray) -> dict[str, float]:
    """Pooled values of one clip's per-frame values: ``mean`` (what results.parquet holds), ``hmean``
    (:func:`harmonic_mean`), ``p5`` / ``p95`` (5th / 95th percentile: the worst frames' level for
    higher- / lower-is-better metrics). NaN (frames without a value) is dropped; infinite values
    (identical frames under PSNR) are left out, and a clip with only those has mean ``inf``."""
    v = np.asarray(values, np.float64)
    v = v[~np.isnan(v)]
    f = v[np.isfinite(v)]
    if not f.size:
        return {"mean": float("inf") if v.size else float("nan"), "hmean": float("nan"),
                "p5": float("nan"), "p95": float("nan")}
    return {"mean": float(f.mean()), "hmean": harmonic_mean(f),
            "p5": float(np.percentile(f, 5)), "p95": float(np.percentile(f, 95))}


def pool_frames(frames: pd.DataFrame) -> pd.DataFrame:
    """Per clip x source x metric: ``n_frames``, ``n_inf``, :func:`pool_values`, ``min``, ``max``."""
    keys = FramesStore.COLUMNS[:7]

    def agg(g: pd.DataFrame) -> pd.Series:
        v = g["value"].to_numpy()
        return pd.Series({"n_frames": v.size, "n_inf": int(np.isinf(v).sum()), **pool_values(v),
                          "min": float(v.min()), "max": float(v.max())})

    return frames.groupby(keys, sort=True)[["value"]].apply(agg).reset_index()


def _create_metrics(cfg: VideoEvalConfig, skipped: list[str]) -> dict[str, tuple[MetricInfo, VideoMetric]]:
    out: dict[str, tuple[MetricInfo, VideoMetric]] = {}
    for name in cfg.metrics:
        e = METRICS.get(name)
        if e.meta.kind != "video":
            raise InputError(f"metric {e.name!r} is an image ({e.meta.kind}) metric",
                             f"video metrics: {', '.join(n for n in METRICS.names() if METRICS.get(n).meta.kind == 'video')}")
        try:
            out[e.name] = (e.meta, e.factory(ffmpeg=cfg.ffmpeg, device=cfg.device))
        except (MetricUnavailableError, WeightsError) as exc:
            if not cfg.skip_unavailable:
                raise
            skipped.append(f"metric {e.name} skipped: {exc.message}")
    if not out:
        raise InputError("no video metric can be computed here", "; ".join(skipped) or "pass --metrics")
    return out


def _lr_clip(frames: np.ndarray, scale: int, cfg: VideoEvalConfig, ff: FFmpeg, fps: Fraction) -> np.ndarray:
    if cfg.degradation == "matlab":
        lr = np.stack([DEGRADATIONS["matlab"](f, scale) for f in frames])
    else:
        rgb = np.repeat(frames, 3, axis=3) if frames.shape[3] == 1 else frames
        lr = ffmpeg_downscale(ff, rgb, scale)
        lr = lr[..., :1] if frames.shape[3] == 1 else lr
    if cfg.codec == "h264":
        rgb = np.repeat(lr, 3, axis=3) if lr.shape[3] == 1 else lr
        coded = h264_roundtrip(ff, rgb, cfg.crf, cfg.preset, fps)
        lr = coded[..., :1] if lr.shape[3] == 1 else coded  # grey: x264 keeps R = G = B up to rounding
    return lr


def evaluate_video(
    cfg: VideoEvalConfig,
    *,
    command: list[str] | None = None,
    on_cell: Callable[[str], None] | None = None,
) -> EvalReport:
    """Run (or resume) a video evaluation into ``cfg.out``; see :class:`VideoEvalConfig`.

    Raises
    ------
    InputError, UnknownNameError, RunStateError
        Before any SR work: bad options, a missing or libvmaf-less ffmpeg, unknown names or a run
        directory made with other conventions. A model's or a metric's failure is collected in
        ``EvalReport.failures``; the others go on.
    """
    ff = find_ffmpeg(cfg.ffmpeg)
    conv = video_conventions(cfg, ff)
    report = EvalReport(run_dir=Path(cfg.out))
    metrics = _create_metrics(cfg, report.skipped)
    everything = list(cfg.models) == ["all"]
    names = MODELS.names() if everything else list(cfg.models)
    ecfg = EvalConfig(models=tuple(names), scales=cfg.scales, variants=cfg.variants, device=cfg.device,
                      backend=cfg.backend, calib=cfg.calib)
    sources = [s for n in names for s in model_sources(n, MODELS.get(n).meta, ecfg,
                                                         report.skipped if everything else None)]
    if not sources:
        raise InputError("no model to evaluate", "pass --models")

    with RunLock(Path(cfg.out)):  # one writer per run directory, from reading the manifest to the last write
        run_dir = Path(cfg.out)
        libs = versions(("imageio-ffmpeg", "ffmpeg-quality-metrics", "vmaf-torch")) | {"ffmpeg": ff.version}
        manifest = open_manifest(run_dir, conv, sources, command, libs)
        manifest.update(
            kind="video",
            primary_metric=next((m for m in ("vmaf", "vmaf_neg", "vmaf_torch") if m in metrics), next(iter(metrics))),
        )
        for name, (meta, _) in metrics.items():
            manifest["metrics"][name] = asdict(meta)
        datasets = [resolve_video_dataset(d, cfg.frames) for d in cfg.datasets]
        for ds in datasets:
            for scale in cfg.scales:
                for src in sources:
                    if not src.scales or scale in src.scales:
                        add_plan(manifest, ds.name, scale, src.name, src.variant, src.backend,
                                 [c.name for c in ds.clips], list(metrics))
        run_dir.mkdir(parents=True, exist_ok=True)
        write_manifest(run_dir, manifest)

        store, frames_store, timings = ResultsStore(run_dir), FramesStore(run_dir), TimingsStore(run_dir)
        env_id = _digest([conv, libs])  # conventions, library and ffmpeg versions
        metric_ids = {m: _digest(manifest["metrics"][m]) for m in metrics}
        prepared: set[tuple[str, str, str, int]] = set()

        def flush() -> None:
            frames_store.flush()
            store.flush()
            timings.flush()

        loop = CellLoop(store, report, metric_ids, flush, on_cell, items="clips")
        for ds in datasets:
            ds_rec = manifest["datasets"].setdefault(ds.name, {"root": ds.root})
            for scale in cfg.scales:
                for clip in ds.clips:
                    hr, fps = clip.load()
                    hr = np.stack([modcrop(f, scale) for f in hr])
                    ref_path = run_dir / "clips" / ds.name / f"x{scale}" / f"{clip.name}.y4m"
                    write_y4m(ref_path, hr, fps)
                    digest = sha256_of(ref_path)
                    ds_rec.setdefault(f"x{scale}", {})[clip.name] = {
                        "hr": {"path": str(ref_path), "sha256": digest, "frames": int(hr.shape[0]),
                               "size": f"{hr.shape[2]}x{hr.shape[1]}", "origin": clip.origin},
                        "lr": "generated"}
                    write_manifest(run_dir, manifest)
                    ref = ReferenceClip.open(ref_path)
                    lr_clip: list[np.ndarray] = []  # made once per clip and scale, when a source needs it

                    for src in sources:
                        if src.scales and scale not in src.scales:
                            continue
                        made_from = _digest([env_id, digest, src.identity(clip.name)])
                        out = (run_dir / "outputs" / ds.name / f"x{scale}" / src.name / f"{src.variant}-{src.backend}"
                               / f"{clip.name}.y4m")

                        def produce(src: _Source = src, out: Path = out, made_from: str = made_from, scale: int = scale,
                                    clip_name: str = clip.name, hr: np.ndarray = hr, fps: Fraction = fps) -> DistortedClip:
                            stamp = out.with_name(out.name + ".inputs")  # content id of what made the saved clip
                            if out.is_file() and stamp.is_file() and stamp.read_text() == made_from:
                                return DistortedClip.open(out)  # the saved output of these very inputs
                            if not lr_clip:
                                lr_clip.append(_lr_clip(hr, scale, cfg, ff, fps))
                            if src.upscaler is not None and (src.name, src.variant, src.backend, scale) not in prepared:
                                _prepare(src, scale, ds.name, timings)
                                prepared.add((src.name, src.variant, src.backend, scale))
                            sr = []
                            for i, f in enumerate(lr_clip[0]):
                                t0 = time.perf_counter()
                                s = src.make(clip_name, f, scale, True)
                                timings.add(ds.name, scale, f"{clip_name}#{i:04d}", src.name, src.variant, src.backend,
                                            (time.perf_counter() - t0) * 1e3, f.shape)
                                if s.shape != hr.shape[1:]:
                                    raise InputError(f"SR frame {i} of {clip_name} is {s.shape} but the reference frame "
                                                     f"is {hr.shape[1:]}", "the model must upscale by exactly the scale")
                                sr.append(s)
                            stamp.unlink(missing_ok=True)
                            write_y4m(out, sr, fps)
                            with atomic_path(stamp) as tmp:
                                tmp.write_text(made_from)
                            return DistortedClip.open(out)

                        def score(m: str, dist: DistortedClip, key: tuple, ref: ReferenceClip = ref) -> float:
                            values = metrics[m][1](dist, ref)
                            frames_store.put(key, values)
                            return pool_values(values)["mean"]

                        loop.run(ds.name, scale, clip.name, src, made_from,
                                 where=f"{ds.name} x{scale} {clip.name} {src.name} {src.variant}/{src.backend}",
                                 origin=f"{clip.origin} ({clip.name})", produce=produce, score=score)
        store.compact()
        frames_store.flush()
        timings.compact()
        if report.failures:
            manifest["failures"] = report.failures
        else:
            manifest.pop("failures", None)
        write_manifest(run_dir, manifest)
        return report
