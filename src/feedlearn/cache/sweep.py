"""Sweeps: many policies × many cache sizes × many traces, in parallel over processes or on Ray.

Work is split into one task per (trace, policy): a task runs every cache size, so each worker
compiles a policy's hooks once per trace instead of once per size. Traces are loaded and prepared
in the parent before the pool forks, so workers share them copy-on-write instead of re-reading.

Trace files of ``STREAM_MIN_BYTES`` or more (or any, with ``stream=True``; ``--stream`` on the
CLI) are not loaded: they are scanned once (``streaming.StreamedTrace``) and every simulation
replays them chunk by chunk from the file, so memory stays O(objects + chunk) however long the
trace. Smaller ones are loaded whole, because that is faster for a sweep: a streamed file is read
again by every (policy, size) simulation (CSV parsing runs at ~1 M lines/s in Python), where a
loaded trace is read once and shared by the forked workers; and Belady can then run on a CSV trace
(its next requests computed in memory), where streaming needs the oracleGeneral column. The
results are identical either way (``tests/cache/test_streaming.py``).

Forking a process that already runs native threads (torch's or LightGBM's OpenMP pool, after a
fine-tuning run in the same process) can deadlock the children in OpenMP; then the pool uses
``forkserver`` workers, which receive the prepared traces once each by pickling.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from feedlearn.cache.journal import SweepJournal, task_key, trace_digest
from feedlearn.cache.policies import make_policy
from feedlearn.cache.simulator import PreparedTrace, SimResult, check_window, simulate
from feedlearn.cache.sizes import check_cache_size
from feedlearn.cache.streaming import StreamedTrace, check_streamable
from feedlearn.cache.traces import CsvSpec, Trace, load_trace
from feedlearn.common.errors import FeedlearnError
from feedlearn.common.outputs import check_output_folder
from feedlearn.common.progress import progress_bar
from feedlearn.shipped import find


@dataclass(frozen=True, kw_only=True)
class SweepConfig:
    """Options shared by every simulation of a sweep (see :func:`feedlearn.cache.simulator.simulate`)."""

    seed: int = 0
    warmup: int = 0
    window: float | None = None
    window_unit: str = "requests"
    save_models: str | None = None  # folder: learned policies save their model there after each run


EXECUTORS = ("local", "ray")
STREAM_MIN_BYTES = 256 << 20  # trace files this large are streamed (whole-trace replay: ~80 bytes per request)
Cell = tuple[int, str, "str | int | float"]  # (trace index, policy, size): one simulation of a sweep

# Prepared (or scanned) traces of the running sweep; set in the parent before forking, read by workers.
_PREPARED: list[PreparedTrace | StreamedTrace] = []


def _set_prepared(prepared: list[PreparedTrace | StreamedTrace]) -> None:
    """Worker initializer for ``forkserver`` pools (forked workers inherit ``_PREPARED``)."""
    _PREPARED[:] = prepared


def _start_method() -> str:
    """``fork`` while this process is single-threaded (fast, copy-on-write), else ``forkserver``."""
    try:
        threads = len(os.listdir("/proc/self/task"))
    except OSError:  # not Linux: count Python threads only
        import threading

        threads = threading.active_count()
    return "fork" if threads <= 1 and "fork" in multiprocessing.get_all_start_methods() else "forkserver"


def _run_task(trace_index: int, policy: str, sizes: Sequence[str | int | float], config: SweepConfig) -> list[SimResult]:
    return run_task(_PREPARED[trace_index], policy, sizes, config)


def run_task(prepared: PreparedTrace | StreamedTrace, policy: str, sizes: Sequence[str | int | float],
             config: SweepConfig) -> list[SimResult]:
    """One task of a sweep: ``policy`` on one trace at every size (what every executor runs)."""
    results = []
    for size in sizes:
        pol = make_policy(policy, seed=config.seed)
        result = simulate(prepared, pol, size, seed=config.seed, warmup=config.warmup,
                          window=config.window, window_unit=config.window_unit)
        save = getattr(pol, "save_model", None)
        if config.save_models and save is not None:
            save(Path(config.save_models) / model_file_name(result))
        results.append(result)
    return results


def model_file_name(result: SimResult) -> str:
    """``<trace>-<policy>-<cache bytes>.npz`` with characters unsafe in file names replaced."""
    stem = f"{result.trace}-{result.policy}-{result.cache_size}"
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", stem) + ".npz"


def sweep(
    traces: Sequence[Trace | str | Path],
    policies: Sequence[str],
    sizes: Sequence[str | int | float],
    *,
    config: SweepConfig | None = None,
    jobs: int | None = None,
    trace_format: str | None = None,
    csv_spec: str | CsvSpec | None = None,
    unit_size: bool = False,
    progress: bool | None = None,
    journal: SweepJournal | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    stream: bool | None = None,
) -> list[SimResult]:
    """Simulate every policy at every size on every trace; results in (trace, policy, size) order.

    ``jobs`` defaults to all cores; ``jobs=1`` runs in this process (no pool). ``journal``: where each
    finished task is appended as it completes and from which a rerun takes the tasks already
    finished (``journal.py``); its owner closes it once the results are saved. ``executor``:
    ``local`` (processes of this machine) or ``ray`` (one Ray task per (trace, policy), on the
    cluster at ``ray_address``, or on a Ray instance started here when it is ``None``). ``stream``:
    replay trace files chunk by chunk (True), load them whole (False), or stream those of
    ``STREAM_MIN_BYTES`` or more (None).
    """
    config = config or SweepConfig()
    if executor not in EXECUTORS:
        raise FeedlearnError(f"unknown executor {executor!r}; known: {', '.join(EXECUTORS)}")
    if not traces or not policies or not sizes:
        raise FeedlearnError("a sweep needs at least one trace, one policy and one cache size")
    # fail fast on a misspelt policy, size or window, or an unusable output folder, before any
    # trace is read or any simulation runs
    for spec in policies:
        make_policy(spec)
    for size in sizes:
        check_cache_size(size)
    check_window(config.window, config.window_unit)
    if isinstance(config.warmup, bool) or not isinstance(config.warmup, int) or config.warmup < 0:
        raise FeedlearnError(f"warmup {config.warmup!r} must be an integer >= 0")
    if config.save_models:
        check_output_folder(config.save_models, "save_models")
    _PREPARED[:] = [_open(t, trace_format, csv_spec, unit_size, stream, progress) for t in traces]
    for prepared in _PREPARED:  # Belady on a streamed CSV: refused before any simulation runs
        if isinstance(prepared, StreamedTrace):
            for spec in policies:
                check_streamable(prepared, make_policy(spec))
    sizes = list(sizes)
    cells = [(ti, p, size) for ti in range(len(_PREPARED)) for p in policies for size in sizes]
    results: dict[Cell, SimResult] = {}
    keys: dict[Cell, str] = {}
    try:
        if journal is not None:
            settings = {**dataclasses.asdict(config), "unit_size": unit_size}
            settings.pop("save_models")  # where models are saved does not change the results
            digests = [trace_digest(p) for p in _PREPARED]
            keys = {(ti, p, size): task_key(digests[ti], p, [size], settings) for ti, p, size in cells}
            results = {cell: log_results[0] for cell, key in keys.items()
                       if len(log_results := journal.finished.get(key, [])) == 1}
            journal.reused += len(results)
        # what is left, one task per (trace, policy) with the sizes it still needs
        todo: dict[tuple[int, str], list] = {}
        for ti, p, size in cells:
            if (ti, p, size) not in results:
                todo.setdefault((ti, p), []).append(size)
        with progress_bar("simulating", len(cells), enabled=progress) as bar:
            bar.advance(len(results))
            if executor == "ray":
                from feedlearn.cache.ray_executor import run_on_ray  # deferred: ray is an optional extra

                stream = run_on_ray(run_task, list(_PREPARED), todo, config, address=ray_address)
            else:
                stream = _run_locally(todo, config, jobs)
            for (ti, p), done_sizes, done in stream:
                for size, result in zip(done_sizes, done, strict=True):
                    results[(ti, p, size)] = result
                    if journal is not None:  # each cell as soon as it is known: a crash loses only those in flight
                        journal.record(keys[(ti, p, size)], [result])
                    bar.advance(1)
    finally:
        _PREPARED.clear()
    return [results[cell] for cell in cells]


def _open(trace: Trace | str | Path, trace_format: str | None, csv_spec: str | CsvSpec | None, unit_size: bool,
          stream: bool | None, progress: bool | None) -> PreparedTrace | StreamedTrace:
    """A trace ready for simulations: loaded and prepared, or scanned for streaming (see the module doc)."""
    if isinstance(trace, Trace):
        return PreparedTrace.of(trace, unit_size=unit_size or not trace.has_sizes)
    if stream is None:
        path = Path(find("traces", trace))
        stream = path.is_file() and path.stat().st_size >= STREAM_MIN_BYTES
    if stream:
        return StreamedTrace.scan(trace, trace_format, csv_spec, unit_size=unit_size, progress=progress)
    loaded = load_trace(trace, trace_format, csv_spec)
    return PreparedTrace.of(loaded, unit_size=unit_size or not loaded.has_sizes)


def _run_locally(todo: dict[tuple[int, str], list], config: SweepConfig,
                 jobs: int | None) -> Iterator[tuple[tuple[int, str], list, list[SimResult]]]:
    """The local executor: one task per (trace, policy) — a worker compiles a policy once for all
    its sizes — in this process (``jobs=1``) or over a process pool; yields tasks as they finish."""
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
    if jobs == 1:
        for (ti, p), sizes in todo.items():
            yield (ti, p), sizes, _run_task(ti, p, sizes, config)
        return
    method = _start_method()
    context = multiprocessing.get_context(method)
    init = {} if method == "fork" else {"initializer": _set_prepared, "initargs": (list(_PREPARED),)}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, **init) as pool:
        futures = {pool.submit(_run_task, ti, p, sizes, config): (ti, p) for (ti, p), sizes in todo.items()}
        for future in as_completed(futures):
            yield futures[future], todo[futures[future]], future.result()
