"""Every dataset type accepts its documented shape and rejects each kind of bad instance."""

from __future__ import annotations

import pytest

from feedlearn.tune.data.io import check_instance
from feedlearn.tune.data.schema import DATASET_TYPES, infer_type


def conv(*roles_contents, system=None):
    c = {"messages": [{"role": r, "content": t} for r, t in roles_contents]}
    if system is not None:
        c["system"] = system
    return c


GOOD = {
    "text_only": {"text": "hello"},
    "text2text": {"input": "", "output": "only an output"},
    "conversation": conv(("user", "hi"), ("assistant", "hello"), system="be brief"),
    "paired_conversation": {"chosen": conv(("user", "q"), ("assistant", "good")),
                            "rejected": conv(("user", "q"), ("assistant", "bad"))},
    "paired_text_to_text": {"prompt": "q", "chosen": "good", "rejected": "bad", "margin": 1},
    "text_to_scored_textlist": {"input": "q", "output": [{"score": 0.5, "text": "a"}, {"score": -1, "text": "b"}]},
}


@pytest.mark.parametrize("dtype", list(DATASET_TYPES))
def test_good_instances_pass_and_their_type_is_inferred(dtype):
    check_instance(dtype, GOOD[dtype])
    check_instance(dtype, {**GOOD[dtype], "id": "extra fields are kept"})
    assert infer_type(GOOD[dtype]) == dtype


@pytest.mark.parametrize(
    ("dtype", "instance", "message"),
    [
        ("text_only", {}, "field text: Field required"),
        ("text_only", {"text": 3}, "field text: Input should be a valid string"),
        ("text_only", {"text": "  \n"}, "field text: must not be empty or blank"),
        ("text_only", ["text"], "an instance must be a JSON object, got list"),
        ("text2text", {"input": "x"}, "field output: Field required"),
        ("text2text", {"input": 1, "output": "y"}, "field input: Input should be a valid string"),
        ("conversation", {}, "field messages: Field required"),
        ("conversation", {"messages": []}, "field messages: List should have at least 1 item"),
        ("conversation", conv(("user", "a"), ("bot", "b")), "field messages.1.role: Input should be 'user', 'assistant'"),
        ("conversation", conv(("user", "a"), ("assistant", "")), "field messages.1.content: must not be empty"),
        ("conversation", conv(("user", "a"), ("user", "b"), ("assistant", "c")),
         "field messages.1: role 'user' where 'assistant' was expected"),
        ("conversation", conv(("assistant", "a"), ("user", "b")), "field messages.0: role 'assistant' where 'user'"),
        ("conversation", conv(("user", "a"), ("assistant", "b"), ("user", "c")),
         "field messages.2: the conversation must end with an assistant message"),
        ("conversation", conv(("user", "a"), ("tool", "t"), ("assistant", "b")),
         "field messages.1: a tool message must follow an assistant message"),
        ("conversation", conv(("user", "a"), ("assistant", "call"), ("tool", "t")),
         "field messages.2: a tool message must be followed by an assistant message"),
        ("conversation", {**conv(("user", "a"), ("assistant", "b")), "system": 5}, "field system: Input should be"),
        ("conversation", {"messages": [{"role": "user", "content": "a", "name": "x"}, {"role": "assistant", "content": "b"}]},
         "field messages.0.name: Extra inputs are not permitted"),
        ("paired_conversation", {"chosen": conv(("user", "q1"), ("assistant", "a")),
                                 "rejected": conv(("user", "q2"), ("assistant", "b"))},
         "chosen and rejected must share the prompt"),
        ("paired_conversation", {"chosen": conv(("user", "q"), ("assistant", "a"))}, "field rejected: Field required"),
        ("paired_text_to_text", {"prompt": "q", "chosen": "a", "rejected": "b", "margin": "big"},
         "field margin: Input should be a valid number"),
        ("text_to_scored_textlist", {"input": "q", "output": []}, "field output: List should have at least 1 item"),
        ("text_to_scored_textlist", {"input": "q", "output": [{"score": "1", "text": "a"}]},
         "field output.0.score: Input should be a valid number"),
    ],
)
def test_bad_instances_name_the_field(dtype, instance, message):
    with pytest.raises(ValueError) as info:
        check_instance(dtype, instance)
    assert str(info.value).startswith(message), str(info.value)


def test_tool_turns_between_assistant_turns_are_fine():
    check_instance("conversation", conv(("user", "weather?"), ("assistant", "call get_weather"), ("tool", "sunny"),
                                        ("assistant", "It is sunny."), ("user", "thanks"), ("assistant", "bye")))
