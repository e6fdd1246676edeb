"""Regression gate: compare a run with a committed baseline, cell by cell, significance-aware.

Baseline: one JSON file per dataset and scale (``<dataset>_x<scale>.json``), human-diffable, holding
per model x variant x backend x metric the dataset mean and every per-image value, with the
conventions, metric metadata, library versions, model weights and HR image hashes they were computed
with. ``iqa-bench baseline update runs/NAME`` writes it.

A cell fails when its metric moved in the bad direction (from the metric's ``higher_is_better``) by
more than its tolerance AND the paired test on the per-image values calls the move significant after
correction across all cells of the gate. A convention, metric-definition, version or image mismatch
between baseline and run is a failure of its own (the numbers are not comparable), reported as such.

Two tolerances, kept apart:

* the **numerical** tolerance (``[numerical]``) is float noise: the same code and inputs on another
  CPU (AVX2 vs AVX-512 kernels) or thread count round a few SR pixels the other way. One uint8 level
  flipped in one pixel moves a Set5 image's PSNR by about 1.7e-5 dB; measured between 1 and 2
  threads, AVX2 / AVX-512 / SSE4.1 kernels and an AVX2 machine, the reference cells moved by at most
  3.7e-5 dB PSNR and 3.5e-7 SSIM. A move within it is "no change", whatever the other settings.
* the **quality** tolerance (``[tolerance]``) is how much worse a model may get before it is a
  regression (0.02 dB PSNR by default). A strict gate (``direction = "any"``, quality tolerance 0,
  this project's own CI) still lets float noise pass.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd

from iqa_bench import stats
from iqa_bench.config import config_file
from iqa_bench.errors import InputError
from iqa_bench.io import atomic_path
from iqa_bench.results import json_number, load_run, missing_cells, read_manifest, require_complete

FORMAT = "iqa-bench-baseline/1"
# Cross-CPU / thread-count float noise of a dataset mean, in each metric's units; see the module
# docstring for what was measured (the defaults sit about 5x above it).
NUMERICAL_NOISE: dict[str, float] = {
    "psnr": 2e-4, "psnr_y": 2e-4,                       # dB
    "ssim": 2e-6, "ssim_y": 2e-6, "ms_ssim": 2e-6, "ms_ssim_y": 2e-6,
    "lpips": 1e-5, "lpips_vgg": 1e-5, "lpips_squeeze": 1e-5, "dists": 1e-5,
}
NUMERICAL_RELATIVE = 1e-5  # a metric not listed: this fraction of the baseline mean's magnitude
METRIC_FIELDS = ("kind", "higher_is_better", "colour", "crop", "description")  # what defines a metric's value
EXIT_PASS, EXIT_REGRESSION, EXIT_CONFIG = 0, 1, 2
FAILING = ("regression", "changed", "missing")


@dataclass(frozen=True)
class GateConfig:
    """How the gate decides (``metrics/gate.toml``; ``--tolerance FILE`` replaces it).

    Attributes
    ----------
    tolerance
        Absolute tolerance per metric, in its units (PSNR dB, SSIM, LPIPS...).
    default_relative
        Tolerance of a metric not listed, as a fraction of the baseline mean's magnitude.
    test
        Paired test on the per-image values: ``t`` (paired t; can reach significance with Set5's
        5 images) or ``wilcoxon`` (exact signed-rank; needs 6+ images for p < 0.05).
    correction, alpha
        Multiple-comparison correction across all cells of the gate, and the level.
    require_significance
        False: a move beyond tolerance fails without a test (bit-for-bit regression checks).
    direction
        ``worse``: only moves in the bad direction fail; ``any``: any move beyond tolerance fails
        (this project's own CI: numbers must not change without a baseline update).
    versions
        Packages whose versions must equal the baseline's (numbers can change with them).
    numerical, numerical_relative
        Float noise across CPUs and thread counts (absolute per metric; relative for others): a
        move within it is no change, even in a strict gate. Defaults: ``NUMERICAL_NOISE``.
    """

    tolerance: dict[str, float] = field(default_factory=dict)
    default_relative: float = 0.001
    test: str = "t"
    correction: str = "holm"
    alpha: float = 0.05
    require_significance: bool = True
    direction: str = "worse"
    versions: tuple[str, ...] = ("torch", "torchvision", "piq", "lpips", "onnxruntime")
    numerical: dict[str, float] = field(default_factory=lambda: dict(NUMERICAL_NOISE))
    numerical_relative: float = NUMERICAL_RELATIVE

    def tolerance_for(self, metric: str, baseline_mean: float) -> float:
        """Quality tolerance of ``metric`` (absolute, in its units)."""
        return _absolute(self.tolerance, self.default_relative, metric, baseline_mean)

    def noise_for(self, metric: str, baseline_mean: float) -> float:
        """Numerical (float-noise) tolerance of ``metric`` (absolute, in its units)."""
        return _absolute(self.numerical, self.numerical_relative, metric, baseline_mean)


def _absolute(table: dict[str, float], relative: float, metric: str, baseline_mean: float) -> float:
    if metric in table:
        return float(table[metric])
    return relative * abs(baseline_mean) if np.isfinite(baseline_mean) else 0.0


def load_gate_config(path: str | Path | None = None) -> GateConfig:
    """Read a gate config; None: the project's ``metrics/gate.toml``."""
    p = Path(path) if path is not None else config_file("metrics/gate.toml")
    if not p.is_file():
        raise InputError(f"gate config {p} not found", "pass --tolerance path/to/gate.toml")
    try:
        raw = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{p} is not valid TOML: {exc}", "fix the file") from exc
    g = raw.get("gate", {})
    unknown = set(g) - {"default_relative", "test", "correction", "alpha", "require_significance", "direction",
                        "versions", "numerical_relative"}
    tables = {"gate", "tolerance", "numerical"}
    if unknown or set(raw) - tables:
        raise InputError(f"{p}: unknown keys {sorted(unknown | (set(raw) - tables))}",
                         "allowed: [gate] default_relative, numerical_relative, test, correction, alpha, "
                         "require_significance, direction, versions; [tolerance] METRIC = VALUE; "
                         "[numerical] METRIC = VALUE")
    try:
        numerical = {**NUMERICAL_NOISE, **{k: float(v) for k, v in raw.get("numerical", {}).items()}}
        cfg = GateConfig(tolerance={k: float(v) for k, v in raw.get("tolerance", {}).items()}, numerical=numerical,
                         **{k: (tuple(v) if k == "versions" else v) for k, v in g.items()})
    except (TypeError, ValueError) as exc:
        raise InputError(f"{p}: a value has the wrong type ({exc})",
                         "tolerances are numbers, versions a list of package names") from exc
    if cfg.test not in ("t", "wilcoxon"):
        raise InputError(f"{p}: test = {cfg.test!r}", "use test = \"t\" or \"wilcoxon\"")
    if cfg.direction not in ("worse", "any"):
        raise InputError(f"{p}: direction = {cfg.direction!r}", "use direction = \"worse\" or \"any\"")
    if (any(v < 0 for v in [*cfg.tolerance.values(), *cfg.numerical.values()])
            or cfg.default_relative < 0 or cfg.numerical_relative < 0):
        raise InputError(f"{p}: tolerances must be >= 0", "fix the [tolerance] and [numerical] tables")
    stats.adjust([], cfg.correction)
    return cfg


def _file_name(dataset: str, scale: int) -> str:
    return f"{dataset}_x{scale}.json"


def write_baseline(run_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write one baseline file per dataset and scale of ``run_dir`` into ``out_dir`` (replacing those
    files, leaving others); returns the paths."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    manifest = read_manifest(run_dir)
    if manifest is None:
        raise InputError(f"{run_dir} has no manifest.json", "pass a run directory made by `iqa-bench evaluate`")
    df = load_run(run_dir)
    require_complete(run_dir, manifest, df, "a baseline")
    written = []
    for (ds, scale), g in df.groupby(["dataset", "scale"], sort=True):
        images = manifest.get("datasets", {}).get(ds, {}).get(f"x{scale}", {})
        cells = []
        for (model, variant, backend, metric), c in g.groupby(["model", "variant", "backend", "metric"], sort=True):
            v = c.set_index("image")["value"].sort_index()
            fin = v[np.isfinite(v)]
            cells.append({"model": model, "variant": variant, "backend": backend, "metric": metric, "n": int(v.size),
                          "mean": json_number(float(fin.mean())) if fin.size else "nan",
                          "values": {k: json_number(float(x)) for k, x in v.items()}})
        models = {}
        for name, m in sorted(manifest.get("models", {}).items()):
            if name in set(g["model"]):
                w = (m.get("weights") or {}).get(f"x{scale}") or (m.get("weights") or {}).get("any") or {}
                models[name] = {"arch": m.get("arch"), "params": m.get("params", {}),
                                "weights_sha256": w.get("sha256"), "variants": sorted(m.get("variants", {}))}
        doc = {
            "format": FORMAT, "dataset": ds, "scale": int(scale),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "source": {"run": run_dir.name, "command": manifest.get("command", []),
                       "hardware": manifest.get("hardware", {})},
            "conventions": manifest.get("conventions", {}),
            "versions": manifest.get("versions", {}),
            "metrics": {k: {f: m.get(f) for f in METRIC_FIELDS} for k, m in sorted(manifest.get("metrics", {}).items())
                        if k in set(g["metric"])},
            "models": models,
            "images": {name: rec["hr"]["sha256"] for name, rec in sorted(images.items())},
            "cells": cells,
        }
        path = out_dir / _file_name(ds, int(scale))
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(doc, indent=1, sort_keys=True, allow_nan=False) + "\n")
        written.append(path)
    return written


def read_baselines(baseline_dir: str | Path) -> list[dict[str, Any]]:
    """Every baseline file in ``baseline_dir``."""
    d = Path(baseline_dir)
    files = sorted(d.glob("*.json")) if d.is_dir() else []
    docs = []
    for f in files:
        try:
            doc = json.loads(f.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(f"{f} is not valid JSON: {exc}", "restore it from git or rerun `iqa-bench baseline update`") from exc
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
            raise InputError(f"{f} is not an iqa-bench baseline (format {found!r})",
                             f"expected {FORMAT}; rerun `iqa-bench baseline update`")
        _check_baseline(doc, f)
        doc["_file"] = str(f)
        docs.append(doc)
    if not docs:
        raise InputError(f"no baseline files in {d}", "create them with `iqa-bench baseline update runs/NAME --out DIR`")
    return docs


def _is_value(x: Any) -> bool:
    """A per-image value as written by ``_num``: a finite number or "inf"/"-inf"/"nan"."""
    return (isinstance(x, (int, float)) and not isinstance(x, bool)) or x in ("inf", "-inf", "nan")


def _check_baseline(doc: dict[str, Any], f: Path) -> None:
    """Refuse a (hand-edited) baseline file that ``write_baseline`` could not have written, naming the
    first thing wrong in it; the gate never guesses what a malformed file meant."""
    def bad(what: str) -> InputError:
        return InputError(f"{f}: {what}", "restore it from git or rewrite it with `iqa-bench baseline update RUN`")

    if not isinstance(doc.get("dataset"), str) or not isinstance(doc.get("scale"), int) or isinstance(doc["scale"], bool):
        raise bad("needs a string 'dataset' and an integer 'scale'")
    metrics, cells = doc.get("metrics"), doc.get("cells")
    if not isinstance(metrics, dict) or not isinstance(cells, list) or not cells:
        raise bad("needs a 'metrics' object and a non-empty 'cells' list")
    for key in ("conventions", "versions", "images"):
        if not isinstance(doc.get(key, {}), dict):
            raise bad(f"'{key}' must be an object")
    for i, c in enumerate(cells):
        if not isinstance(c, dict) or not all(isinstance(c.get(k), str) for k in ("model", "variant", "backend", "metric")):
            raise bad(f"cells[{i}] needs string 'model', 'variant', 'backend' and 'metric'")
        values = c.get("values")
        if not isinstance(values, dict) or not values or not all(_is_value(v) for v in values.values()):
            raise bad(f"cells[{i}] ({c['model']} {c['metric']}): 'values' must map image names to numbers")
        if not _is_value(c.get("mean")):
            raise bad(f"cells[{i}] ({c['model']} {c['metric']}): 'mean' must be a number")
        meta = metrics.get(c["metric"])
        if not isinstance(meta, dict) or not isinstance(meta.get("higher_is_better"), bool):
            raise bad(f"metric {c['metric']!r} of cells[{i}] has no entry with a boolean 'higher_is_better' in 'metrics'")


@dataclass
class GateResult:
    """Cells (one row per baseline/run cell with its status), problems (mismatches that make a
    baseline file incomparable) and the exit code."""

    cells: pd.DataFrame
    problems: list[str]
    config: GateConfig

    @property
    def failed(self) -> pd.DataFrame:
        if self.cells.empty:  # every baseline file was not comparable: no cell was gated
            return self.cells
        return self.cells[self.cells["status"].isin(FAILING)]

    @property
    def exit_code(self) -> int:
        if self.problems:
            return EXIT_CONFIG
        return EXIT_REGRESSION if len(self.failed) else EXIT_PASS


def _diff_dicts(what: str, base: dict, run: dict, keys: Any = None) -> list[str]:
    keys = sorted(set(base) | set(run)) if keys is None else keys
    out = []
    for k in keys:
        if base.get(k) != run.get(k):
            out.append(f"{what} differ: {k}: baseline {base.get(k)!r} vs run {run.get(k)!r}")
    return out


def _problems(doc: dict, manifest: dict, run_df: pd.DataFrame, cfg: GateConfig) -> list[str]:
    """Why this baseline file cannot be compared with the run (empty: it can)."""
    ds, scale = doc["dataset"], doc["scale"]
    where = f"{Path(doc['_file']).name} ({ds} x{scale})"
    sub = run_df[(run_df["dataset"] == ds) & (run_df["scale"] == scale)]
    if sub.empty:
        return [f"{where}: the run has no results for {ds} x{scale}"]
    out = _diff_dicts("conventions", doc.get("conventions", {}), manifest.get("conventions", {}))
    out += _diff_dicts("versions", doc.get("versions", {}), manifest.get("versions", {}), keys=cfg.versions)
    run_metrics = manifest.get("metrics", {})
    for name, meta in doc.get("metrics", {}).items():
        if name not in run_metrics:
            have = ", ".join(f"{m} ({run_metrics[m].get('colour')})" for m in sorted(run_metrics)) or "none"
            out.append(f"metric {name} ({meta.get('colour')}) of the baseline is not in the run; the run has: {have}")
            continue
        out += _diff_dicts(f"definitions of metric {name}", {f: meta.get(f) for f in METRIC_FIELDS},
                           {f: run_metrics[name].get(f) for f in METRIC_FIELDS})
    run_images = {n: r["hr"]["sha256"] for n, r in manifest.get("datasets", {}).get(ds, {}).get(f"x{scale}", {}).items()}
    base_images = doc.get("images") or {}
    if not base_images:
        out.append("the baseline has no HR image hashes, so it cannot show that the run scored the same images; "
                   "rewrite it with `iqa-bench baseline update`")
    changed = sorted(n for n in set(base_images) & set(run_images) if base_images[n] != run_images[n])
    missing = sorted(set(base_images) - set(run_images))
    if changed:
        out.append(f"HR images differ from the baseline's (sha256): {', '.join(changed)}")
    if missing:
        out.append(f"images of the baseline missing from the run: {', '.join(missing)}")
    return [f"{where}: {p}" for p in out]


def run_gate(baseline_dir: str | Path, run_dir: str | Path, config: GateConfig | None = None) -> GateResult:
    """Compare ``run_dir`` with every baseline file in ``baseline_dir``; see the module docstring."""
    cfg = config or load_gate_config()
    manifest = read_manifest(run_dir)
    if manifest is None:
        raise InputError(f"{run_dir} has no manifest.json", "pass a run directory made by `iqa-bench evaluate`")
    run_df = load_run(run_dir)
    problems: list[str] = []
    missing, planned, examples = missing_cells(manifest, run_df)
    if missing:  # an evaluation that died must never pass a gate
        problems.append(f"{Path(run_dir).name}: incomplete: {missing} of {planned} planned cells missing "
                        f"(e.g. {'; '.join(examples)}); rerun the evaluation to complete it")
    rows: list[dict[str, Any]] = []
    for doc in read_baselines(baseline_dir):
        probs = _problems(doc, manifest, run_df, cfg)
        problems += probs
        if probs:
            continue
        ds, scale = doc["dataset"], doc["scale"]
        sub = run_df[(run_df["dataset"] == ds) & (run_df["scale"] == scale)]
        run_cells = {k: g.set_index("image")["value"] for k, g in sub.groupby(["model", "variant", "backend", "metric"])}
        seen = set()
        for c in doc["cells"]:
            key = (c["model"], c["variant"], c["backend"], c["metric"])
            seen.add(key)
            base = pd.Series({k: float(v) for k, v in c["values"].items()}, dtype=np.float64)
            row = {"dataset": ds, "scale": scale, "model": key[0], "variant": key[1], "backend": key[2],
                   "metric": key[3], "baseline_mean": float(c["mean"]), "run_mean": np.nan, "delta": np.nan,
                   "tolerance": np.nan, "noise": np.nan, "p": np.nan, "n": 0, "status": "missing"}
            if key not in run_cells:
                rows.append(row)
                continue
            hib = bool(doc["metrics"][key[3]]["higher_is_better"])
            a, b = run_cells[key].align(base, join="inner")
            res = stats.paired(a.to_numpy(), b.to_numpy(), higher_is_better=hib, n_resamples=0)
            row.update(run_mean=res.mean_model, delta=res.mean_model - res.mean_baseline if res.n else np.nan,
                       tolerance=max(cfg.tolerance_for(key[3], row["baseline_mean"]),
                                     cfg.noise_for(key[3], row["baseline_mean"])),
                       noise=cfg.noise_for(key[3], row["baseline_mean"]), n=res.n,
                       p=res.p_ttest if cfg.test == "t" else res.p_wilcoxon, higher_is_better=hib, status="")
            rows.append(row)
        for key in sorted(set(run_cells) - seen):
            rows.append({"dataset": ds, "scale": scale, "model": key[0], "variant": key[1], "backend": key[2],
                         "metric": key[3], "run_mean": float(run_cells[key].mean()), "status": "new"})
    cells = pd.DataFrame(rows)
    if not cells.empty:
        tested = cells["status"] == ""
        cells["p_adj"] = np.nan
        cells.loc[tested, "p_adj"] = stats.adjust(cells.loc[tested, "p"].fillna(1.0).to_numpy(), cfg.correction)
        cells.loc[tested, "status"] = [_status(r, cfg) for r in cells[tested].itertuples()]
    return GateResult(cells, problems, cfg)


def _status(r: Any, cfg: GateConfig) -> str:
    if not np.isfinite(r.delta):
        return "missing"
    worse_by = -r.delta if r.higher_is_better else r.delta  # > 0: moved the bad way
    significant = (r.p_adj < cfg.alpha) or not cfg.require_significance
    if abs(r.delta) <= r.tolerance:  # r.tolerance: the larger of the quality and the numerical tolerance
        return "pass"
    if cfg.direction == "any":
        return "changed" if significant else "moved (n.s.)"
    if worse_by > 0:
        return "regression" if significant else "moved (n.s.)"
    return "improved" if significant else "pass"


def write_junit(result: GateResult, path: str | Path) -> None:
    """JUnit XML: one test suite per dataset and scale, one test case per cell; mismatches are
    failing test cases of a ``baseline`` suite."""
    root = ET.Element("testsuites", name="iqa-bench gate")
    if result.problems:
        suite = ET.SubElement(root, "testsuite", name="baseline", tests=str(len(result.problems)),
                              failures=str(len(result.problems)))
        for p in result.problems:
            tc = ET.SubElement(suite, "testcase", classname="baseline", name=p.split(":")[0])
            ET.SubElement(tc, "failure", message=p).text = p
    if not result.cells.empty:
        for (ds, scale), g in result.cells.groupby(["dataset", "scale"], sort=True):
            fails = g["status"].isin(FAILING)
            suite = ET.SubElement(root, "testsuite", name=f"{ds} x{scale}", tests=str(len(g)),
                                  failures=str(int(fails.sum())))
            for r in g.itertuples():
                tc = ET.SubElement(suite, "testcase", classname=f"{ds}.x{scale}.{r.model}.{r.variant}.{r.backend}",
                                   name=r.metric)
                msg = _describe(r)
                if r.status in FAILING:
                    ET.SubElement(tc, "failure", message=msg).text = msg
                else:
                    ET.SubElement(tc, "system-out").text = msg
    ET.indent(root)
    with atomic_path(path) as tmp:
        ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)


def _describe(r: Any) -> str:
    if r.status == "missing":
        return f"{r.metric} of {r.model} {r.variant}/{r.backend} is in the baseline but not in the run"
    if r.status == "new":
        return f"new cell (not in the baseline): mean {r.run_mean:.6g}"
    return (f"{r.status}: mean {r.baseline_mean:.6g} -> {r.run_mean:.6g} (delta {r.delta:+.3g}, tolerance "
            f"{r.tolerance:.3g}, paired p adj {r.p_adj:.3g}, n {r.n})")


def markdown(result: GateResult) -> str:
    """A Markdown summary for CI job summaries (e.g. ``$GITHUB_STEP_SUMMARY``)."""
    verdict = {EXIT_PASS: "✅ passed", EXIT_REGRESSION: "❌ quality regression",
               EXIT_CONFIG: "⚠️ baseline and run are not comparable"}[result.exit_code]
    lines = [f"## iqa-bench gate: {verdict}", ""]
    cfg = result.config
    lines += [f"Test: paired {'t' if cfg.test == 't' else 'Wilcoxon signed-rank'}, {cfg.correction} over "
              f"{len(result.cells)} cells, alpha {cfg.alpha}; a cell fails when it moved "
              f"{'either way' if cfg.direction == 'any' else 'the bad way'} beyond its tolerance (the larger of "
              f"the quality tolerance and the float-noise tolerance across CPUs and thread counts)"
              + (" and the move is significant." if cfg.require_significance else "."), ""]
    if result.problems:
        lines += ["### Not comparable", ""] + [f"- {p}" for p in result.problems] + [""]
    if not result.cells.empty:
        shown = result.cells[result.cells["status"] != "pass"]
        lines += [f"{int((result.cells['status'] == 'pass').sum())} cells pass unchanged within tolerance.", ""]
        if not shown.empty:
            t = shown.assign(**{"baseline": shown["baseline_mean"].map(lambda x: f"{x:.6g}"),
                                "run": shown["run_mean"].map(lambda x: f"{x:.6g}"),
                                "delta": shown["delta"].map(lambda x: f"{x:+.3g}"),
                                "p adj": shown["p_adj"].map(lambda x: f"{x:.3g}")})
            lines += [t[["status", "dataset", "scale", "model", "variant", "backend", "metric", "baseline", "run",
                         "delta", "tolerance", "p adj"]].to_markdown(index=False), ""]
    return "\n".join(lines) + "\n"
