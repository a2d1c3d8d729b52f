"""The committed bad files (tests/data/bad/README.md) through the command line: one line, file untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedlearn.cli import main
from feedlearn.shipped import folder

BAD = Path(__file__).parent / "data" / "bad"
SAMPLE = folder("traces") / "tencentBlock.ns2706.sample.csv"

CASES = [
    (["cache", "stats", "cache/markup_field.csv"], "markup_field.csv:3: field obj_size: '[/x]' is not a non-negative integer"),
    (["cache", "stats", "cache/latin1.csv"], "latin1.csv:3: byte 0xe9 at column 6 is not UTF-8 text"),
    (["cache", "stats", "cache/nan_size.csv"], "nan_size.csv:2: field obj_size: 'nan' is not a non-negative integer"),
    (["cache", "stats", "cache/huge_size.csv"], "huge_size.csv:3: field obj_size: 99999999999999999999999 is out of range"),
    (["cache", "sim", str(SAMPLE), "--policy", "halp(model=@cache/truncated_model.npz)", "--size", "1%"],
     "truncated_model.npz: not a feedlearn HALP model, or a damaged one"),
    (["tune", "data", "validate", "tune/truncated.json.gz"], "truncated.json.gz: corrupt or truncated gzip data"),
    (["tune", "data", "validate", "tune/deep.json.gz"], "deep.json.gz: invalid JSON: nested too deeply"),
    (["tune", "generate", "./no-model", "--prompts", "tune/latin1_prompts.txt", "--raw"],
     "latin1_prompts.txt:2: not UTF-8 text (byte 0xe9)"),
    (["tune", "data", "validate", "tune/nan_score.json"], "nan_score.json: instance 0: field output.1.score: Input should be a "
                                                          "finite number"),
    (["tune", "run", "tune/typo_recipe.yaml"], "typo_recipe.yaml: stage a: option max_step: unknown option; did you mean "
                                               "'max_steps'?"),
    (["bargain", "report", "bargain/runs_non_utf8"], "runs.jsonl:1: not a run record (not UTF-8: byte 0xe9"),
    (["bargain", "play", "--scenario", "bargain/nan_scenario.yaml"], "nan_scenario.yaml: seller_ask: Input should be a "
                                                                     "finite number"),
]


def _arg(a: str) -> str:
    """Paths of bad files are given relative to tests/data/bad (``@`` marks one inside an option value)."""
    if "@" in a:
        head, _, rest = a.partition("@")
        return head + str(BAD / rest.rstrip(")")) + (")" if rest.endswith(")") else "")
    return str(BAD / a) if "/" in a and (BAD / a).exists() else a


@pytest.mark.parametrize(("argv", "message"), CASES, ids=[c[0][-1] if "/" in c[0][-1] else c[0][2] for c in CASES])
def test_each_bad_file_is_one_line_naming_it(capsys, argv, message):
    files = {p: p.read_bytes() for p in BAD.rglob("*") if p.is_file()}
    code = main([_arg(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert "Traceback" not in out + err
    assert {p: p.read_bytes() for p in BAD.rglob("*") if p.is_file()} == files  # nothing changed or added


def test_format_string_attacks_in_a_scenario_are_played_literally(capsys):
    code = main(["bargain", "play", "--scenario", str(BAD / "bargain" / "braces_scenario.yaml")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("seller: This is a good {product.__class__.__mro__} { and its price is $20.\n")
    assert "<class" not in out and "mro" in out


def test_every_bad_file_is_listed_and_used():
    listed = (BAD / "README.md").read_text()
    used = " ".join(" ".join(argv) for argv, _ in CASES) + " bargain/braces_scenario.yaml"
    for path in BAD.rglob("*"):
        if path.is_file() and path.name != "README.md":
            name = str(path.relative_to(BAD))
            assert f"`{name}`" in listed, name
            assert name in used or str(path.parent.relative_to(BAD)) in used, name
