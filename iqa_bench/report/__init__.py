"""Comparison reports of a run directory: HTML (self-contained), Markdown, plots and visual crops."""

from __future__ import annotations

from iqa_bench.report.build import ReportOptions, ReportResult, build_report

__all__ = ["ReportOptions", "ReportResult", "build_report"]
