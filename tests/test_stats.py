"""iqa_bench.stats against textbook values (R's documentation examples), brute force and simulation."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from iqa_bench import stats
from iqa_bench.errors import InputError

# R ?wilcox.test: Hollander & Wolfe (1973), p. 29, depression scale before (x) and after (y) therapy.
HW_X = np.array([1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30])
HW_Y = np.array([0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29])
# R `sleep` data (Student 1908): extra hours of sleep with drug 1 and drug 2, same 10 patients.
SLEEP_1 = np.array([0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0])
SLEEP_2 = np.array([1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4])


def test_signed_rank_reproduces_r_example():
    # R: wilcox.test(x, y, paired = TRUE) -> V = 40, p-value = 0.03906 (exact); one-sided 0.01953.
    v, p, method, p_min = stats.signed_rank(HW_X - HW_Y)
    assert v == 40.0
    assert p == pytest.approx(0.0390625, abs=1e-12)
    assert method == "exact"
    assert p_min == pytest.approx(2 / 2**9)
    # Kerby's rank-biserial: (V+ - V-) / total = (40 - 5) / 45
    assert stats.rank_biserial(HW_X - HW_Y) == pytest.approx(35 / 45)


def test_signed_rank_without_ties_equals_scipy_exact():
    rng = np.random.default_rng(3)
    for n in (5, 12, 30):
        d = rng.normal(0.2, 1.0, n)
        assert stats.signed_rank(d)[1] == pytest.approx(sps.wilcoxon(d, method="exact").pvalue, rel=1e-12)


def _brute_force_p(d: np.ndarray) -> float:
    """Exact two-sided p by enumerating all 2^n sign patterns of the mid-ranks (zeros dropped)."""
    d = d[d != 0]
    r = sps.rankdata(np.abs(d))
    v = r[d > 0].sum()
    null = np.array([sum(ri for ri, s in zip(r, signs) if s) for signs in itertools.product((0, 1), repeat=d.size)])
    return min(1.0, 2 * min(np.mean(null <= v + 1e-9), np.mean(null >= v - 1e-9)))


def test_signed_rank_with_ties_and_zeros_is_exact():
    d = np.array([0.5, -0.5, 1.0, 1.0, 1.0, 2.0, -0.25, 0.0, 0.0, 3.0, 0.5, 2.0])  # ties and two zeros
    v, p, method, _ = stats.signed_rank(d)
    assert method == "exact (ties)"
    assert p == pytest.approx(_brute_force_p(d), abs=1e-12)
    # the normal approximation is not what we report
    assert abs(p - sps.wilcoxon(d[d != 0], method="asymptotic").pvalue) > 1e-4


def test_signed_rank_all_zero_and_large_n():
    assert stats.signed_rank(np.zeros(7))[1:3] == (1.0, "none")
    d = np.random.default_rng(0).normal(0.05, 1, stats.EXACT_MAX_N + 1)
    v, p, method, _ = stats.signed_rank(d)
    assert method == "normal"
    assert p == pytest.approx(sps.wilcoxon(d, method="asymptotic").pvalue, rel=1e-12)


def test_paired_t_reproduces_r_sleep_example():
    # R: t.test(extra ~ group, data = sleep, paired = TRUE): t = -4.0621, df = 9, p-value = 0.002833,
    # mean difference -1.58.
    res = stats.paired(SLEEP_1, SLEEP_2, higher_is_better=True)
    assert res.mean_diff == pytest.approx(-1.58)
    assert res.p_ttest == pytest.approx(0.002833, abs=5e-7)
    assert (res.wins, res.ties, res.losses) == (0, 1, 9)  # patient 5: -0.1 and -0.1
    # Wilcoxon drops the zero; the 9 others are all negative (with tied ranks): p = 2 / 2^9 exactly
    assert res.wilcoxon_method == "exact (ties)"
    assert res.p_wilcoxon == pytest.approx(_brute_force_p(SLEEP_1 - SLEEP_2))
    assert res.p_wilcoxon == pytest.approx(0.00390625)
    assert res.ci_low < -1.58 < res.ci_high < 0


def test_direction_lower_is_better_counts_wins_the_other_way():
    res = stats.paired(np.array([0.1, 0.2, 0.3]), np.array([0.2, 0.3, 0.2]), higher_is_better=False)
    assert (res.wins, res.ties, res.losses) == (2, 0, 1)


def test_nonfinite_pairs_are_dropped_and_counted():
    res = stats.paired(np.array([30.0, np.inf, 31.0, 32.0]), np.array([29.0, 30.0, 30.0, np.nan]), higher_is_better=True)
    assert (res.n, res.n_nonfinite, res.mean_diff) == (2, 2, 1.0)


def test_holm_and_bh_match_hand_computed_p_adjust():
    p = [0.01, 0.04, 0.03, 0.005]
    # Holm: sorted .005*4, .01*3, .03*2, .04*1 -> running max -> .02 .03 .06 .06
    np.testing.assert_allclose(stats.adjust(p, "holm"), [0.03, 0.06, 0.06, 0.02])
    # BH: .005*4/1, .01*4/2, .03*4/3, .04*4/4 -> running min from the top -> .02 .02 .04 .04
    np.testing.assert_allclose(stats.adjust(p, "bh"), [0.02, 0.04, 0.04, 0.02])
    np.testing.assert_allclose(stats.adjust([0.2, np.nan, 0.01], "holm"), [0.2, np.nan, 0.02])
    with pytest.raises(InputError, match="unknown correction"):
        stats.adjust(p, "sidak-ish")


def test_corrections_equal_statsmodels():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(4)
    for m in (1, 2, 7, 40):
        p = rng.uniform(0, 0.2, m) ** 2
        p[: m // 3] = p[0]  # ties
        for ours, theirs in (("holm", "holm"), ("bh", "fdr_bh"), ("bonferroni", "bonferroni")):
            np.testing.assert_allclose(stats.adjust(p, ours), multipletests(p, method=theirs)[1], rtol=1e-12)


def test_tost_equals_two_one_sided_t_tests():
    d = np.random.default_rng(1).normal(0.01, 0.02, 14)
    p, lo, hi = stats.tost(d, 0.05)
    lower = sps.ttest_1samp(d, -0.05, alternative="greater").pvalue
    upper = sps.ttest_1samp(d, 0.05, alternative="less").pvalue
    assert p == pytest.approx(max(lower, upper), rel=1e-10)
    ci = sps.t.interval(0.90, d.size - 1, loc=d.mean(), scale=sps.sem(d))
    assert (lo, hi) == pytest.approx(ci, rel=1e-10)
    assert (p < 0.05) == (-0.05 < lo and hi < 0.05)
    assert stats.tost(np.zeros(5), 0.05)[0] == 0.0  # identical outputs: equivalent
    assert stats.tost(np.full(5, 0.1), 0.05)[0] == 1.0


def test_bca_interval_covers_the_mean_about_95_percent():
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(300):
        x = rng.gamma(2.0, 0.5, 14) - 1.0 + 0.3  # skewed, true mean 0.3
        lo, hi = stats.bootstrap_ci(x, n_resamples=1999, rng=rng)
        hits += lo <= 0.3 <= hi
    # BCa at n = 14 under-covers slightly on skewed data; 95 % +- 3 SE (1.3 %) and no worse than 89 %
    assert 0.89 <= hits / 300 <= 0.99


def _frame(values: dict[tuple[str, str, str], np.ndarray], metric: str = "psnr_y", dataset: str = "Set14") -> pd.DataFrame:
    rows = []
    for (model, variant, backend), v in values.items():
        for i, x in enumerate(v):
            rows.append({"dataset": dataset, "image": f"img{i:02d}", "model": model, "variant": variant,
                         "backend": backend, "metric": metric, "value": float(x), "scale": 4})
    return pd.DataFrame(rows)


def _family(rng: np.random.Generator, shift: float, noise: float = 0.05, n_models: int = 4) -> pd.DataFrame:
    """bicubic + n_models models on 14 images x 3 correlated metrics; every model = bicubic + shift + noise."""
    base = rng.normal(26.0, 3.0, 14)  # per-image PSNR spread as on Set14
    frames = []
    for metric, scale_ in (("psnr_y", 1.0), ("psnr", 0.9), ("ssim_y", 0.01)):
        vals = {("bicubic", "fp64", "interp"): base * scale_}
        for k in range(n_models):
            vals[(f"m{k}", "fp32", "torch")] = (base + shift + rng.normal(0, noise, 14)) * scale_
        frames.append(_frame(vals, metric))
    return pd.concat(frames, ignore_index=True)


def test_family_wise_error_of_200_aa_comparisons_stays_near_alpha():
    rng = np.random.default_rng(2026)
    any_holm = any_raw = 0
    for _ in range(200):
        c = stats.compare(_family(rng, shift=0.0), n_resamples=199)
        assert len(c) == 12
        any_holm += bool(c["significant"].any())
        any_raw += bool((c["p_wilcoxon"] < 0.05).any())
    # Holm keeps the family-wise rate at or below alpha (+ 2.5 SE of 200 draws); without correction
    # the same 12 tests per family raise it far above (so this test can fail).
    assert any_holm / 200 <= 0.05 + 2.5 * np.sqrt(0.05 * 0.95 / 200)
    assert any_raw / 200 > 0.15


def test_planted_shift_of_a_tenth_of_a_db_on_14_images_is_detected():
    rng = np.random.default_rng(11)
    detected = 0
    for _ in range(50):
        c = stats.compare(_family(rng, shift=0.1, n_models=1), metrics=["psnr_y"], n_resamples=999)
        r = c.iloc[0]
        detected += r.verdict == "better"
        assert r.ci_low < 0.1 + 0.06 and r.ci_high > 0.1 - 0.06
    assert detected == 50
    c = stats.compare(_family(np.random.default_rng(1), shift=-0.1, n_models=1), metrics=["psnr_y"])
    assert c.iloc[0].verdict == "worse"
    assert c.iloc[0].mean_diff == pytest.approx(-0.1, abs=0.03)


def test_tost_false_equivalence_at_the_margin_stays_below_alpha():
    rng = np.random.default_rng(5)
    claims = sum(stats.tost(rng.normal(0.05, 0.03, 14), 0.05)[0] < 0.05 for _ in range(400))
    assert claims / 400 <= 0.05 + 2.5 * np.sqrt(0.05 * 0.95 / 400)
    power = sum(stats.tost(rng.normal(0.0, 0.03, 14), 0.05)[0] < 0.05 for _ in range(200))
    assert power / 200 > 0.9


def test_compare_picks_baselines_pairs_by_image_and_reads_direction():
    rng = np.random.default_rng(0)
    base = rng.normal(26, 3, 14)
    fp32 = base + 1.0 + rng.normal(0, 0.05, 14)
    vals = {
        ("bicubic", "fp64", "interp"): base,
        ("edsr", "fp32", "torch"): fp32,
        ("edsr", "fp32", "onnxruntime"): fp32 + 1e-4,
        ("edsr", "int8", "onnxruntime"): fp32 - 0.3 + rng.normal(0, 0.01, 14),
        ("edsr", "fp16", "torch"): fp32 + rng.normal(0, 0.002, 14),
    }
    df = _frame(vals)
    lp = _frame({k: 0.3 - v / 100 for k, v in vals.items()}, metric="lpips")  # lower is better
    df = pd.concat([df, lp]).sample(frac=1.0, random_state=1)  # order must not matter: pairing by image
    c = stats.compare(df).set_index(["metric", "model", "variant", "backend"])
    assert c.loc[("psnr_y", "edsr", "int8", "onnxruntime"), "baseline_backend"] == "onnxruntime"  # same backend's fp32
    assert c.loc[("psnr_y", "edsr", "fp16", "torch"), "baseline_backend"] == "torch"
    assert c.loc[("psnr_y", "edsr", "fp32", "torch"), "baseline_model"] == "bicubic"
    assert c.loc[("psnr_y", "edsr", "fp32", "torch"), "mean_diff"] == pytest.approx(np.mean(fp32 - base))
    assert c.loc[("psnr_y", "edsr", "fp32", "torch"), "verdict"] == "better"
    assert c.loc[("lpips", "edsr", "fp32", "torch"), "verdict"] == "better"  # lower LPIPS
    assert c.loc[("lpips", "edsr", "fp32", "torch"), "wins"] == 14
    assert c.loc[("psnr_y", "edsr", "int8", "onnxruntime"), "verdict"] == "worse"
    assert c.loc[("psnr_y", "edsr", "fp16", "torch"), "verdict"] == "equivalent"  # |d| << 0.05 dB
    assert c.loc[("psnr_y", "edsr", "fp16", "torch"), "margin"] == 0.05  # from psnr_y's metadata
    assert c.loc[("lpips", "edsr", "fp16", "torch"), "margin"] == 0.005
    assert np.isnan(c.loc[("psnr_y", "edsr", "fp32", "torch"), "p_tost"])  # no TOST for model comparisons
    assert ("psnr_y", "bicubic", "fp64", "interp") not in c.index
    c2 = stats.compare(df, margins={"psnr_y": 1e-4}).set_index(["metric", "model", "variant", "backend"])
    assert c2.loc[("psnr_y", "edsr", "fp16", "torch"), "verdict"] != "equivalent"
    # an image missing on one side is left out and counted
    c3 = stats.compare(df[~((df.model == "bicubic") & (df.image == "img03"))], metrics=["psnr_y"])
    assert set(c3.loc[c3.comparison == "model", "n"]) == {13}
    assert set(c3.loc[c3.comparison == "model", "n_unpaired"]) == {1}


def test_compare_errors_and_pooling():
    df = _frame({("bicubic", "fp64", "interp"): np.arange(5.0), ("m", "fp32", "torch"): np.arange(5.0) + 1})
    with pytest.raises(InputError, match="baseline model 'lanczos' is not in the run"):
        stats.compare(df, baseline="lanczos")
    with pytest.raises(InputError, match="not in the run"):
        stats.compare(df, metrics=["ssim"])
    with pytest.raises(InputError, match="direction"):
        stats.compare(df.assign(metric="my_plugin_metric"))
    assert stats.compare(df.assign(metric="my_plugin_metric"), higher_is_better={"my_plugin_metric": True}).iloc[0].wins == 5
    assert stats.compare(df).iloc[0].p_min == 0.0625  # Set5-sized: never significant alone
    both = pd.concat([df, _frame({("bicubic", "fp64", "interp"): np.arange(14.0),
                                  ("m", "fp32", "torch"): np.arange(14.0) + 1}, dataset="Set5x")])
    pooled = stats.compare(both, pool_datasets=True)
    assert list(pooled["dataset"]) == ["Set14+Set5x"] and pooled.iloc[0].n == 19
    assert pooled.iloc[0].verdict == "better"


def test_describe_mean_median_and_inf():
    df = _frame({("m", "fp32", "torch"): np.array([30.0, 32.0, np.inf, 31.0])})
    d = stats.describe(df).iloc[0]
    assert (d.n, d.n_inf, d["mean"], d["median"]) == (4, 1, 31.0, 31.0)
    assert d.ci_low <= 31.0 <= d.ci_high
