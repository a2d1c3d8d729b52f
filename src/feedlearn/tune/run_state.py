"""A stage's output_dir holds one run: one writer at a time, resumed only with the same settings.

Rules every stage follows (``stage.run_stage`` applies them; tested in
``tests/tune/test_bad_resume.py``):

* **one writer** — ``output_dir/.lock`` is held with ``flock`` for the whole run; a second training
  into the same folder stops at once with an error naming the lock and the holder's PID. The
  kernel drops the lock when the process dies, so a killed run never leaves a stale lock.
* **same run or none** — ``run_config.json`` records, when training first starts, the stage and
  every setting that decides what it trains, and a fingerprint of each local input (data, model,
  reward model: SHA-256 of files up to 256 MiB, size and mtime of bigger ones). A rerun with a
  checkpoint present resumes only if they match; otherwise it stops with one line naming the
  differing field. To train with other settings (or longer) use a new ``output_dir``, or delete
  this one to start over — nothing is deleted for you. How often the run logs or checkpoints may
  change between tries (``RESUMABLE``).
* **finished once** — ``summary.json`` is written atomically, last, after the final model. A rerun
  of a finished stage trains nothing and returns its summary (``already_finished: true``); a run
  killed before ``summary.json`` is finished by the rerun from its last checkpoint, without extra
  steps.

A folder that already holds training outputs but no ``run_config.json`` (not made by this version
of feedlearn, or not by feedlearn at all) is refused: we never overwrite files we did not create.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from feedlearn.common import runlock
from feedlearn.common.errors import FeedlearnError
from feedlearn.common.io import atomic_write_text, read_text_file
from feedlearn.common.text import plain

LOCK = runlock.LOCK
RUN_CONFIG = "run_config.json"
SUMMARY = "summary.json"
# Settings that may change between a run and its resume: where and how often it writes, not what it learns.
RESUMABLE = frozenset({"output_dir", "logging_steps", "save_steps", "save_total_limit"})
# What a run writes into its folder: finding one of these without run_config.json means someone else's files.
OUTPUTS = ("summary.json", "final", "final-merged", "log.jsonl", "checkpoint-*", "round-*")
HASH_LIMIT = 256 * 2**20  # bytes: bigger files (weights) are fingerprinted by size and mtime, not read
MAX_FILES = 100_000  # a fingerprinted folder with more files than this is not a dataset or a model


def exclusive(out: Path) -> contextlib.AbstractContextManager[None]:
    """Hold ``out/.lock`` while a stage trains (``common.runlock``); a second training gets a one-line error."""
    return runlock.exclusive(out, "training", "use another output_dir")


def fingerprint(path: Path, skip: Path | None = None) -> str:
    """A digest of a local input: contents of files up to ``HASH_LIMIT``, size and mtime of bigger ones.

    ``skip``: a folder inside ``path`` left out (the run's own output_dir, which changes as it trains).
    """
    digest = hashlib.sha256()
    files = [path] if path.is_file() else _files(path, skip)
    for file in files:
        stat = file.stat()
        digest.update(f"{file.relative_to(path) if file != path else ''}\0{stat.st_size}\0".encode())
        if stat.st_size <= HASH_LIMIT:
            with file.open("rb") as handle:
                for block in iter(lambda: handle.read(2**20), b""):
                    digest.update(block)
        else:
            digest.update(str(stat.st_mtime_ns).encode())
    return digest.hexdigest()


def _files(folder: Path, skip: Path | None) -> list[Path]:
    found: list[Path] = []
    skipped = skip.resolve() if skip is not None else None
    for root, dirs, names in os.walk(folder, followlinks=False):
        # .cache, .git: not the model or data
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (Path(root) / d).resolve() != skipped)
        for name in sorted(names):
            found.append(Path(root) / name)
            if len(found) > MAX_FILES:
                raise FeedlearnError(f"{folder}: more than {MAX_FILES:,} files; expected a dataset or model folder")
    return found


def refused_load(file: str | os.PathLike[str], exc: Exception) -> FeedlearnError:
    """The one-line error for a checkpoint file that ``torch.load(weights_only=True)`` refused to unpickle.

    torch's own message is a page long, styled with terminal escapes, and suggests ``weights_only=False``
    (which would run the file's code); only its reason (e.g. the refused global) is kept.
    """
    _, found, rest = str(exc).partition("WeightsUnpickler error:")
    reason = next((line.strip() for line in rest.splitlines() if line.strip()), "") if found else ""
    reason = plain(reason.split(". ")[0])[:200] or type(exc).__name__
    return FeedlearnError(f"{file}: refusing to load: not a checkpoint of tensors and plain values ({reason})")


def run_settings(stage: str, config: BaseModel) -> dict[str, Any]:
    """What decides a run's result: the stage, its settings, and a fingerprint of each local input path."""
    values = json.loads(config.model_dump_json())
    out = Path(values["output_dir"])
    inputs = {}
    for key, value in values.items():
        if key not in RESUMABLE and isinstance(value, str) and _local(value):
            inputs[key] = fingerprint(Path(value), skip=out)
    settings = {k: v for k, v in values.items() if k not in RESUMABLE}
    return {"stage": stage, "settings": settings, "inputs": inputs}


def _local(value: str) -> bool:
    """Whether an option's value names a local file or folder (a hub id or a template name does not)."""
    try:
        return bool(value) and Path(value).exists()
    except (OSError, ValueError):  # a name too long, or with a NUL byte, is no path
        return False


def _load_json(path: Path, what: str) -> dict[str, Any]:
    text = read_text_file(path, what)  # bounded; its errors name the file (FeedlearnError is a ValueError)
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:  # not JSON, or nested too deeply
        raise FeedlearnError(f"{path}: cannot read {what} ({type(exc).__name__}: {exc})") from None
    if not isinstance(value, dict):
        raise FeedlearnError(f"{path}: cannot read {what} (expected a JSON object)")
    return value


def check_same_run(path: Path, now: dict[str, Any]) -> None:
    """Refuse to resume the run recorded at ``path`` with other settings or changed inputs."""
    before = _load_json(path, "the run's settings")
    advice = "use a new output_dir, or delete this one to start over"
    if before.get("stage") != now["stage"]:
        raise FeedlearnError(f"{path}: this folder holds a {before.get('stage')!r} run, not {now['stage']!r}; {advice}")
    old = before.get("settings")
    if not isinstance(old, dict):
        raise FeedlearnError(f"{path}: cannot read the run's settings (no 'settings' object)")
    for key, value in now["settings"].items():
        if key in old and old[key] != value:
            raise FeedlearnError(f"{path}: {key} was {old[key]!r}, now {value!r}; {advice}")
    old_inputs = before.get("inputs") if isinstance(before.get("inputs"), dict) else {}
    for key, digest in now["inputs"].items():
        if key in old_inputs and old_inputs[key] != digest:
            raise FeedlearnError(f"{path}: {key} {now['settings'][key]} changed since this run began; {advice}")
    gone = sorted(old_inputs.keys() - now["inputs"].keys())
    if gone:
        raise FeedlearnError(f"{path}: {gone[0]} {now['settings'].get(gone[0])} is gone since this run began; {advice}")


def finished_summary(out: Path) -> dict[str, Any] | None:
    """The summary of a finished run in ``out`` (its summary.json and the model it names exist), else None."""
    path = out / SUMMARY
    if not path.exists():
        return None
    summary = _load_json(path, "the run's summary")
    model = summary.get("model")
    return summary if isinstance(model, str) and Path(model).exists() else None


def foreign_outputs(out: Path) -> list[str]:
    """Training outputs in ``out`` that no run_config.json accounts for."""
    return sorted({p.name for pattern in OUTPUTS for p in out.glob(pattern)})


@contextlib.contextmanager
def stage_run(stage: str, config: BaseModel, *, main: bool = True) -> Iterator[dict[str, Any] | None]:
    """Own ``config.output_dir`` for one stage run; yields the finished summary (nothing to do) or None.

    ``main``: this process writes the folder (rank 0 under torchrun); the other ranks only check, so
    every rank takes the same decision.
    """
    out = Path(config.output_dir)
    now = run_settings(stage, config)
    with exclusive(out) if main else contextlib.nullcontext():
        recorded = out / RUN_CONFIG
        if recorded.exists():
            check_same_run(recorded, now)
        elif out.is_dir() and (found := foreign_outputs(out)):
            raise FeedlearnError(f"{out}: holds {', '.join(found[:3])} but no {RUN_CONFIG} (not a run of this "
                                 "feedlearn version); use a new output_dir")
        elif main:
            atomic_write_text(recorded, json.dumps(now, indent=1) + "\n")
        done = finished_summary(out)
        yield None if done is None else {**done, "already_finished": True}
