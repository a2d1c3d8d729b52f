"""``pip install feedlearn`` works anywhere: the wheel, installed outside the source tree, runs the
quick demo and ``tune init-tiny`` from an empty directory.

The wheel is built offline from a copy of the sources (``pip wheel --no-build-isolation`` with the
test environment's setuptools; the checkout gets no ``build/`` or ``*.egg-info``) and installed with
``pip install --no-deps --target`` on top of the test environment's dependencies. The commands run
with only that folder on ``PYTHONPATH`` and an empty working directory, so a path relative to the
repository or to the working directory would fail here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import feedlearn
from feedlearn.shipped import KINDS, folder

REPO = Path(__file__).resolve().parents[1]
MAX_WHEEL_BYTES = 8_000_000  # the shipped data is ~10 MB on disk, ~6 MB zipped
QUICK_DEMO_SECONDS = 60  # the aim of `feedlearn demo --quick` on 2 idle cores
HANG_SECONDS = 1800  # a hang fails the test; a machine shared with other jobs does not

pytestmark = pytest.mark.slow


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args], check=True,
                   stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    sources = tmp / "sources"
    shutil.copytree(REPO / "src", sources / "src", ignore=shutil.ignore_patterns("__pycache__", "*.nb[ic]", "*.egg-info"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, sources / name)
    pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp / "dist"), str(sources))
    (built,) = (tmp / "dist").glob("feedlearn-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    pip("install", "--no-deps", "--no-index", "--target", str(site), str(wheel))
    return site


def test_wheel_holds_the_shipped_data_and_the_metadata(wheel):
    assert wheel.name == f"feedlearn-{feedlearn.__version__}-py3-none-any.whl"
    assert wheel.stat().st_size < MAX_WHEEL_BYTES
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = Parser().parsestr(z.read(f"feedlearn-{feedlearn.__version__}.dist-info/METADATA").decode())
    for kind in KINDS:  # every shipped file, READMEs included
        for path in folder(kind).iterdir():
            if path.is_file():
                assert f"feedlearn/shipped/{kind}/{path.name}" in names
    assert f"feedlearn-{feedlearn.__version__}.dist-info/licenses/LICENSE" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith((".nbi", ".nbc"))]
    assert (meta["Version"], meta["License-Expression"]) == (feedlearn.__version__, "Apache-2.0")
    assert meta["Description-Content-Type"] == "text/markdown" and "# feedlearn" in meta.get_payload()
    assert "Programming Language :: Python :: 3" in meta.get_all("Classifier")
    # every extra a README tells users to install exists
    readmes = [REPO / "README.md", *(REPO / "src" / "feedlearn").rglob("README.md")]
    named = {extra for path in readmes for extra in re.findall(r"(?:feedlearn|'\.)\[(\w+)\]", path.read_text())}
    assert named and named <= set(meta.get_all("Provides-Extra")), named


def test_installed_wheel_runs_the_quick_demo_and_init_tiny_from_an_empty_directory(installed, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(installed)}  # the installed copy, not src/
    env.pop("FEEDLEARN_DEBUG", None)
    feedlearn_cli = installed / "bin" / "feedlearn"

    def run(*argv: str, timeout: float = HANG_SECONDS) -> str:
        done = subprocess.run([str(feedlearn_cli), *argv], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    where = subprocess.run([sys.executable, "-c", "import feedlearn; print(feedlearn.__file__)"], cwd=tmp_path,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(installed)
    assert run("--version") == f"feedlearn {feedlearn.__version__}\n"
    assert str(installed / "feedlearn" / "shipped" / "traces" / "README.md") in run("list", "traces")

    # every part that reads shipped files; the learned part (HALP compiling in the fresh install, ~25 s)
    # runs in process in tests/test_demo.py, the dist part's 4-process bench in tests/dist/test_bench.py
    started = time.perf_counter()
    out = run("demo", "--quick", "--parts", "cache,tune,bargain,selfplay")
    seconds = time.perf_counter() - started
    print(f"feedlearn demo --quick from the installed wheel: {seconds:.0f}s (aim: {QUICK_DEMO_SECONDS}s on 2 idle cores)")
    for table in ("object / byte miss ratio at 1% and 10%", "tiny-quick: held-out "
                  "metrics after each stage", "chat: 'Please sort: 7 2 9 4' ->", "align win rate",
                  "mean deal price (deal success)", "price at equal success", "tuned round 1"):
        assert table in out, table
    demo = tmp_path / "runs" / "demo-quick"
    for made in ("cache_sweep.json", "tiny-quick/recipe_summary.json",
                 "bargain/bargain.png", "bargain/selfplay/selfplay.json"):
        assert (demo / made).stat().st_size > 0, made

    run("tune", "init-tiny", "tiny")
    assert (tmp_path / "tiny" / "config.json").is_file() and (tmp_path / "tiny" / "tokenizer.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs", "tiny"]  # nothing written elsewhere
