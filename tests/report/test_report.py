"""iqa-bench report: contents of report.html / report.md / stats.csv, checked against the run's own numbers."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from iqa_bench.cli import app
from iqa_bench.errors import InputError
from iqa_bench.report import ReportOptions, build_report
from iqa_bench.report.crops import choose_patch, error_map
from iqa_bench.results import load_run


def test_report_of_a_quantization_run(variants_run, tmp_path):
    res = build_report(variants_run, tmp_path / "rep")
    assert res.sections == 2  # Set5 x2, Set14 x2
    # per section: 3 metric figures, significance matrix, Pareto (timings exist), 2 crops
    assert res.figures == 14
    html = res.html.read_text()
    assert "<script" not in html and "<link" not in html and not re.search(r"""src=["']https?:""", html)
    assert html.count('<img src="data:image/png;base64,') == 14
    assert html.count('<table class="ranking">') == 2
    ranking = html.split("<tbody>")[1].split("</tbody>")[0]
    assert ranking.count('<tr><td class="rank">') == 7  # bicubic + 2 models x fp32/fp16/int8
    # ranked, with the zoo's paper value where it has one (Set14 x2: bicubic 30.24, EDSR paper)
    assert '<td class="rank">1</td>' in ranking and '<td class="rank">7</td>' in ranking
    assert re.search(r'class="num published" title="EDSR paper Table 5[^"]*">30.24</td>', ranking)

    # the numbers shown are the run's
    means = load_run(variants_run).groupby(["dataset", "model", "variant", "metric"])["value"].mean()
    for key in [("Set14", "fsrcnn", "fp32", "psnr_y"), ("Set5", "srcnn", "int8", "psnr_y")]:
        assert f'<span class="mean">{means[key]:.3f}</span>' in html
    assert f"{means[('Set14', 'bicubic', 'fp64', 'ssim_y')]:.4f}" in html

    st = pd.read_csv(res.stats_csv).set_index(["dataset", "metric", "model", "variant"])
    assert len(st) == 2 * 3 * 2 * 3  # datasets x metrics x models x (vs bicubic, fp16, int8)
    assert st.loc[("Set14", "psnr_y", "fsrcnn", "fp32"), "verdict"] == "better"
    gm = st.loc[("Set14", "gmsd", "fsrcnn", "fp32")]  # GMSD: lower is better
    assert gm["mean_diff"] < 0 and gm["verdict"] == "better" and gm["wins"] == 14
    assert st.loc[("Set14", "psnr_y", "fsrcnn", "int8"), "verdict"] == "worse"
    for model in ("fsrcnn", "srcnn"):
        r = st.loc[("Set14", "psnr_y", model, "fp16")]
        assert r["verdict"] == "equivalent" and r["baseline_variant"] == "fp32" and r["margin"] == 0.05
    # Set5's five images cannot reach p < 0.05: said in the report
    assert "smallest possible two-sided Wilcoxon p is 0.0625" in html

    manifest = json.loads((variants_run / "manifest.json").read_text())
    assert manifest["models"]["fsrcnn"]["weights"]["x2"]["sha256"][:16] in html
    assert "BT.601" in html and manifest["versions"]["torch"] in html and "minmax, 32 patches" in html

    md = res.markdown.read_text()
    links = re.findall(r"\]\((report_files/[^)]+\.png)\)", md)
    assert len(links) == 14 and all((res.markdown.parent / link).is_file() for link in links)
    assert "| model " in md and "0.0625" in md
    assert re.search(r"\|\s*#\s*\|\s*model\s.*\|\s*published\s*\|", md) and "sources: EDSR paper Table 5" in md


