"""Report figures (matplotlib, object API: no pyplot state, no display needed).

Every function returns a :class:`matplotlib.figure.Figure`; :func:`png` turns one into PNG bytes.
Colours are the verdicts' everywhere: green better, red worse, blue equivalent, grey otherwise.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

VERDICT_COLOURS = {"better": "#2e7d32", "worse": "#c62828", "equivalent": "#1565c0", "n.s.": "#9e9e9e",
                   "not shown equivalent": "#ef9a9a", "baseline": "#424242"}
DPI = 110


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return buf.getvalue()


def _direction(higher_is_better: bool) -> str:
    return "higher is better" if higher_is_better else "lower is better"


VARIANT_MARKERS = "osD^vP*X"


def metric_figure(summary: pd.DataFrame, per_image: pd.DataFrame, comparisons: pd.DataFrame, metric: str,
                  higher_is_better: bool, title: str) -> Figure:
    """Left: mean with its 95 % BCa interval per model, best first; colour = verdict against its
    baseline, marker = precision variant (legend below). Right: per-image differences to each
    model's baseline (box + points); model-vs-baseline gains and variant-vs-fp32 deltas on separate
    axes, so that a 0.005 dB precision shift is not flattened by a +3 dB model gain.

    ``summary``: rows of :func:`iqa_bench.stats.describe` with a ``label`` column; ``per_image``:
    columns label, image, diff; ``comparisons``: rows of :func:`iqa_bench.stats.compare` with label.
    """
    from matplotlib.lines import Line2D

    s = summary.sort_values("mean", ascending=not higher_is_better).reset_index(drop=True)
    verdict = dict(zip(comparisons["label"], comparisons["verdict"]))
    kind = dict(zip(comparisons["label"], comparisons["comparison"])) if "comparison" in comparisons else {}
    labels = list(s["label"])
    variants = list(s["variant"]) if "variant" in s else [""] * len(labels)
    markers = dict(zip(dict.fromkeys(variants), VARIANT_MARKERS))
    groups = [(k, [lbl for lbl in labels if lbl in set(per_image["label"]) and kind.get(lbl, "model") == k])
              for k in ("model", "variant")]
    groups = [(k, g) for k, g in groups if g]
    fig = Figure(figsize=(11 + 3 * max(0, len(groups) - 1), 0.42 * len(labels) + 2.0), layout="constrained")
    axes = fig.subplots(1, 1 + max(1, len(groups)),
                        gridspec_kw={"width_ratios": [1] + [1.2 if len(groups) < 2 else 0.9] * max(1, len(groups))})
    ax, right = axes[0], list(axes[1:])
    y = np.arange(len(labels))[::-1]
    colours = [VERDICT_COLOURS.get(verdict.get(lbl, "baseline"), "#9e9e9e") for lbl in labels]
    err = np.vstack([s["mean"] - s["ci_low"], s["ci_high"] - s["mean"]])
    err = np.where(np.isfinite(err), err, 0.0)
    ax.errorbar(s["mean"], y, xerr=err, fmt="none", ecolor="#555555", capsize=3, lw=1)
    for yi, m, c, v in zip(y, s["mean"], colours, variants):
        ax.scatter([m], [yi], color=c, marker=markers[v], zorder=3, s=36)
    ax.set_yticks(y, labels)
    ax.set_xlabel(f"{metric} mean, 95 % BCa CI\n({_direction(higher_is_better)})")
    ax.grid(axis="x", alpha=0.3)

    rng = np.random.default_rng(0)
    for bx, (k, order) in zip(right, groups):
        yy = np.arange(len(order))[::-1]
        data = [per_image.loc[per_image["label"] == lbl, "diff"].to_numpy() for lbl in order]
        bx.boxplot(data, positions=yy, orientation="horizontal", widths=0.6, showfliers=False,
                   medianprops={"color": "#333333"})
        for pos, d, lbl in zip(yy, data, order):
            bx.scatter(d, pos + rng.uniform(-0.18, 0.18, d.size), s=12, alpha=0.8,
                       color=VERDICT_COLOURS.get(verdict.get(lbl, ""), "#9e9e9e"), zorder=3)
        bx.axvline(0, color="#333333", lw=0.8)
        bx.set_yticks(yy, [f"{lbl}  vs {b}" for lbl, b in zip(order, _baselines(comparisons, order))], fontsize=8)
        bx.yaxis.tick_right()
        what = "variant vs its fp32" if k == "variant" else "model vs baseline"
        bx.set_xlabel(f"per-image {metric} difference, {what}\n({_direction(higher_is_better)})")
        bx.grid(axis="x", alpha=0.3)
    for bx in right[len(groups):]:
        bx.set_axis_off()
    shown = [v for v in dict.fromkeys(verdict.get(lbl, "baseline") for lbl in labels)]
    handles = [Line2D([], [], ls="", marker="o", color=VERDICT_COLOURS.get(v, "#9e9e9e"), label=v) for v in shown]
    if len(markers) > 1:
        handles += [Line2D([], [], ls="", marker=mk, color="#616161", label=v) for v, mk in markers.items()]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 8), fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=11)
    return fig


def _baselines(comparisons: pd.DataFrame, labels: list[str]) -> list[str]:
    m = dict(zip(comparisons["label"], comparisons["baseline_label"]))
    return [m.get(lbl, "") for lbl in labels]


def significance_matrix(comparisons: pd.DataFrame, metrics: list[str], title: str) -> Figure:
    """Rows: compared models; columns: metrics; cell: mean difference to the baseline, its colour
    the verdict, stars the adjusted Wilcoxon p (* < 0.05, ** < 0.01, *** < 0.001)."""
    labels = list(dict.fromkeys(comparisons["label"]))
    fig = Figure(figsize=(1.5 * len(metrics) + 3.2, 0.42 * len(labels) + 1.4))
    ax = fig.subplots()
    ax.set_xlim(-0.5, len(metrics) - 0.5)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    for i, lbl in enumerate(labels):
        for j, m in enumerate(metrics):
            r = comparisons[(comparisons["label"] == lbl) & (comparisons["metric"] == m)]
            if r.empty:
                continue
            r = r.iloc[0]
            ax.add_patch(_rect(j, i, VERDICT_COLOURS.get(r["verdict"], "#9e9e9e")))
            p = r["p_wilcoxon_adj"]
            stars = "***" if p < 1e-3 else "**" if p < 1e-2 else "*" if p < 0.05 else ""
            ax.text(j, i, f"{r['mean_diff']:+.3g}{stars}", ha="center", va="center", fontsize=8, color="white")
    ax.set_xticks(range(len(metrics)), metrics)
    ax.set_yticks(range(len(labels)), [f"{lbl} vs {b}" for lbl, b in zip(labels, _baselines(comparisons, labels))])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    handles = [_rect(0, 0, c) for c in VERDICT_COLOURS.values() if c != VERDICT_COLOURS["baseline"]]
    ax.legend(handles, [k for k in VERDICT_COLOURS if k != "baseline"], loc="upper center",
              bbox_to_anchor=(0.5, -0.08), ncol=5, fontsize=8, frameon=False)
    ax.set_title(title, fontsize=11)
    return fig


def _rect(x: float, y: float, colour: str):
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.48, y - 0.45), 0.96, 0.9, color=colour)


def pareto(points: pd.DataFrame, metric: str, higher_is_better: bool, title: str) -> Figure:
    """Quality (dataset mean of ``metric``) against median SR time per image; the Pareto front
    (nothing both faster and better) joined by a line. ``points``: model, variant, backend, ms,
    mean. Colour = backend (runner), marker = precision variant, so that a backend change and a
    precision change are never read as one; points off the front are drawn lighter. One label per
    model (variants of a model often sit on top of each other)."""
    p = points.sort_values("ms").reset_index(drop=True)
    front, best = [], -np.inf
    for i, r in p.iterrows():
        q = r["mean"] if higher_is_better else -r["mean"]
        if q > best:
            front.append(i)
            best = q
    fig = Figure(figsize=(8, 4.8), layout="constrained")
    ax = fig.subplots()
    ax.plot(p.loc[front, "ms"], p.loc[front, "mean"], "-", color="#1565c0", lw=1.2, label="Pareto front", zorder=1)
    markers = dict(zip(dict.fromkeys(p["variant"]), VARIANT_MARKERS))
    backends = p["backend"] if "backend" in p else pd.Series("", index=p.index)
    colours = dict(zip(dict.fromkeys(backends), ["#1565c0", "#e65100", "#2e7d32", "#6a1b9a", "#c62828", "#00838f",
                                                 "#5d4037", "#616161"]))
    for (variant, backend), g in p.assign(backend=backends).groupby(["variant", "backend"], sort=False):
        on = g.index.isin(front)
        ax.scatter(g.loc[on, "ms"], g.loc[on, "mean"], marker=markers[variant], color=colours[backend], s=46,
                   zorder=3, edgecolors="black", linewidths=0.6)
        ax.scatter(g.loc[~on, "ms"], g.loc[~on, "mean"], marker=markers[variant], color=colours[backend], s=42,
                   zorder=2, alpha=0.45)
    for variant, m in markers.items():
        ax.scatter([], [], marker=m, color="#616161", label=f"precision: {variant}")
    for backend, c in colours.items():
        if backend:
            ax.scatter([], [], marker="s", color=c, label=f"backend: {backend}")
    span = float(p["mean"].max() - p["mean"].min()) or 1.0
    labels = []
    for model, g in p.groupby("model", sort=False):
        top = g.loc[g["mean"].idxmax() if higher_is_better else g["mean"].idxmin()]
        labels.append((model, top["ms"], top["mean"], 8, "black"))
        for _, r in g.iterrows():  # a variant far from the model's label gets its own, smaller one
            if abs(np.log10(r["ms"] / top["ms"])) > 0.08 or abs(r["mean"] - top["mean"]) > 0.04 * span:
                labels.append((f"{model} {r['variant']}", r["ms"], r["mean"], 7, "#616161"))
    ax.set_xscale("log")
    ax.set_xlabel("median SR time per image, ms (log scale; this run's hardware)")
    ax.set_ylabel(f"{metric} mean ({_direction(higher_is_better)})")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, title="outlined: on the front", title_fontsize=8)
    ax.set_title(title, fontsize=11)
    place_labels(fig, ax, labels)
    return fig


def perception_distortion(points: pd.DataFrame, distortion: str, perception: str, distortion_hib: bool,
                          perception_hib: bool, title: str) -> Figure:
    """The perception-distortion plane (Blau & Michaeli, CVPR 2018): per model/variant, the dataset
    mean of a fidelity metric (x) against that of a perceptual one (y), both axes oriented so that
    better lies toward the bottom left. ``points``: label, distortion, perception."""
    fig = Figure(figsize=(7, 4.8), layout="constrained")
    ax = fig.subplots()
    ax.scatter(points["distortion"], points["perception"], s=40, color="#1565c0", edgecolors="black", linewidths=0.6)
    ax.margins(0.12)  # room for the labels of the extreme points
    if distortion_hib:
        ax.invert_xaxis()
    if perception_hib:
        ax.invert_yaxis()
    ax.set_xlabel(f"{distortion} mean ({_direction(distortion_hib)}; better to the left)")
    ax.set_ylabel(f"{perception} mean ({_direction(perception_hib)}; better downwards)")
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=11)
    place_labels(fig, ax, [(r.label, r.distortion, r.perception, 7, "black") for r in points.itertuples(index=False)])
    return fig


# Offsets (points) and alignments tried for a point's label, in order of preference.
_LABEL_SPOTS = ((6, 5, "left", "bottom"), (6, -5, "left", "top"), (-6, 5, "right", "bottom"),
                (-6, -5, "right", "top"), (0, 9, "center", "bottom"), (0, -9, "center", "top"),
                (10, 0, "left", "center"), (-10, 0, "right", "center"))


def place_labels(fig: Figure, ax: Any, labels: list[tuple[str, float, float, float, str]]) -> None:
    """Annotate points ``(text, x, y, fontsize, colour)`` so that labels do not overlap each other,
    the points or the legend: each takes the first spot around its point that collides with nothing
    placed before (else the least colliding one). Matplotlib has no such placement; adjustText would
    do it iteratively for a dependency this small greedy pass does not need."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if fig.canvas is None or not hasattr(fig.canvas, "get_renderer"):
        FigureCanvasAgg(fig)
    fig.canvas.draw()  # lays the figure out: positions below are final
    renderer = fig.canvas.get_renderer()
    taken = [ax.transData.transform((x, y)) for _, x, y, _, _ in labels]
    boxes = [((px - 4, py - 4), (px + 4, py + 4)) for px, py in taken]  # the markers
    legend = ax.get_legend()
    if legend is not None:
        e = legend.get_window_extent(renderer)
        boxes.append(((e.x0, e.y0), (e.x1, e.y1)))
    for text, x, y, size, colour in labels:
        best, best_hit = None, None
        for dx, dy, ha, va in _LABEL_SPOTS:
            ann = ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=size, color=colour,
                              ha=ha, va=va)
            e = ann.get_window_extent(renderer)
            hit = sum(max(0.0, min(e.x1, b[1][0]) - max(e.x0, b[0][0])) * max(0.0, min(e.y1, b[1][1]) - max(e.y0, b[0][1]))
                      for b in boxes)
            if best_hit is None or hit < best_hit:
                if best is not None:
                    best.remove()
                best, best_hit, box = ann, hit, ((e.x0, e.y0), (e.x1, e.y1))
            else:
                ann.remove()
            if hit == 0:
                break
        boxes.append(box)


