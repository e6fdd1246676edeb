"""``iqa-bench report``: a run directory -> ``report.html`` (self-contained), ``report.md`` (+ PNGs),
``stats.csv`` and ``summary.csv``.

Everything shown comes from the run directory (manifest, results, timings, saved outputs) and
:mod:`iqa_bench.stats`; nothing is recomputed from images except the visual crops.
"""

from __future__ import annotations

import base64
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from iqa_bench import stats
from iqa_bench.errors import InputError
from iqa_bench.io import atomic_path, read_image
from iqa_bench.report import plots
from iqa_bench.report.crops import choose_patch, error_map, output_path, read_hr
from iqa_bench.results import (load_run, metric_metadata, missing_cells, read_manifest, read_timings,
                               require_complete)

MARKS = {"better": "▲", "worse": "▼", "equivalent": "≈"}
NO_COMPARISONS = pd.DataFrame(columns=["label", "metric", "verdict", "baseline_label"])


@dataclass(frozen=True)
class ReportOptions:
    """What the report compares and how (all written into the report).

    Attributes
    ----------
    baseline, reference_variant, correction, alpha, margins, pool_datasets, n_resamples, seed
        Passed to :func:`iqa_bench.stats.compare`.
    primary
        Metric used to rank models, for the Pareto plot, the worst images and the crops; None:
        ``psnr_y`` when the run has it (the SR literature's headline number), else the first metric.
    crops
        Images per dataset and scale shown as visual crops (0: none).
    crop_size
        Side of the crop patch in HR pixels (the same for every image; smaller images: their scored area).
    crop_models
        Models shown in the crops (empty: every model of the run).
    worst
        Images listed per compared model in the worst-images table.
    latex
        Also write ``report.tex``: a booktabs table (best in bold, second underlined) for a paper.
    allow_incomplete
        Render a run whose planned cells are not all computed (each section then says so at the
        top); False: such a run is refused, since its means cover different image sets.
    """

    baseline: str | None = stats.AUTO_BASELINE
    reference_variant: str = "fp32"
    correction: str = "holm"
    alpha: float = 0.05
    margins: dict[str, float] = field(default_factory=dict)
    pool_datasets: bool = False
    n_resamples: int = 9999
    seed: int = 0
    primary: str | None = None
    crops: int = 2
    crop_size: int = 96
    crop_models: tuple[str, ...] = ()
    worst: int = 3
    allow_incomplete: bool = False
    latex: bool = False


@dataclass
class Figure:
    name: str  # file name stem under report_files/
    caption: str
    png: bytes

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass
class Section:
    """One dataset x scale."""

    dataset: str
    scale: int
    n_images: int
    metrics: list[str]
    ranking: list[dict[str, Any]]  # rows: label, cells {metric: {...}}
    comparisons: pd.DataFrame  # display table
    worst: pd.DataFrame
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unit: str = "images"  # what is paired: images, or clips in a video run


@dataclass
class ReportResult:
    html: Path
    markdown: Path
    stats_csv: Path
    sections: int
    figures: int
    latex: Path | None = None


def _labels(sides: pd.DataFrame) -> dict[tuple[str, str, str], str]:
    """Short unambiguous labels: the model name when it has one variant in the run, ``model variant``
    when each variant has one backend, else ``model variant (backend)``."""
    out = {}
    for model, g in sides.groupby("model", sort=False):
        triples = list(g.itertuples(index=False, name=None))
        for m, v, b in triples:
            if len(triples) == 1:
                out[(m, v, b)] = m
            elif sum(1 for t in triples if t[1] == v) == 1:
                out[(m, v, b)] = f"{m} {v}"
            else:
                out[(m, v, b)] = f"{m} {v} ({b})"
    return out


def _fmt(x: float, metric_range: tuple[float, float] | None = None) -> str:
    if x is None or not np.isfinite(x):
        return "inf" if x == math.inf else "–"
    digits = 4 if metric_range is not None and metric_range[1] <= 1.0 + 1e-9 else 3
    return f"{x:.{digits}f}"


