"""Output cells in worker processes (``evaluate --jobs N``, locally or as Ray actors with
``--executor ray``), with the run directory's one writer.

The parent process (holding the run lock) decides which cells are missing, hands the missing
output cells of each item (every source's SR output for one HR image, and their missing metrics,
scored together as the serial loop scores them: batched where a metric can, the HR side computed
once) to a pool of ``N`` worker processes as one task, and stores what comes back as it comes: the
SR PNGs, the metric rows and the timing rows. Workers read the inputs (and a saved SR PNG whose
stamp matches) but never write the run directory (they encode the PNGs, which costs far more than
writing their bytes: the writer stays off the critical path longer). Each worker builds its own
networks and metrics once and remembers a source whose build failed, so that its other cells fail
at once.

Results equal the serial run's bit for bit: the same cells, computed by the same code with the same
thread counts; only the order in which rows are appended differs. Workers are deliberately not given
a share of the CPUs each: with fewer threads PyTorch's convolutions and the metrics' reductions sum
in another order (measured with one thread per worker, each pinned to one core: 5 of 20 Set5 SR PNGs
moved by one uint8 level, SSIM-Y by 1e-5; on Set14 DISTS moved), so the workers' threads overlap,
and the speed-up comes from the serial parts of each item (reading, degrading, PNG encoding,
single-threaded metric code) running side by side. A worker that dies (killed, out of memory) stops
the run with one line; every cell stored before is kept and a rerun computes only the rest.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iqa_bench.errors import ComputeError, is_storage_error, storage_error
from iqa_bench.io import write_bytes

if TYPE_CHECKING:
    from iqa_bench.data.datasets import Sample
    from iqa_bench.engine import CellLoop, EvalConfig, PlannedOutput
    from iqa_bench.results import TimingsStore

_WORKER: dict[str, Any] = {}  # one worker process's state: config, sources, metrics, caches

# Memory one worker may need (GiB). Measured: 1.4 GiB peak RSS per worker evaluating SRGAN, VDSR and
# EDSR-8 on Set5 x2 with PSNR-Y, SSIM-Y, LPIPS and DISTS (`--jobs 2 --threads 1`); a 2040x1356 DIV2K
# image roughly doubles the activations, hence the margin.
WORKER_MEMORY_GIB = 3.0


def available_memory_gib() -> float:
    """Memory available to new processes (Linux ``MemAvailable``; else free physical pages), GiB."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30


