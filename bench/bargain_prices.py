"""Reading deal prices from closing exchanges: accuracy per category on the labelled closing corpus.

The corpus (``tests/bargain/closing_corpus.jsonl``) holds the last 2-4 messages of negotiations as
chat models write them, each labelled with whether a careful moderator says "deal" and, if so, the
agreed price. Two readers are scored:

- ``price_on_table`` (what a game uses once the moderator said yes): on every deal case, is the price
  read exactly the labelled one, and how many are *misread* (a price is given and it is wrong)?
  Target (issue 16): no misread price on the whole corpus. Run without a scenario, so deals priced
  only by spoken pairs ("ten fifty": 10.50 or 1,050?) come back unpriced as ``ambiguous``; in a
  game the scenario's asking price resolves them.
- ``deal_price`` (the rule moderator for scripted players, which also decides *whether*): on every
  case, is its answer (a price, or no deal) the label? It is not meant for LLM players; shown so
  that its limits are measured, not guessed.

- with ``--moderator SPEC`` (e.g. ``openai:MODEL@http://localhost:8000/v1``): the paper's LLM
  moderator (``moderator.LLMModerator``) on that model, its yes/no against the labels per category.

    python bench/bargain_prices.py [--corpus PATH] [--show-misses] [--moderator SPEC]

Prints a markdown table (the one in ``src/feedlearn/bargain/README.md``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from feedlearn.bargain.prices import deal_price, price_on_table

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "bargain" / "closing_corpus.jsonl"


def same(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) < 0.005)


def score(cases: list[dict]) -> dict[str, dict[str, int]]:
    """Per category: cases, deals, deals whose price ``price_on_table`` reads right / misreads /
    leaves ambiguous, rule-judge hits."""
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for case in cases:
        row = table[case["category"]]
        row["cases"] += 1
        expected = case["price"] if case["deal"] else None
        if case["deal"]:
            row["deals"] += 1
            got = price_on_table(case["dialogue"])
            row["table_right"] += same(got.price, case["price"])
            row["misread"] += got.price is not None and not same(got.price, case["price"])
            row["ambiguous"] += got.reason == "ambiguous"
        row["rules_right"] += same(deal_price(case["dialogue"]), expected)
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument("--moderator", help="backend spec of an LLM moderator to measure on the corpus")
    args = parser.parse_args()
    cases = [json.loads(line) for line in args.corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    table = score(cases)
    print("| category | cases | deals | price on the table read right | misread | ambiguous without a scenario "
          "| rule judge right (deal + price) |")
    print("|---|---|---|---|---|---|---|")
    total: dict[str, int] = defaultdict(int)
    for name in sorted(table):
        row = table[name]
        for key, value in row.items():
            total[key] += value
        print(f"| {name} | {row['cases']} | {row['deals']} | {row['table_right']}/{row['deals']} | {row['misread']} | "
              f"{row['ambiguous']} | {row['rules_right']}/{row['cases']} |")
    print(f"| **all** | {total['cases']} | {total['deals']} | {total['table_right']}/{total['deals']} | "
          f"{total['misread']} | {total['ambiguous']} | {total['rules_right']}/{total['cases']} |")
    if args.show_misses:
        for case in cases:
            got = price_on_table(case["dialogue"])
            if case["deal"] and not same(got.price, case["price"]):
                kind = "MISREAD" if got.price is not None else "UNPRICED"
                print(f"{kind} {case['id']} [{case['category']}] want {case['price']} got {got.price} ({got.reason}): "
                      f"{json.dumps(case['dialogue'][-2:], ensure_ascii=False)}")
    if args.moderator:
        moderator_table(cases, args.moderator)
    return 0


def moderator_table(cases: list[dict], spec: str) -> None:
    import asyncio

    from feedlearn.bargain.backends import make_backend
    from feedlearn.bargain.moderator import LLMModerator, agreement

    moderator = LLMModerator(make_backend(spec))
    table = asyncio.run(agreement(moderator, cases))
    print(f"\nLLM moderator {spec}: agreement with the labels ({moderator.asked} questions asked)\n")
    print("| category | cases | right | said deal, none | missed a deal |")
    print("|---|---|---|---|---|")
    for name in sorted(table):
        row = table[name]
        print(f"| {name} | {row['cases']} | {row['right']} | {row['false_yes']} | {row['false_no']} |")


if __name__ == "__main__":
    sys.exit(main())
