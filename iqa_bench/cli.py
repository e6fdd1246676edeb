"""The ``iqa-bench`` command line (typer)."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Iterator, List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from iqa_bench.errors import IQABenchError, InputError, storage_error

app = typer.Typer(
    name="iqa-bench",
    help="Image-quality benchmark for super-resolution models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# Not a terminal (CI logs, `| tee`, nohup): rich would squeeze tables to 80 columns ("bicu…");
# give them their natural width instead.
out = Console(soft_wrap=False, width=None if sys.stdout.isatty() else 1000)
err = Console(stderr=True, soft_wrap=True)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Print an IQABenchError, or an OS error (full disk, read-only folder...), as one message with
    the fix (no traceback) and exit with its code."""
    try:
        try:
            yield
        except OSError as exc:
            raise storage_error(exc) from None
    except IQABenchError as exc:
        err.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False)
        if exc.hint:
            err.print(f"  [bold]fix:[/] {escape(exc.hint)}", highlight=False)
        raise typer.Exit(exc.exit_code) from None


def _split(values: Optional[List[str]]) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def _parse_scales(text: str) -> tuple[int, ...]:
    try:
        scales = tuple(int(s) for s in _split([text]))
    except ValueError:
        scales = ()
    if not scales or any(s < 1 for s in scales):
        raise IQABenchError(f"--scale {text!r} is not a list of positive integers", "e.g. --scale 4 or --scale 2,3,4")
    return scales


def _parse_outputs(items: Optional[List[str]]) -> tuple[tuple[str, Path], ...]:
    pairs = []
    for item in items or []:
        name, sep, folder = item.partition("=")
        if not sep or not name.strip() or not folder.strip():
            raise IQABenchError(f"--outputs {item!r} is not NAME=DIR", "e.g. --outputs mynet_trt_int8=out/sr")
        pairs.append((name.strip().lower(), Path(folder.strip())))
    return tuple(pairs)


def _metric_names(metrics: Optional[List[str]], suite: str) -> tuple[str, ...]:
    names = _split(metrics)
    if names:
        return tuple(n.lower() for n in names)
    from iqa_bench.config import load_toml

    try:
        return tuple(load_toml(f"metrics/{suite}.toml")["metrics"])
    except (FileNotFoundError, KeyError):  # KeyError: a config that is not a suite (gate.toml)
        raise IQABenchError(f"unknown metric suite {suite!r}",
                            "suites are the files in metrics/*.toml with a `metrics` list") from None


def _custom_models(
    items: Optional[List[str]], arch: Optional[str], params: Optional[List[str]], net_input: str,
    value_range: float, upsample: str, scales: tuple[int, ...],
) -> tuple:
    """``--model NAME=CKPT`` options -> ``(name, ModelInfo)`` pairs for the torch runner."""
    if not items:
        return ()
    from iqa_bench.models import ModelInfo
    from iqa_bench.models.archs import ARCHS
    from iqa_bench.weights import WeightSpec

    if not arch:
        return _detected_models(items, scales)
    ARCHS.get(arch)
    kwargs = {}
    for item in params or []:
        k, sep, v = item.partition("=")
        if not sep:
            raise IQABenchError(f"--arch-param {item!r} is not K=V", "e.g. --arch-param n_resblocks=16")
        try:
            kwargs[k.strip()] = json.loads(v)
        except ValueError:
            kwargs[k.strip()] = v.strip()
    pairs = []
    for name, folder in _parse_outputs(items):
        ckpt = folder.expanduser().resolve()
        if not ckpt.is_file():
            raise IQABenchError(f"--model {name}: checkpoint {ckpt} not found", "check the path")
        info = ModelInfo(arch=arch, backend="torch", description=f"user checkpoint {ckpt}", params=kwargs,
                         scales=scales, weights={f"x{s}": WeightSpec(str(ckpt)) for s in scales},
                         input=net_input, value_range=value_range, upsample=upsample)
        pairs.append((name, info))
    return tuple(pairs)


def _detected_models(items: List[str], scales: tuple[int, ...]) -> tuple:
    """``--model NAME=CKPT`` without ``--arch``: the architecture, scale and channels detected by spandrel."""
    from iqa_bench.models import ModelInfo
    from iqa_bench.models.detect import detect
    from iqa_bench.weights import WeightSpec

    pairs = []
    for name, path in _parse_outputs(items):
        ckpt = path.expanduser().resolve()
        if not ckpt.is_file():
            raise IQABenchError(f"--model {name}: checkpoint {ckpt} not found", "check the path")
        d = detect(ckpt)
        if d.input_channels not in (1, 3) or d.output_channels != d.input_channels:
            raise IQABenchError(f"--model {name}: {d.architecture} in {ckpt} maps {d.input_channels} to "
                                f"{d.output_channels} channels", "only grey->grey and RGB->RGB SR networks are scored")
        if d.scale not in scales:
            raise IQABenchError(f"--model {name}: {ckpt} is a x{d.scale} {d.architecture} network, not "
                                f"x{', x'.join(map(str, scales))}", f"pass --scale {d.scale}")
        info = ModelInfo(arch="spandrel", backend="torch", params={"checkpoint": str(ckpt)}, scales=(d.scale,),
                         description=f"user checkpoint {ckpt}: {d.architecture} x{d.scale} (detected by spandrel)",
                         weights={f"x{d.scale}": WeightSpec(str(ckpt))}, input="y" if d.input_channels == 1 else "rgb",
                         detected={"architecture": d.architecture, "scale": d.scale, "channels": d.input_channels,
                                   "size_requirements": d.size_requirements})
        pairs.append((name, info))
    return tuple(pairs)


def _fmt(v: float) -> str:
    return "nan" if v != v else f"{v:.4f}"


@contextmanager
def _progress(every_s: float = 30.0, doing: str = "evaluating",
              units: str = "cells (model x variant x image)") -> Iterator[tuple]:
    """``(on_total, on_cell)`` callbacks: a live bar with ETA on a terminal; otherwise (CI logs, `| tee`,
    nohup) one plain line at most every ``every_s`` seconds and at the end, so a log shows progress."""
    import time

    if err.is_terminal:
        from rich.progress import TimeRemainingColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TextColumn("ETA"), TimeRemainingColumn(), console=err, transient=True) as progress:
            task = progress.add_task(doing, total=None)
            yield (lambda n: progress.update(task, total=n),
                   lambda label: progress.update(task, advance=1, description=f"done: {label}"))
        return
    state = {"total": 0, "done": 0, "t0": time.monotonic(), "last": time.monotonic()}

    def on_total(n: int) -> None:
        state["total"] = n
        err.print(f"{doing} {n} {units}", highlight=False)

    def on_cell(label: str) -> None:
        state["done"] += 1
        now = time.monotonic()
        if now - state["last"] >= every_s or state["done"] == state["total"]:
            state["last"] = now
            elapsed = now - state["t0"]
            eta = elapsed / state["done"] * (state["total"] - state["done"])
            err.print(f"[{state['done']}/{state['total']}] {elapsed:.0f} s elapsed, ETA {eta:.0f} s; done: {label}",
                      highlight=False, markup=False)

    yield on_total, on_cell


