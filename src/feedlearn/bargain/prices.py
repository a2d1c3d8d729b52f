"""Prices in bargaining dialogue: every price a message mentions, and the price a dialogue agreed on.

The moderator of ICL-AIF (Fu et al. 2023) decides *whether* a deal was struck; the reward is the
deal price, so it must come from the dialogue itself, robustly to how LLMs write numbers
("$15", "15 bucks", "fifteen dollars", "meet in the middle at 15") and to messages that name
several prices ("you said $12 but I can do $15").

``prices_in`` finds mentions; ``deal_price`` applies the rules in its docstring. Both only use
regular expressions; each one below says what it is for. Contexts are matched on a window of the
message in which the mention itself is replaced by ``§``, so one pattern can look both ways.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from feedlearn.common.errors import FeedlearnError

_F = re.IGNORECASE | re.ASCII  # ASCII: no Unicode case folding ("ſ" is not "s"), \w and \b stay ASCII

# Word numbers up to 999,999, as LLMs spell prices: "fifteen", "twenty-two", "a hundred and fifty".
_WORD_VALUES = {
    "a": 1, "an": 1, "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40,
    "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
}
_ONE_TO_NINE = "one|two|three|four|five|six|seven|eight|nine"
_UNDER_100 = (
    rf"(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[\s-]+(?:{_ONE_TO_NINE}))?"
    rf"|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|zero|{_ONE_TO_NINE})"
)
_UNDER_1000 = rf"(?:(?:a|an|{_UNDER_100})\s+hundred(?:\s+(?:and\s+)?{_UNDER_100})?|{_UNDER_100})"
_WORDS = rf"(?:(?:a|an|{_UNDER_1000})\s+thousand(?:\s+(?:and\s+)?{_UNDER_1000})?|{_UNDER_1000})"

# A number: digits ("15", "15.50", "1,200"; not part of "2nd", "5:30", "v1.2", "#123") or words.
_NUMBER = re.compile(
    rf"(?<![\w.,:/#])(?P<digits>[0-9]{{1,3}}(?:,[0-9]{{3}})+(?:\.[0-9]+)?|[0-9]+,[0-9]{{2}}(?![0-9])|[0-9]+(?:\.[0-9]+)?)"
    rf"(?![\w:/]|[.,][0-9])"
    rf"|\b(?P<words>{_WORDS})\b",
    _F,
)
# Spoken dollars and cents: "sixteen fifty" = 16.50, "twelve ninety-nine" = 12.99 (dollars 10-99 only:
# "two fifty" may be 2.50 or 250, so it stays two numbers).
_SPOKEN_CENTS = re.compile(rf"[\s-]+(?P<cents>{_UNDER_100})\b", _F)
_DECIMAL_COMMA = re.compile(r"[0-9]+,[0-9]{2}")
# Currency written before the number: "$15", "US$15", "USD 15".
_CURRENCY_BEFORE = re.compile(r"(?:\bUS\$|\$|\bUSD)\s*$", _F)
# Currency after it ("15 dollars", "15 bucks", "15.00 USD", "15$", "50 cents"), then optional cents ("and 50 cents").
_CURRENCY_AFTER = re.compile(
    rf"(?:[\s-]*(?P<unit>dollars?|bucks?|usd|d[o\u00f3]lar(?:es)?|dollari|dollaro)(?![\w])|\s*(?P<sign>\$)(?![0-9])|\s*(?P<cents>cents?)\b)?"
    rf"(?:\s+and\s+(?P<extra>[0-9]{{1,2}}|{_UNDER_100})\s+cents?\b)?",
    _F,
)
# Phone-like digit runs ("555-123-4567", "(555) 123 4567", "555-1234"): blanked before anything else.
_PHONE = re.compile(
    r"(?<![0-9$])(?:\+?[0-9]{1,3}[\s.-]?)?(?:\([0-9]{3}\)|[0-9]{3})[\s.-][0-9]{3}[\s.-][0-9]{4}(?![0-9])"
    r"|(?<![0-9$])[0-9]{3}-[0-9]{4}(?![0-9])"
)
# A bare number is a price only in a price context: after "for/at/to/do/pay/offer/...", or before "it is/works".
_PRICE_CONTEXT = re.compile(
    r"\b(?:for|at|to|pay|paying|offer|offering|do|take|accept|give\s+you|make\s+it|say|about|settle\s+on|price\s+is|offer\s+is|"
    r"it'?s|than|below|above|under|over|now)\s+§"
    r"|§\s*(?:it\s+is|works|is\s+(?:fine|good|fair|ok|okay|my)|then|tops|max|flat|each|is\s+too)\b"
    # "Twelve hundred for the laptop", "One seventy-five, deal", "Twelve hundred sounds fair", "Okay, seven hundred."
    r"|§\s*(?:for\s+(?:the|your|my|this|that|it)|sounds|[,.!]?\s*(?:deal|you(?:'ve|\s+have)?\s+(?:got\s+)?a\s+deal))\b"
    r"|\b(?:ok(?:ay)?|alright|fine|sure|yes|yeah)\s*,?\s*§\s*(?:[.!]|$)",
    _F,
)
# ...and never when a unit other than money follows: "2 balloons", "10 minutes", "5%", "3 days", "5 pm".
_NOT_MONEY_AFTER = re.compile(
    r"§\s*(?:%|(?:percent|per\s*cent|seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?|"
    r"balloons?|pieces?|items?|units?|times|people|persons?|kids?|o'clock|am|pm|a\.m|p\.m|kg|lbs?|pounds?|"
    r"inch(?:es)?|cm|ft|feet|miles?|km|of|x|"
    # counts in advice and talk: "offer 3 options", "wait 2 turns", "make 2 concessions"
    r"options?|turns?|steps?|rounds?|moves?|concessions?|offers?|messages?|questions?|reasons?|points?|tips?|"
    r"things?|ways?|words?|sentences?|suggestions?)\b)",
    _F,
)


@dataclass(frozen=True)
class Mention:
    """One price in a text: its value in dollars, its span, and how sure we are it is a price.

    ``kind`` is ``"currency"`` when a currency marker is attached ($, USD, dollars, bucks, cents) and
    ``"bare"`` for a bare number that only its context ("for 15", "15 it is") makes a price.
    """

    value: float
    start: int
    end: int
    kind: Literal["currency", "bare"]
    spoken_pair: bool = False  # "two fifty": 2.50 or 250, chosen by the hint (``prices_in``)

    @property
    def span(self) -> tuple[int, int]:
        return self.start, self.end


def _plain(text: str) -> str:
    """Curly apostrophes (common in LLM output) as ASCII, keeping every offset."""
    return text.replace("\u2019", "'")


def _word_value(words: str) -> int:
    """Value of a word number the grammar in ``_WORDS`` accepted ("a hundred and fifty" -> 150)."""
    total, current = 0, 0
    for word in re.findall(r"[a-z]+", words.lower()):
        if word == "and":
            continue
        value = _WORD_VALUES[word]
        if value == 100:
            current = max(current, 1) * 100
        elif value == 1000:
            total, current = total + max(current, 1) * 1000, 0
        else:
            current += value
    return total + current


def _window(text: str, start: int, end: int, lo: int = 0, hi: int | None = None, width: int = 40) -> str:
    """The text around ``[start, end)`` (within ``[lo, hi)``) with the span itself replaced by ``§``."""
    hi = len(text) if hi is None else hi
    return text[max(lo, start - width):start] + "§" + text[end:min(hi, end + width)]


# Every match of _NUMBER holds a digit or one of these words ("a"/"an" only before hundred/thousand):
# a text with neither has no price, and this set lookup is ~5x faster than scanning it with _NUMBER.
_NUMBER_WORDS = frozenset(w for w in _WORD_VALUES if w not in ("a", "an"))
_LETTERS = re.compile(r"[a-z]+")


def _may_hold_a_number(text: str) -> bool:
    return any(c.isdigit() for c in text) or not _NUMBER_WORDS.isdisjoint(_LETTERS.findall(text.lower()))


def prices_in(text: str, hint: float | None = None) -> list[Mention]:
    """Every price mentioned in ``text``, in order (see ``Mention`` for how sure each one is).

    ``hint``: a price of the same dialogue, to read spoken pairs ("two fifty", "eleven-fifty") as
    dollars and cents or as hundreds, whichever is nearer to it; without one, a pair under ten
    dollars is hundreds ("two fifty" = 250) and one from ten up is dollars and cents ("sixteen
    fifty" = 16.50).
    """
    if not _may_hold_a_number(text):
        return []
    text = _plain(text)
    masked = _PHONE.sub(lambda m: " " * len(m.group()), text)
    found: list[Mention] = []
    taken = 0  # text before this offset belongs to a mention already read
    for m in _NUMBER.finditer(masked):
        if m.start() < taken:  # the cents of "15 dollars and 50 cents" or of "sixteen fifty"
            continue
        digits = m.group("digits")
        if digits and _DECIMAL_COMMA.fullmatch(digits):  # "16,50" (thousands have three digits)
            value = float(digits.replace(",", "."))
        else:
            value = float(digits.replace(",", "")) if digits else float(_word_value(m.group("words")))
        start, end = m.span()
        spoken_pair = False
        if not digits and 1 <= value < 100 and "hundred" not in m.group().lower() \
                and (spoken := _SPOKEN_CENTS.match(masked, end)):
            second = _word_value(spoken.group("cents"))
            if 10 <= second < 100:
                cents, hundreds = value + second / 100, value * 100 + second
                if hint is not None and hint > 0:
                    value = min((cents, hundreds), key=lambda v: abs(math.log(v / hint)))
                else:
                    value = hundreds if value < 10 else cents
                end, spoken_pair = spoken.end(), True
        taken = end
        before = _CURRENCY_BEFORE.search(masked[max(0, start - 8):start])
        after = _CURRENCY_AFTER.match(masked, end)
        if before or after.group("unit") or after.group("sign") or after.group("cents"):
            if after.group("cents") and not before:
                value /= 100
            if extra := after.group("extra"):
                value += (int(extra) if extra.isdigit() else _word_value(extra)) / 100
            start, end = start - (len(before.group()) if before else 0), after.end()
            taken = end
            kind: Literal["currency", "bare"] = "currency"
        else:
            window = _window(masked, start, end, width=30)
            alone = not re.search(r"\w", masked[:start] + masked[end:], re.ASCII)  # "15?" as a whole message
            year = digits is not None and len(digits) == 4 and 1900 <= value < 2100
            # skipped: years, phone-like runs of 7+ digits, a lone "one" ("I'll take one"), other units
            lone_one = m.group().lower() == "one" and not spoken_pair
            if year or (digits and len(digits) >= 7) or lone_one or _NOT_MONEY_AFTER.search(window):
                continue
            if not (alone or _PRICE_CONTEXT.search(window)):
                continue
            kind = "bare"
        if math.isfinite(value):
            found.append(Mention(value, start, end, kind, spoken_pair))
    return found


# ---- the agreed price ----------------------------------------------------------------------------

# Sentences: "." only ends one when no letter or digit follows, so "$15.50" stays whole.
_SENTENCE = re.compile(r"(?:[^.!?]|[.!?](?=[0-9A-Za-z]))+[.!?]*")


def sentences(text: str) -> list[str]:
    """``text`` cut into sentences, each with its end marks ("$15.50" stays whole)."""
    return [m.group() for m in _SENTENCE.finditer(text)]
# Acceptance: "deal", "it's a deal", "agreed", "I'll take it", "sounds good", "sold", "let's do", "$16 it is", 🤝 👍 ✅.
_ACCEPT = re.compile(
    r"(?:^|[^\w\s']|\b(?:ok|okay|alright|yes|yeah))\s*(?:deal|sold|done)\b(?!\s+with)"
    r"|\b(?:it'?s|that'?s|(?:it|that)\s+is|have|got|sounds\s+like|call\s+it)\s+(?:yourself\s+|ourselves\s+)?a\s+deal\b"
    r"|\bagreed\b|\bi(?:'ll|\s+will)?\s+(?:agree|accept)\b|\baccepted\b|\bi(?:'ll|\s+will)\s+(?:take|buy)\s+(?:it|that)\b"
    r"|\bsounds\s+(?:good|great|fair|fine|perfect|reasonable)\b|\bworks\b(?!\s+for\s+you)|\byou\s+got\s+it\b|\byou(?:'ve|\s+have)?\s+convinced\s+me\b"
    r"|\blet'?s\s+(?:do|go\s+with|settle\s+(?:on|at))\b|\bit\s+is\b(?=\W*$)|\U0001F91D|\U0001F44D|\u2705",
    _F,
)
# A whole message that is only an assent ("OK.", "Sure!", "Fine 👍") accepts the last offer.
_ASSENT = re.compile(r"\W*(?:ok(?:ay)?|alright|all\s+right|fine|sure|yes|yep|yeah|perfect)(?:\s+(?:then|thing|please))?\W*", _F)
# An acceptance phrase negated or made a condition in its clause is none: "no deal", "I don't think we
# have a deal", "make it $15 and it's a deal" (an offer, not yet an agreement).
_HEDGED = re.compile(r"(?:\b(?:no|not|never|cannot|and|if)|n't)(?:\s+[\w']+){0,3}\s*$", _F)
# "Sounds good, but ..." takes the acceptance back: the sentence becomes a counter-offer.
_BUT = re.compile(r"\b(?:but|however)\b", _F)
# After a deal, these call it off.
_REJECT = re.compile(
    r"\b(?:no\s+(?:thanks|thank\s+you|deal|way)|not\s+(?:interested|sold|a\s+deal)|i(?:'ll|\s+will)\s+pass|forget\s+it"
    r"|never\s*mind|changed\s+my\s+mind|walk(?:ing)?\s+away|too\s+(?:expensive|much|high|steep))\b|^\W*(?:no|nope|nah)\W*$",
    _F,
)
# Mentions that are not on offer: the other side's ("you said $12", "your $20"), wishes ("I'd rather get $17"),
# negated ("not $20"), past or costs ("from $20", "was $20", "cost me $8"), or differences ("$5 off", "save $5").
_DISMISSED = re.compile(
    r"\b(?:you(?:'ve|\s+have)?\s+(?:said|offered|asked(?:\s+for)?|want|proposed|mentioned|quoted)|your"
    r"|instead\s+of|rather|hope|hoping|hoped|wish|wished|wanted|saves?|saving)\b(?:\s+[\w']+){0,2}\s*§"
    r"|\b(?:not|never|from|was|were|originally|costs?\s+me|paid|(?:original|retail)\s+price(?:\s+(?:is|was|of))?)\s*§"
    # past and printed prices: "you started at $180", "I was firm at $1,300", "listed at $150",
    # "retails for $700", "the sign does say $15", "someone offered me $110"; extras: "plus $10 shipping"
    r"|\b(?:was|were|started|listed|retails?|retailed|sells?\s+new)\b(?:\s+[\w']+){0,2}?\s+(?:at|for)\s*§"
    r"|\b(?:sign|tag|label|listing|ad)\b(?:\s+[\w']+){0,3}\s*§|\boffered\s+(?:me|us)\s*§|(?:\bplus|\+)\s*§"
    r"|§\s*(?:for\s+)?(?:shipping|delivery|postage|tax|fees?)\b"
    r"|§\s*(?:is\s+|was\s+)?(?:(?:way\s+|a\s+bit\s+|far\s+)?too|off|discount|less|more|cheaper|extra|ago)\b",
    _F,
)
# Mentions tied to an offer or an acceptance: "deal at $15", "I can do $15", "down to $16", "$17 works".
_OFFERED = re.compile(
    r"\b(?:deal|agreed|at|for|do|take|give\s+you|offer|make\s+it|about|settle|to|pay|accept|with|say|now|is)\s*§"
    r"|§\s*(?:it\s+is|works|is\s+(?:fine|good|fair|ok|okay|my)|then|and\s+it'?s\s+a\s+deal|deal|sounds|final|tops|flat)\b",
    _F,
)
# "Meet in the middle" / "split the difference": the midpoint of the last two prices on the table.
_MIDDLE = re.compile(r"\b(?:meet(?:\s+you)?\s+(?:in\s+the\s+)?(?:middle|halfway)|split\s+the\s+difference|halfway)\b", _F)

_CENT = 0.005  # prices closer than half a cent are the same price


def _accepts(text: str) -> list[tuple[int, int]]:
    """Spans of the acceptance phrases in ``text`` that stand: not negated, not a question, not taken back by "but"."""
    spans = []
    for sentence in _SENTENCE.finditer(text):
        body = sentence.group()
        if body.rstrip().endswith("?"):
            continue
        for m in _ACCEPT.finditer(body):
            if _HEDGED.search(body[max(0, m.start() - 30):m.start()]) or _BUT.search(body, m.end()):
                continue
            spans.append((sentence.start() + m.start(), sentence.start() + m.end()))
    if not spans and _ASSENT.fullmatch(text):
        spans.append((0, len(text)))
    return spans


def _on_offer(text: str, low: float, high: float, since: int = 0, quoted: bool = False,
              hint: float | None = None) -> list[tuple[tuple, float]]:
    """The prices ``text`` puts on offer (from offset ``since``), each with its rank key (higher is better).

    Rank: a currency marker beats a bare number, an offer/acceptance context ("deal at", "I can do")
    beats a neutral one, then the price closest to an acceptance phrase (preferring its own sentence;
    the end of the message when it has none), then the later one. ``quoted`` keeps the mentions
    ``_DISMISSED`` drops (for "I accept your offer of $13" with nothing earlier on the table).
    """
    sentences = [s.span() for s in _SENTENCE.finditer(text)]
    spans = _accepts(text) or [(len(text), len(text))]
    ranked = []
    for m in prices_in(text, hint):
        if m.start < since or not low <= m.value <= high:
            continue
        lo, hi = next(((a, b) for a, b in sentences if a <= m.start < b), (0, len(text)))
        window = _window(text, m.start, m.end, lo, hi)
        if not quoted and _DISMISSED.search(window):
            continue
        # characters to the nearest acceptance phrase; one in another sentence counts as farther than any in this one
        distance = min(max(0, a - m.end, m.start - b) + (0 if lo <= a < hi else len(text)) for a, b in spans)
        ranked.append(((m.kind == "currency", bool(_OFFERED.search(window)), -distance, m.start), m.value))
    return ranked


def _best(text: str, low: float, high: float, since: int = 0, quoted: bool = False,
          hint: float | None = None) -> float | None:
    ranked = _on_offer(text, low, high, since, quoted, hint)
    return max(ranked)[1] if ranked else None


def _midpoint(utterances: list[str], k: int, cut: int, low: float, high: float,
              hint: float | None = None) -> float | None:
    """Midpoint of the two most recent different prices before offset ``cut`` of message ``k``.

    Each message contributes its own offer first (walking back from ``k``); if that gives fewer
    than two, any price mentioned counts, quoted ones included ("you want $20, I say $10, let's split").
    """
    texts = [utterances[k][:cut], *reversed(utterances[:k])]
    anchors: list[float] = []
    offers = [_best(t, low, high, hint=hint) for t in texts]
    quoted = [m.value for t in texts for m in reversed(prices_in(t, hint)) if low <= m.value <= high]
    for value in [v for v in offers if v is not None] + quoted:
        if all(abs(value - a) > _CENT for a in anchors):
            anchors.append(value)
        if len(anchors) == 2:
            return round(sum(anchors) / 2, 2)
    return None


def _offer(utterances: list[str], k: int, low: float, high: float, hint: float | None = None) -> float | None:
    """The price message ``k`` proposes or accepts: its best price, else a midpoint it asks for."""
    middle = _MIDDLE.search(utterances[k])
    best = _best(utterances[k], low, high, since=middle.end() if middle else 0, hint=hint)
    if best is None and middle:
        return _midpoint(utterances, k, middle.start(), low, high, hint)
    return best


def _hint(texts: list[str], low: float, high: float) -> float | None:
    """The median of the plainly written prices of a dialogue (not spoken pairs), for ``prices_in``."""
    values = sorted(m.value for t in texts for m in prices_in(t) if not m.spoken_pair and low <= m.value <= high)
    return values[len(values) // 2] if values else None


def _checked(name: str, utterances: list[str], low: float | None, high: float | None) -> tuple[list[str], float, float]:
    """The messages (plain apostrophes) and the price bounds, or a one-line error naming ``name``."""
    if not isinstance(utterances, (list, tuple)) or not all(isinstance(u, str) for u in utterances):
        raise FeedlearnError(f"{name}: utterances must be a list of strings (one per message)")
    lo, hi = -math.inf if low is None else low, math.inf if high is None else high
    if lo > hi:
        raise FeedlearnError(f"{name}: low={low} is above high={high}")
    return [_plain(u) for u in utterances], lo, hi


def deal_price(utterances: list[str], *, low: float | None = None, high: float | None = None) -> float | None:
    """The price the dialogue agreed on (last utterance last), or None when it reached no agreement.

    Rules, in order:
    1. The last message with a standing acceptance ("deal", "agreed", "I'll take it", "sounds good",
       "sold", "let's do", "$16 it is", a lone "OK", 🤝) is the agreement; none means no deal.
       Negated ("no deal"), conditional ("$15 and it's a deal"), questioned ("$15, deal?") or taken
       back ("sounds good, but...") ones don't count.
    2. Its price is the best one in that message; if it names none, the most recent earlier message
       that offers one ("I can do $16" -> "Deal!" => 16); failing both, a price it quotes
       ("I accept your price of $16" as the first message).
    3. Within a message, quoted, negated, past or relative prices are not offers ("you said $12",
       "not $20", "from $20", "cost me $8", "$5 off"); of the rest, a currency marker beats a bare
       number, an offer context beats a neutral one, and nearness to the acceptance breaks ties.
    4. "Meet in the middle"/"split the difference" with no price after it is the midpoint of the two
       most recent different prices before it.
    5. A later message that calls it off ("no thanks", "changed my mind") or offers a different price
       undoes the agreement (None); one repeating the same price confirms it.
    ``low``/``high`` bound plausible prices; mentions outside them are ignored.
    """
    texts, lo, hi = _checked("deal_price", utterances, low, high)
    accepting = [i for i, t in enumerate(texts) if _accepts(t)]
    if not accepting:
        return None
    i = accepting[-1]
    hint = _hint(texts, lo, hi)
    price = next((p for k in range(i, -1, -1) if (p := _offer(texts, k, lo, hi, hint)) is not None), None)
    if price is None:
        price = _best(texts[i], lo, hi, quoted=True, hint=hint)
    if price is None:
        return None
    for later in texts[i + 1:]:
        if _REJECT.search(later) or any(abs(v - price) > _CENT for _, v in _on_offer(later, lo, hi, hint=hint)):
            return None
    return price


# ---- the price on the table (the moderator decided that there is a deal) ------------------------

@dataclass(frozen=True)
class TableReading:
    """The price a moderator-approved deal was struck at, or why there is none.

    ``reason``: ``"read"`` (``price`` is set); ``"no price"`` (no message names one);
    ``"withdrawn"`` (the last offer was called off afterwards: "no thanks", "changed my mind");
    ``"out of range"`` (the only prices named lie outside ``[low, high]``); ``"ambiguous"`` (the
    only prices named are spoken pairs, "ten fifty", and nothing says whether they mean 10.50 or
    1,050: no plainly written price in the dialogue and no ``hint``).
    """

    price: float | None
    reason: Literal["read", "no price", "withdrawn", "out of range", "ambiguous"]


def price_on_table(utterances: list[str], *, low: float | None = None, high: float | None = None,
                   hint: float | None = None) -> TableReading:
    """The price on the table at the end of a dialogue that a moderator judged to be a deal.

    The moderator decides *whether*; this only says *at what price*, so no acceptance phrase is
    needed ("Okay, $16 then.", "I'll pay $16", "Let me grab it at 16.5" all close at their price):
    the price is the last one offered, whoever offered it, and not withdrawn later.
    1. Walking back from the last message, the first one that offers a price gives it (within a
       message, the rules 3-4 of :func:`deal_price` pick which: quoted, negated, past and relative
       mentions are not offers; "meet in the middle" is the midpoint of the two prices before it).
    2. A later message that calls the deal off makes it ``"withdrawn"``.
    3. With no offer anywhere, a quoted one counts ("I accept your offer of $13" as the only price).
    ``hint`` (e.g. the scenario's asking price) reads spoken pairs ("ten fifty": 10.50 or 1,050) when
    the dialogue writes no price plainly; with neither, a price read from spoken pairs alone is
    ``"ambiguous"`` — a deal left unpriced, with its reason, rather than a price that may be 100x off.
    """
    texts, lo, hi = _checked("price_on_table", utterances, low, high)
    hint = _hint(texts, lo, hi) or hint
    # without a hint, every mention in range is a spoken pair (``_hint`` takes all the others)
    read = "read" if hint is not None else "ambiguous"
    for k in range(len(texts) - 1, -1, -1):
        price = _offer(texts, k, lo, hi, hint)
        if price is None:
            continue
        if any(_REJECT.search(later) and not _accepts(later) for later in texts[k + 1:]):
            return TableReading(None, "withdrawn")
        return TableReading(price if read == "read" else None, read)
    for k in range(len(texts) - 1, -1, -1):
        if (price := _best(texts[k], lo, hi, quoted=True, hint=hint)) is not None:
            return TableReading(price if read == "read" else None, read)
    named = any(prices_in(t) for t in texts)
    return TableReading(None, "out of range" if named and (low is not None or high is not None) else "no price")