def _fmt_diff(x: float, metric_range: tuple[float, float] | None = None) -> str:
    """A signed difference with a fixed number of decimals per metric (PSNR 3, metrics on [0, 1] 5),
    so that the rows of one metric line up and a 0.005 dB shift reads like one."""
    if x is None or not np.isfinite(x):
        return "–"
    digits = 5 if metric_range is not None and metric_range[1] <= 1.0 + 1e-9 else 3
    return f"{x:+.{digits}f}"


def _p(x: float) -> str:
    if not np.isfinite(x):
        return "–"
    return "<0.0001" if x < 1e-4 else f"{x:.4f}"


def build_report(run_dir: str | Path, out_dir: str | Path | None = None,
                 options: ReportOptions | None = None) -> ReportResult:
    """Write the report of ``run_dir`` into ``out_dir`` (default: the run directory)."""
    from iqa_bench.report.render import render_html, render_markdown

    opts = options or ReportOptions()
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    if manifest is None:
        raise InputError(f"{run_dir} has no manifest.json", "pass a run directory made by `iqa-bench evaluate --out DIR`")
    df = load_run(run_dir)
    if df.empty:
        raise InputError(f"{run_dir} has no results yet", "run `iqa-bench evaluate` into it first")
    missing, planned, _ = missing_cells(manifest, df)
    if not opts.allow_incomplete:
        require_complete(run_dir, manifest, df, "a report (or pass --allow-incomplete to render it marked as such)")
    out = Path(out_dir) if out_dir is not None else run_dir
    out.mkdir(parents=True, exist_ok=True)

    metrics = sorted(df["metric"].unique())
    meta = metric_metadata(run_dir, metrics)
    # psnr_y: the SR literature's headline number; a run may name its own (video runs: vmaf)
    primary = opts.primary or manifest.get("primary_metric") or ("psnr_y" if "psnr_y" in metrics else metrics[0])
    if primary not in metrics:
        raise InputError(f"primary metric {primary!r} is not in the run", f"choose one of {', '.join(metrics)}")
    unknown = sorted(set(opts.crop_models) - set(df["model"]))
    if unknown:
        raise InputError(f"--crop-models names {', '.join(unknown)}, not in the run",
                         f"choose among {', '.join(sorted(df['model'].unique()))}")
    if opts.crop_size < 8:
        raise InputError(f"crop size {opts.crop_size} is too small to see anything", "e.g. --crop-size 96")
    baseline = stats.resolve_baseline(df["model"].unique(), opts.baseline)
    comp = stats.compare(run_dir, baseline=baseline, reference_variant=opts.reference_variant,
                         correction=opts.correction, alpha=opts.alpha, margins=opts.margins,
                         pool_datasets=opts.pool_datasets, n_resamples=opts.n_resamples, seed=opts.seed)
    scored = stats.pool(df) if opts.pool_datasets else df
    summ = stats.describe(scored, n_resamples=opts.n_resamples, seed=opts.seed)
    labels = _labels(scored[["model", "variant", "backend"]].drop_duplicates())
    lab = lambda r: labels[(r["model"], r["variant"], r["backend"])]  # noqa: E731
    summ["label"] = summ.apply(lab, axis=1)
    if not comp.empty:
        comp["label"] = comp.apply(lab, axis=1)
        comp["baseline_label"] = [labels[(m, v, b)] for m, v, b in
                                  comp[["baseline_model", "baseline_variant", "baseline_backend"]].itertuples(index=False)]
    timings = _timings(run_dir)

    sections = []
    files = out / "report_files"
    for (ds, scale), s_sum in summ.groupby(["dataset", "scale"], sort=True):
        s_cmp = comp[(comp["dataset"] == ds) & (comp["scale"] == scale)] if not comp.empty else comp
        sec = Section(ds, int(scale), int(s_sum["n"].max()), metrics,
                      _ranking(s_sum, s_cmp, metrics, meta, primary, _published(s_sum, ds, int(scale))),
                      _comparison_table(s_cmp, meta),
                      _worst(scored, s_cmp, ds, int(scale), primary, opts.worst),
                      unit="clips" if manifest.get("kind") == "video" else "images")
        tag = f"{ds}_x{scale}".replace("+", "_")
        if missing:
            sec.notes.append(f"INCOMPLETE RUN: {missing} of {planned} planned cells have no result; means of "
                             "different models may cover different images. Rerun the evaluation to complete it.")
        if not s_cmp.empty and (s_cmp["p_min"] > opts.alpha).any():
            n_small = int(s_cmp.loc[s_cmp["p_min"] > opts.alpha, "n"].min())
            sec.notes.append(
                f"With {n_small} paired {sec.unit} the smallest possible two-sided Wilcoxon p is "
                f"{s_cmp['p_min'].max():.4f} > alpha = {opts.alpha}: no difference on this set alone can be "
                "called significant, however large. Read the CIs, or pool datasets (`--pool-datasets`).")
        for m in metrics:
            per = _per_image_diffs(scored, s_cmp, ds, int(scale), m)
            m_cmp = s_cmp[s_cmp["metric"] == m] if not s_cmp.empty else NO_COMPARISONS
            fig = plots.metric_figure(s_sum[s_sum["metric"] == m], per, m_cmp, m, bool(meta[m]["higher_is_better"]), f"{m} on {ds} x{scale}")
            sec.figures.append(Figure(f"{tag}_{m}", f"{m}: means with 95 % BCa CIs and per-image differences to "
                                      "the baseline", plots.png(fig)))
        if not s_cmp.empty:
            fig = plots.significance_matrix(s_cmp, metrics, f"{ds} x{scale}: difference to baseline, "
                                            f"{opts.correction}-adjusted Wilcoxon")
            sec.figures.append(Figure(f"{tag}_significance", "Significance matrix: mean difference to each "
                                      "model's baseline; colour = verdict", plots.png(fig)))
        perceptual = [m for m in metrics if meta[m].get("perceptual")]
        if perceptual and not meta[primary].get("perceptual"):
            pd_pts = s_sum.pivot_table(index="label", columns="metric", values="mean")[[primary, perceptual[0]]]
            pd_pts = pd_pts.dropna().replace([np.inf, -np.inf], np.nan).dropna()
            if len(pd_pts) >= 2:
                fig = plots.perception_distortion(
                    pd_pts.reset_index().rename(columns={primary: "distortion", perceptual[0]: "perception"}),
                    primary, perceptual[0], bool(meta[primary]["higher_is_better"]),
                    bool(meta[perceptual[0]]["higher_is_better"]), f"{ds} x{scale}: perception vs distortion")
                sec.figures.append(Figure(f"{tag}_perception_distortion", f"Perception-distortion plane: {primary} "
                                          f"(fidelity) against {perceptual[0]} (perceptual), dataset means; better "
                                          "toward the bottom left (Blau & Michaeli 2018)", plots.png(fig)))
        pts = _pareto_points(timings, s_sum, ds, int(scale), primary)
        if pts is not None:
            fig = plots.pareto(pts, primary, bool(meta[primary]["higher_is_better"]),
                               f"{ds} x{scale}: {primary} vs SR time")
            sec.figures.append(Figure(f"{tag}_pareto", f"Quality vs latency ({primary}; median SR wall time per "
                                      "image from timings.parquet, builds excluded; colour = backend, marker = "
                                      "precision; this run's hardware)", plots.png(fig)))
        elif timings is None:
            sec.notes.append("No timings.parquet in the run: no quality-vs-latency plot.")
        if not opts.pool_datasets:
            sec.figures += _crop_figures(run_dir, manifest, scored, s_cmp, ds, int(scale), primary, meta, labels,
                                         opts.crops, tag, sec.notes, opts.crop_size, opts.crop_models)
        sections.append(sec)

    files.mkdir(exist_ok=True)
    for sec in sections:
        for f in sec.figures:
            with atomic_path(files / f"{f.name}.png") as tmp:
                tmp.write_bytes(f.png)
    context = _context(run_dir, manifest, opts, baseline, primary, meta, metrics, sections, comp)
    html, md, csv = out / "report.html", out / "report.md", out / "stats.csv"
    with atomic_path(html) as tmp:
        tmp.write_text(render_html(context), encoding="utf-8")
    with atomic_path(md) as tmp:
        tmp.write_text(render_markdown(context), encoding="utf-8")
    with atomic_path(csv) as tmp:
        comp.to_csv(tmp, index=False)
    with atomic_path(out / "summary.csv") as tmp:
        summ.to_csv(tmp, index=False)
    tex = None
    if opts.latex:
        from iqa_bench.report.latex import latex_table

        tex = out / "report.tex"
        hib = {m: bool(meta[m]["higher_is_better"]) for m in metrics}
        with atomic_path(tex) as tmp:
            tmp.write_text(latex_table(scored, hib, metrics, caption=f"{' / '.join(metrics)}: mean over "
                                       f"{'clips' if manifest.get('kind') == 'video' else 'images'}; best in bold, "
                                       "second underlined."), encoding="utf-8")
    return ReportResult(html, md, csv, len(sections), sum(len(s.figures) for s in sections), tex)


