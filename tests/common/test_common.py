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


def test_plain_removes_terminal_control_sequences_but_keeps_text():
    from feedlearn.common.text import markup_safe, plain

    hostile = "a\x1b[31mred\x1b[0m \x1b]8;;http://x\x07link\x1b]8;;\x07 b\x07c\nd\te\u202eg\x9b2J"
    assert plain(hostile) == "ared link bc\nd\teg"
    assert plain(42) == "42"
    assert markup_safe("[link=http://x]hi[/link] [/x]\x1b[2J") == "\\[link=http://x]hi\\[/link] \\[/x]"


def test_atomic_write_names_the_file_asked_for_when_it_cannot_write(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder"):
        atomic_write_text(tmp_path, "{}")
    (tmp_path / "f").write_text("keep")
    with pytest.raises(OSError) as info:
        atomic_write_text(tmp_path / "f" / "x.json", "{}")
    assert (tmp_path / "f").read_text() == "keep" and str(tmp_path / "f") in str(info.value)


def test_outputs_are_checked_before_the_work(tmp_path):
    from feedlearn.common.outputs import check_outputs

    check_outputs({"--json": tmp_path / "new" / "deeper" / "out.json", "--plot": None})
    assert not (tmp_path / "new").exists()  # checking creates nothing
    with pytest.raises(FeedlearnError, match=r"--json .*: is a folder; give a file name"):
        check_outputs({"--json": tmp_path})
    (tmp_path / "f").write_text("keep")
    with pytest.raises(FeedlearnError, match=r"--json .*f/x\.json: .*f is not a folder"):
        check_outputs({"--json": tmp_path / "f" / "x.json"})
    with pytest.raises(FeedlearnError, match=r"--plot .*: is the input .*f; refusing to overwrite it"):
        check_outputs({"--plot": tmp_path / "f"}, inputs=[tmp_path / "f"])
    with pytest.raises(FeedlearnError, match="already the output of --json"):
        check_outputs({"--json": tmp_path / "a", "--plot": tmp_path / "." / "a"})
    assert (tmp_path / "f").read_text() == "keep"


def test_validation_error_names_the_option():
    from pydantic import BaseModel, ConfigDict, Field, ValidationError

    from feedlearn.common.errors import validation_error

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")
        max_steps: int = Field(1, gt=0)

    for bad, expected in (({"max_steps": 0}, "run: --max-steps: Input should be greater than 0"),
                          ({"max_stpes": 1}, "run: max_stpes: unknown option")):
        with pytest.raises(ValidationError) as info:
            Options(**bad)
        assert str(validation_error("run", info.value, {"max_steps": "--max-steps"})) == expected


def test_validation_error_placed_by_its_caller_with_the_input_or_pydantic_words():
    """The keywords bargain's scenario, run-record and backend-option errors use (their messages are pinned)."""
    from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

    from feedlearn.common.errors import validation_error

    class Record(BaseModel):
        model_config = ConfigDict(extra="forbid")
        price: float = Field(1.0, ge=0)

        @model_validator(mode="after")
        def _cheap(self):
            if self.price > 100:
                raise ValueError("price above 100")
            return self

    def first(**bad) -> ValidationError:
        with pytest.raises(ValidationError) as info:
            Record(**bad)
        return info.value

    negative, extra, dear = first(price=-5), first(prize=1), first(price=500)
    assert str(validation_error(None, negative)) == "price: Input should be greater than or equal to 0"
    assert str(validation_error("w", negative, {"price": "option price"}, show_input=True)) == \
        "w: option price: Input should be greater than or equal to 0 (got -5)"
    assert str(validation_error("f.yaml", extra, unknown=None)) == "f.yaml: prize: Extra inputs are not permitted"
    assert str(validation_error("f.yaml", dear, {"": "record"}, show_input=True)) == "f.yaml: record: price above 100"
    assert str(validation_error("f.yaml", dear)) == "f.yaml: price above 100"


def test_one_writer_per_folder_and_the_lock_dies_with_its_holder(tmp_path):
    import os
    import subprocess
    import sys

    from feedlearn.common.runlock import exclusive

    with exclusive(tmp_path / "run"):
        with pytest.raises(FeedlearnError, match=rf"\.lock: another experiment \(pid {os.getpid()}\) is writing to "
                                                 ".*run; wait for it to finish or use another folder"):
            with exclusive(tmp_path / "run", "experiment"):
                pass
    with exclusive(tmp_path / "run"):  # released on exit
        pass
    holder = subprocess.Popen([sys.executable, "-c", "import sys; from feedlearn.common.runlock import exclusive\n"
                               "with exclusive(sys.argv[1]):\n    print('held', flush=True); sys.stdin.read()",
                               str(tmp_path / "run")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(FeedlearnError, match=rf"another run \(pid {holder.pid}\)"):
            with exclusive(tmp_path / "run"):
                pass
    finally:
        holder.kill()
        holder.wait()
    with exclusive(tmp_path / "run"):  # a killed holder leaves no stale lock
        pass


def test_read_text_file_is_bounded_and_names_the_file(tmp_path):
    from feedlearn.common.io import read_text_file

    (tmp_path / "ok.yaml").write_text("a: 1\n")
    assert read_text_file(tmp_path / "ok.yaml") == "a: 1\n"
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:
        handle.truncate(2**20 + 1)  # sparse: costs no disk
    with pytest.raises(FeedlearnError, match=r"big\.yaml: larger than 1 MiB; a recipe is at most that"):
        read_text_file(big, "recipe", limit=2**20)
    (tmp_path / "latin.yaml").write_bytes(b"a: 1\nname: caf\xe9\n")
    with pytest.raises(FeedlearnError, match=r"latin\.yaml:2: not UTF-8 text \(byte 0xe9\)"):
        read_text_file(tmp_path / "latin.yaml")
    with pytest.raises(FeedlearnError, match=r"nope\.yaml: no such config file"):
        read_text_file(tmp_path / "nope.yaml", "config file")
    with pytest.raises(FeedlearnError, match="is a folder, not a config file"):
        read_text_file(tmp_path, "config file")