def test_choose_patch_finds_where_the_best_output_differs_inside_the_scored_area():
    hr = np.full((90, 120, 3), 100, np.uint8)
    best = hr.copy()
    best[50:70, 80:100] = 200
    y0, x0, h, w = choose_patch(hr, best, 20)
    assert (h, w) == (20, 20) and (y0, x0) == (50, 80)
    best[:4, :4] = 255  # a border defect outside the scored area (crop = scale = 4) never picks the patch
    best[50:70, 80:100] = 100
    best[30:40, 10:20] = 140
    y0, x0, h, w = choose_patch(hr, best, 20, border=4)
    assert y0 >= 4 and x0 >= 4 and y0 <= 30 and y0 + 20 >= 40 and x0 <= 10 and x0 + 20 >= 20
    assert choose_patch(hr, best, 500, border=4)[2:] == (82, 82)  # never larger than the scored area
    assert error_map(best, hr)[35, 15] == 40.0


def test_report_cli_and_what_it_refuses(small_run, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["report", str(small_run), "--out", str(tmp_path / "rep"), "--crops", "1"])
    assert res.exit_code == 0, res.output
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "No timings" not in html and html.count("data:image/png") == 2 + 1 + 1 + 1  # 2 metrics, matrix, Pareto, crop

    # an HR file that changed since the run is not shown as if it were the scored one
    changed = tmp_path / "changed"
    shutil.copytree(small_run, changed)
    m = json.loads((changed / "manifest.json").read_text())
    for ds in m["datasets"].values():
        for img in ds["x4"].values():
            img["hr"]["sha256"] = "0" * 64
    (changed / "manifest.json").write_text(json.dumps(m))
    build_report(changed, tmp_path / "rep2", ReportOptions(crops=1))
    assert "changed since the run (sha256 differs from the manifest)" in (tmp_path / "rep2" / "report.html").read_text()

    res = runner.invoke(app, ["report", str(tmp_path / "nothing")])
    assert res.exit_code == 2 and "has no manifest.json" in res.output
    res = runner.invoke(app, ["report", str(small_run), "--out", str(tmp_path / "r3"), "--primary", "lpips"])
    assert res.exit_code == 2 and "primary metric 'lpips' is not in the run" in res.output
    res = runner.invoke(app, ["report", str(small_run), "--out", str(tmp_path / "r3"), "--baseline", "srgan"])
    assert res.exit_code == 2 and "baseline model 'srgan' is not in the run" in res.output
    with pytest.raises(InputError, match="unknown correction"):
        build_report(small_run, tmp_path / "r4", ReportOptions(correction="fdr"))


def test_compare_cli_writes_the_statistics(small_run, tmp_path):
    res = CliRunner().invoke(app, ["compare", str(small_run), "--csv", str(tmp_path / "s.csv"), "--metrics", "psnr_y"])
    assert res.exit_code == 0, res.output
    st = pd.read_csv(tmp_path / "s.csv")
    assert set(st["model"]) == {"nearest", "lanczos"} and set(st["baseline_model"]) == {"bicubic"}
    assert (st["n"] == 4).all() and set(st["verdict"]) == {"n.s."}  # 4 images: smallest p is 0.125


def test_latex_table_marks_best_and_second_by_direction(variants_run, tmp_path):
    """`report --latex`: booktabs, one column group per dataset x scale, best bold and second underlined per
    column by the metric's direction (GMSD: lower is better), values as the run's means."""
    res = CliRunner().invoke(app, ["report", str(variants_run), "--out", str(tmp_path / "rep"), "--latex", "--crops", "0"])
    assert res.exit_code == 0, res.output
    tex = (tmp_path / "rep" / "report.tex").read_text()
    assert tex.count(r"\toprule") == 1 and r"\multicolumn{3}{c}{Set14 $\times2$}" in tex and r"gmsd $\downarrow$" in tex
    body = tex.split("\\midrule\n")[1].split("\\bottomrule")[0]
    rows = {ln.split(" & ")[0].replace("\\_", "_"): ln.rstrip(" \\").split(" & ")[1:] for ln in body.splitlines()}
    columns = [(ds, m) for ds in ("Set14", "Set5") for m in ("gmsd", "psnr_y", "ssim_y")]
    df = load_run(variants_run)
    df = df.assign(row=df["model"] + df["variant"].map(lambda v: "" if v in ("fp32", "fp64") else f" ({v})"))
    means = df.groupby(["dataset", "metric", "row"])["value"].mean()
    for i, (ds, metric) in enumerate(columns):
        m = means.loc[(ds, metric)]
        ranked = m.sort_values(ascending=metric == "gmsd").index
        digits = 2 if metric == "psnr_y" else 4
        assert rows[ranked[0]][i] == rf"\textbf{{{m[ranked[0]]:.{digits}f}}}", (ds, metric)
        if m[ranked[1]] != m[ranked[0]]:
            assert rows[ranked[1]][i].startswith(r"\underline{") or rows[ranked[1]][i].startswith(r"\textbf{")
    assert "fsrcnn (int8)" in rows