def _timings(run_dir: Path) -> pd.DataFrame | None:
    t = read_timings(run_dir)
    if t is None:
        return None
    if "kind" in t:
        t = t[t["kind"] == "evaluate"]
    return t if not t.empty and "sr_ms" in t else None


def _published(s_sum: pd.DataFrame, dataset: str, scale: int) -> dict[str, tuple[float, str]]:
    """Per row label, the zoo's published value for this dataset and scale (the paper's PSNR-Y of
    the model, whatever the variant) and its source; rows of other models have none."""
    from iqa_bench.errors import UnknownNameError
    from iqa_bench.models import MODELS

    out = {}
    for label, model in s_sum[["label", "model"]].drop_duplicates().itertuples(index=False):
        try:
            info = MODELS.get(model).meta
        except UnknownNameError:  # a user's checkpoint or output folder
            continue
        value = info.published.get(f"{dataset}/x{scale}")
        if value is not None:
            out[label] = (float(value), info.published_source)
    return out


def _ranking(s_sum: pd.DataFrame, s_cmp: pd.DataFrame, metrics: list[str], meta: dict, primary: str,
             published: dict[str, tuple[float, str]] | None = None) -> list[dict]:
    """Rows ordered by the primary metric (best first) with their rank and, where the zoo has one,
    the published value; per cell mean, CI, median, best-in-column flag and the mark of the
    verdict against the row's baseline."""
    published = published or {}
    verdict = {} if s_cmp.empty else {(r.label, r.metric): r for r in s_cmp.itertuples()}
    prim = s_sum[s_sum["metric"] == primary].set_index("label")["mean"]
    hib_p = bool(meta[primary]["higher_is_better"])
    order = sorted(s_sum["label"].unique(), key=lambda lbl: (-prim.get(lbl, -np.inf) if hib_p else prim.get(lbl, np.inf)))
    best = {}
    for m in metrics:
        col = s_sum[s_sum["metric"] == m].set_index("label")["mean"]
        col = col[np.isfinite(col)]
        if not col.empty:
            best[m] = col.max() if meta[m]["higher_is_better"] else col.min()
    rows = []
    for rank, lbl in enumerate(order, start=1):
        cells = {}
        for m in metrics:
            r = s_sum[(s_sum["label"] == lbl) & (s_sum["metric"] == m)]
            if r.empty:
                cells[m] = None
                continue
            r = r.iloc[0]
            rng = tuple(meta[m].get("value_range", (0, math.inf)))
            c = verdict.get((lbl, m))
            cells[m] = {
                "mean": _fmt(r["mean"], rng), "median": _fmt(r["median"], rng),
                "ci": f"[{_fmt(r['ci_low'], rng)}, {_fmt(r['ci_high'], rng)}]",
                "best": m in best and r["mean"] == best[m],
                "mark": MARKS.get(c.verdict, "") if c is not None else "",
                "title": (f"{c.verdict} vs {c.baseline_label}: diff {c.mean_diff:+.4g}, adjusted p {_p(c.p_wilcoxon_adj)}"
                          if c is not None else "baseline"),
                "n_inf": int(r["n_inf"]),
            }
        pub = published.get(lbl)
        rows.append({"label": lbl, "cells": cells, "rank": rank,
                     "published": f"{pub[0]:.2f}" if pub else "", "published_source": pub[1] if pub else ""})
    return rows


