"""The README's two set-up commands are the ones CI runs."""

from __future__ import annotations

from tests.conftest import ROOT


def _readme_commands() -> list[str]:
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("```bash") + 1
    return lines[start : start + 2]


def test_readme_starts_with_install_and_test_commands():
    run_cmd, test_cmd = _readme_commands()
    assert run_cmd.endswith("iqa-bench evaluate --models all")
    assert "pip install -e" in run_cmd and "pytest" in test_cmd
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd in ci
    assert "iqa-bench evaluate --models all" in ci