def print_summary(df, console: Console = out) -> None:
    """One table per dataset x scale: mean of each metric per model (x variant x backend)."""
    from iqa_bench.results import summarize

    summ = summarize(df)
    for (ds, scale), part in summ.groupby(["dataset", "scale"], sort=True):
        metrics = sorted(part["metric"].unique())
        t = Table(title=f"{ds} x{scale} — mean over {int(part['n'].max())} images", title_justify="left")
        for col in ("model", "variant", "backend", *metrics):
            t.add_column(col, justify="left" if col in ("model", "variant", "backend") else "right")
        for (model, variant, backend), rows in part.groupby(["model", "variant", "backend"], sort=True):
            cells = []
            by_metric = rows.set_index("metric")
            for m in metrics:
                if m not in by_metric.index:
                    cells.append("")
                    continue
                r = by_metric.loc[m]
                txt = _fmt(r["mean"])
                if r["n_inf"]:
                    txt += f" (+inf x{int(r['n_inf'])})"
                cells.append(txt)
            t.add_row(model, variant, backend, *cells)
        console.print(t)


class _Degradation(str, Enum):
    matlab = "matlab"
    basicsr = "basicsr"


class _LRSource(str, Enum):
    auto = "auto"
    generate = "generate"
    provided = "provided"


# The int8 recipe options evaluate, quantize and bench share (one definition, one help text).
INT8_FLOAT_LAYERS = typer.Option(0, "--int8-float-layers", help="int8 on OpenVINO or torchao: also keep the "
                                 "K most sensitive convolutions in float (a per-layer sweep on the calibration patches).")
INT8_ACTIVATIONS = typer.Option(None, "--int8-activations", help="int8 activation ranges: symmetric or asymmetric "
                                "(a zero point; OpenVINO, torchao). Default: the backend's own (OpenVINO int8: "
                                "asymmetric, rebuilt symmetric where OpenVINO cannot run it).")
INT8_SMOOTH_QUANT = typer.Option(None, "--int8-smooth-quant", help="OpenVINO int8: SmoothQuant strength on the "
                                 "convolutions, 0 (off) to 1, or auto (the strength closest to fp32 on the "
                                 "calibration patches). Default: the recipe's own (int8: 0.65; int8-qat: auto).")
INT8_IMAGE_LAYERS = typer.Option("float", "--int8-image-layers", help="int8 on OpenVINO or the QDQ file: the "
                                 "image-facing convolutions (<= 3 channels in or out) in float, or int8 as well; "
                                 "input (OpenVINO): only those reading the image in float.")
INT8_FLOAT_PRECISION = typer.Option("f32", "--int8-float-precision", help="int8 on OpenVINO or torchao: what the "
                                    "layers kept in float compute in, f32 or bf16 (AMX/AVX-512 BF16).")


