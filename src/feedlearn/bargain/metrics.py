"""The paper's metrics over many runs: price per round over survivors, deal success (survival), change.

A run is the list of its rounds' records (``{"success", "price", "reply_chars", ...}``), ending at
its first failed round. Round ``r``'s **success ratio** is the share of all runs whose round ``r``
succeeded (cumulative survival: a run that failed earlier counts as failed); **mean/std price**
are over the runs that succeeded at round ``r``; the **price change after feedback** at ``r`` is the
mean of ``price[r] − price[r−1]`` over runs that succeeded at both. Each row also counts, over
the games played at round ``r``, the deals the moderator saw, those whose price was read, and why
the others were rejected (``price_reason``: no price, withdrawn, out of the scenario's range) — so
a fall in success is told apart from a price the parser could not read.
"""

from __future__ import annotations

import statistics
from typing import Any


def _ok(run: list[dict[str, Any]], r: int) -> bool:
    return len(run) > r and bool(run[r]["success"])


def _rejection(record: dict[str, Any]) -> str | None:
    """Why a round whose game the moderator saw as a deal did not succeed (None: it succeeded, or no deal)."""
    if not record.get("deal") or record.get("success"):
        return None
    reason = record.get("game", {}).get("price_reason")
    if reason and reason != "read":
        return str(reason)
    return "no price" if record.get("price") is None else "out of range"  # records written before price_reason


def per_round(runs: list[list[dict[str, Any]]], rounds: int) -> list[dict[str, float | int | None]]:
    """One row per round: runs, survivors, success ratio, mean/std price, mean change, reply lengths."""
    rows = []
    for r in range(rounds):
        prices = [run[r]["price"] for run in runs if _ok(run, r)]
        changes = [run[r]["price"] - run[r - 1]["price"] for run in runs if r > 0 and _ok(run, r) and _ok(run, r - 1)]
        played = [run[r] for run in runs if len(run) > r]
        rejected: dict[str, int] = {}
        for record in played:
            if (why := _rejection(record)) is not None:
                rejected[why] = rejected.get(why, 0) + 1
        utilities = [run[r]["game"]["utility"] for run in runs if _ok(run, r) and run[r].get("game", {}).get("utility")]
        rows.append({
            "round": r + 1,
            "runs": len(runs),
            "survivors": len(prices),
            "success_ratio": len(prices) / len(runs) if runs else 0.0,
            "mean_price": statistics.mean(prices) if prices else None,
            "std_price": statistics.pstdev(prices) if len(prices) > 1 else (0.0 if prices else None),
            "mean_change": statistics.mean(changes) if changes else None,
            "deals_seen": sum(bool(p.get("deal")) for p in played),
            "prices_read": sum(bool(p.get("deal")) and p.get("price") is not None for p in played),
            "rejected": dict(sorted(rejected.items())),
            "seller_reply_chars": statistics.mean(p["reply_chars"]["seller"] for p in played) if played else None,
            "buyer_reply_chars": statistics.mean(p["reply_chars"]["buyer"] for p in played) if played else None,
            # multi-issue scenarios: each side's mean utility over the successful deals of this round
            "mean_seller_utility": statistics.mean(u["seller"] for u in utilities) if utilities else None,
            "mean_buyer_utility": statistics.mean(u["buyer"] for u in utilities) if utilities else None,
        })
    return rows
