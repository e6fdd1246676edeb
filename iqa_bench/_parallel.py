"""One shared thread pool for numpy/scipy work that releases the GIL (scipy.ndimage filters).

Created on first use (nothing at import time), sized to the CPUs this process may run on.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_POOL: ThreadPoolExecutor | None = None


def cpu_count() -> int:
    """CPUs available to this process (the affinity mask, not the machine's total)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


_LOCAL = threading.local()  # .worker: this thread is one of the pool's


def parallel_map(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[fn(x) for x in items]`` on the shared pool, in order; serial on one CPU, and serial when
    called from a task of the pool itself (tasks waiting on tasks that no free thread is left to
    run would deadlock the pool)."""
    global _POOL
    items = list(items)
    if len(items) < 2 or cpu_count() < 2 or getattr(_LOCAL, "worker", False):
        return [fn(x) for x in items]
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=cpu_count(), thread_name_prefix="iqa-bench",
                                   initializer=_mark_worker)
    return list(_POOL.map(fn, items))


def _mark_worker() -> None:
    _LOCAL.worker = True
