"""Settings from YAML plus ``key=value`` overrides, validated by a pydantic model: every part's config.

``load_config(cls, yaml_path, overrides)`` reads a YAML mapping (an unknown key is an error naming
the file, the key and its close match), then applies overrides (values parsed as YAML scalars:
``lr=3e-4``, ``lora=true``; ``max-steps`` means ``max_steps``), then validates. Used by ``tune``
(stage configs, recipes) and ``bargain`` (experiments).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from feedlearn.common.errors import FeedlearnError, validation_error
from feedlearn.common.io import read_text_file

C = TypeVar("C", bound=BaseModel)


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """``["lr=3e-4", "lora=true"]`` → ``{"lr": 0.0003, "lora": True}`` (YAML scalars)."""
    out: dict[str, Any] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise FeedlearnError(f"override {item!r}: expected key=value")
        out[key.strip().replace("-", "_")] = yaml.safe_load(value) if value.strip() else None
    return out


def load_config(cls: type[C], path: str | Path | None = None, overrides: list[str] | dict[str, Any] | None = None) -> C:
    """Build ``cls`` from a YAML file (optional) and overrides; errors name the file and key."""
    values: dict[str, Any] = {}
    source = "options"
    if path is not None:
        source = str(path)
        text = read_text_file(path, "config file")
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise FeedlearnError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
        except RecursionError:
            raise FeedlearnError(f"{path}: invalid YAML (nested too deeply)") from None
        if not isinstance(loaded, dict):
            raise FeedlearnError(f"{path}: expected a mapping of options")
        values.update(loaded)
    extra = overrides if isinstance(overrides, dict) else parse_overrides(overrides or [])
    values.update(extra)
    try:
        return cls.model_validate(values)
    except ValidationError as exc:
        raise validation_error(source, exc, model=cls) from None