def _comparison_table(s_cmp: pd.DataFrame, meta: dict | None = None) -> pd.DataFrame:
    if s_cmp.empty:
        return pd.DataFrame()
    rows = []
    for r in s_cmp.sort_values(["metric", "comparison", "label"]).itertuples():
        rng = tuple((meta or {}).get(r.metric, {}).get("value_range", (0, math.inf)))
        rows.append({
            "metric": r.metric, "model": r.label, "vs": r.baseline_label,
            "mean diff [95% CI]": f"{_fmt_diff(r.mean_diff, rng)} [{_fmt_diff(r.ci_low, rng)}, {_fmt_diff(r.ci_high, rng)}]",
            "median diff": _fmt_diff(r.median_diff, rng),
            "W/T/L": f"{r.wins}/{r.ties}/{r.losses}",
            "n": r.n,
            "Wilcoxon p (adj.)": f"{_p(r.p_wilcoxon)} ({_p(r.p_wilcoxon_adj)})",
            "t-test p (adj.)": f"{_p(r.p_ttest)} ({_p(r.p_ttest_adj)})",
            "rank-biserial": f"{r.rank_biserial:+.2f}",
            "TOST margin, p (adj.)": (f"±{r.margin:g}: {_p(r.p_tost)} ({_p(r.p_tost_adj)})"
                                      if np.isfinite(r.margin) else "–"),
            "verdict": r.verdict,
        })
    return pd.DataFrame(rows)


