"""iqa-bench: trustworthy image-quality numbers for super-resolution models."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "compare", "create_metric", "evaluate", "functional", "load_run"]


def __getattr__(name: str):  # lazy: `import iqa_bench` stays cheap and side-effect free
    if name == "evaluate":
        from iqa_bench.engine import evaluate

        return evaluate
    if name == "load_run":
        from iqa_bench.results import load_run

        return load_run
    if name == "compare":
        from iqa_bench.stats import compare

        return compare
    if name == "create_metric":
        from iqa_bench.metrics import create_metric

        return create_metric
    if name == "functional":
        import importlib

        return importlib.import_module("iqa_bench.functional")
    raise AttributeError(name)
