"""Every dataset type accepts its documented shape and rejects each kind of bad instance."""

from __future__ import annotations

import pytest

from feedlearn.tune.data.io import check_instance
from feedlearn.tune.data.schema import DATASET_TYPES, ends_with_reply, infer_type, same_prompt


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
        ("paired_conversation", {"chosen": conv(("user", "a"), ("assistant", "b"), ("user", "c")),
                                 "rejected": conv(("user", "a"), ("assistant", "b"))},
         "field chosen.messages.2: a pair's conversations end with the assistant replies being compared"),
        ("conversation", {**conv(("system", "s"), ("user", "a")), "system": "t"},
         "field messages.0: a system message and a system field: keep one"),
        ("conversation", conv(("system", "s")), "field messages.0: only system messages"),
        ("conversation", {"messages": [{"role": "user", "content": "a"},
                                       {"role": "assistant", "content": "{}", "tool_calls": "f"}]},
         "field messages.1.tool_calls: Input should be a valid list"),
        ("conversation", conv(("user", "a"), ("tool", "t"), ("assistant", "b")),
         "field messages.1: a tool message must follow an assistant message"),
        ("conversation", conv(("user", "a"), ("assistant", "call"), ("tool", "t")),
         "field messages.2: a tool message must be followed by an assistant message"),
        ("conversation", {**conv(("user", "a"), ("assistant", "b")), "system": 5}, "field system: Input should be"),
        ("conversation", {"messages": [{"role": "user", "content": "a", "name": "x"}, {"role": "assistant", "content": "b"}]},
         "field messages.0.name: Extra inputs are not permitted"),
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


def test_prompt_only_conversations_and_system_turns_are_valid():
    prompt_only = conv(("system", "be brief"), ("user", "2+2?"))
    check_instance("conversation", prompt_only)
    assert not ends_with_reply(prompt_only) and ends_with_reply(GOOD["conversation"])
    # a system message between turns does not break the alternation (every template renders the role)
    check_instance("conversation", conv(("user", "a"), ("assistant", "b"), ("system", "now French"), ("user", "c")))
    with pytest.raises(ValueError, match="field messages.3: role 'assistant' where 'user'"):
        check_instance("conversation", conv(("user", "a"), ("assistant", "b"), ("system", "s"), ("assistant", "c")))


def test_pairs_whose_prompts_differ_are_valid_and_told_apart():
    differ = {"chosen": conv(("user", "q1"), ("assistant", "a")), "rejected": conv(("user", "q2"), ("assistant", "b"))}
    check_instance("paired_conversation", differ)  # reward modelling scores each side whole (LMFlow's doc example)
    assert not same_prompt(differ) and same_prompt(GOOD["paired_conversation"])
    # the system prompt is part of the prompt, whether a field or a leading message
    lifted = {"chosen": conv(("user", "q"), ("assistant", "a"), system="s"),
              "rejected": conv(("system", "s"), ("user", "q"), ("assistant", "b"))}
    assert same_prompt(lifted) and not same_prompt({**lifted, "chosen": conv(("user", "q"), ("assistant", "a"))})