def _pairs(df: pd.DataFrame, s_cmp: pd.DataFrame, ds: str, scale: int, metric: str):
    """Per comparison of ``metric``: ``(row, model values, baseline values)`` over the images where
    both are finite, aligned by image (the pairs the statistics used)."""
    sub = df[(df["dataset"] == ds) & (df["scale"] == scale) & (df["metric"] == metric)]
    vals = {key: g.set_index("image")["value"] for key, g in sub.groupby(["model", "variant", "backend"])}
    for r in s_cmp[s_cmp["metric"] == metric].itertuples():
        a, b = vals[(r.model, r.variant, r.backend)].align(
            vals[(r.baseline_model, r.baseline_variant, r.baseline_backend)], join="inner")
        ok = np.isfinite(a) & np.isfinite(b)
        yield r, a[ok], b[ok]


def _per_image_diffs(df: pd.DataFrame, s_cmp: pd.DataFrame, ds: str, scale: int, metric: str) -> pd.DataFrame:
    parts = [pd.DataFrame({"label": r.label, "image": a.index, "diff": (a - b).to_numpy()})
             for r, a, b in _pairs(df, s_cmp, ds, scale, metric)] if not s_cmp.empty else []
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["label", "image", "diff"])


def _worst(df: pd.DataFrame, s_cmp: pd.DataFrame, ds: str, scale: int, primary: str, k: int) -> pd.DataFrame:
    """Per compared model, the ``k`` images where it loses most (or gains least) against its baseline."""
    if s_cmp.empty or k <= 0:
        return pd.DataFrame()
    rows = []
    for r, a, b in _pairs(df, s_cmp, ds, scale, primary):
        gain = (a - b) if r.higher_is_better else (b - a)
        for img in gain.sort_values().index[:k]:
            rows.append({"model": r.label, "vs": r.baseline_label, "image": img, primary: f"{a[img]:.4f}",
                         "baseline": f"{b[img]:.4f}", "difference": f"{a[img] - b[img]:+.4f}"})
    return pd.DataFrame(rows)


