"""LoRA adapters merged into a 16-bit (or fp32) base, so that QLoRA keeps what it learned.

Merging into the 4-bit base a QLoRA run trained on would re-quantize every merged weight to NF4:
NF4's 16 levels per block are ~0.1 of the block's largest weight apart, far more than a fine-tuning
update (``lr`` 1e-4 for a few hundred steps moves a weight by ~1e-3), so most of the update rounds
away and the next stage starts from (nearly) the base again. Instead the base is reloaded
*unquantized* in the compute dtype, the saved adapters are applied to it and merged there, and the
merged model is saved in that dtype; a later QLoRA stage quantizes it again when it loads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.models import fit_embeddings, load_model


def merge_adapters(base: str, adapters: str | Path, tokenizer: Any, *, dtype: str, head: str = "causal_lm") -> Any:
    """The base model at ``base`` (unquantized, ``dtype``) with the LoRA adapters saved in ``adapters`` merged in.

    The base gets the tokenizer's size first (a template's added tokens), as when it was trained.
    """
    from peft import PeftModel

    model = load_model(base, dtype=dtype, head=head)
    fit_embeddings(model, tokenizer)
    model.config.pad_token_id = tokenizer.pad_token_id
    try:
        peft_model = PeftModel.from_pretrained(model, str(adapters))
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise FeedlearnError(f"{adapters}: cannot apply these LoRA adapters to {base} "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    return peft_model.merge_and_unload()
