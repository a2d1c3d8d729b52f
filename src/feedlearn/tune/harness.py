"""An adapter to EleutherAI's lm-evaluation-harness (``lm_eval``), when it is installed.

``run_lm_eval(model, tasks)`` evaluates a hub id or local model directory on harness tasks —
registered ones, or your own task YAMLs over local files (``include=DIR``; a task's
``dataset_path: json`` with ``data_files`` reads local JSONL, so it runs offline). Returns
``{task: {metric: value}}``. Install with ``pip install 'feedlearn[eval]'``.

The model goes to the harness as ``model_args={"pretrained": ...}`` — a dict, never a
``"k=v,k=v"`` string built from the name, so a name holding ``,trust_remote_code=True`` cannot
turn options on (and is refused anyway: it is neither a directory nor a hub id).
"""

from __future__ import annotations

import functools
from typing import Any

from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.models import model_source


@functools.cache
def _task_manager(factory: Any, include: str | None) -> Any:
    """lm-eval's task index, built once per process and include folder: it reads the harness's ~15K task
    files (~16 s), which ``tune eval`` over several models or tasks would otherwise repeat each time."""
    return factory(include_path=include) if include else factory()


def run_lm_eval(model: str, tasks: list[str], *, include: str | None = None, limit: int | None = None,
                batch_size: int = 8, device: str | None = None) -> dict[str, dict[str, float]]:
    source = model_source(model)  # before the import: a missing path is an error in milliseconds
    for name, value in (("limit", limit), ("batch_size", batch_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise FeedlearnError(f"lm-eval: {name} (--{name.replace('_', '-')}) must be a whole number >= 1, "
                                 f"got {value!r}")
    try:
        import lm_eval
        from lm_eval.tasks import TaskManager
    except ImportError:
        raise FeedlearnError("lm-eval-harness is not installed: pip install 'feedlearn[eval]' (or lm_eval)") from None
    import torch

    manager = _task_manager(TaskManager, include)
    unknown = [t for t in tasks if t not in manager.all_tasks]
    if unknown:
        raise FeedlearnError(f"lm-eval: unknown task {unknown[0]!r}" + (f" (looked in {include} too)" if include else ""))
    results: dict[str, Any] = lm_eval.simple_evaluate(
        model="hf", model_args={"pretrained": source}, tasks=tasks, task_manager=manager, limit=limit,
        batch_size=batch_size, device=device or ("cuda" if torch.cuda.is_available() else "cpu"))["results"]
    return {task: {k.split(",")[0]: float(v) for k, v in res.items() if isinstance(v, (int, float))
                   and not isinstance(v, bool) and "stderr" not in k}
            for task, res in results.items()}