def _pareto_points(timings: pd.DataFrame | None, s_sum: pd.DataFrame, ds: str, scale: int,
                   primary: str) -> pd.DataFrame | None:
    if timings is None:
        return None
    t = timings[(timings["dataset"] == ds) & (timings["scale"] == scale)]
    if t.empty:
        return None
    med = t.groupby(["model", "variant", "backend"])["sr_ms"].median()
    q = s_sum[s_sum["metric"] == primary].set_index(["model", "variant", "backend"])["mean"]
    pts = [{"model": key[0], "variant": key[1], "backend": key[2], "ms": float(ms), "mean": float(q[key])}
           for key, ms in med.items() if key in q.index]
    return pd.DataFrame(pts) if len(pts) >= 2 else None


def crop_panels(hr: np.ndarray, outs: list[tuple[str, str, np.ndarray]],
                box: tuple[int, int, int, int]) -> tuple[list[tuple[str, np.ndarray]], list[np.ndarray | None]]:
    """The panels of a crop figure: HR's patch, then each output's ``(title, short label, image)``
    patch with its error map; an output equal to an earlier one on the patch (fp32 and fp16, say)
    shares that panel ("= label") instead of repeating it."""
    y0, x0, h, w = box
    patch = (slice(y0, y0 + h), slice(x0, x0 + w))
    panels: list[tuple[str, np.ndarray]] = [("HR", hr[patch])]
    errors: list[np.ndarray | None] = [None]
    for title, label, o in outs:
        same = next((i for i, (_, q) in enumerate(panels[1:], 1) if np.array_equal(q, o[patch])), None)
        if same is not None:
            panels[same] = (panels[same][0] + f"\n= {label}", panels[same][1])
            continue
        panels.append((title, o[patch]))
        errors.append(error_map(o[patch], hr[patch]))
    return panels, errors


def _crop_figures(run_dir: Path, manifest: dict, df: pd.DataFrame, s_cmp: pd.DataFrame, ds: str, scale: int,
                  primary: str, meta: dict, labels: dict, n: int, tag: str, notes: list[str], size: int = 96,
                  crop_models: tuple[str, ...] = ()) -> list[Figure]:
    """The images where some model loses most against its baseline (else the largest spread of the
    primary metric); on each, the ``size`` x ``size`` patch inside the scored area where the best
    output differs most from HR; HR and every output (of ``crop_models``, empty: all) side by side,
    best first, with their error maps."""
    if n <= 0:
        return []
    if manifest.get("kind") == "video":
        notes.append("Visual crops are drawn for image runs only; the SR clips of this run are in outputs/ as .y4m.")
        return []
    sub = df[(df["dataset"] == ds) & (df["scale"] == scale) & (df["metric"] == primary)]
    wide = sub.pivot_table(index="image", columns=["model", "variant", "backend"], values="value")
    if not s_cmp.empty:
        loss = pd.Series(-np.inf, index=wide.index)
        for r, a, b in _pairs(df, s_cmp, ds, scale, primary):
            d = (b - a) if r.higher_is_better else (a - b)
            loss = np.maximum(loss, d.reindex(loss.index, fill_value=-np.inf))
        images = list(loss.sort_values(ascending=False).index[:n])
    else:
        images = list((wide.max(axis=1) - wide.min(axis=1)).sort_values(ascending=False).index[:n])
    records = manifest.get("datasets", {}).get(ds, {}).get(f"x{scale}", {})
    hib = bool(meta[primary]["higher_is_better"])
    figs = []
    for img in images:
        if img not in records:
            notes.append(f"No crop of {img}: the manifest does not record its HR file.")
            continue
        hr, why = read_hr(records[img]["hr"], scale)
        if hr is None:
            notes.append(f"No crop of {img}: {why}.")
            continue
        sides = [c for c in sorted(wide.columns, key=lambda c: (-wide.loc[img, c] if hib else wide.loc[img, c]))
                 if not crop_models or c[0] in crop_models]
        outs = []
        for key in sides:
            p = output_path(run_dir, ds, scale, *key, img)
            if p.is_file():
                outs.append((key, read_image(p)[0]))
        if not outs:
            notes.append(f"No crop of {img}: the run kept no SR outputs (scored with --no-quantize?).")
            continue
        border = scale if meta[primary].get("crop") == "scale" else 0
        y0, x0, h, w = choose_patch(hr, outs[0][1], size, border)
        panels, errors = crop_panels(hr, [(f"{labels[key]}\n{primary} {wide.loc[img, key]:.3f}", labels[key], o)
                                          for key, o in outs], (y0, x0, h, w))
        fig = plots.crop_strip(hr, (y0, x0, h, w), panels,
                               f"{ds} x{scale} / {img}: {h}x{w} HR-pixel patch at ({x0}, {y0}), where the best output "
                               f"differs most from HR inside the scored area; sorted by {primary}", errors=errors)
        figs.append(Figure(f"{tag}_crop_{img}", f"Visual comparison and error maps, {img} ({ds} x{scale}, {h}x{w} HR pixels)", plots.png(fig)))
    return figs


