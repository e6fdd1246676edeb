"""The shared thread pool: in order, and a task that maps again does not deadlock the pool."""

from __future__ import annotations

import threading

import iqa_bench._parallel as parallel


def test_nested_map_runs_serially_inside_a_task(monkeypatch):
    """Two outer tasks on a pool of two threads, each mapping again: with the inner maps queued on the
    same pool, both threads would wait on tasks no thread is left to run (MS-SSIM's direct call did)."""
    monkeypatch.setattr(parallel, "cpu_count", lambda: 2)
    monkeypatch.setattr(parallel, "_POOL", None)
    got: list = []

    def outer(i: int) -> list[int]:
        return parallel.parallel_map(lambda j: 10 * i + j, range(3))

    t = threading.Thread(target=lambda: got.append(parallel.parallel_map(outer, [1, 2])), daemon=True)
    t.start()
    t.join(timeout=30)
    assert not t.is_alive(), "nested parallel_map deadlocked"
    assert got == [[[10, 11, 12], [20, 21, 22]]]
    pool = parallel._POOL
    assert pool is not None
    pool.shutdown()
