"""Run directory: ``manifest.json``, ``results.parquet`` and SR outputs, all written atomically.

Every result row is keyed by :data:`KEY`; adding a row whose key exists replaces nothing and is
refused, so a resumed run never counts a cell twice. The table is sorted by key before each write,
so an interrupted-then-resumed run and an uninterrupted one give identical files.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from iqa_bench.errors import InputError
from iqa_bench.io import atomic_path
from iqa_bench.manifest import MANIFEST_VERSION, NewerManifestError, validate as validate_manifest

# ``inputs``: sha256 (hex, 32 chars) of everything that produced the value (HR and LR file contents,
# the model's weights/variant/backend/calibration or the external output file, the conventions and
# the metric's definition); a rerun reuses a value only when it is unchanged. "" in runs made before.
COLUMNS = ["dataset", "image", "model", "variant", "backend", "metric", "value", "scale", "inputs"]
KEY = ("dataset", "scale", "image", "model", "variant", "backend", "metric")
RESULTS_FILE = "results.parquet"
MANIFEST_FILE = "manifest.json"


class ParquetTable:
    """A table kept in memory and written to ``self.path`` atomically by :meth:`flush` when changed;
    subclasses set ``path`` and ``_dirty`` and implement :meth:`frame`."""

    path: Path
    _dirty: bool

    def frame(self) -> pd.DataFrame:
        raise NotImplementedError

    def flush(self) -> None:
        """Write the table atomically if anything changed."""
        if not self._dirty:
            return
        with atomic_path(self.path) as tmp:
            self.frame().to_parquet(tmp, index=False)
        self._dirty = False


PARTS_DIR = "results.parts"
# Parts are merged in tiers, like the levels of a log-structured merge tree: this many consecutive
# parts of one tier become one part of the next tier. A row is rewritten once per tier
# (log_FANOUT of the number of flushes), never once per flush, and a run holds at most FANOUT - 1
# parts per tier.
PARTS_FANOUT = 16


def _part_order(path: Path) -> tuple[int, int]:
    """Reading order of a part: by sequence number, and a merged part (higher tier) before the
    not-yet-removed last part it was merged from (a run killed mid-merge then reads the same rows)."""
    _, seq, *tier = path.stem.split("-")
    return int(seq), -int(tier[0][1:]) if tier else 0


def _tier(path: Path) -> int:
    return -_part_order(path)[1]


def _table_files(main: Path, parts_dir: Path) -> list[Path]:
    """``main`` (when present), then its appended parts in the order they were written."""
    parts = sorted(parts_dir.glob("part-*.parquet"), key=_part_order) if parts_dir.is_dir() else []
    return ([main] if main.exists() else []) + parts


def _result_files(run_dir: Path) -> list[Path]:
    return _table_files(run_dir / RESULTS_FILE, run_dir / PARTS_DIR)


def _append_part(parts_dir: Path, files: list[Path], df: pd.DataFrame) -> Path:
    """Write ``df`` atomically as the next part file of ``parts_dir`` (numbered after those in
    ``files``, the store's own list: no directory scan per flush) and return its path."""
    parts_dir.mkdir(parents=True, exist_ok=True)
    last = max((_part_order(f)[0] for f in files if f.parent == parts_dir), default=0)
    path = parts_dir / f"part-{last + 1:08d}.parquet"
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return path


def _merge_parts(main: Path, files: list[Path], df: pd.DataFrame) -> None:
    """Write ``df`` (everything in ``files``) as ``main`` atomically, then remove the merged parts."""
    with atomic_path(main) as tmp:
        df.to_parquet(tmp, index=False)
    for f in files:
        if f != main:
            f.unlink(missing_ok=True)
    parts_dirs = {f.parent for f in files if f != main}
    for d in parts_dirs:
        try:
            d.rmdir()
        except OSError:  # holds a part this store did not read (never with the run lock held)
            pass


def _merge_full_tiers(files: list[Path], main: Path, combine: Callable[[list[Path]], pd.DataFrame]) -> None:
    """While the last :data:`PARTS_FANOUT` files are parts of one tier, write ``combine`` of them as
    one part of the next tier (atomically, in their place in ``files``) and remove them."""
    while len(files) >= PARTS_FANOUT:
        tail = files[-PARTS_FANOUT:]
        tiers = {-1 if f == main else _tier(f) for f in tail}
        if len(tiers) != 1 or -1 in tiers:
            return
        merged = tail[-1].with_name(f"part-{_part_order(tail[-1])[0]:08d}-t{tiers.pop() + 1}.parquet")
        with atomic_path(merged) as tmp:
            combine(tail).to_parquet(tmp, index=False)
        for f in tail:
            f.unlink(missing_ok=True)
        files[-PARTS_FANOUT:] = [merged]


def _read_index(files: list[Path]) -> dict[tuple[Any, ...], str]:
    """``{key: inputs}`` of the result files in order (a later file's row replaces an earlier one).
    Values are not kept: the store holds one small entry per cell, the table stays on disk."""
    index: dict[tuple[Any, ...], str] = {}
    intern: dict[Any, Any] = {}  # one object per distinct name/hash instead of one per row
    for path in files:
        df = read_table(path)
        inputs = df["inputs"].astype(str) if "inputs" in df else pd.Series("", index=df.index)
        cols = [df[c].tolist() for c in KEY]
        for k, h in zip(zip(*cols), inputs.tolist()):
            index[tuple(intern.setdefault(x, x) for x in k)] = intern.setdefault(h, h)
    return index


def _frame(rows: dict[tuple[Any, ...], tuple[float, str]]) -> pd.DataFrame:
    """The rows as the results table: columns :data:`COLUMNS`, sorted by key.

    Sorted as Python tuples (the order pandas' sort by the key columns gives): a flush's few rows
    are written without pandas' multi-column sort, the largest cost of a small flush."""
    items = sorted(rows.items())
    cols: dict[str, Any] = {c: [k[i] for k, _ in items] for i, c in enumerate(KEY)}
    cols["value"] = np.array([v for _, (v, _) in items], dtype=np.float64)
    cols["inputs"] = [h for _, (_, h) in items]
    cols["scale"] = np.array(cols["scale"], dtype=np.int64)
    return pd.DataFrame(cols, columns=COLUMNS)


def _canonical(df: pd.DataFrame) -> pd.DataFrame:
    df = df.sort_values(list(KEY), kind="stable", ignore_index=True)
    df["scale"] = df["scale"].astype("int64")
    df["value"] = df["value"].astype("float64")
    return df[COLUMNS]


def _combine(files: list[Path], extra: pd.DataFrame | None = None) -> pd.DataFrame:
    """The rows of ``files`` then ``extra``, a later row replacing an earlier one of the same key,
    as the results table (columns :data:`COLUMNS`, sorted by key)."""
    frames = [read_table(f) for f in files] + ([extra] if extra is not None else [])
    frames = [f.assign(inputs="") if "inputs" not in f else f for f in frames]  # runs made before hashes
    if not frames:
        return _frame({})
    df = pd.concat(frames, ignore_index=True)
    df["inputs"] = df["inputs"].astype(str)
    return _canonical(df.drop_duplicates(list(KEY), keep="last"))


class ResultsStore:
    """The keyed results table of one run directory, append-only while a run writes it.

    :meth:`flush` writes only the rows added since the last flush, as a new part file
    (``results.parts/part-NNNNNNNN.parquet``, atomically), so a long sweep never rewrites what it
    already wrote at every flush: every :data:`PARTS_FANOUT` consecutive parts of one tier are merged
    into one part of the next tier (``part-NNNNNNNN-tK.parquet``), so a row is rewritten about
    ``log_16(flushes)`` times. In memory the store keeps only which cells it has (key -> inputs
    hash), not their values. :meth:`compact` merges everything into ``results.parquet`` (sorted by
    key, so a resumed run and an uninterrupted one give identical files) and removes the parts. A
    run killed before compacting keeps its parts: :func:`load_run` and the next :class:`ResultsStore`
    read them (a later part's row replaces an earlier row of the same key: its inputs changed).
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / RESULTS_FILE
        self._files = _result_files(self.run_dir)
        self._index = _read_index(self._files)
        self._new: dict[tuple[Any, ...], tuple[float, str]] = {}

    def __len__(self) -> int:
        return len(self._index)

    def has(self, key: tuple[Any, ...], inputs: str | None = None) -> bool:
        """Whether the cell ``key`` (ordered as :data:`KEY`) is stored, and with ``inputs`` (the hash
        of what produced it) when given: a value from other inputs is not this cell's."""
        stored = self._index.get(key)
        return stored is not None and (inputs is None or stored == inputs)

    def add(self, key: tuple[Any, ...], value: float, inputs: str = "") -> None:
        """Store one value. The same key with the same ``inputs`` is an error (a cell is computed
        once); with other inputs it replaces the stale value (its inputs changed)."""
        if self._index.get(key) == inputs:
            raise KeyError(f"result {key} is already stored")
        self._index[key] = inputs
        self._new[key] = (float(value), inputs)

    def frame(self) -> pd.DataFrame:
        """The whole table with columns :data:`COLUMNS`, sorted by key (read from disk)."""
        return _combine(self._files, _frame(self._new) if self._new else None)

    def flush(self) -> None:
        """Append the rows added since the last flush as one new part file (atomically), then merge
        full tiers (see the class)."""
        if not self._new:
            return
        self._files.append(_append_part(self.run_dir / PARTS_DIR, self._files, _frame(self._new)))
        self._new = {}
        _merge_full_tiers(self._files, self.path, _combine)

    def compact(self) -> None:
        """Merge everything into ``results.parquet`` (atomically) and remove the merged parts."""
        self.flush()
        if self._files == [self.path]:
            return
        _merge_parts(self.path, self._files, self.frame())
        self._files = [self.path]


TIMINGS_FILE = "timings.parquet"


TIMINGS_PARTS = "timings.parts"


class TimingRows:
    """Timing rows collected in memory (a worker process's, sent to the run's one writer)."""

    def __init__(self) -> None:
        self._new: list[dict[str, Any]] = []

    def add(self, dataset: str, scale: int, image: str, model: str, variant: str, backend: str, ms: float,
            lr_shape: tuple[int, ...]) -> None:
        """One SR image's wall time (ms) and LR size."""
        self._new.append({"kind": "evaluate", "dataset": dataset, "scale": scale, "image": image, "model": model,
                          "variant": variant, "backend": backend, "sr_ms": ms,
                          "lr_pixels": int(lr_shape[0] * lr_shape[1])})

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        self._new.extend(rows)

    def take(self) -> list[dict[str, Any]]:
        """The rows collected so far, removed from the collector."""
        rows, self._new = self._new, []
        return rows


class TimingsStore(TimingRows):
    """``timings.parquet`` of a run: one row per SR image computed (wall time of the upscaler's call,
    input preparation and tiling included) and one per build, appended across resumed runs;
    ``iqa-bench bench`` adds its own rows (``kind="bench"``) with latency percentiles and memory.

    Append-only like :class:`ResultsStore`: :meth:`flush` writes the new rows as one part file
    (``timings.parts/part-NNNNNNNN.parquet``; full tiers merged in order), :meth:`compact` merges the parts into
    ``timings.parquet``; :func:`read_timings` reads both, so a killed run's timings are kept.
    """

    def __init__(self, run_dir: str | Path) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / TIMINGS_FILE
        self._files = _table_files(self.path, self.run_dir / TIMINGS_PARTS)

    def flush(self) -> None:
        """Append the new rows as one part file, atomically (nothing written before is rewritten)."""
        if not self._new:
            return
        self._files.append(_append_part(self.run_dir / TIMINGS_PARTS, self._files, pd.DataFrame(self._new)))
        self._new = []
        _merge_full_tiers(self._files, self.path, _concat)

    def compact(self) -> None:
        """Merge the parts into ``timings.parquet`` (rows in the order they were written)."""
        self.flush()
        if not self._files or self._files == [self.path]:
            return
        _merge_parts(self.path, self._files, _concat(self._files))
        self._files = [self.path]


def _concat(files: list[Path]) -> pd.DataFrame:
    return pd.concat([read_table(f) for f in files], ignore_index=True)


def read_timings(run_dir: str | Path) -> pd.DataFrame | None:
    """All timing rows of a run (``timings.parquet`` and parts not yet merged), or None when it has none."""
    run_dir = Path(run_dir)
    files = _table_files(run_dir / TIMINGS_FILE, run_dir / TIMINGS_PARTS)
    return _concat(files) if files else None


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Mean per dataset x scale x model x variant x backend x metric over finite values.

    ``n_inf`` counts +inf values (identical images under PSNR): reported and counted, not averaged.
    """
    keys = ["dataset", "scale", "model", "variant", "backend", "metric"]
    finite = df["value"].where(np.isfinite(df["value"]))
    out = (
        df.assign(finite=finite, is_inf=np.isposinf(df["value"]))
        .groupby(keys, sort=True)
        .agg(mean=("finite", "mean"), n=("value", "size"), n_inf=("is_inf", "sum"))
        .reset_index()
    )
    return out


def json_number(x: float) -> float | str:
    """A float for strict JSON (which has no inf/NaN): finite as is, else ``"inf"``, ``"-inf"``, ``"nan"``."""
    x = float(x)
    return x if np.isfinite(x) else ("inf" if x > 0 else "-inf" if x < 0 else "nan")


def json_safe(obj: Any) -> Any:
    """``obj`` with every float passed through :func:`json_number` (dicts and lists walked)."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return json_number(obj)
    return obj


def _corrupt(path: Path, why: object) -> Exception:
    from iqa_bench.errors import RunStateError

    return RunStateError(
        f"{path} is corrupt or truncated ({str(why).splitlines()[0] if str(why) else type(why).__name__})",
        f"move it aside (mv {path} {path}.broken) and rerun the same `iqa-bench evaluate ... --out {path.parent}`: "
        "values are recomputed, saved SR outputs of unchanged inputs are reused",
    )


def read_table(path: str | Path) -> pd.DataFrame:
    """A parquet table of a run directory; a corrupt file is one clear error naming it and the repair."""
    path = Path(path)
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:  # pyarrow.ArrowInvalid is a ValueError
        raise _corrupt(path, exc) from None


def read_manifest(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's manifest (validated against :class:`iqa_bench.manifest.RunManifest` and migrated to
    the current format), or None for a new run directory; a corrupt, hand-broken or newer one is one
    clear error naming the file, the field and the repair."""
    p = Path(run_dir) / MANIFEST_FILE
    if not p.exists():
        return None
    try:
        doc = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _corrupt(p, exc) from None
    try:
        return validate_manifest(doc)
    except NewerManifestError as exc:
        from iqa_bench.errors import RunStateError

        raise RunStateError(f"{p} has format_version {exc.args[0]!r}; this iqa-bench reads up to {MANIFEST_VERSION}",
                            "upgrade iqa-bench, or use another --out directory") from None
    except ValueError as exc:
        raise _corrupt(p, exc) from None


def write_manifest(run_dir: str | Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` atomically."""
    with atomic_path(Path(run_dir) / MANIFEST_FILE) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")


def load_run(run_dir: str | Path) -> pd.DataFrame:
    """The results table of a run directory as a DataFrame (columns :data:`COLUMNS`), including the
    parts a running or killed evaluation has appended but not yet compacted."""
    run_dir = Path(run_dir)
    files = _result_files(run_dir)
    if not files:
        raise InputError(f"no {RESULTS_FILE} in {run_dir}", "run `iqa-bench evaluate --out DIR` first")
    if files == [run_dir / RESULTS_FILE]:
        return read_table(files[0])
    return _combine(files)


def plan_key(dataset: str, scale: int, model: str, variant: str, backend: str) -> str:
    """Key of one source's entry in the manifest's ``planned`` table."""
    return f"{dataset}|x{scale}|{model}|{variant}|{backend}"


def add_plan(manifest: dict[str, Any], dataset: str, scale: int, model: str, variant: str, backend: str,
             images: list[str], metrics: list[str]) -> None:
    """Record in ``manifest["planned"]`` the cells a call set out to compute (merged with earlier calls)."""
    entry = manifest.setdefault("planned", {}).setdefault(plan_key(dataset, scale, model, variant, backend),
                                                          {"images": [], "metrics": []})
    entry["images"] = sorted(set(entry["images"]) | set(images))
    entry["metrics"] = sorted(set(entry["metrics"]) | set(metrics))


def missing_cells(manifest: dict[str, Any], df: pd.DataFrame) -> tuple[int, int, list[str]]:
    """``(missing, planned, examples)``: planned (image x metric) cells of the run with no row in
    ``df``. A run made before the plan was recorded has ``planned == 0`` (completeness unknown)."""
    have = set(zip(df["dataset"], df["scale"].astype(int), df["model"], df["variant"], df["backend"], df["image"],
                   df["metric"]))
    missing, planned, examples = 0, 0, []
    for key, entry in sorted(manifest.get("planned", {}).items()):
        ds, sc, model, variant, backend = key.split("|")
        for image in entry["images"]:
            for metric in entry["metrics"]:
                planned += 1
                if (ds, int(sc[1:]), model, variant, backend, image, metric) not in have:
                    missing += 1
                    if len(examples) < 3:
                        examples.append(f"{ds} {sc} {image} {model} {variant}/{backend} {metric}")
    return missing, planned, examples


def require_complete(run_dir: str | Path, manifest: dict[str, Any], df: pd.DataFrame, what: str) -> None:
    """Raise :class:`~iqa_bench.errors.RunStateError` when planned cells of the run have no result."""
    from iqa_bench.errors import RunStateError

    missing, planned, examples = missing_cells(manifest, df)
    if missing:
        raise RunStateError(
            f"{run_dir} is incomplete: {missing} of {planned} planned cells missing (e.g. {'; '.join(examples)}); "
            f"{what} needs a complete run",
            f"rerun the same `iqa-bench evaluate ... --out {run_dir}` to compute the missing cells "
            "(failed models: see `failures` in its manifest.json)",
        )


LOCK_FILE = ".lock"


class RunLock:
    """The one writer of a run directory: ``<run>/.lock`` holds the owner's pid, host and start time.

    Created with ``O_CREAT | O_EXCL`` (atomic), removed on exit. A second writer gets a
    :class:`~iqa_bench.errors.RunStateError` naming the owner; a lock left by a process that no
    longer exists on this host (killed) is taken over. A lock from another host is never taken
    over automatically (its process cannot be checked from here).
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self._held = False

    def __enter__(self) -> "RunLock":
        from iqa_bench.errors import RunStateError

        if self.path.parent.exists() and not self.path.parent.is_dir():
            raise InputError(f"--out {self.path.parent} is a file, not a run directory", "pass a new or existing folder")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the run directory {self.path.parent}: {exc.strerror}",
                             "pass an --out folder you can write to") from None
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%dT%H:%M:%S")}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner is not None and self._stale(owner):
                    self.path.unlink(missing_ok=True)  # its writer was killed: take over
                    continue
                who = (f"process {owner.get('pid')} on {owner.get('host')} since {owner.get('since')}" if owner
                       else "another process")
                raise RunStateError(
                    f"{self.path.parent} is being written by {who}; two writers would lose each other's rows",
                    f"wait for it to finish or use another --out; if no such process runs, delete {self.path}",
                ) from None
            with os.fdopen(fd, "w") as fh:
                json.dump(me, fh)
            self._held = True
            return self
        raise RunStateError(f"cannot take the lock {self.path}", f"delete {self.path} if no evaluation is running")

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self._held:
            self.path.unlink(missing_ok=True)
            self._held = False

    def _owner(self) -> dict[str, Any] | None:
        try:
            owner = json.loads(self.path.read_text())
            return owner if isinstance(owner, dict) else None
        except (OSError, json.JSONDecodeError):
            return None

    @staticmethod
    def _stale(owner: dict[str, Any]) -> bool:
        if owner.get("host") != socket.gethostname() or not isinstance(owner.get("pid"), int):
            return False
        try:
            os.kill(owner["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # exists, owned by another user
            return False
        return False


def metric_metadata(run_dir: str | Path | None, metrics: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Metadata per metric: as recorded in the run's manifest (what the numbers were computed with),
    completed from the registry for fields an older run lacks; empty for an unknown plugin metric.
    Statistics and reports take directions and margins from here, so they never read the registry
    themselves."""
    from iqa_bench.errors import UnknownNameError
    from iqa_bench.metrics import METRICS

    recorded = (read_manifest(run_dir) or {}).get("metrics", {}) if run_dir is not None else {}
    out: dict[str, dict[str, Any]] = {}
    for m in metrics:
        meta = dict(recorded.get(m, {}))
        if not {"higher_is_better", "equivalence_margin", "perceptual"} <= set(meta):
            try:
                info = METRICS.get(m).meta
            except UnknownNameError:
                info = None
            if info is not None:
                meta.setdefault("higher_is_better", info.higher_is_better)
                meta.setdefault("equivalence_margin", info.equivalence_margin)
                meta.setdefault("perceptual", info.perceptual)
        out[m] = meta
    return out