def _context(run_dir: Path, manifest: dict, opts: ReportOptions, baseline: str | None, primary: str, meta: dict, metrics: list[str],
             sections: list[Section], comp: pd.DataFrame) -> dict[str, Any]:
    models = []
    for name, m in sorted(manifest.get("models", {}).items()):
        weights = "; ".join(f"{s}: {w.get('sha256', '')[:16]}…" for s, w in sorted((m.get("weights") or {}).items()))
        models.append({"name": name, "arch": m.get("arch", ""), "backend": m.get("backend", ""),
                       "variants": ", ".join(sorted(m.get("variants", {}))), "weights": weights or "–",
                       "description": m.get("description", "")})
    artefacts = []
    for key, per_scale in sorted(manifest.get("artefacts", {}).items()):
        for s, a in sorted(per_scale.items()):
            cal = a.get("calibration")
            artefacts.append({"what": f"{key} {s}", "file": a.get("file", ""), "bytes": a.get("bytes", ""),
                              "calibration": (f"{cal['method']}, {cal['patches']} patches of {cal['patch']} px from "
                                              f"{cal['folder']} (content {cal['content_sha256'][:12]}…)" if cal else "–")})
    metric_rows = [{"metric": m, "kind": meta[m].get("kind", ""),
                    "direction": "higher is better" if meta[m]["higher_is_better"] else "lower is better",
                    "colour": meta[m].get("colour", ""), "crop": meta[m].get("crop", ""),
                    "margin": opts.margins.get(m, meta[m].get("equivalence_margin")),
                    "description": meta[m].get("description", "")} for m in metrics]
    settings = {
        "baseline": (f"{baseline} (every model); " if baseline else "none; ") +
                    f"variants vs their {opts.reference_variant}",
        "pairing": "by image (same dataset, scale, image name)" + ("; datasets pooled" if opts.pool_datasets else ""),
        "CI": f"BCa bootstrap 95 %, {opts.n_resamples} resamples, seed {opts.seed}",
        "test": "Wilcoxon signed-rank, two-sided, zeros dropped, exact (also with ties) up to "
                f"{stats.EXACT_MAX_N} pairs; paired t-test as a second opinion",
        "correction": f"{opts.correction} across all comparisons of one dataset and scale",
        "alpha": str(opts.alpha),
        "equivalence": "TOST (paired t) for variants within the margins listed under Metrics",
        "primary metric": primary,
    }
    return {
        "title": f"iqa-bench report: {run_dir.name}", "run": str(run_dir), "manifest": manifest,
        "settings": settings, "conventions": manifest.get("conventions", {}), "versions": manifest.get("versions", {}),
        "hardware": manifest.get("hardware", {}), "command": " ".join(manifest.get("command", [])) or "–",
        "models": models, "artefacts": artefacts, "metric_rows": metric_rows, "sections": sections,
        "failures": manifest.get("failures", []), "options": asdict(opts), "primary": primary,
        "n_comparisons": int(len(comp)),
    }
