"""Price mentions and deal prices: the labelled corpus, hand examples of each spelling, and properties."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedlearn.bargain.prices import Mention, TableReading, deal_price, price_on_table, prices_in
from feedlearn.common.errors import FeedlearnError

CORPUS = [json.loads(line) for line in (Path(__file__).parent / "price_corpus.jsonl").read_text().splitlines() if line.strip()]


def test_corpus_is_big_and_well_formed():
    assert len(CORPUS) >= 60
    assert len({case["note"] for case in CORPUS}) == len(CORPUS)  # notes are the test ids
    assert {None} < {case["price"] for case in CORPUS} | {None}  # it has deals and no-deals
    assert sum(case["price"] is None for case in CORPUS) >= 10


@pytest.mark.parametrize("case", CORPUS, ids=[case["note"] for case in CORPUS])
def test_corpus(case):
    got = deal_price(case["dialogue"])
    assert got == (None if case["price"] is None else pytest.approx(case["price"]))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$15", [(15.0, "$15", "currency")]),
        ("$15.50", [(15.5, "$15.50", "currency")]),
        ("15 dollars", [(15.0, "15 dollars", "currency")]),
        ("15 bucks", [(15.0, "15 bucks", "currency")]),
        ("USD 15", [(15.0, "USD 15", "currency")]),
        ("15.00 USD", [(15.0, "15.00 USD", "currency")]),
        ("US$15 or 15$", [(15.0, "US$15", "currency"), (15.0, "15$", "currency")]),
        ("fifteen dollars", [(15.0, "fifteen dollars", "currency")]),
        ("twenty-two dollars", [(22.0, "twenty-two dollars", "currency")]),
        ("a hundred dollars", [(100.0, "a hundred dollars", "currency")]),
        ("one thousand two hundred and five bucks", [(1205.0, "one thousand two hundred and five bucks", "currency")]),
        ("15 dollars and 50 cents", [(15.5, "15 dollars and 50 cents", "currency")]),
        ("50 cents", [(0.5, "50 cents", "currency")]),
        ("$1,200", [(1200.0, "$1,200", "currency")]),
        ("meet in the middle at 15", [(15.0, "15", "bare")]),
        ("I'll take it for fifteen", [(15.0, "fifteen", "bare")]),
        ("16 works", [(16.0, "16", "bare")]),
        ("15?", [(15.0, "15", "bare")]),
        ("$2023 in 2023", [(2023.0, "$2023", "currency")]),
    ],
)
def test_prices_in(text, expected):
    assert [(m.value, text[m.start:m.end], m.kind) for m in prices_in(text)] == expected


@pytest.mark.parametrize(
    "text",
    [
        "I want 2 balloons",
        "give me 10 minutes",
        "that's 5% more",
        "for 3 days",
        "the 2nd offer, the 3rd one",
        "it was made for 2023",
        "call me at 555-123-4567 or 555-1234",
        "we talked 15 times",
        "I'll take one",
        "at 5:30",
        "it is 20",  # no price context
        "offer 3 options, wait 2 turns, then make 2 concessions",  # counts in a critic's advice
    ],
)
def test_not_prices(text):
    assert prices_in(text) == []


def test_mention_span():
    (m,) = prices_in("Deal at $15!")
    assert m == Mention(15.0, 8, 11, "currency") and m.span == (8, 11)


def test_bounds_drop_implausible_prices():
    dialogue = ["It cost me $8, I can do $16.", "Deal at 1500!"]
    assert deal_price(dialogue) == 1500.0
    assert deal_price(dialogue, low=1, high=100) == 16.0
    assert deal_price(["I can do $16.", "Deal!"], low=20) is None


def test_bad_arguments():
    with pytest.raises(FeedlearnError, match="list of strings"):
        deal_price("Deal at $15")
    with pytest.raises(FeedlearnError, match="list of strings"):
        deal_price(["Deal at", 15])
    with pytest.raises(FeedlearnError, match="above"):
        deal_price(["Deal at $15"], low=20, high=10)


@given(st.floats(min_value=0.01, max_value=10_000, allow_nan=False))
def test_dollar_amounts_round_trip(x):
    (m,) = prices_in(f"${x:.2f}")
    assert m.value == pytest.approx(x, abs=0.005) and m.kind == "currency"


# Text built from the pieces the patterns look for, so the property also reaches the deeper branches.
PIECES = ["$15", "16", "fifteen", "a hundred", "dollars", "and 50 cents", "deal", "no", "not", "you said", "but", "it is",
          "meet in the middle", "I'll take it", "for", "at", "?", "!", ".", ",", " ", "🤝", "1,200", "2023", "555-1234", "\u2019"]
TEXT = st.one_of(st.text(), st.lists(st.sampled_from(PIECES), max_size=12).map(" ".join))


@given(st.lists(TEXT, max_size=4))
def test_arbitrary_text_never_raises(texts):
    for text in texts:
        for m in prices_in(text):
            assert 0 <= m.start < m.end <= len(text)
    deal_price(texts, low=0, high=1e6)


# ---- price_on_table: the moderator said "deal"; at what price? ------------------------------------

@pytest.mark.parametrize("case", [c for c in CORPUS if c["price"] is not None], ids=lambda c: c["note"])
def test_price_on_table_reads_every_deal_of_the_rule_corpus(case):
    assert price_on_table(case["dialogue"]) == TableReading(pytest.approx(case["price"]), "read")


@pytest.mark.parametrize(("dialogue", "price"), [
    # the closings issue 16 found lost: no acceptance phrase of the rule judge's own
    (["How about $15?", "Alright, I'll go with $13.75."], 13.75),
    (["I can't go below $17.", "Okay, $16 then."], 16.0),
    (["I can do $16.", "I'll pay $16."], 16.0),
    (["I can do $17.", "Great, I'll take the balloon for $16!"], 16.0),
    (["How about $15?", "Fine, $17 works for me."], 17.0),
    (["Would you do $18?", "Let me grab it at 16.5"], 16.5),
    (["I could do 17.", "You have yourself a balloon for sixteen fifty"], 16.5),
    # whoever said it last: an acceptance without a price takes the one before
    (["I can do $16.", "Deal!"], 16.0),
    (["You asked $20, I offered $12. Let's meet in the middle.", "Done."], 16.0),
])
def test_price_on_table_without_an_acceptance_phrase(dialogue, price):
    assert price_on_table(dialogue) == TableReading(price, "read")


def test_price_on_table_says_why_there_is_none():
    assert price_on_table(["I can do $16.", "Deal!", "Actually, no thanks."]) == TableReading(None, "withdrawn")
    assert price_on_table(["Deal?", "Deal!"]) == TableReading(None, "no price")
    assert price_on_table(["Deal at $25,000!"], low=0, high=100) == TableReading(None, "out of range")
    with pytest.raises(FeedlearnError):
        price_on_table("Deal at $15")  # one string, not a list of messages


def test_spoken_dollars_and_cents():
    assert [m.value for m in prices_in("for sixteen fifty")] == [16.5]
    assert [m.value for m in prices_in("twelve ninety-nine dollars")] == [12.99]
    assert [m.value for m in prices_in("fifteen dollars and fifty cents")] == [15.5]
    # a spoken pair under ten dollars is hundreds, unless a price of the dialogue says otherwise
    assert [m.value for m in prices_in("two fifty")] == [250.0]
    assert [m.value for m in prices_in("two fifty", hint=3.0)] == [2.5]
    assert [m.value for m in prices_in("for ten fifty", hint=900.0)] == [1050.0]
    assert [m.value for m in prices_in("Twelve hundred for the laptop")] == [1200.0]
    assert price_on_table(["How about ten fifty?", "Ten fifty works."], hint=1000.0).price == 1050.0
    only_spoken = ["I'd take one seventy-five.", "One seventy-five, deal."]
    assert price_on_table(only_spoken) == TableReading(None, "ambiguous")  # 1.75 or 175: not guessed
    assert price_on_table(only_spoken, hint=200.0) == TableReading(175.0, "read")
    assert price_on_table(only_spoken + ["Wait, no thanks."]).reason == "withdrawn"
    assert [m.value for m in prices_in("I'll do it for twenty five")] == [25.0]


CLOSINGS = [json.loads(line) for line in (Path(__file__).parent / "closing_corpus.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
# Deals priced only by spoken pairs ("ten fifty" for a laptop: 10.50 or 1,050?), which nothing in the
# dialogue disambiguates: read as "ambiguous" without a hint. In a game the scenario's asking price is
# the hint (``price_on_table(hint=...)``); the corpus has no scenarios, so the test stands one in.
AMBIGUOUS_WITHOUT_A_SCENARIO = {"words_003", "words_008", "words_014", "words_015", "words_024"}


def test_closing_corpus_is_big_varied_and_well_formed():
    assert len(CLOSINGS) >= 400 and len({c["id"] for c in CLOSINGS}) == len(CLOSINGS)
    categories = {c["category"] for c in CLOSINGS}
    assert len(categories) >= 12 and all(sum(c["category"] == k for c in CLOSINGS) >= 25 for k in categories)
    assert all((c["price"] is None) != c["deal"] for c in CLOSINGS)


@pytest.mark.parametrize("case", [c for c in CLOSINGS if c["deal"]], ids=lambda c: c["id"])
def test_price_on_table_reads_every_moderator_approved_closing(case):
    got = price_on_table(case["dialogue"], low=0.0, high=1e6)
    if case["id"] in AMBIGUOUS_WITHOUT_A_SCENARIO:
        assert got == TableReading(None, "ambiguous")
        asking = 1.3 * case["price"]  # a seller's opening ask, above the deal
        assert price_on_table(case["dialogue"], hint=asking) == TableReading(pytest.approx(case["price"]), "read")
    else:
        assert got == TableReading(pytest.approx(case["price"]), "read")
