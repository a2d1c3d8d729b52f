"""The README's "Adding a backend" is true: its code, as written there, is a backend that plays an experiment."""

from __future__ import annotations

import importlib.util
import re
import sqlite3
import sys
from pathlib import Path

from feedlearn.bargain import backends
from feedlearn.bargain.experiment import ExperimentConfig, run_experiment

README = Path(__file__).resolve().parents[3] / "src" / "feedlearn" / "bargain" / "README.md"


def readme_backend(tmp_path: Path, monkeypatch):
    """The section's new file, written to a temporary folder and imported as the module the README names."""
    section = README.read_text(encoding="utf-8").split("## Adding a backend", 1)[1].split("\n## ", 1)[0]
    new_file, registry = re.findall(r"```python\n(.*?)```", section, re.S)[:2]
    assert new_file.startswith("# src/feedlearn/bargain/backends/echo.py\n")
    assert '    "echo": Echo,\n' in registry  # the one line in BACKENDS
    path = tmp_path / "echo.py"
    path.write_text(new_file, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("feedlearn.bargain.backends.echo", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # as an import would (dataclasses look the module up)
    spec.loader.exec_module(module)
    return module.Echo


def test_the_readme_backend_plays_an_experiment(tmp_path, monkeypatch):
    echo = readme_backend(tmp_path, monkeypatch)
    monkeypatch.setitem(backends.BACKENDS, "echo", echo)  # the README's one line
    config = ExperimentConfig(runs=2, rounds=1, feedback="none", seller="echo:parrot", moderator="rules",
                              llm_options={"timeout": 5})
    runs = run_experiment(config, tmp_path / "x")
    for run in runs:
        game = run["rounds"][0]["game"]
        # it says the buyer's opening back; the scripted buyer takes its own $10: a deal, but not inside ($10, $20)
        assert [text for _, text in game["turns"][1:]] == ["Would you consider selling it for $10?"] * 2 + [
            "Deal! $10 it is."]
        assert (game["deal"], game["price"], game["valid"]) == (True, 10.0, False)
        assert run["players"]["seller"] == "echo:parrot"
    # an LLM by BaseBackend's default: its replies went to the run folder's cache, one per run (seeds differ)
    with sqlite3.connect(tmp_path / "x" / "cache.sqlite") as db:
        assert db.execute("SELECT count(*) FROM replies").fetchone() == (2,)
    assert ExperimentConfig(seller="echo:parrot").moderator == "echo:parrot"  # moderator: auto picks it
