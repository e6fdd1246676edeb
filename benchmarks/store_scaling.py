"""The run directory's one writer under a long sweep: time, disk rewrites and memory of ResultsStore.

Simulates a sweep that stores ``--rows`` result rows, ``--metrics`` per output cell, flushing after
every cell as ``evaluate`` does, then compacts. Reports the writer's total seconds, seconds per
flush at the start and at the end (a store that rewrites its table slows down as it grows), rows
written to disk per stored row (write amplification from merging parts), part files left before
compaction, and the Python memory a store holds for that many cells (tracemalloc, measured when the
finished run is reopened, as a resumed run does). Prints a table, writes JSON.

    python benchmarks/store_scaling.py --rows 100000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import tracemalloc
from pathlib import Path

import iqa_bench.results as results
from iqa_bench._cpu import cpu_description


def run(rows: int, metrics: int) -> dict[str, float]:
    written = 0
    real_append, real_combine = results._append_part, results._combine

    def count_append(parts_dir, files, df):
        nonlocal written
        written += len(df)
        return real_append(parts_dir, files, df)

    def count_combine(files, extra=None):
        nonlocal written
        df = real_combine(files, extra)
        written += len(df)
        return df

    results._append_part, results._combine = count_append, count_combine
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = results.ResultsStore(Path(tmp) / "run")
            flush_s: list[float] = []
            t0 = time.perf_counter()
            for cell in range(rows // metrics):
                for m in range(metrics):
                    key = ("DIV2K_valid", 4, f"{cell % 100:04d}", f"model{cell // 100:05d}", "fp32", "torch", f"m{m}")
                    store.add(key, float(cell * metrics + m), "0123456789abcdef0123456789abcdef")
                t = time.perf_counter()
                store.flush()
                flush_s.append(time.perf_counter() - t)
            parts = len(list((Path(tmp) / "run" / results.PARTS_DIR).glob("*.parquet")))
            t = time.perf_counter()
            store.compact()
            compact_s = time.perf_counter() - t
            total = time.perf_counter() - t0
            n = len(results.load_run(Path(tmp) / "run"))
            tracemalloc.start()
            reopened = results.ResultsStore(Path(tmp) / "run")
            held, _ = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            assert len(reopened) == n
    finally:
        results._append_part, results._combine = real_append, real_combine
    k = max(1, len(flush_s) // 20)
    return {
        "rows": n, "flushes": len(flush_s), "total_s": total, "compact_s": compact_s,
        "first_flushes_ms": 1e3 * sum(flush_s[:k]) / k, "last_flushes_ms": 1e3 * sum(flush_s[-k:]) / k,
        "rows_written_per_row": written / n, "parts_before_compact": parts, "store_held_mib": held / 2**20,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--metrics", type=int, default=7, help="rows per output cell (one flush each)")
    ap.add_argument("--json", default="benchmarks/results/store_scaling.json")
    args = ap.parse_args()
    r = run(args.rows, args.metrics)
    print(f"# {cpu_description()}; PARTS_FANOUT {results.PARTS_FANOUT}")
    width = max(map(len, r))
    for k, v in r.items():
        print(f"{k:<{width}}  {v:,.2f}" if isinstance(v, float) else f"{k:<{width}}  {v:,}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"cpu": cpu_description(), "fanout": results.PARTS_FANOUT, **r}, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
