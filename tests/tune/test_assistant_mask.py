"""Assistant masks derived from a model's own template equal the ones ``{% generation %}`` marks."""

from __future__ import annotations

import pytest

from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.assistant_mask import assistant_mask, marks_generation
from feedlearn.tune.data import TuneDataset
from feedlearn.tune.features import IGNORE, sft_features
from feedlearn.tune.models import load_tokenizer
from feedlearn.tune.templates import TEMPLATES
from tests.tune.conftest import sort_conversations

MSGS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Sort 3 1 2"},
        {"role": "assistant", "content": "1 2 3"}, {"role": "user", "content": "Reverse cache"},
        {"role": "assistant", "content": "ehcac"}]


def without_generation_blocks(template: str) -> str:
    """Our template as a model would ship it: the same rendering, no ``{% generation %}`` markers."""
    return template.replace("{% generation %}", "").replace("{% endgeneration %}", "")


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_derived_mask_equals_the_generation_blocks_mask(tiny_dir, name):
    tok = load_tokenizer(tiny_dir, template=name)
    marked = assistant_mask(tok, MSGS)
    tok.chat_template = without_generation_blocks(tok.chat_template)
    assert not marks_generation(tok.chat_template) and marks_generation(TEMPLATES[name].jinja)
    assert assistant_mask(tok, MSGS) == marked
    assert sum(marked[1]) > 0


def test_sft_labels_under_a_models_own_template(tiny_dir):
    tok = load_tokenizer(tiny_dir)  # the tiny model ships chatml; strip its markers, as a hub model's would be
    tok.chat_template = without_generation_blocks(tok.chat_template)
    (row,), dropped = sft_features(TuneDataset("conversation", sort_conversations(1)), tok, "assistant", 512)
    learned = [tok.decode([t]) for t, label in zip(row["input_ids"], row["labels"]) if label != IGNORE]
    assert "".join(learned) == "0 0<|im_end|>" and dropped == 0  # the reply and its stop, not the newline after


def test_a_template_that_rerenders_earlier_turns_is_refused(tiny_dir):
    tok = load_tokenizer(tiny_dir)
    # the turn count up front: every rendering of a longer conversation starts differently
    tok.chat_template = ("{{ messages | length }}{% for m in messages %}{{ m.role }}: {{ m.content }}<|im_end|>"
                         "{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}")
    with pytest.raises(FeedlearnError, match="renders a turn differently once later turns follow"):
        assistant_mask(tok, MSGS)
