"""A paper-ready LaTeX table of a run: models as rows, dataset x scale x metric as columns.

The layout of the SR literature's comparison tables: booktabs rules, the best value of each column
in bold and the second best underlined (by each metric's ``higher_is_better``), means over images
with the digits a paper prints (PSNR 2 decimals, SSIM-like metrics 4). Written by hand rather than
with ``DataFrame.to_latex``: per-column bold/underline by metric direction and multi-level headers
with ``\\cmidrule`` need the cell text anyway.
"""

from __future__ import annotations

import math

import pandas as pd

from iqa_bench.results import summarize


def _digits(metric: str) -> int:
    return 2 if metric.startswith("psnr") or metric in ("niqe", "brisque", "vmaf", "vmaf_neg") else 4


def _escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#")):
        text = text.replace(a, b)
    return text


def latex_table(df: pd.DataFrame, higher_is_better: dict[str, bool], metrics: list[str] | None = None,
                caption: str = "", label: str = "tab:sr") -> str:
    """The ``table`` environment (needs ``\\usepackage{booktabs}``) for the results table ``df``."""
    summ = summarize(df)
    metrics = metrics or sorted(summ["metric"].unique())
    summ = summ[summ["metric"].isin(metrics)]
    summ = summ.assign(row=summ["model"] + summ["variant"].map(
        lambda v: "" if v in ("fp32", "fp64", "external") else f" ({v})"))
    groups = [(ds, int(sc)) for ds, sc in summ[["dataset", "scale"]].drop_duplicates().itertuples(index=False)]
    groups.sort()
    columns = [(ds, sc, m) for ds, sc in groups for m in metrics]
    table = summ.pivot_table(index="row", columns=["dataset", "scale", "metric"], values="mean", aggfunc="first")
    rows = list(table.index)
    cells: dict[tuple[str, tuple], str] = {}
    for col in columns:
        values = table[col] if col in table.columns else pd.Series(dtype=float)
        finite = values.dropna()
        order = finite.sort_values(ascending=not higher_is_better[col[2]]).unique()
        for r in rows:
            v = values.get(r, math.nan)
            if v is None or not math.isfinite(v):
                cells[(r, col)] = "--" if v != math.inf else r"$\infty$"
                continue
            text = f"{v:.{_digits(col[2])}f}"
            if len(order) > 1 and v == order[0]:
                text = rf"\textbf{{{text}}}"
            elif len(order) > 2 and v == order[1]:
                text = rf"\underline{{{text}}}"
            cells[(r, col)] = text
    n = len(metrics)
    head1 = " & ".join(rf"\multicolumn{{{n}}}{{c}}{{{_escape(ds)} $\times{sc}$}}" for ds, sc in groups)
    rules = " ".join(rf"\cmidrule(lr){{{2 + i * n}-{1 + (i + 1) * n}}}" for i in range(len(groups)))
    arrows = {m: (r"$\uparrow$" if higher_is_better[m] else r"$\downarrow$") for m in metrics}
    head2 = " & ".join(f"{_escape(m)} {arrows[m]}" for _ in groups for m in metrics)
    lines = [
        r"\begin{table}[t]", r"\centering",
        rf"\caption{{{_escape(caption) or 'Mean over images; best in bold, second underlined.'}}}",
        rf"\label{{{label}}}",
        rf"\begin{{tabular}}{{l{'c' * len(columns)}}}", r"\toprule",
        rf"Method & {head1} \\", rules, rf" & {head2} \\", r"\midrule",
    ]
    for r in rows:
        lines.append(f"{_escape(r)} & " + " & ".join(cells[(r, c)] for c in columns) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"
