"""Common helpers: errors stay one line, seeding is reproducible, writes are atomic, bars are safe."""

from __future__ import annotations

import numpy as np
import pytest

from feedlearn.common import FeedlearnError, atomic_write, atomic_write_text, make_rng, progress_bar, seed_everything
from feedlearn.common.errors import located


def test_error_message_is_one_line():
    err = FeedlearnError("bad\nthing   here")
    assert str(err) == "bad thing here"
    assert isinstance(err, ValueError)
    assert str(located("f.csv", 3, "field x: oops")) == "f.csv:3: field x: oops"


def test_rng_requires_and_honours_seed():
    assert np.array_equal(make_rng(3).random(5), make_rng(3).random(5))
    assert not np.array_equal(make_rng(3).random(5), make_rng(4).random(5))
    with pytest.raises(ValueError):
        make_rng(None)


def test_seed_everything_seeds_torch_and_numpy():
    import torch

    seed_everything(11)
    a = (np.random.rand(), torch.rand(1).item())
    seed_everything(11)
    assert (np.random.rand(), torch.rand(1).item()) == a


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # no temporary left behind
    atomic_write_text(target, "new")
    assert target.read_text() == "new"


@pytest.mark.parametrize("enabled", [True, False])
def test_progress_bar_advances_without_error(enabled):
    with progress_bar("work", 3, enabled=enabled) as bar:
        for _ in range(3):
            bar.advance()
