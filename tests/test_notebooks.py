"""Every notebook under notebooks/ runs top to bottom (nbclient, a real kernel) on a small run."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, small_run, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="nbformat/nbclient are dev dependencies")
    from nbclient import NotebookClient

    monkeypatch.setenv("IQA_BENCH_RUN", str(small_run))
    nb = nbformat.read(path, as_version=4)
    # the kernel listens on 127.0.0.1 only (jupyter_client's default)
    NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(path.parent)}}).execute()
    figures = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= 3
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]


def test_there_is_a_notebook():
    assert NOTEBOOKS