def crop_strip(full: np.ndarray, box: tuple[int, int, int, int], panels: list[tuple[str, np.ndarray]],
               title: str, errors: list[np.ndarray | None] | None = None) -> Figure:
    """The HR image with the patch outlined, then the same patch of HR and of every output, enlarged
    with nearest-neighbour (no smoothing that would hide or add artefacts). With ``errors`` (one per
    panel, None for none), a row of error maps ``|output - HR|`` under the panels, on one shared
    scale (uint8 levels, 0 = black) so that the panels compare."""
    from matplotlib.patches import Rectangle

    y0, x0, h, w = box
    n = len(panels) + 1
    cols = min(n, 6)
    chunks = int(np.ceil(n / cols))
    per = 2 if errors else 1
    fig = Figure(figsize=(2.2 * cols, (2.5 if per == 1 else 4.6) * chunks), layout="constrained")
    grid = np.atleast_2d(fig.subplots(per * chunks, cols))
    slots = [(per * (i // cols), i % cols) for i in range(chunks * cols)]
    axes = [grid[r, c] for r, c in slots]
    axes[0].imshow(_rgb(full), interpolation="lanczos")
    axes[0].add_patch(Rectangle((x0, y0), w, h, fill=False, color="#ffeb3b", lw=2))
    axes[0].set_title("HR (patch outlined)", fontsize=9)
    for ax, (name, img) in zip(axes[1:], panels):
        ax.imshow(_rgb(img), interpolation="nearest")
        ax.set_title(name, fontsize=8)
    vmax = 1.0
    if errors:
        vmax = max([1.0] + [float(np.percentile(e, 99)) for e in errors if e is not None])
        shown = None
        for i, e in enumerate(errors, start=1):
            r, c = slots[i]
            if e is not None:
                shown = grid[r + 1, c].imshow(e, cmap="magma", vmin=0, vmax=vmax, interpolation="nearest")
                grid[r + 1, c].set_title("|output - HR|", fontsize=7)
        if shown is not None:
            fig.colorbar(shown, ax=grid[1::2, :].ravel().tolist(), shrink=0.6, label="uint8 levels")
    for ax in grid.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        if not ax.images:
            ax.set_axis_off()
    fig.suptitle(title, fontsize=10)
    return fig


def _rgb(img: np.ndarray) -> np.ndarray:
    return np.repeat(img, 3, axis=2) if img.ndim == 3 and img.shape[2] == 1 else img