def auto_jobs(threads: int | None = None) -> tuple[int, int, str]:
    """``--jobs auto``: as many workers as the CPUs allow at ``threads`` each (None: share them out,
    at least one thread each), capped by the available memory at :data:`WORKER_MEMORY_GIB` a worker.

    Returns ``(jobs, threads, why)``; the run equals ``--jobs 1 --threads <threads>`` bit for bit.
    """
    from iqa_bench._parallel import cpu_count

    cores, mem = cpu_count(), available_memory_gib()
    jobs = max(1, min(cores // (threads or 1), int(mem // WORKER_MEMORY_GIB)))
    threads = threads or max(1, cores // jobs)
    why = (f"{jobs} worker(s) x {threads} thread(s): {cores} CPU(s), {mem:.1f} GiB available at "
           f"{WORKER_MEMORY_GIB:g} GiB a worker; equal to --jobs 1 --threads {threads}")
    return jobs, threads, why


def _init_worker(cfg: EvalConfig, metric_names: list[str], threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    from iqa_bench.data.degrade import DEGRADATIONS
    from iqa_bench.engine import _CellInputs, _create_metrics, build_sources

    entries, fns = _create_metrics(dataclasses.replace(cfg, metrics=tuple(metric_names)), [])
    _WORKER.update(
        cfg=cfg, fns=fns, meta={e.name: e.meta for e in entries},
        sources={(s.name, s.variant, s.backend): s for s in build_sources(cfg, [])},
        inputs=_CellInputs(cfg, DEGRADATIONS[cfg.degradation]), prepared=set(), failed={},
    )


def _run_item(ds_name: str, scale: int, sample: Sample, cells: list[tuple[tuple[str, str, str], list[str], str, str,
                                                                          str]]) -> list[dict[str, Any]]:
    """The output cells of one item in a worker, ``cells`` = ``(side, missing, made_from, png, where)``
    per source: each SR output made (or read back when saved from these inputs), then the missing
    metrics of all of them scored together as the serial loop scores them
    (:func:`~iqa_bench.engine.score_outputs`: batched where a metric can). Returns per cell ``png``
    (its encoded bytes, to be written by the writer), ``error`` (the output could not be made),
    ``storage`` (the OSError of a full or unwritable disk), ``values``, ``errors`` (per metric) and
    ``timings`` (rows; the item's all with its first cell)."""
    import numpy as np

    from iqa_bench.engine import (PNG_INPUTS, _cause, _make_output, _saved_output, _score_cell, _score_cells,
                                  score_outputs)
    from iqa_bench.io import png_bytes, to_float
    from iqa_bench.results import TimingRows

    w = _WORKER
    cfg, inputs, timings = w["cfg"], w["inputs"], TimingRows()
    outs: list[dict[str, Any]] = []
    made: list[tuple[list[str], np.ndarray, dict[str, Any]]] = []
    for side, missing, made_from, png, where in cells:
        out: dict[str, Any] = {"png": None, "error": None, "storage": None, "values": {}, "errors": {}, "timings": []}
        outs.append(out)
        if side in w["failed"]:
            out["error"] = w["failed"][side]
            continue
        try:
            sr = _saved_output(Path(png), made_from) if cfg.quantize else None
            if sr is None:
                sr = _make_output(w["sources"][side], sample.name, inputs.lr(sample, scale),
                                  inputs.hr(sample, scale).shape, scale, ds_name, cfg.quantize, where, w["prepared"],
                                  timings)
                if cfg.quantize:
                    out["png"] = png_bytes(sr, {PNG_INPUTS: made_from})
        except Exception as exc:  # noqa: BLE001 - the source's failure, reported by the writer
            out["error"] = _cause(exc)
            if is_storage_error(exc):  # the machine's, not the source's: the writer stops at this cell
                out["storage"] = exc
                return [dict(out, timings=timings.take() if i == 0 else []) for i in range(len(cells))]
            w["failed"][side] = out["error"]
            continue
        made.append((missing, np.clip(to_float(sr), 0.0, 1.0), out))
    hr_f, refs = inputs.hr_f(sample, scale), inputs.references(sample, scale)
    fns, meta = w["fns"], w["meta"]
    try:
        values, errors = score_outputs(
            list(fns), [miss for miss, _, _ in made],
            lambda m, i: _score_cell(fns[m], meta[m], m, made[i][1], hr_f, scale, refs),
            lambda m, idx: _score_cells(fns[m], meta[m], m, [made[i][1] for i in idx], hr_f, scale, refs))
    except Exception as exc:  # noqa: BLE001 - only a full or unwritable disk comes out of score_outputs
        for _, _, out in made:
            out["error"], out["storage"] = _cause(exc), exc
    else:
        for (_, _, out), v, e in zip(made, values, errors):
            out["values"], out["errors"] = v, e
    if outs:  # the item's timing rows travel once, with its first cell
        outs[0]["timings"] = timings.take()
    return outs


def run_cells_in_workers(cfg: EvalConfig, metric_names: list[str],
                         items: Iterable[tuple[str, int, Sample, list[PlannedOutput]]], loop: CellLoop,
                         timings: TimingsStore) -> None:
    """Compute the missing output cells of ``items`` in ``cfg.jobs`` workers, local processes or Ray
    actors (``cfg.executor``); this process stores every result (see the module docstring)."""
    import torch

    threads = torch.get_num_threads()
    executor = _RayWorkers(cfg, metric_names, threads) if cfg.executor == "ray" else _LocalWorkers(cfg, metric_names, threads)
    _drive(items, loop, timings, executor)


class _LocalWorkers:
    """``cfg.jobs`` spawned processes (fork would copy this process's threads and locks)."""

    died = (BrokenProcessPool,)

    def __init__(self, cfg: EvalConfig, metric_names: list[str], threads: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pool = ProcessPoolExecutor(cfg.jobs, mp_context=ctx, initializer=_init_worker,
                                        initargs=(cfg, metric_names, threads))

    def submit(self, task: int, args: tuple) -> Future:
        return self.pool.submit(_run_item, *args)

    def done(self, pending: list) -> list:
        return list(wait(pending, return_when=FIRST_COMPLETED)[0])

    @staticmethod
    def result(handle: Future) -> dict[str, Any]:
        return handle.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class _RayWorkers:
    """``cfg.jobs`` Ray actors, each a worker like a local one (its own networks and metrics), on
    the cluster at ``cfg.address`` / ``$RAY_ADDRESS`` or on a local Ray instance started here.
    Inputs are read by path: on a cluster, datasets, weights and the run directory's outputs must
    lie on a filesystem every node mounts at the same path."""

    def __init__(self, cfg: EvalConfig, metric_names: list[str], threads: int) -> None:
        ray = require_ray()
        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:
            ray.init(address=cfg.address or os.environ.get("RAY_ADDRESS") or None, include_dashboard=False,
                     log_to_driver=False)
        self.died = (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError)
        # one CPU per actor for Ray's scheduler (an actor asking for all its threads' CPUs would leave
        # the others unscheduled on a small node); a GPU is shared by the actors of a --device cuda run
        gpu = 1.0 / cfg.jobs if cfg.device.startswith("cuda") else 0
        # Ray starts workers with OMP_NUM_THREADS=1; this process's BLAS thread settings (default: one
        # thread per CPU) keep numpy's dot products (PSNR's MSE) summing in the same order, to the last bit
        env = {k: os.environ.get(k) or str(os.cpu_count() or 1)
               for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
        actor = ray.remote(num_cpus=1, num_gpus=gpu, max_restarts=0, runtime_env={"env_vars": env})(_RayCellWorker)
        self.actors = [actor.remote(cfg, metric_names, threads) for _ in range(cfg.jobs)]

    def submit(self, task: int, args: tuple) -> Any:
        return self.actors[task % len(self.actors)].run.remote(*args)

    def done(self, pending: list) -> list:
        return self.ray.wait(pending, num_returns=1)[0]

    def result(self, handle: Any) -> dict[str, Any]:
        return self.ray.get(handle)

    def close(self) -> None:
        for a in self.actors:
            self.ray.kill(a)
        if self.started:
            self.ray.shutdown()


class _RayCellWorker:
    """The body of a Ray actor: one worker's state, one item's output cells per :meth:`run`."""

    def __init__(self, cfg: EvalConfig, metric_names: list[str], threads: int) -> None:
        _init_worker(cfg, metric_names, threads)

    def run(self, *args: Any) -> list[dict[str, Any]]:
        return _run_item(*args)


def require_ray() -> Any:
    """The ``ray`` module, or one clear error saying how to install it."""
    from iqa_bench.errors import InputError

    try:
        import ray
    except ImportError as exc:
        raise InputError(f"--executor ray needs the ray package ({exc.msg})", "pip install 'iqa-bench[ray]'") from None
    return ray


def _drive(items: Iterable[tuple[str, int, Sample, list[PlannedOutput]]], loop: CellLoop, timings: TimingsStore,
           workers: Any) -> None:
    """Submit the missing output cells of each item to ``workers`` as one task, and store the results
    as they come back."""
    pending: dict[Any, list[tuple]] = {}
    try:
        for n, (ds_name, scale, sample, planned) in enumerate(items):
            args, stored = [], []
            for out in planned:
                todo = loop.todo(ds_name, scale, sample.name, out.src, out.made_from)
                if todo is None:
                    continue
                args.append((todo.side, todo.missing, out.made_from, str(out.png), out.where))
                stored.append((todo, out.png, out.where, str(sample.hr_path)))
            if args:
                pending[workers.submit(n, (ds_name, scale, sample, args))] = stored
        while pending:
            for handle in workers.done(list(pending)):
                stored = pending.pop(handle)
                try:
                    outs = workers.result(handle)
                except workers.died:
                    raise ComputeError(
                        "a worker process died (killed, or out of memory) while computing "
                        f"{stored[0][0].label}" + (f" and {len(stored) - 1} more output(s) of that image"
                                                   if len(stored) > 1 else "") + "; every cell stored before is kept",
                        "rerun the same command to compute the rest; with less memory, pass fewer --jobs") from None
                for (todo, png, where, origin), out in zip(stored, outs, strict=True):
                    timings.add_rows(out["timings"])
                    if out["storage"] is not None:
                        raise storage_error(out["storage"])
                    if out["error"] is not None:
                        loop.output_failed(todo, where, out["error"])
                        continue
                    if out["png"] is not None:
                        write_bytes(png, out["png"])
                    loop.scored(todo, origin, out["values"], out["errors"])
    finally:
        workers.close()
