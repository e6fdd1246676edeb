"""Paired statistics over images: is a model better than its baseline, is a variant as good as FP32?

Every comparison pairs the two sides by image (same dataset, scale and image name) and works on the
per-image differences ``d = model - baseline`` in the metric's own units:

* mean difference with a BCa bootstrap confidence interval (``scipy.stats.bootstrap``);
* Wilcoxon signed-rank test (primary test): zero differences dropped (Wilcoxon's convention, as R's
  ``wilcox.test``) and counted; p exact for ``n <= EXACT_MAX_N`` also with tied ranks, normal
  approximation with tie correction above; paired t-test as a second opinion;
* multiple-comparison correction across a family (default: all comparisons of one dataset and
  scale) with Holm (default) or Benjamini-Hochberg;
* matched-pairs rank-biserial correlation as effect size, win/tie/loss counts (direction-aware);
* for a quantized variant against its FP32 model: TOST equivalence (two one-sided paired t-tests,
  ``statsmodels``) within a margin per metric (default from the metric's metadata).

Direction comes from each metric's ``higher_is_better``; ``mean_diff`` keeps the raw sign
(model minus baseline) and ``verdict``/``wins`` say which way is better.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from iqa_bench.errors import InputError

CORRECTIONS = ("holm", "bh", "bonferroni", "none")
EXACT_MAX_N = 500  # exact signed-rank distribution up to this many non-zero differences
SIDE_KEYS = ("model", "variant", "backend")


@dataclass(frozen=True)
class PairedResult:
    """Statistics of one paired comparison (``d = model - baseline`` per image)."""

    n: int  # pairs used (finite on both sides)
    n_nonfinite: int  # pairs dropped because a side is +-inf or NaN (e.g. PSNR of identical images)
    mean_model: float
    mean_baseline: float
    mean_diff: float
    ci_low: float
    ci_high: float
    median_diff: float
    wins: int
    ties: int
    losses: int
    w_plus: float  # Wilcoxon V: sum of the ranks of positive differences
    p_wilcoxon: float
    wilcoxon_method: str  # "exact", "exact (ties)", "normal (ties corrected)", "none"
    p_min: float  # smallest two-sided p the exact test can give with this many non-zero pairs
    p_ttest: float
    rank_biserial: float
    margin: float
    p_tost: float
    ci90_low: float
    ci90_high: float


def signed_rank(d: np.ndarray) -> tuple[float, float, str, float]:
    """Two-sided Wilcoxon signed-rank test of ``d`` against 0.

    Zeros are dropped (Wilcoxon's convention). With ``n <= EXACT_MAX_N`` non-zero values the p value
    is exact, conditional on the tie pattern: the null distribution of ``V`` (sum of positive
    ranks, mid-ranks for ties) is built by the shift algorithm over the doubled ranks. SciPy's
    ``wilcoxon`` is exact only without ties and its permutation fallback enumerates all 2^n sign
    patterns (6 s at n = 14, 6 min at n = 20 here), hence this.

    Returns
    -------
    (V, p, method, p_min)
    """
    d = np.asarray(d, dtype=np.float64)
    d = d[d != 0]
    n = d.size
    if n == 0:
        return 0.0, 1.0, "none", 1.0
    ranks = sps.rankdata(np.abs(d))
    v = float(ranks[d > 0].sum())
    tied = np.unique(ranks).size < n
    if n > EXACT_MAX_N:
        res = sps.wilcoxon(d, method="asymptotic")  # scipy corrects the variance for ties
        return v, float(res.pvalue), "normal (ties corrected)" if tied else "normal", 0.0
    r2 = np.rint(2 * ranks).astype(np.int64)  # mid-ranks are multiples of 1/2
    dist = np.zeros(int(r2.sum()) + 1)
    dist[0] = 1.0
    for r in r2:  # each rank enters V or not with probability 1/2
        shifted = np.zeros_like(dist)
        shifted[r:] = dist[:-r]
        dist = 0.5 * (dist + shifted)
    w2 = int(np.rint(2 * v))
    p = min(1.0, 2.0 * min(dist[: w2 + 1].sum(), dist[w2:].sum()))
    p_min = min(1.0, 2.0 * min(dist[0], dist[-1]))
    return v, float(p), "exact (ties)" if tied else "exact", float(p_min)


def rank_biserial(d: np.ndarray) -> float:
    """Matched-pairs rank-biserial correlation ``(V+ - V-) / (V+ + V-)`` over the non-zero differences
    (Kerby's simple difference formula), in [-1, 1]; 0 when all differences are zero."""
    d = np.asarray(d, dtype=np.float64)
    d = d[d != 0]
    if d.size == 0:
        return 0.0
    ranks = sps.rankdata(np.abs(d))
    return float((ranks[d > 0].sum() - ranks[d < 0].sum()) / ranks.sum())


def bootstrap_ci(x: np.ndarray, *, level: float = 0.95, n_resamples: int = 9999,
                 rng: np.random.Generator | None = None) -> tuple[float, float]:
    """BCa bootstrap confidence interval of the mean of ``x`` (``scipy.stats.bootstrap``).

    Constant data give ``(mean, mean)``; fewer than 3 values or ``n_resamples = 0`` give NaNs (BCa
    needs a jackknife).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size < 3 or n_resamples <= 0:
        return float("nan"), float("nan")
    if np.all(x == x[0]):
        return float(x[0]), float(x[0])
    res = sps.bootstrap((x,), np.mean, confidence_level=level, n_resamples=n_resamples, method="BCa",
                        rng=rng if rng is not None else np.random.default_rng(0))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def tost(d: np.ndarray, margin: float) -> tuple[float, float, float]:
    """Paired TOST: are the differences' mean inside ``(-margin, margin)``? (``statsmodels.ttost_paired``)

    Returns ``(p, ci90_low, ci90_high)``: ``p < alpha`` claims equivalence at level alpha, which is the
    same as the 1 - 2 alpha (90 %) t interval lying inside the margins.
    """
    from statsmodels.stats.weightstats import DescrStatsW, ttost_paired

    d = np.asarray(d, dtype=np.float64)
    if d.size < 2 or not np.isfinite(margin):
        return float("nan"), float("nan"), float("nan")
    m = float(d.mean())
    if np.all(d == d[0]):  # zero variance: t is +-inf, statsmodels returns NaN
        return (0.0 if abs(m) < margin else 1.0), m, m
    p = float(ttost_paired(d, np.zeros_like(d), -margin, margin)[0])
    lo, hi = DescrStatsW(d).tconfint_mean(alpha=0.10)
    return p, float(lo), float(hi)


def paired(model: np.ndarray, baseline: np.ndarray, *, higher_is_better: bool, margin: float = float("nan"),
           n_resamples: int = 9999, rng: np.random.Generator | None = None) -> PairedResult:
    """All statistics of one comparison of per-image values ``model`` vs ``baseline`` (same order).

    Pairs with a non-finite value on either side are dropped and counted in ``n_nonfinite``.
    """
    a = np.asarray(model, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values must be two 1-D arrays of equal length, got {a.shape} and {b.shape}")
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    d = a - b
    n = int(d.size)
    nan = float("nan")
    better = d > 0 if higher_is_better else d < 0
    worse = d < 0 if higher_is_better else d > 0
    if n == 0:
        return PairedResult(0, int((~ok).sum()), nan, nan, nan, nan, nan, nan, 0, 0, 0, 0.0, 1.0, "none", 1.0,
                            nan, nan, margin, nan, nan, nan)
    v, p_w, method, p_min = signed_rank(d)
    if n < 2 or np.all(d == d[0]):
        p_t = 1.0 if np.all(d == 0) else (0.0 if n >= 2 else nan)
    else:
        p_t = float(sps.ttest_1samp(d, 0.0).pvalue)
    lo, hi = bootstrap_ci(d, n_resamples=n_resamples, rng=rng)
    p_tost, c90lo, c90hi = tost(d, margin)
    return PairedResult(
        n=n, n_nonfinite=int((~ok).sum()), mean_model=float(a.mean()), mean_baseline=float(b.mean()),
        mean_diff=float(d.mean()), ci_low=lo, ci_high=hi, median_diff=float(np.median(d)),
        wins=int(better.sum()), ties=int((d == 0).sum()), losses=int(worse.sum()),
        w_plus=v, p_wilcoxon=p_w, wilcoxon_method=method, p_min=p_min, p_ttest=p_t,
        rank_biserial=rank_biserial(d), margin=margin, p_tost=p_tost, ci90_low=c90lo, ci90_high=c90hi,
    )


def adjust(p: Sequence[float], method: str = "holm") -> np.ndarray:
    """Adjusted p values; NaNs are left out and kept.

    ``method``: ``holm`` (family-wise error), ``bh`` (Benjamini-Hochberg false discovery rate,
    ``scipy.stats.false_discovery_control``), ``bonferroni`` or ``none``. Holm is written out here:
    statsmodels' ``multipletests(method="holm")`` runs ``gc.collect()`` on every call, which costs
    0.05-0.5 s in a process holding torch models (the test checks ours equals statsmodels').
    """
    if method not in CORRECTIONS:
        raise InputError(f"unknown correction {method!r}", f"choose one of {sorted(CORRECTIONS)}")
    p = np.asarray(p, dtype=np.float64)
    out = p.copy()
    ok = np.isfinite(p)
    q = p[ok]
    m = q.size
    if m == 0 or method == "none":
        return out
    if method == "bh":
        out[ok] = sps.false_discovery_control(q, method="bh")
    elif method == "bonferroni":
        out[ok] = np.minimum(1.0, q * m)
    else:  # Holm step-down: sorted p_(i) * (m - i + 1), running maximum, capped at 1
        order = np.argsort(q, kind="stable")
        stepped = np.maximum.accumulate(q[order] * (m - np.arange(m)))
        adj = np.empty(m)
        adj[order] = np.minimum(1.0, stepped)
        out[ok] = adj
    return out


def _baseline_of(side: tuple[str, str, str], present: list[tuple[str, str, str]], baseline: str | None,
                 reference_variant: str) -> tuple[tuple[str, str, str] | None, str]:
    """The side a row is compared with and the kind of comparison (``variant`` or ``model``)."""
    model, variant, backend = side
    if variant != reference_variant:
        refs = [s for s in present if s[0] == model and s[1] == reference_variant]
        if refs:  # the same backend's FP32 first (isolates the precision), else any
            refs.sort(key=lambda s: (s[2] != backend, s[2]))
            return refs[0], "variant"
    if baseline is not None and model != baseline:
        bases = sorted(s for s in present if s[0] == baseline)
        if bases:
            return bases[0], "model"
    return None, ""


AUTO_BASELINE = "auto"
DEFAULT_BASELINE = "bicubic"


def resolve_baseline(models: Sequence[str], baseline: str | None) -> str | None:
    """``auto``: bicubic when the run has it, else None (variants only); ``none``/None: None; a name
    must be in the run."""
    if baseline is None or baseline.lower() == "none":
        return None
    if baseline == AUTO_BASELINE:
        return DEFAULT_BASELINE if DEFAULT_BASELINE in set(models) else None
    if baseline not in set(models):
        raise InputError(f"baseline model {baseline!r} is not in the run",
                         f"pass --baseline with one of {', '.join(sorted(set(models)))}, or evaluate it too")
    return baseline


def compare(
    run: str | Path | pd.DataFrame,
    *,
    baseline: str | None = AUTO_BASELINE,
    reference_variant: str = "fp32",
    metrics: Sequence[str] | None = None,
    correction: str = "holm",
    alpha: float = 0.05,
    margins: Mapping[str, float] | None = None,
    higher_is_better: Mapping[str, bool] | None = None,
    pool_datasets: bool = False,
    n_resamples: int = 9999,
    seed: int = 0,
) -> pd.DataFrame:
    """Paired statistics of every model (and variant) of a run against its baseline, per metric.

    Parameters
    ----------
    run
        A run directory or its results table (:func:`iqa_bench.load_run`).
    baseline
        Model every model is compared with; ``auto`` (default): ``bicubic`` when the run has it,
        else none; None or ``none``: only variants vs their FP32. A name not in the run is an error.
    reference_variant
        A model's other variants (``fp16``, ``int8``...) are compared with this variant of the same
        model (same backend preferred), with a TOST equivalence test on top.
    metrics
        Metrics to compare (default: all in the run).
    correction
        ``holm`` (default), ``bh``, ``bonferroni`` or ``none``, applied per family: all comparisons
        of one dataset and scale (all metrics, all models).
    alpha
        Significance level of ``significant`` and ``equivalent``.
    margins
        TOST margins per metric in its units, overriding the metric's ``equivalence_margin``
        (PSNR 0.05 dB, SSIM 0.001, LPIPS 0.005). A metric without one gets no TOST.
    higher_is_better
        Direction per metric, overriding the manifest/registry (needed for unregistered metrics).
    pool_datasets
        Pair over the images of all datasets together (dataset column ``Set5+Set14``): more
        pairs, e.g. where one small set cannot reach significance (Set5: smallest exact p 0.0625).
    n_resamples, seed
        Bootstrap resamples; the generator of each comparison is seeded from ``seed`` and the
        comparison's key, so results do not depend on the order or subset computed.

    Returns
    -------
    DataFrame
        One row per (dataset, scale, metric, model, variant, backend) with a baseline: the fields
        of :class:`PairedResult`, the baseline's model/variant/backend, ``comparison``
        (``model``|``variant``), ``higher_is_better``, adjusted p values, ``significant``,
        ``equivalent`` and a ``verdict`` (``better``, ``worse``, ``n.s.``, ``equivalent``,
        ``not shown equivalent``).
    """
    if not 0 < alpha < 1:
        raise InputError(f"alpha must be in (0, 1), got {alpha}", "pass e.g. --alpha 0.05")
    adjust([], correction)  # validate the name before any work
    if isinstance(run, pd.DataFrame):
        df = run
    else:
        from iqa_bench.results import load_run

        df = load_run(run)
    if metrics is None:
        metrics = sorted(df["metric"].unique())
    unknown = sorted(set(metrics) - set(df["metric"].unique()))
    if unknown:
        raise InputError(f"metric(s) {', '.join(unknown)} not in the run",
                         f"choose among {', '.join(sorted(df['metric'].unique()))}")
    baseline = resolve_baseline(df["model"].unique(), baseline)
    from iqa_bench.results import metric_metadata

    meta = metric_metadata(None if isinstance(run, pd.DataFrame) else run, metrics)
    hib = {m: meta[m]["higher_is_better"] for m in metrics if "higher_is_better" in meta[m]} | dict(higher_is_better or {})
    undirected = [m for m in metrics if m not in hib]
    if undirected:
        raise InputError(f"direction of metric(s) {', '.join(undirected)} unknown (not registered, not in the manifest)",
                         "pass higher_is_better={name: True/False}")
    all_margins = {m: meta[m]["equivalence_margin"] for m in metrics if meta[m].get("equivalence_margin") is not None}
    all_margins |= dict(margins or {})

    df = df[df["metric"].isin(metrics)]
    if pool_datasets:
        df = pool(df)
    rows: list[dict[str, Any]] = []
    for (ds, scale, metric), grp in df.groupby(["dataset", "scale", "metric"], sort=True):
        values = {side: g.set_index("image")["value"] for side, g in grp.groupby(list(SIDE_KEYS), sort=True)}
        present = list(values)
        for side in present:
            base, kind = _baseline_of(side, present, baseline, reference_variant)
            if base is None:
                continue
            a, b = values[side].align(values[base], join="inner")
            margin = float(all_margins.get(metric, float("nan"))) if kind == "variant" else float("nan")
            key = f"{ds}|{scale}|{metric}|{'|'.join(side)}|{'|'.join(base)}"
            rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
            res = paired(a.to_numpy(), b.to_numpy(), higher_is_better=hib[metric], margin=margin,
                         n_resamples=n_resamples, rng=rng)
            rows.append({
                "dataset": ds, "scale": int(scale), "metric": metric, **dict(zip(SIDE_KEYS, side)),
                "baseline_model": base[0], "baseline_variant": base[1], "baseline_backend": base[2],
                "comparison": kind, "higher_is_better": hib[metric],
                "n_unpaired": int(len(values[side].index.symmetric_difference(values[base].index))),
                **res.__dict__,
            })
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    for col in ("p_wilcoxon", "p_ttest", "p_tost"):
        out[f"{col}_adj"] = np.nan
    for _, idx in out.groupby(["dataset", "scale"]).groups.items():
        for col in ("p_wilcoxon", "p_ttest", "p_tost"):
            out.loc[idx, f"{col}_adj"] = adjust(out.loc[idx, col].to_numpy(), correction)
    out["significant"] = out["p_wilcoxon_adj"] < alpha
    out["equivalent"] = out["p_tost_adj"] < alpha
    out["verdict"] = [_verdict(r) for r in out.itertuples()]
    out.attrs.update(correction=correction, alpha=alpha, baseline=baseline, reference_variant=reference_variant,
                     family="dataset x scale", test="Wilcoxon signed-rank (two-sided)")
    return out


def pool(df: pd.DataFrame) -> pd.DataFrame:
    """The results of all datasets as one (``dataset`` = ``Set14+Set5``, ``image`` = ``Set5/baby``),
    so that pairing runs over every image."""
    joined = "+".join(sorted(df["dataset"].unique()))
    return df.assign(image=df["dataset"] + "/" + df["image"], dataset=joined)


def _verdict(r: Any) -> str:
    better = (r.mean_diff > 0) == r.higher_is_better
    if r.comparison == "variant" and np.isfinite(r.margin):
        if r.equivalent:
            return "equivalent"
        if r.significant:
            return "better" if better else "worse"
        return "not shown equivalent"
    if r.significant:
        return "better" if better else "worse"
    return "n.s."


def describe(df: pd.DataFrame, *, n_resamples: int = 9999, seed: int = 0) -> pd.DataFrame:
    """Per dataset x scale x model x variant x backend x metric: n, mean, median, BCa 95 % CI of the
    mean over finite per-image values, and ``n_inf`` (+inf values, e.g. PSNR of identical images)."""
    rows = []
    keys = ["dataset", "scale", "metric", *SIDE_KEYS]
    for key, g in df.groupby(keys, sort=True):
        v = g["value"].to_numpy(dtype=np.float64)
        fin = v[np.isfinite(v)]
        rng = np.random.default_rng([seed, zlib.crc32("|".join(map(str, key)).encode())])
        lo, hi = bootstrap_ci(fin, n_resamples=n_resamples, rng=rng)
        rows.append({**dict(zip(keys, key)), "n": int(v.size), "n_inf": int(np.isposinf(v).sum()),
                     "mean": float(fin.mean()) if fin.size else float("nan"),
                     "median": float(np.median(fin)) if fin.size else float("nan"), "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)
