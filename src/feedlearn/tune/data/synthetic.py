"""Synthetic instruction tasks a tiny model can learn in minutes, with exact answers to check.

Each task maps a random list of digits to its answer: ``sort`` (ascending), ``reverse``,
``max``. As ``text2text`` the input is terse (``"sort: 3 9 1"`` → ``"1 3 9"``, task adaptation);
as ``conversation`` the user turn is one of several natural phrasings (instruction tuning), so
the model has to read the instruction, answer, and stop. Seeded: the same seed gives the same data.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.data.io import TuneDataset

TASKS: dict[str, Callable[[list[int]], list[int]]] = {
    "sort": sorted,
    "reverse": lambda xs: xs[::-1],
    "max": lambda xs: [max(xs)],
}
PHRASINGS: dict[str, list[str]] = {
    "sort": ["Sort these numbers in ascending order: {}", "Put {} in order from smallest to largest.",
             "Please sort: {}"],
    "reverse": ["Reverse this list: {}", "Write {} backwards.", "Please reverse: {}"],
    "max": ["What is the largest of {}?", "Which number is biggest: {}", "Please give the maximum of {}"],
}


def synthetic_dataset(n: int, *, tasks: tuple[str, ...] = ("sort", "reverse"), fmt: str = "text2text",
                      min_len: int = 3, max_len: int = 5, seed: int = 0) -> TuneDataset:
    """``n`` instances of the given tasks as ``text2text`` or ``conversation``."""
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise FeedlearnError(f"unknown synthetic task {unknown[0]!r}; choose from {', '.join(TASKS)}")
    if fmt not in ("text2text", "conversation"):
        raise FeedlearnError(f"synthetic data comes as text2text or conversation, not {fmt!r}")
    if not 1 <= min_len <= max_len:
        raise FeedlearnError(f"need 1 <= min_len <= max_len, got {min_len}, {max_len}")
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        task = rng.choice(tasks)
        xs = [rng.randrange(10) for _ in range(rng.randint(min_len, max_len))]
        question, answer = " ".join(map(str, xs)), " ".join(map(str, TASKS[task](xs)))
        if fmt == "text2text":
            out.append({"input": f"{task}: {question} =", "output": answer})
        else:
            prompt = rng.choice(PHRASINGS[task]).format(question)
            out.append({"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]})
    return TuneDataset(fmt, out, f"synthetic({','.join(tasks)}, seed={seed})")


def synthetic_preferences(n: int, *, tasks: tuple[str, ...] = ("sort", "reverse"), min_len: int = 3,
                          max_len: int = 5, seed: int = 0) -> TuneDataset:
    """``paired_conversation`` pairs with a checkable preference: the correct answer is chosen, a
    wrong one (the same digits in another order) rejected — what a reward model must learn to see."""
    conversations = synthetic_dataset(n, tasks=tasks, fmt="conversation", min_len=min_len, max_len=max_len, seed=seed)
    rng = random.Random(seed + 1)
    pairs = []
    for inst in conversations.instances:
        prompt, right = inst["messages"][0], inst["messages"][1]["content"]
        digits = right.split()
        wrong = right
        for _ in range(20):
            rng.shuffle(digits)
            if " ".join(digits) != right:
                wrong = " ".join(digits)
                break
        if wrong == right:  # all digits equal: no other order exists; drop one digit instead
            wrong = " ".join(digits[1:]) or "0"
        pairs.append({"chosen": {"messages": [prompt, {"role": "assistant", "content": right}]},
                      "rejected": {"messages": [prompt, {"role": "assistant", "content": wrong}]}})
    return TuneDataset("paired_conversation", pairs, f"synthetic preferences (seed={seed})")
