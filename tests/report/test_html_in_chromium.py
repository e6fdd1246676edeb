"""report.html opened in headless Chromium (Debian's /usr/bin/chromium driven by Playwright; no browser
download): no console errors, nothing fetched from outside the file, tables and images present."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from iqa_bench.report import build_report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium as root in a sandboxed CI box; background networking off (this machine has no network)
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def open_in_chromium(html: Path, screenshot: Path) -> dict:
    """Load ``html``, take a full-page screenshot; return console errors, requested URLs and DOM counts."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(html.resolve().as_uri())
        page.wait_for_load_state("load")
        info = {
            "errors": errors,
            "requests": requests,
            "ranking_tables": page.locator("table.ranking").count(),
            "ranking_rows": page.locator("table.ranking tbody tr").count(),
            "comparison_rows": page.locator("table.comparisons tbody tr").count(),
            "images": page.locator("img").count(),
            "images_loaded": page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"),
            "title": page.title(),
        }
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    return info


def test_report_renders_in_headless_chromium(variants_run, tmp_path):
    if not Path(CHROMIUM).is_file():
        if os.environ.get("IQA_BENCH_REQUIRE_BROWSER"):  # set by .ci/run: there, a skip would hide a failure
            pytest.fail(f"{CHROMIUM} not found but IQA_BENCH_REQUIRE_BROWSER is set: apt-get install chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does)")
    pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
    res = build_report(variants_run, tmp_path / "rep")
    shot = tmp_path / "report.png"
    info = open_in_chromium(res.html, shot)
    assert info["errors"] == []
    assert all(u.startswith(("file:", "data:")) for u in info["requests"]), info["requests"]
    assert info["title"] == "iqa-bench report: run"
    assert (info["ranking_tables"], info["ranking_rows"]) == (2, 14)
    assert info["comparison_rows"] == 36
    assert info["images"] == 14 and info["images_loaded"]
    assert shot.stat().st_size > 100_000
