"""HTML (jinja2 template, images embedded as data URIs: no network needed) and Markdown renderers."""

from __future__ import annotations

from typing import Any

import pandas as pd


def _env():
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(loader=PackageLoader("iqa_bench.report", "templates"),
                       autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)


def render_html(context: dict[str, Any]) -> str:
    """The self-contained ``report.html``."""
    return _env().get_template("report.html.j2").render(**context)


def _md_table(df: pd.DataFrame) -> str:
    # disable_numparse: cells are already formatted (e.g. "-0.00000", "+3.824"); tabulate would
    # re-parse them as numbers and print "-0"
    return df.to_markdown(index=False, disable_numparse=True) if not df.empty else "_none_"


def _kv(d: dict[str, Any]) -> str:
    return _md_table(pd.DataFrame({"": list(d), "value": [str(v) for v in d.values()]}))


def render_markdown(context: dict[str, Any]) -> str:
    """``report.md``: the same content; figures are the PNGs in ``report_files/``."""
    out = [f"# {context['title']}", "",
           f"Run `{context['run']}`; command: `{context['command']}`.", "",
           "Marks: ▲ significantly better than its baseline, ▼ significantly worse, ≈ equivalent "
           "(variants, TOST), bold = best in column.", ""]
    if context["failures"]:
        out += ["**Failures in this run:**", ""] + [f"- {f}" for f in context["failures"]] + [""]
    for sec in context["sections"]:
        out += [f"## {sec.dataset} x{sec.scale} ({sec.n_images} {sec.unit})", ""]
        out += [f"> {n}" for n in sec.notes] + ([""] if sec.notes else [])
        rows = []
        has_pub = any(r["published"] for r in sec.ranking)
        for r in sec.ranking:
            row = {"#": r["rank"], "model": r["label"]}
            for m in sec.metrics:
                c = r["cells"][m]
                if c is None:
                    row[m] = "–"
                    continue
                mean = f"**{c['mean']}**" if c["best"] else c["mean"]
                row[m] = f"{mean} {c['mark']} {c['ci']} med {c['median']}".replace("  ", " ")
            if has_pub:
                row["published"] = r["published"] or "–"
            rows.append(row)
        out += ["### Ranking (mean, 95 % CI, median)", "", _md_table(pd.DataFrame(rows)), ""]
        sources = sorted({r["published_source"] for r in sec.ranking if r["published"]})
        if sources:
            out += ["Published: the model's paper value (PSNR-Y) for this dataset and scale; sources: "
                    + "; ".join(sources) + ".", ""]
        out += ["### Paired comparisons", "", _md_table(sec.comparisons), ""]
        out += [f"### Worst {sec.unit}", "", _md_table(sec.worst), ""]
        for f in sec.figures:
            out += [f"![{f.caption}](report_files/{f.name}.png)", "", f"*{f.caption}*", ""]
    out += ["## Configuration", "", "### Statistics", "", _kv(context["settings"]), ""]
    out += ["### Conventions", "", _kv(context["conventions"]), ""]
    out += ["### Metrics", "", _md_table(pd.DataFrame(context["metric_rows"])), ""]
    out += ["### Models", "", _md_table(pd.DataFrame(context["models"])), ""]
    if context["artefacts"]:
        out += ["### Quantized artefacts", "", _md_table(pd.DataFrame(context["artefacts"])), ""]
    out += ["### Versions", "", _kv(context["versions"]), "", "### Hardware", "", _kv(context["hardware"]), ""]
    return "\n".join(out) + "\n"
