"""One registry class for metrics, models, runners and datasets.

Built-ins are registered explicitly by a ``builtins`` callable the first time a registry is used
(nothing happens at import time). Third-party plugins register through the entry-point group
``iqa_bench.<kind>s``: each entry point names a callable ``register(registry)``; plugins are loaded
lazily, on first use, after the built-ins.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable, Generic, Iterator, TypeVar

from iqa_bench.errors import IQABenchError, UnknownNameError

M = TypeVar("M")


@dataclass(frozen=True)
class Entry(Generic[M]):
    """A registered name: its factory and its frozen metadata."""

    name: str
    factory: Callable[..., Any]
    meta: M


class Registry(Generic[M]):
    """Name -> (factory, metadata) for one kind of component.

    Parameters
    ----------
    kind
        Singular noun used in messages and in the entry-point group name (``iqa_bench.<kind>s``).
    builtins
        Called once with this registry, on first use, to register the built-in components.
    """

    def __init__(self, kind: str, builtins: Callable[["Registry[M]"], None] | None = None) -> None:
        self.kind = kind
        self.group = f"iqa_bench.{kind}s"
        self._builtins = builtins
        self._entries: dict[str, Entry[M]] = {}
        self._loaded = False

    def register(self, name: str, factory: Callable[..., Any], meta: M, *, replace: bool = False) -> None:
        """Register ``name``; names are lower-case and unique unless ``replace`` is set."""
        if name != name.lower() or not name:
            raise ValueError(f"{self.kind} names are non-empty lower-case strings, got {name!r}")
        if name in self._entries and not replace:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = Entry(name, factory, meta)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (for plugins that withdraw a component, and for tests)."""
        self._load()
        self._entries.pop(name, None)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self._builtins is not None:
            self._builtins(self)
        for ep in metadata.entry_points(group=self.group):
            try:
                ep.load()(self)
            except Exception as exc:  # a broken plugin must not take the built-ins down with it
                raise IQABenchError(
                    f"plugin {ep.name!r} ({ep.value}) in entry-point group {self.group} failed to load: {exc}",
                    "fix or uninstall the plugin package",
                ) from exc

    def get(self, name: str) -> Entry[M]:
        """The entry for ``name``; an unknown name raises with the closest registered names."""
        self._load()
        key = name.strip().lower()
        if key in self._entries:
            return self._entries[key]
        close = difflib.get_close_matches(key, list(self._entries), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else None
        listing = f"`iqa-bench list {self.kind}s` shows them all"
        raise UnknownNameError(
            f"unknown {self.kind} {name!r}",
            f"{hint} ({listing})" if hint else listing,
        )

    def create(self, name: str, **kwargs: Any) -> Any:
        """Call the factory registered under ``name``."""
        return self.get(name).factory(**kwargs)

    def names(self) -> list[str]:
        """All registered names, sorted."""
        self._load()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        self._load()
        return name.lower() in self._entries

    def __iter__(self) -> Iterator[Entry[M]]:
        self._load()
        return iter([self._entries[n] for n in sorted(self._entries)])
