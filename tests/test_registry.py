"""Registry: explicit built-ins, lazy entry-point plugins, 'did you mean' errors."""

from __future__ import annotations

import sys
import textwrap

import pytest

from iqa_bench.errors import UnknownNameError
from iqa_bench.metrics import METRICS
from iqa_bench.registry import Registry


def test_builtins_registered_lazily():
    calls = []
    reg: Registry[str] = Registry("thing", lambda r: (calls.append(1), r.register("a", lambda: 1, "meta")))
    assert calls == []  # nothing at construction
    assert reg.names() == ["a"] and reg.create("a") == 1 and reg.get("A").meta == "meta"
    assert calls == [1]


def test_unknown_name_suggests_closest():
    with pytest.raises(UnknownNameError) as exc:
        METRICS.get("psnr-y")
    assert "unknown metric 'psnr-y'" in exc.value.message
    assert "psnr_y" in exc.value.hint and "iqa-bench list metrics" in exc.value.hint


def test_duplicate_and_bad_names_rejected():
    reg: Registry[str] = Registry("thing")
    reg.register("x", lambda: 0, "m")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("x", lambda: 0, "m")
    with pytest.raises(ValueError, match="lower-case"):
        reg.register("X2", lambda: 0, "m")


def test_entry_point_plugin_is_loaded(tmp_path, monkeypatch):
    """A real installed distribution (dist-info on sys.path) registering through the entry-point group."""
    (tmp_path / "my_plugin.py").write_text(
        textwrap.dedent(
            """
            def register(reg):
                reg.register("plugged", lambda: "hello", "plugin-meta")
            """
        )
    )
    dist = tmp_path / "my_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[iqa_bench.gizmos]\nplugged = my_plugin:register\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg: Registry[str] = Registry("gizmo", lambda r: r.register("builtin", lambda: 0, "b"))
    assert reg.names() == ["builtin", "plugged"]
    assert reg.create("plugged") == "hello"
    sys.modules.pop("my_plugin", None)
