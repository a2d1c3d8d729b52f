"""The paper's comparison of a self-play folder: lessons in the context against lessons in the weights.

A self-play run (``selfplay.py``) leaves one experiment folder per *arm*: the scripted teacher under
AI feedback, the untuned model (round 1 without advice, rounds 2.. with the critic's advice in its
context: ICL-AIF), and each tuned model without advice. ``comparison(folder)`` reads them back
from their ``runs.jsonl`` (the source of truth, not the numbers ``selfplay.json`` keeps) and gives
one row per arm and round: deal success, mean and std of the deal price, and the **price at equal
success** — each row's mean over its best-priced deals, as many as the least successful row in
the table has (``s*``, the lowest deal success above 0, times the row's runs): the paper's
trade-off (in-context lessons raise the price but cost deals) compared at one success level.
``target``: whether the last tuned arm, without advice, reaches the untuned model's price after
``round - 1`` lessons at a deal success no lower.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from feedlearn.bargain.experiment import saved_settings
from feedlearn.bargain.metrics import per_round
from feedlearn.bargain.runlog import finished_runs
from feedlearn.common.errors import FeedlearnError
from feedlearn.common.text import plain

RESULTS = "selfplay.json"


def _rounds(run_dir: Path) -> tuple[list[list[dict[str, Any]]], int]:
    """Every finished run's rounds (by run id) and the experiment's rounds per run."""
    runs = finished_runs(run_dir / "runs.jsonl")
    if not runs:
        raise FeedlearnError(f"{run_dir / 'runs.jsonl'}: no finished runs")
    rounds = saved_settings(run_dir / "config.json", "a self-play arm needs one")["rounds"]
    return [runs[i]["rounds"] for i in sorted(runs)], int(rounds)


def arm(name: str, model: str, advice: str, run_dir: Path) -> dict[str, Any]:
    """One arm as ``selfplay.json`` records it: who played, with what advice, where, and its per-round numbers."""
    runs, rounds = _rounds(run_dir)
    return {"name": name, "model": model, "advice": advice, "run_dir": run_dir.name,
            "rounds": [{"round": row["round"], "success": row["success_ratio"], "mean_price": row["mean_price"]}
                       for row in per_round(runs, rounds)]}


def target(arms: list[dict[str, Any]], round_: int) -> dict[str, Any] | None:
    """The issue's target, from ``arm`` records: the last tuned arm against the untuned one at ``round_``."""
    untuned = next((a for a in arms if a["name"] == "untuned"), None)
    tuned = [a for a in arms if a["advice"] == "none"]
    if untuned is None or not tuned or len(untuned["rounds"]) < round_:
        return None
    ref, last = untuned["rounds"][round_ - 1], tuned[-1]["rounds"][0]
    met = (last["mean_price"] is not None and last["success"] >= ref["success"]
           and (ref["mean_price"] is None or last["mean_price"] >= ref["mean_price"]))
    return {"arm": tuned[-1]["name"], "price": last["mean_price"], "success": last["success"], "round": round_,
            "reference_price": ref["mean_price"], "reference_success": ref["success"], "met": met}


def price_at_success(prices: list[float], runs: int, level: float) -> float | None:
    """Mean of the ``round(level * runs)`` highest ``prices`` (at least one), or None when there are fewer."""
    n = max(1, round(level * runs))
    return statistics.mean(sorted(prices, reverse=True)[:n]) if len(prices) >= n else None


def comparison(folder: str | Path) -> dict[str, Any]:
    """Rows of the comparison (module docstring) for a self-play ``folder`` (its ``selfplay.json`` and arms)."""
    root = Path(folder)
    path = root / RESULTS
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
        arms = [(str(a["name"]), str(a["model"]), str(a["advice"]), root / str(a["run_dir"])) for a in recorded["arms"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FeedlearnError(f"{path}: not a self-play result ({type(exc).__name__}: {exc})") from None
    rows = []
    for name, model, advice, run_dir in arms:
        runs, rounds = _rounds(run_dir)
        for row in per_round(runs, rounds):
            r = row["round"] - 1
            prices = [run[r]["price"] for run in runs if len(run) > r and run[r]["success"]]
            lessons = r if advice == "ai" else 0
            rows.append({"arm": name, "model": model, "round": row["round"], "lessons": lessons,
                         "runs": row["runs"], "success": row["success_ratio"], "mean_price": row["mean_price"],
                         "std_price": row["std_price"], "prices": prices,
                         "seller_reply_chars": row["seller_reply_chars"]})
    level = min((row["success"] for row in rows if row["success"] > 0), default=0.0)
    for row in rows:
        row["price_at_level"] = price_at_success(row.pop("prices"), row["runs"], level) if level else None
    return {"rows": rows, "level": level, "target": recorded.get("target"), "method": recorded.get("method")}


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


COLUMNS = ("seller", "advice in context", "runs", "deal success", "mean price", "std", "price at equal success",
           "seller reply chars")


def cells(result: dict[str, Any]) -> list[list[str]]:
    """The table's cells, row by row (text from files made plain: no control sequences)."""
    out = []
    for row in result["rows"]:
        advice = f"AI feedback, {row['lessons']} lesson{'s' * (row['lessons'] != 1)}" if row["lessons"] else "none"
        seller = row["arm"] if row["arm"].startswith("tuned") else f"{row['arm']}, round {row['round']}"
        out.append([plain(seller), advice, str(row["runs"]), f"{row['success']:.2f}", _fmt(row["mean_price"]),
                    _fmt(row["std_price"]), _fmt(row["price_at_level"]), _fmt(row["seller_reply_chars"], ".0f")])
    return out


def verdict(result: dict[str, Any]) -> str:
    """One line: the success level prices are compared at, and whether the target holds."""
    line = f"price at equal success: the mean of each row's best deals at deal success {result['level']:.2f}"
    goal = result.get("target")
    if goal:
        line += (f"; target ({plain(goal['arm'])} without advice >= untuned after {goal['round'] - 1} "
                 f"lesson{'s' * (goal['round'] != 2)}): "
                 f"{_fmt(goal['price'])} ({goal['success']:.2f}) vs {_fmt(goal['reference_price'])} "
                 f"({goal['reference_success']:.2f}): {'met' if goal['met'] else 'NOT met'}")
    return line


def markdown(result: dict[str, Any]) -> str:
    """The comparison as a Markdown table and its verdict line (cells escaped for Markdown)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells(result)]
    return "\n".join(lines) + "\n\n" + verdict(result) + "\n"


def rich_table(result: dict[str, Any], title: str):
    """The comparison as a rich ``Table``; every cell a ``Text``, so nothing from a file is read as markup."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(plain(title)))
    for i, column in enumerate(COLUMNS):
        table.add_column(column, justify="left" if i < 2 else "right")
    for row in cells(result):
        table.add_row(*(Text(c) for c in row))
    return table


def is_selfplay(folder: str | Path) -> bool:
    return (Path(folder) / RESULTS).is_file()
