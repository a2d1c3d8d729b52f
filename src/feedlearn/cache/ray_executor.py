"""The Ray executor of sweeps: one Ray task per (trace, policy, size), results as they finish.

For sweeps bigger than one machine: ``feedlearn cache sim ... --executor ray --ray-address auto``
(a running cluster; ``ray://host:10001`` through Ray Client), or with no address a Ray instance
started on this machine for the sweep and stopped after it. Each prepared trace goes to Ray's
object store once and is shared by its tasks; each task is the same ``sweep.run_task`` the local
executor runs, so results are identical. Ray is an optional extra (``feedlearn[ray]``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from feedlearn.cache.simulator import PreparedTrace, SimResult
from feedlearn.common.errors import FeedlearnError
from feedlearn.common.text import plain


def _ray():
    try:
        import ray
    except ImportError:
        raise FeedlearnError("--executor ray needs Ray: pip install 'feedlearn[ray]'") from None
    return ray


def run_on_ray(task: Callable[..., list[SimResult]], prepared: list[PreparedTrace],
               todo: dict[tuple[int, str], list], config: Any, *,
               address: str | None = None) -> Iterator[tuple[tuple[int, str], list, list[SimResult]]]:
    """Run ``task(trace, policy, [size], config)`` on Ray for each size that ``todo`` lists per
    (trace index, policy): one Ray task per (trace, policy, size), yielded as each finishes."""
    ray = _ray()
    started = False
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray instance"
            first = plain(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
            raise FeedlearnError(f"ray: cannot start or reach {where}: {first}") from None
        started = True
    try:
        remote = ray.remote(num_cpus=1)(task)
        traces = {ti: ray.put(prepared[ti]) for ti in sorted({ti for ti, _ in todo})}
        pending = {remote.remote(traces[ti], policy, [size], config): (ti, policy, size)
                   for (ti, policy), sizes in todo.items() for size in sizes}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                ti, policy, size = pending.pop(ref)
                try:
                    results = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    if isinstance(exc.cause, FeedlearnError):  # a user error inside a task stays one line
                        raise exc.cause from None
                    raise
                yield (ti, policy), [size], results
    finally:
        if started:
            ray.shutdown()