def test_perception_distortion_plot_when_the_run_has_a_perceptual_metric(shared, tmp_path, monkeypatch):
    """PSNR-Y (fidelity) against NIQE (perceptual, by its metadata): one point per model, axes oriented
    so that better is toward the bottom left; a run without a perceptual metric has no such plot."""
    from iqa_bench.engine import EvalConfig, evaluate
    from iqa_bench.metrics import METRICS

    assert METRICS.get("niqe").meta.perceptual and not METRICS.get("psnr_y").meta.perceptual
    monkeypatch.setenv("IQA_BENCH_WEIGHTS", str(shared / "weights"))
    run = tmp_path / "run"
    evaluate(EvalConfig(models=("bicubic", "nearest"), metrics=("psnr_y", "niqe"), out=run))
    res = build_report(run, tmp_path / "rep", ReportOptions(n_resamples=199))
    png = tmp_path / "rep" / "report_files" / "default_x4_perception_distortion.png"
    assert png.is_file() and png.stat().st_size > 10_000
    assert "Perception-distortion plane: psnr_y (fidelity) against niqe (perceptual)" in res.markdown.read_text()


def test_crop_panels_merge_equal_outputs_and_carry_error_maps():
    from iqa_bench.report.build import crop_panels

    hr = np.full((40, 40, 3), 100, np.uint8)
    a, b = hr.copy(), hr.copy()
    a[10:20, 10:20] = 110
    b[10:20, 10:20] = 90
    panels, errors = crop_panels(hr, [("A fp32", "A fp32", a), ("A fp16", "A fp16", a.copy()), ("B", "B", b)],
                                 (5, 5, 20, 20))
    assert [t for t, _ in panels] == ["HR", "A fp32\n= A fp16", "B"] and errors[0] is None
    assert all(p.shape == (20, 20, 3) for _, p in panels) and errors[1].max() == errors[2].max() == 10


def test_report_crop_options(small_run, tmp_path):
    res = CliRunner().invoke(app, ["report", str(small_run), "--out", str(tmp_path / "rep"), "--crops", "1",
                                   "--crop-models", "bicubic,lanczos", "--crop-size", "48"])
    assert res.exit_code == 0, res.output
    assert "48x48 HR pixels" in (tmp_path / "rep" / "report.md").read_text()
    res = CliRunner().invoke(app, ["report", str(small_run), "--out", str(tmp_path / "r2"), "--crop-models", "srgan"])
    assert res.exit_code == 2 and "--crop-models names srgan, not in the run" in res.output


def test_point_labels_do_not_overlap():
    """Four points almost on top of each other: the placed labels' boxes are pairwise disjoint."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from iqa_bench.report.plots import place_labels

    fig = Figure(figsize=(4, 3))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    pts = [(1.0, 1.0), (1.02, 1.0), (1.0, 1.01), (1.02, 1.01)]
    ax.scatter(*zip(*pts))
    ax.set_xlim(0.9, 1.1)
    ax.set_ylim(0.9, 1.1)
    place_labels(fig, ax, [(f"model {i} int8", x, y, 8, "black") for i, (x, y) in enumerate(pts)])
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    assert len(boxes) == 4
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