@app.command()
def evaluate(
    models: Optional[str] = typer.Option(
        None, "--models", "-m", help="Zoo models: 'all' or a comma list. Default: all, or none when --outputs is given."
    ),
    metrics: Optional[List[str]] = typer.Option(None, "--metrics", help="Metric names (comma list); overrides --suite."),
    suite: str = typer.Option("default", "--suite", help="Metric suite from metrics/*.toml."),
    dataset: List[str] = typer.Option(["default"], "--dataset", "-d", help="Dataset name or folder (repeatable)."),
    scale: str = typer.Option("4", "--scale", "-s", help="Scale factor(s), e.g. 4 or 2,3,4."),
    out_dir: Path = typer.Option(Path("runs/evaluate"), "--out", "-o", help="Run directory (resumed if it exists)."),
    outputs: Optional[List[str]] = typer.Option(
        None, "--outputs", help="NAME=DIR: score SR images made elsewhere, matched to HR images by file name. "
        "MODEL:VARIANT=DIR (e.g. vdsr:int8=out/trt): a variant of MODEL, compared with its fp32 (TOST)."
    ),
    degradation: _Degradation = typer.Option(_Degradation.matlab, help="How LR images are made from HR."),
    lr_source: _LRSource = typer.Option(_LRSource.auto, help="auto: use a folder's LR_bicubic/X{s} files if present."),
    quantize: bool = typer.Option(True, help="Score SR outputs rounded to uint8 (as saved); --no-quantize: float."),
    drop_alpha: bool = typer.Option(False, help="Drop alpha channels instead of refusing RGBA images."),
    variants: Optional[str] = typer.Option(None, "--variants", help="Comma list, e.g. fp32,fp16 (default: each runner's "
                                           "first); VARIANT@RUNNER pins one, e.g. fp32,int8,int8@torchao."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda, for runners that can use a GPU."),
    model: Optional[List[str]] = typer.Option(None, "--model", help="NAME=CKPT: your own checkpoint (with --arch)."),
    arch: Optional[str] = typer.Option(None, "--arch", help="Architecture of --model checkpoints (see `list models`)."),
    arch_param: Optional[List[str]] = typer.Option(None, "--arch-param", help="K=V architecture parameter (repeatable)."),
    net_input: str = typer.Option("rgb", "--input", help="What --model's network takes: rgb or y."),
    value_range: float = typer.Option(1.0, "--value-range", help="--model's pixel scale: 1 or 255."),
    upsample: str = typer.Option("none", "--upsample", help="--model's input: none (LR) or bicubic (pre-upsampled)."),
    backend: Optional[str] = typer.Option(
        None, "--backend", help="Run learned models on this runner (torch, onnxruntime, tensorrt). Default: each "
        "model's own, and a variant it lacks (int8) on the first runner that has it."),
    calib: Optional[Path] = typer.Option(None, "--calib", help="Calibration images for int8 (default: $IQA_BENCH_CALIB)."),
    calib_method: str = typer.Option("minmax", "--calib-method", help="int8 calibration: minmax, entropy or percentile."),
    calib_patches: int = typer.Option(64, "--calib-patches", help="Number of LR patches used for calibration."),
    int8_float_layers: int = INT8_FLOAT_LAYERS,
    int8_activations: Optional[str] = INT8_ACTIVATIONS,
    int8_float_precision: str = INT8_FLOAT_PRECISION,
    int8_smooth_quant: Optional[str] = INT8_SMOOTH_QUANT,
    int8_image_layers: str = INT8_IMAGE_LAYERS,
    qat_steps: int = typer.Option(1000, "--qat-steps", help="int8-qat: fine-tuning steps with fake quantization."),
    jobs: str = typer.Option("1", "--jobs", "-j", help="Workers computing SR outputs and metrics; the run directory "
                             "keeps one writer and the results equal --jobs 1's. auto: the CPUs at --threads each "
                             "(default: shared out), capped by available memory."),
    threads: Optional[int] = typer.Option(None, "--threads", help="PyTorch threads per process (default: one per "
                                          "core); --jobs 2 --threads 1 on 2 cores, equal to --jobs 1 --threads 1."),
    executor: str = typer.Option("local", "--executor", help="local (worker processes here) or ray (Ray actors, "
                                 "`pip install 'iqa-bench\\[ray]'`)."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: $RAY_ADDRESS, "
                                          "else a local Ray instance)."),
) -> None:
    """Evaluate models (and/or folders of SR outputs) on datasets; resumable."""
    with _user_errors():
        from iqa_bench.engine import EvalConfig, evaluate as run_evaluate
        from iqa_bench.results import load_run

        outs = _parse_outputs(outputs)
        n_jobs, threads = _parse_jobs(jobs, threads)
        extra = _custom_models(model, arch, arch_param, net_input, value_range, upsample, _parse_scales(scale))
        if models is not None and not _split([models]):
            raise IQABenchError(f"--models {models!r} names no model", "pass 'all' or a comma list of zoo models")
        model_list = tuple(_split([models])) if models else (("all",) if not (outs or extra) else ())
        cfg = EvalConfig(
            datasets=tuple(_split(dataset)),
            models=tuple(m.lower() for m in model_list),
            metrics=_metric_names(metrics, suite),
            scales=_parse_scales(scale),
            out=out_dir,
            degradation=degradation.value,
            lr_source=lr_source.value,
            quantize=quantize,
            drop_alpha=drop_alpha,
            outputs=outs,
            skip_unavailable=not _split(metrics),
            variants=tuple(_split([variants])) if variants else (),
            device=device,
            extra_models=extra,
            backend=backend.lower() if backend else None,
            calib=_calib_config(calib, calib_method, calib_patches, int8_float_layers, int8_activations,
                                int8_float_precision, int8_smooth_quant, int8_image_layers),
            qat=_qat_config(qat_steps),
            jobs=n_jobs,
            threads=threads,
            executor=executor,
            address=address,
        )
        def warn(lines: list[str]) -> None:
            for line in lines:
                err.print(f"[yellow]warning:[/] {escape(line)}", highlight=False)

        with _progress() as (on_total, on_cell):
            report = run_evaluate(cfg, command=["iqa-bench", *sys.argv[1:]], on_total=on_total, on_cell=on_cell,
                                  on_skipped=warn)
        if report.skipped:
            err.print(f"{len(report.skipped)} thing(s) skipped (warnings above)", highlight=False)
        if (report.run_dir / "results.parquet").exists():
            print_summary(load_run(report.run_dir))
        out.print(
            f"computed {report.computed_cells} cells"
            + (f" ({report.recomputed_cells} because their inputs changed)" if report.recomputed_cells else "")
            + f", reused {report.reused_cells}; "
            f"{report.rows_added} rows added -> {report.run_dir / 'results.parquet'}",
            highlight=False,
        )
        if report.failures:
            for f in report.failures:
                err.print(f"[bold red]error:[/] {escape(f)}", highlight=False)
            err.print(f"{len(report.failures)} failure(s) (see above); every other result is in {report.run_dir}")
            raise typer.Exit(1)


def _parse_jobs(jobs: str, threads: Optional[int]) -> tuple[int, Optional[int]]:
    """``--jobs N`` or ``--jobs auto`` (with the threads it chose; the choice is printed)."""
    if jobs.strip().lower() == "auto":
        from iqa_bench.executor import auto_jobs

        n, threads, why = auto_jobs(threads)
        err.print(f"--jobs auto: {why}", highlight=False, markup=False)
        return n, threads
    try:
        return int(jobs), threads
    except ValueError:
        raise IQABenchError(f"--jobs {jobs!r} is not a number of workers",
                            "pass e.g. --jobs 2, or --jobs auto") from None


def _calib_config(folder: Optional[Path], method: str, patches: int, sensitive_float: int = 0,
                  activations: Optional[str] = None, float_precision: str = "f32",
                  smooth_quant: Optional[str] = None, image_layers: str = "float"):
    """The CalibConfig of --calib (or $IQA_BENCH_CALIB, else the built-in set) and the int8 options."""
    from iqa_bench.deploy.calibration import resolve_calibration
    from iqa_bench.errors import InputError

    if image_layers.lower() not in ("float", "input", "int8"):
        raise InputError(f"--int8-image-layers {image_layers!r}: expected float, input or int8",
                         "pass float, input or int8")
    if smooth_quant is not None and str(smooth_quant).lower() != "auto":
        try:
            smooth_quant = float(smooth_quant)
        except ValueError:
            raise InputError(f"--int8-smooth-quant {smooth_quant!r}: expected a strength from 0 to 1, or auto",
                             "pass e.g. --int8-smooth-quant 0.65, or auto") from None
    elif smooth_quant is not None:
        smooth_quant = "auto"
    return resolve_calibration(folder, method, patches, sensitive_float=sensitive_float,
                               activations=activations.lower() if activations else None,
                               float_precision=float_precision.lower(), smooth_quant=smooth_quant,
                               float_ends=image_layers.lower() != "int8",
                               float_input_only=image_layers.lower() == "input")


def _qat_config(steps: int):
    """The QAT configuration of ``int8-qat`` variants with ``--qat-steps``."""
    from iqa_bench.deploy.qat import QatConfig

    return QatConfig(steps=steps)


@app.command()
def quantize(
    model: str = typer.Argument(..., help="Zoo model name (see `iqa-bench list models`)."),
    scale: str = typer.Option("4", "--scale", "-s", help="Scale factor(s), e.g. 4 or 2,3,4."),
    variants: str = typer.Option("fp32,fp16,int8", "--variants", help="Comma list of fp32, fp16, int8 (openvino: bf16, int8-qat)."),
    backend: str = typer.Option("onnxruntime", "--backend",
                                help="onnxruntime (ONNX files, also TensorRT's input) or openvino (int8: an NNCF IR)."),
    calib: Optional[Path] = typer.Option(None, "--calib", help="Calibration images for int8 (default: $IQA_BENCH_CALIB)."),
    calib_method: str = typer.Option("minmax", "--calib-method", help="minmax, entropy or percentile."),
    calib_patches: int = typer.Option(64, "--calib-patches", help="Number of LR patches used for calibration."),
    int8_float_layers: int = INT8_FLOAT_LAYERS,
    int8_activations: Optional[str] = INT8_ACTIVATIONS,
    int8_float_precision: str = INT8_FLOAT_PRECISION,
    int8_smooth_quant: Optional[str] = INT8_SMOOTH_QUANT,
    int8_image_layers: str = INT8_IMAGE_LAYERS,
    qat_steps: int = typer.Option(1000, "--qat-steps", help="int8-qat: fine-tuning steps with fake quantization."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write what was built as JSON."),
) -> None:
    """Export a zoo model to ONNX and build its fp16/int8 variants (cached by content hash)."""
    with _user_errors():
        from iqa_bench.models import MODELS
        from iqa_bench.runners import RUNNERS
        from iqa_bench.runners.onnx_backed import OnnxBackedUpscaler

        info = MODELS.get(model).meta
        cfg = _calib_config(calib, calib_method, calib_patches, int8_float_layers, int8_activations,
                            int8_float_precision, int8_smooth_quant, int8_image_layers)
        runner = RUNNERS.get(backend)
        t = Table("variant", "scale", "file", "MiB", "build s", "key")
        records = []
        for v in _split([variants]):
            up = runner.factory(info, v, calib=cfg, qat=_qat_config(qat_steps))
            if not isinstance(up, OnnxBackedUpscaler):
                raise IQABenchError(f"the {backend} runner builds no files", "use --backend onnxruntime or openvino")
            for s_ in _parse_scales(scale):
                a = up.artefact(s_)
                rec = {"variant": v, "scale": s_, "path": str(a.path), **a.record}
                records.append(rec)
                t.add_row(v, str(s_), a.path.name, f"{a.record['bytes'] / 2**20:.2f}",
                          f"{a.record['build_seconds']:.1f}", a.key[:16])
        out.print(t)
        out.print(f"artefacts in {up.cache.root} (build s: when first built; found by content hash since)", highlight=False)
        if json_out:
            json_out.write_text(json.dumps(records, indent=2))


@app.command()
def train(
    model: str = typer.Argument(..., help="Zoo model to train (its architecture and parameters; see `list models`)."),
    data: Path = typer.Option(..., "--data", help="Folder of HR training images (never a test set)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Run folder: checkpoint.pt, the weights, train.json."),
    scale: int = typer.Option(4, "--scale", "-s", help="SR factor (LR made by MATLAB bicubic, as evaluate does)."),
    steps: int = typer.Option(5000, "--steps", help="Optimizer steps."),
    batch: int = typer.Option(16, "--batch", help="Patches per step."),
    patch: int = typer.Option(32, "--patch", help="LR patch side in pixels (HR: patch x scale)."),
    lr: float = typer.Option(5e-4, "--lr", help="Adam learning rate (cosine decay to 1% of it, or --schedule constant)."),
    schedule: str = typer.Option("cosine", "--schedule", help="cosine or constant."),
    loss: str = typer.Option("l1", "--loss", help="l1, l2, or gan (LPIPS + SSIM + adversarial, CNN discriminator)."),
    w_pixel: float = typer.Option(0.0, "--w-pixel", help="gan: weight of L1."),
    w_lpips: float = typer.Option(1.0, "--w-lpips", help="gan: weight of LPIPS (AlexNet)."),
    w_ssim: float = typer.Option(1.0, "--w-ssim", help="gan: weight of 1 - SSIM."),
    w_adv: float = typer.Option(5e-3, "--w-adv", help="gan: weight of the adversarial loss."),
    warmup: int = typer.Option(0, "--warmup", help="gan: first steps on L1 alone."),
    val: Optional[Path] = typer.Option(None, "--val", help="Validation images (default: the last --val-holdout of --data)."),
    val_holdout: int = typer.Option(4, "--val-holdout", help="Images of --data held out for validation when no --val."),
    val_every: int = typer.Option(500, "--val-every", help="Steps between validations and checkpoints."),
    seed: int = typer.Option(0, "--seed", help="Seeds weights, patches and augmentation."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    threads: Optional[int] = typer.Option(None, "--threads", help="PyTorch CPU threads (part of what makes a run repeatable)."),
    fp16_weights: bool = typer.Option(False, "--fp16-weights", help="Store the final weights in float16."),
    restart: bool = typer.Option(False, "--restart", help="Start over instead of resuming --out's checkpoint."),
    qat: bool = typer.Option(False, "--qat", help="Instead: quantization-aware fine-tuning of trained weights into "
                             "the int8-qat OpenVINO artefact, on patches of --data (the openvino extra)."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="--qat: the trained checkpoint (default: the "
                                           "zoo's weights of MODEL at --scale)."),
    qat_steps: int = typer.Option(1000, "--qat-steps", help="--qat: fine-tuning steps."),
) -> None:
    """Train a zoo architecture with the benchmark's degradation; validates with PSNR-Y/SSIM-Y/LPIPS; resumable."""
    with _user_errors():
        from iqa_bench.train import LossWeights, TrainConfig
        from iqa_bench.train import train as run_training

        if qat:
            _train_qat(model.lower(), scale, data, weights, qat_steps)
            return
        if out_dir is None:
            raise InputError("train needs a run folder", "pass --out FOLDER (resumed when it holds a checkpoint)")

        if threads is not None:
            import torch

            torch.set_num_threads(max(1, threads))
        cfg = TrainConfig(model.lower(), scale, steps=steps, batch=batch, patch=patch, lr=lr, schedule=schedule,
                          loss=loss, weights=LossWeights(pixel=w_pixel, lpips=w_lpips, ssim=w_ssim, adv=w_adv,
                                                         warmup=warmup),
                          val_every=val_every, seed=seed)
        with _progress(doing="training", units="steps") as (on_total, on_step):
            result = run_training(cfg, data, out_dir, val=val, val_holdout=val_holdout, device=device,
                                  restart=restart, fp16_weights=fp16_weights, on_total=on_total, on_step=on_step)
        for skipped, why in result.log.get("val_skipped", {}).items():
            err.print(f"[yellow]warning:[/] validation without {skipped}: {escape(why)}", highlight=False)
        t = Table("step", "lr", "loss terms", *(["val " + k for k in result.log["history"][-1].get("val", {})]
                                                 if result.log["history"] else []))
        for h in result.log["history"]:
            terms = " ".join(f"{k} {v:.4f}" for k, v in h.items() if k not in ("step", "lr", "val"))
            t.add_row(str(h["step"]), f"{h['lr']:.2e}", terms, *(f"{v:.4f}" for v in h.get("val", {}).values()))
        out.print(t)
        out.print(f"weights: {result.weights} (sha256 {result.log['sha256']}); log: {result.folder / 'train.json'}; "
                  f"{result.log['seconds']:.0f} s", highlight=False)


def _train_qat(model: str, scale: int, data: Path, weights: Optional[Path], steps: int) -> None:
    """``train --qat``: build the ``int8-qat`` artefact exactly as ``evaluate --variants int8-qat
    --backend openvino --calib DATA`` would (same key, so that run finds it in the artefact cache)."""
    from iqa_bench.models import MODELS
    from iqa_bench.runners import RUNNERS

    info = MODELS.get(model).meta
    up = RUNNERS.get("openvino").factory(info, "int8-qat", calib=_calib_config(data, "minmax", 64),
                                         qat=_qat_config(steps), weights={scale: str(weights)} if weights else None)
    a = up.artefact(scale)
    rec = a.record
    q = rec.get("qat", {})
    out.print(f"int8-qat {model} x{scale}: {a.path} (key {a.key[:16]}); {q.get('steps')} steps in "
              f"{q.get('train_seconds')} s, loss {q.get('loss_first', float('nan')):.3g} -> "
              f"{q.get('loss_last', float('nan')):.3g}; output SNR vs fp32 on the calibration patches "
              f"{rec.get('calib_snr_db', {}).get('ptq')} dB (PTQ; SmoothQuant "
              f"{rec.get('smooth_quant', {}).get('chosen')}, bias correction "
              f"{'on' if rec.get('bias_correction', {}).get('chosen') else 'off'}) -> "
              f"{rec.get('calib_snr_db', {}).get('qat')} dB (QAT)",
              highlight=False)
    if weights is None:
        out.print(f"evaluate it (found by its key, not rebuilt): iqa-bench evaluate --models {model} --scale {scale} "
                  f"--variants fp32,int8,int8-qat --backend openvino --calib {data}", highlight=False, markup=False)


@app.command()
def bench(
    models: str = typer.Option(..., "--models", "-m", help="Comma list of zoo models with weights."),
    variants: str = typer.Option("fp32,fp16,int8", "--variants", help="Comma list of variants."),
    backends: str = typer.Option("auto", "--backends",
                                 help="Comma list of runners; auto: torch, onnxruntime and every other installed CPU runner."),
    scale: int = typer.Option(4, "--scale", "-s", help="Scale factor."),
    size: int = typer.Option(128, "--size", help="LR input side in pixels (network-only latency)."),
    reps: int = typer.Option(10, "--reps", help="Calls per round."),
    rounds: int = typer.Option(3, "--rounds", help="Interleaved rounds."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    memory: bool = typer.Option(True, help="Measure peak memory (CPU: one child process per configuration)."),
    run: Optional[Path] = typer.Option(None, "--run", help="Run directory: rows appended to its timings.parquet."),
    calib: Optional[Path] = typer.Option(None, "--calib", help="Calibration images for int8 (default: $IQA_BENCH_CALIB)."),
    calib_method: str = typer.Option("minmax", "--calib-method", help="minmax, entropy or percentile."),
    int8_float_layers: int = INT8_FLOAT_LAYERS,
    int8_activations: Optional[str] = INT8_ACTIVATIONS,
    int8_float_precision: str = INT8_FLOAT_PRECISION,
    int8_smooth_quant: Optional[str] = INT8_SMOOTH_QUANT,
    int8_image_layers: str = INT8_IMAGE_LAYERS,
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the rows as JSON."),
) -> None:
    """Latency (median, p90), throughput, peak memory and file size of model x variant x backend."""
    with _user_errors():
        from iqa_bench.bench import BenchConfig, bench as run_bench
        from iqa_bench.models import MODELS
        from iqa_bench.results import RunLock, TimingsStore
        from iqa_bench.runners import RUNNERS

        for flag, value, least in (("--size", size, 8), ("--reps", reps, 1), ("--rounds", rounds, 1)):
            if value < least:
                raise IQABenchError(f"{flag} {value}: at least {least} is needed", f"e.g. {flag} {max(least, 10)}")
        from iqa_bench.runners.base import check_device

        check_device(device)
        configs, skipped = [], []
        names = _split([backends])
        if names == ["auto"]:
            names = ["torch", *(e.name for e in RUNNERS if e.name != "torch" and "torch" in e.meta.replaces
                                and device in e.meta.devices and e.meta.installed())]
        for m in _split([models]):
            MODELS.get(m)
            for b in names:
                meta = RUNNERS.get(b).meta
                for v in _split([variants]):
                    if v in meta.variants and device in meta.devices:
                        configs.append(BenchConfig(m, v, b, scale, size, device))
                    else:
                        skipped.append(f"{b} has no {v} on {device}")
        for line in sorted(set(skipped)):
            err.print(f"[yellow]note:[/] {escape(line)}; not measured", highlight=False)
        if not configs:
            raise typer.BadParameter("no configuration to measure")
        cal = _calib_config(calib, calib_method, 64, int8_float_layers, int8_activations, int8_float_precision,
                            int8_smooth_quant, int8_image_layers)
        rows = run_bench(configs, cal, reps=reps, rounds=rounds, memory=memory)
        failed = [r for r in rows if r.get("error")]
        rows = [r for r in rows if not r.get("error")]
        for r in failed:
            err.print(f"[red]failed:[/] {escape(r['model'])} {escape(r['variant'])} on {escape(r['backend'])}: "
                      f"{escape(r['error'])}", highlight=False)
        if not rows:
            raise typer.Exit(1)
        t = Table("model", "backend", "variant", "median ms", "p90 ms", "MPix/s", "peak MiB", "file MiB", "speed-up")
        base = {}
        for r in rows:
            base.setdefault(r["model"], r["median_ms"])
            t.add_row(r["model"], r["backend"], r["variant"], f"{r['median_ms']:.2f}", f"{r['p90_ms']:.2f}",
                      f"{r['mpix_per_s']:.2f}", f"{r['peak_mib']:.0f}", f"{r['file_bytes'] / 2**20:.2f}",
                      f"{base[r['model']] / r['median_ms']:.2f}x")
        out.print(t)
        out.print(f"LR {size}x{size}, x{scale}, {device}; speed-up vs each model's first row; "
                  f"memory: {rows[0]['memory'] or 'not measured'}", highlight=False)
        if run:
            with RunLock(run):  # the run directory's one writer, also for these rows
                store = TimingsStore(run)
                store.add_rows(rows)
                store.compact()
            out.print(f"rows appended to {store.path}", highlight=False)
        if json_out:
            json_out.write_text(json.dumps(rows, indent=2))
        if failed:
            raise typer.Exit(1)  # what was measured is printed and kept; the failures are said above


@app.command()
def score(
    paths: List[Path] = typer.Argument(..., help="REF DIST (files or folders matched by name), or DIST alone for NR metrics."),
    metrics: str = typer.Option("psnr,ssim", "--metrics", help="Comma list of metric names."),
    scale: Optional[int] = typer.Option(None, "--scale", "-s",
                                        help="SR scale: metrics that crop in the SR setting drop this many border pixels, as evaluate does."),
    crop: Optional[int] = typer.Option(None, "--crop", help="Pixels removed from every border for every metric (instead of --scale)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write {metric: {per_image, mean}} here."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto, for metrics that can use a GPU."),
    drop_alpha: bool = typer.Option(False, help="Drop alpha channels instead of refusing RGBA images."),
) -> None:
    """Score image pairs with any metrics, no SR involved (like pyiqa's CLI)."""
    with _user_errors():
        import json

        from iqa_bench.io import atomic_path
        from iqa_bench.results import json_safe
        from iqa_bench.score import score as run_score

        if len(paths) not in (1, 2):
            raise IQABenchError(f"expected REF DIST or DIST, got {len(paths)} paths", "e.g. iqa-bench score hr.png sr.png")
        for p in paths:
            if not p.exists():
                raise IQABenchError(f"{p} not found", "check the path")
        ref, dist = (paths[0], paths[1]) if len(paths) == 2 else (None, paths[0])
        names = [m.lower() for m in _split([metrics])]
        result = run_score(ref, dist, names, crop=crop, scale=scale, drop_alpha=drop_alpha, device=device)
        if crop is None and scale is None:
            from iqa_bench.metrics import METRICS

            sr_crop = [m for m in names if METRICS.get(m).meta.crop == "scale"]
            if sr_crop:
                err.print(f"[yellow]note:[/] no border crop; in the SR setting {', '.join(sr_crop)} drop `scale` "
                          "pixels from every border (evaluate does): pass --scale S to score them the same way",
                          highlight=False)
        images = list(next(iter(result.values()))["per_image"]) if result else []
        t = Table("image", *names)
        for img in images:
            t.add_row(img, *(_fmt(result[m]["per_image"][img]) for m in names))
        t.add_row("[bold]mean[/]", *(f"[bold]{_fmt(result[m]['mean'])}[/]" for m in names))
        out.print(t)
        if json_out is not None:
            with atomic_path(json_out) as tmp:
                tmp.write_text(json.dumps(json_safe(result), indent=2, allow_nan=False))  # inf/NaN as strings
            out.print(f"wrote {json_out}", highlight=False)


def _parse_margins(items: Optional[List[str]]) -> dict[str, float]:
    margins = {}
    for item in _split(items):
        name, sep, value = item.partition("=")
        try:
            margins[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip() or margins.get(name.strip(), -1) < 0:
            raise IQABenchError(f"--margin {item!r} is not METRIC=VALUE with VALUE >= 0", "e.g. --margin psnr_y=0.05")
    return margins


_STATS_OPTIONS = dict(
    baseline=typer.Option("auto", "--baseline",
                          help="Model every model is compared with (auto: bicubic if in the run; none: variants only)."),
    reference_variant=typer.Option("fp32", "--reference-variant", help="Variants are compared with this one of their model."),
    correction=typer.Option("holm", "--correction", help="holm, bh, bonferroni or none (per dataset and scale)."),
    alpha=typer.Option(0.05, "--alpha", help="Significance level of tests and equivalence."),
    margin=typer.Option(None, "--margin", help="METRIC=VALUE TOST margin (repeatable; default: the metric's)."),
    pool_datasets=typer.Option(False, "--pool-datasets", help="Pair over the images of all datasets together."),
)


@app.command()
def compare(
    run: Path = typer.Argument(..., help="Run directory."),
    baseline: str = _STATS_OPTIONS["baseline"],
    reference_variant: str = _STATS_OPTIONS["reference_variant"],
    correction: str = _STATS_OPTIONS["correction"],
    alpha: float = _STATS_OPTIONS["alpha"],
    margin: Optional[List[str]] = _STATS_OPTIONS["margin"],
    pool_datasets: bool = _STATS_OPTIONS["pool_datasets"],
    metrics: Optional[str] = typer.Option(None, "--metrics", help="Comma list (default: all in the run)."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Also write the full statistics table as CSV."),
) -> None:
    """Paired statistics of every model against its baseline (bicubic; FP32 for variants)."""
    with _user_errors():
        from iqa_bench.io import atomic_path
        from iqa_bench.stats import compare as run_compare

        res = run_compare(run, baseline=baseline,
                          reference_variant=reference_variant, correction=correction, alpha=alpha,
                          margins=_parse_margins(margin), pool_datasets=pool_datasets,
                          metrics=_split([metrics]) if metrics else None)
        t = Table("dataset", "x", "metric", "model", "vs", "mean diff", "95% CI", "W/T/L", "p adj", "TOST p adj",
                  "verdict")
        for r in res.itertuples():
            t.add_row(r.dataset, str(r.scale), r.metric, escape(f"{r.model} {r.variant}/{r.backend}"),
                      escape(f"{r.baseline_model} {r.baseline_variant}"), f"{r.mean_diff:+.4g}",
                      escape(f"[{r.ci_low:+.4g}, {r.ci_high:+.4g}]"), f"{r.wins}/{r.ties}/{r.losses}",
                      f"{r.p_wilcoxon_adj:.4g}", "" if r.p_tost_adj != r.p_tost_adj else f"{r.p_tost_adj:.4g}",
                      r.verdict)
        out.print(t)
        if csv is not None:
            with atomic_path(csv) as tmp:
                res.to_csv(tmp, index=False)
            out.print(f"wrote {csv}", highlight=False)


@app.command()
def report(
    run: Path = typer.Argument(..., help="Run directory."),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Where to write (default: the run directory)."),
    baseline: str = _STATS_OPTIONS["baseline"],
    reference_variant: str = _STATS_OPTIONS["reference_variant"],
    correction: str = _STATS_OPTIONS["correction"],
    alpha: float = _STATS_OPTIONS["alpha"],
    margin: Optional[List[str]] = _STATS_OPTIONS["margin"],
    pool_datasets: bool = _STATS_OPTIONS["pool_datasets"],
    primary: Optional[str] = typer.Option(None, "--primary", help="Ranking/Pareto/crops metric (default psnr_y if present)."),
    crops: int = typer.Option(2, "--crops", help="Images per dataset shown as visual crops."),
    crop_size: int = typer.Option(96, "--crop-size", help="Crop patch side in HR pixels."),
    crop_models: Optional[str] = typer.Option(None, "--crop-models", help="Comma list of models shown in the crops (default: all)."),
    allow_incomplete: bool = typer.Option(False, "--allow-incomplete",
                                          help="Render a run with missing cells (marked as incomplete in every section)."),
    latex: bool = typer.Option(False, "--latex", help="Also write report.tex: a booktabs table, best bold, second underlined."),
) -> None:
    """Render report.html (self-contained) and report.md with tables, plots, statistics and crops."""
    with _user_errors():
        from iqa_bench.report import ReportOptions, build_report

        opts = ReportOptions(baseline=baseline,
                             reference_variant=reference_variant, correction=correction, alpha=alpha,
                             margins=_parse_margins(margin), pool_datasets=pool_datasets, primary=primary,
                             crops=crops, crop_size=crop_size, crop_models=tuple(_split([crop_models])) if crop_models else (),
                             allow_incomplete=allow_incomplete, latex=latex)
        res = build_report(run, out_dir, opts)
        out.print(f"wrote {res.html} and {res.markdown} ({res.sections} dataset/scale sections, {res.figures} figures; "
                  f"statistics in {res.stats_csv})" + (f"; LaTeX table in {res.latex}" if res.latex else ""),
                  highlight=False)


baseline_app = typer.Typer(help="Gate baselines (reports/baseline/).", no_args_is_help=True)
app.add_typer(baseline_app, name="baseline")


@baseline_app.command("update")
def baseline_update(
    run: Path = typer.Argument(..., help="Run directory whose results become the baseline."),
    out_dir: Path = typer.Option(Path("reports/baseline"), "--out", "-o", help="Baseline folder."),
) -> None:
    """Write one baseline JSON per dataset and scale of RUN (per-image values, conventions, versions)."""
    with _user_errors():
        from iqa_bench.gate import write_baseline

        for p in write_baseline(run, out_dir):
            out.print(f"wrote {p}", highlight=False)


@app.command()
def gate(
    baseline: Path = typer.Option(Path("reports/baseline"), "--baseline", "-b", help="Baseline folder."),
    run: Path = typer.Option(..., "--run", "-r", help="Run directory to check."),
    tolerance: Optional[Path] = typer.Option(None, "--tolerance", help="Gate config (default: metrics/gate.toml)."),
    junit: Optional[Path] = typer.Option(None, "--junit", help="Write JUnit XML here."),
    markdown: Optional[Path] = typer.Option(None, "--markdown", help="Write a Markdown summary here (e.g. $GITHUB_STEP_SUMMARY)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show every cell, not only those that did not pass."),
) -> None:
    """Fail (exit 1) when a metric regressed beyond tolerance and significantly; exit 2 when the run and
    the baseline are not comparable (conventions, metric definitions, versions, images). Prints the
    cells that did not pass (all with --verbose) and a one-line summary."""
    with _user_errors():
        from iqa_bench.gate import load_gate_config
        from iqa_bench.gate import markdown as gate_markdown
        from iqa_bench.gate import run_gate, write_junit

        res = run_gate(baseline, run, load_gate_config(tolerance))
        shown = res.cells if verbose or res.cells.empty else res.cells[res.cells["status"] != "pass"]
        if not shown.empty:
            t = Table("status", "dataset", "x", "model", "variant", "metric", "baseline", "run", "delta", "tol", "p adj")
            style = {"regression": "bold red", "changed": "bold red", "missing": "bold red", "improved": "green",
                     "moved (n.s.)": "yellow", "new": "cyan"}
            for r in shown.itertuples():
                f = lambda x, spec: "" if x != x else format(x, spec)  # noqa: E731 - NaN -> blank
                t.add_row(f"[{style.get(r.status, '')}]{r.status}[/]" if r.status in style else r.status,
                          escape(r.dataset), str(r.scale), escape(r.model), escape(f"{r.variant}/{r.backend}"),
                          r.metric, f(r.baseline_mean, ".6g"), f(r.run_mean, ".6g"), f(r.delta, "+.3g"),
                          f(r.tolerance, ".3g"), f(r.p_adj, ".3g"))
            out.print(t)
        for p in res.problems:
            err.print(f"[bold red]not comparable:[/] {escape(p)}", highlight=False)
        if junit is not None:
            write_junit(res, junit)
        if markdown is not None:
            from iqa_bench.io import atomic_path

            with atomic_path(markdown) as tmp:
                tmp.write_text(gate_markdown(res), encoding="utf-8")
        n_fail = len(res.failed)
        if not res.cells.empty:
            counts = res.cells["status"].value_counts()
            out.print("cells: " + ", ".join(f"{n} {k}" for k, n in counts.items()), highlight=False)
        if res.exit_code == 2:
            err.print("gate: baseline and run are not comparable (see above); rerun with the baseline's settings "
                      "or update the baseline deliberately (`iqa-bench baseline update`)", highlight=False)
        elif n_fail:
            err.print(f"gate: {n_fail} cell(s) failed", highlight=False)
        else:
            out.print(f"gate: passed ({len(res.cells)} cells)", highlight=False)
        raise typer.Exit(res.exit_code)


class _Listable(str, Enum):
    metrics = "metrics"
    models = "models"
    datasets = "datasets"
    runners = "runners"


video_app = typer.Typer(help="Video SR quality: VMAF, PSNR/SSIM on Y per frame, temporal consistency.",
                         no_args_is_help=True)
app.add_typer(video_app, name="video")


class _VideoDegradation(str, Enum):
    matlab = "matlab"
    ffmpeg_bicubic = "ffmpeg-bicubic"


@video_app.command("evaluate")
def video_evaluate(
    models: str = typer.Option("bicubic,fsrcnn,srcnn", "--models", "-m", help="Zoo models: 'all' or a comma list."),
    metrics: Optional[List[str]] = typer.Option(None, "--metrics", help="Video metric names (comma list); overrides --suite."),
    suite: str = typer.Option("video", "--suite", help="Metric suite from metrics/*.toml."),
    dataset: List[str] = typer.Option(["synthetic"], "--dataset", "-d", help="'synthetic' or a folder of clips (repeatable)."),
    scale: str = typer.Option("2", "--scale", "-s", help="Scale factor(s), e.g. 2 or 2,4."),
    out_dir: Path = typer.Option(Path("runs/video"), "--out", "-o", help="Run directory (resumed if it exists)."),
    degradation: _VideoDegradation = typer.Option(_VideoDegradation.matlab, help="How LR frames are made."),
    codec: Optional[str] = typer.Option(None, "--codec", help="Compress the LR clip: h264 (libx264)."),
    crf: int = typer.Option(23, "--crf", help="libx264 CRF with --codec h264 (0-51, lower is better)."),
    frames: Optional[int] = typer.Option(None, "--frames", help="Length of generated clips (default 30)."),
    variants: Optional[str] = typer.Option(None, "--variants", help="Comma list, e.g. fp32,int8."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda, for runners and metrics that can use a GPU."),
    backend: Optional[str] = typer.Option(None, "--backend", help="Run learned models on this runner."),
    ffmpeg: Optional[str] = typer.Option(None, "--ffmpeg", help="ffmpeg with libvmaf (default: $IQA_BENCH_FFMPEG, "
                                         "else imageio-ffmpeg's)."),
    calib: Optional[Path] = typer.Option(None, "--calib", help="Calibration images for int8 (default: $IQA_BENCH_CALIB)."),
) -> None:
    """Evaluate SR models on video clips (per-frame SR, lossless .y4m outputs); resumable."""
    with _user_errors():
        from iqa_bench.results import load_run
        from iqa_bench.video.evaluate import VideoEvalConfig, evaluate_video, load_frames, pool_frames

        cfg = VideoEvalConfig(
            datasets=tuple(_split(dataset)), models=tuple(m.lower() for m in _split([models])),
            metrics=_metric_names(metrics, suite), scales=_parse_scales(scale), out=out_dir,
            degradation=degradation.value, codec=codec.lower() if codec else None, crf=crf, frames=frames,
            variants=tuple(_split([variants])) if variants else (), device=device,
            backend=backend.lower() if backend else None, ffmpeg=ffmpeg,
            calib=_calib_config(calib, "minmax", 64), skip_unavailable=not _split(metrics),
        )
        with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=err,
                      transient=True, disable=not err.is_terminal) as progress:
            task = progress.add_task("evaluating", total=None)
            report = evaluate_video(cfg, command=["iqa-bench", *sys.argv[1:]],
                                    on_cell=lambda label: progress.update(task, description=label))
        for line in report.skipped:
            err.print(f"[yellow]warning:[/] {escape(line)}", highlight=False)
        print_summary(load_run(report.run_dir))
        pooled = pool_frames(load_frames(report.run_dir))
        t = Table("model", "variant", "metric", "mean", "harmonic mean", "5th pct", "95th pct",
                  title="pooled over all frames of each clip, then averaged over clips", title_justify="left")
        for (m, v, metric), g in pooled.groupby(["model", "variant", "metric"], sort=True):
            t.add_row(m, v, metric, *(_fmt(g[c].mean()) for c in ("mean", "hmean", "p5", "p95")))
        out.print(t)
        out.print(f"computed {report.computed_cells} clip x model cells, reused {report.reused_cells}; "
                  f"{report.rows_added} clip rows -> {report.run_dir / 'results.parquet'} (frames: frames.parquet)",
                  highlight=False)
        if report.failures:
            for f in report.failures:
                err.print(f"[bold red]error:[/] {escape(f)}", highlight=False)
            err.print(f"{len(report.failures)} failure(s) (see above); every other result is in {report.run_dir}")
            raise typer.Exit(1)


@video_app.command("score")
def video_score(
    reference: Path = typer.Option(..., "--reference", "-r", help="The pristine clip (.y4m, or any video ffmpeg reads)."),
    distorted: Path = typer.Option(..., "--distorted", "-d", help="The clip under test, same size and frame count."),
    metrics: str = typer.Option("vmaf,ffmpeg_psnr_y,ffmpeg_ssim_y", "--metrics", help="Comma list of video metrics."),
    ffmpeg: Optional[str] = typer.Option(None, "--ffmpeg", help="ffmpeg with libvmaf (default: imageio-ffmpeg's)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda (vmaf_torch)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write per-frame and pooled values here."),
) -> None:
    """Score a distorted clip against its reference (named options: the two cannot be swapped by position)."""
    with _user_errors():
        from iqa_bench.io import atomic_path
        from iqa_bench.video.score import score_clips

        names = [m.lower() for m in _split([metrics])]
        result = score_clips(reference, distorted, names, ffmpeg=ffmpeg, device=device)
        t = Table("metric", "frames", "mean", "harmonic mean", "5th pct", "95th pct")
        for m, r in result.items():
            t.add_row(m, str(len(r["per_frame"])), *(_fmt(r[k]) for k in ("mean", "hmean", "p5", "p95")))
        out.print(t)
        if json_out is not None:
            with atomic_path(json_out) as tmp:
                tmp.write_text(json.dumps({"reference": str(reference), "distorted": str(distorted), **result},
                                          indent=2))
            out.print(f"wrote {json_out}", highlight=False)


@app.command("list")
def list_cmd(what: _Listable = typer.Argument(..., help="metrics, models, datasets or runners")) -> None:
    """Show registered components with their metadata."""
    with _user_errors():
        if what is _Listable.metrics:
            from iqa_bench.metrics import METRICS
            from iqa_bench.weights import WeightsStore

            store = WeightsStore(allow_download=False)
            t = Table("name", "kind", "better", "range", "colour", "crop", "precision", "traits", "weights",
                      "description")
            for e in METRICS:
                m = e.meta
                traits = ", ".join(t for t, on in (("perceptual", m.perceptual), ("loss", m.differentiable)) if on)
                t.add_row(e.name, m.kind, "higher" if m.higher_is_better else "lower",
                          escape(f"[{m.value_range[0]:g}, {m.value_range[1]:g}]"), escape(m.colour), m.crop,
                          escape(m.precision or "–"), traits or "–",
                          _weights_status(store, m.weights) if not m.unavailable else
                          f"UNAVAILABLE ({m.weights[0].file if m.weights else 'no implementation'})", escape(m.description))
        elif what is _Listable.models:
            from iqa_bench.models import MODELS
            from iqa_bench.weights import WeightsStore

            store = WeightsStore(allow_download=False)
            t = Table("name", "arch", "backend", "scales", "weights", "description")
            for e in MODELS:
                m = e.meta
                t.add_row(e.name, m.arch, m.backend, ",".join(map(str, m.scales)) or "any",
                          escape(_weights_status(store, list(m.weights.values()))), escape(m.description))
        elif what is _Listable.datasets:
            from iqa_bench.data.datasets import DATASETS

            t = Table("name", "description", "source", "license")
            for e in DATASETS:
                t.add_row(e.name, escape(e.meta.description), escape(e.meta.source), escape(e.meta.license))
            out.print("A folder path is accepted wherever a dataset name is: ROOT/*.png, or ROOT/HR + ROOT/LR_bicubic/X{s}.")
            from iqa_bench.video.datasets import VIDEO_DATASETS

            for e in VIDEO_DATASETS:
                t.add_row(f"{e.name} (video)", escape(e.meta.description), escape(e.meta.source), escape(e.meta.license))
        else:
            from iqa_bench.runners import RUNNERS

            t = Table("name", "variants", "devices", "description")
            for e in RUNNERS:
                t.add_row(e.name, ",".join(e.meta.variants), ",".join(e.meta.devices), escape(e.meta.description))
        out.print(t)


def _weight_state(store, spec) -> str:
    from iqa_bench.weights import PACKAGED, WeightsError

    try:
        found = store.find_local(spec)
    except WeightsError:
        return "WRONG HASH"
    return "missing" if found is None else "in the package" if PACKAGED in found.parents else "present"


def _weights_status(store, specs) -> str:
    return "; ".join(f"{spec.file}: {_weight_state(store, spec)}" for spec in specs) or "none needed"


weights_app = typer.Typer(help="List, verify and fetch the weights files metrics and models need.", no_args_is_help=True)
app.add_typer(weights_app, name="weights")


def _all_weight_specs():
    """Every weights file the metrics and the zoo models name: ``{file: (spec, [users])}``."""
    from iqa_bench.metrics import METRICS
    from iqa_bench.models import MODELS

    specs = {}
    for e in METRICS:
        for spec in e.meta.weights:
            specs.setdefault(spec.file, (spec, []))[1].append(e.name)
    for e in MODELS:
        for scale, spec in sorted(e.meta.weights.items()):
            specs.setdefault(spec.file, (spec, []))[1].append(f"{e.name} {scale}")
    return specs


@weights_app.command("list")
def weights_list() -> None:
    """Every weights file, who needs it, its sha256 and where it was found (or where to put it)."""
    with _user_errors():
        from iqa_bench.weights import WeightsStore

        store = WeightsStore(allow_download=False)
        t = Table("file", "used by", "sha256", "status")
        for file, (spec, users) in sorted(_all_weight_specs().items()):
            t.add_row(file, ", ".join(users), (spec.sha256 or "unknown")[:16] + "…",
                      _weight_state(store, spec))
        out.print(t)
        paths = ", ".join(str(p) for p in store.paths) or "(unset)"
        out.print(f"searched: IQA_BENCH_WEIGHTS = {paths}; cache = {store.cache_dir}", highlight=False)


@weights_app.command("verify")
def weights_verify() -> None:
    """Check the sha256 of every weights file found locally; exit 1 on a mismatch."""
    with _user_errors():
        from iqa_bench.weights import WeightsError, WeightsStore

        store = WeightsStore(allow_download=False)
        bad = 0
        for file, (spec, _) in sorted(_all_weight_specs().items()):
            try:
                path = store.find_local(spec)
                out.print(f"{'ok' if path else 'missing'}  {file}" + (f"  ({path})" if path else ""), highlight=False)
            except WeightsError as exc:
                bad += 1
                err.print(f"[bold red]bad[/]  {escape(exc.message)}", highlight=False)
        if bad:
            raise typer.Exit(1)


@weights_app.command("fetch")
def weights_fetch(files: List[str] = typer.Argument(None, help="Files to fetch (default: all missing).")) -> None:
    """Download missing weights files with a known URL into the cache, verifying sha256."""
    with _user_errors():
        from iqa_bench.weights import WeightsStore

        from iqa_bench.weights import WeightsError

        store = WeightsStore()
        specs = _all_weight_specs()
        for file in files or []:
            if file not in specs:
                raise IQABenchError(f"unknown weights file {file!r}", "`iqa-bench weights list` shows them")
        failed = 0
        for file in files or sorted(specs):
            try:
                out.print(f"{file}: {store.resolve(specs[file][0])}", highlight=False)
            except WeightsError as exc:
                failed += 1
                err.print(f"[bold red]error:[/] {escape(exc.message)}\n  [bold]fix:[/] {escape(exc.hint or '')}", highlight=False)
        if failed:
            err.print(f"{failed} file(s) could not be fetched")
            raise typer.Exit(2)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
