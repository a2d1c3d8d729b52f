"""Loading causal LMs and their tokenizers: a hub id or a local directory, as users have them.

A hub id (``Qwen/Qwen2.5-0.5B-Instruct``) goes to transformers as it is; a path that exists is
loaded from disk (``init_tiny``'s output or any saved checkpoint). Failures become one-line
``FeedlearnError`` messages naming what could not be loaded. A tokenizer without a chat template
gets one by name from ``templates.py`` (``template=``), with its EOS set to the template's
end-of-turn token so generation stops.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.templates import get_template


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# What the hub accepts as a repository id: ``name`` or ``org/name`` of letters, digits, ``-_.``
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")


def model_source(name_or_path: str | os.PathLike[str]) -> str:
    """What to hand ``from_pretrained``: an existing local path (``~`` expanded) or a hub id.

    Decided here, before transformers sees it: a missing path that looks local would otherwise
    be tried on the hub first (a minute of retries offline) before failing. Local-looking means
    starting with ``.``, ``/`` or ``~``, ending with a separator, holding more than one ``/``
    (a hub id has at most one), or starting with a folder that exists. A bare ``org/name`` stays a
    hub id; anything that is neither (``x,trust_remote_code=True``) is refused.
    """
    text = os.fspath(name_or_path)
    if not text.strip():
        raise FeedlearnError("model: empty name; give a hub id or a local directory")
    path = Path(text).expanduser()
    if path.exists():
        return str(path)
    first = Path(text).parts[0] if Path(text).parts else ""
    looks_local = (text.startswith((".", "/", "~")) or text.endswith(("/", os.sep)) or text.count("/") > 1
                   or os.sep != "/" and os.sep in text or ("/" in text and Path(first).is_dir()))
    if looks_local:
        raise FeedlearnError(f"{text}: no such model directory")
    if not _HUB_ID.fullmatch(text):
        raise FeedlearnError(f"{text}: no such model directory, and not a hub id (org/name)")
    return text


def load_tokenizer(name_or_path: str | Path, *, template: str | None = None, fallback: str | None = None) -> Any:
    """``AutoTokenizer`` for ``name_or_path``; ``template`` sets (or replaces) its chat template, ``fallback``
    sets one only when the tokenizer ships none (the model's own template is used when it has one)."""
    from transformers import AutoTokenizer

    source = model_source(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError, KeyError) as exc:
        raise FeedlearnError(f"{source}: cannot load a tokenizer ({_first_line(exc)})") from None
    if template is None and fallback is not None and not getattr(tokenizer, "chat_template", None):
        logging.getLogger(__name__).warning(f"{source}: no chat template; using {fallback} (set template to choose)")
        template = fallback
    if template is not None:
        chat = get_template(template)
        missing = [t for t in chat.special_tokens if tokenizer.convert_tokens_to_ids(t) in (None, tokenizer.unk_token_id)]
        if missing:  # the template's markers become new special tokens (resize the model's embeddings)
            tokenizer.add_special_tokens({"additional_special_tokens": missing})
        tokenizer.chat_template = chat.jinja
        tokenizer.eos_token = chat.eos
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(name_or_path: str | Path, *, dtype: str = "auto", device: str | None = None, head: str = "causal_lm",
               **kwargs: Any) -> Any:
    """The model at ``name_or_path`` (``dtype``: auto, float32, bfloat16, float16).

    ``head="causal_lm"``: ``AutoModelForCausalLM``; ``head="score"``: a scalar-score
    ``AutoModelForSequenceClassification`` (a reward model; the head is new unless saved with it).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    if head not in ("causal_lm", "score"):
        raise FeedlearnError(f"unknown model head {head!r}; use causal_lm or score")
    auto = AutoModelForCausalLM if head == "causal_lm" else AutoModelForSequenceClassification
    if head == "score":
        kwargs.setdefault("num_labels", 1)

    source = model_source(name_or_path)
    if not sys.stderr.isatty():  # no progress bars in logs and pipes
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    if dtype != "auto" and not isinstance(getattr(torch, dtype, None), torch.dtype):
        raise FeedlearnError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16")
    try:
        if head == "causal_lm":
            model = auto.from_pretrained(source, dtype=dtype if dtype == "auto" else getattr(torch, dtype), **kwargs)
        else:
            model = _score_model(auto, source, dtype if dtype == "auto" else getattr(torch, dtype), kwargs)
    except (OSError, ValueError, KeyError) as exc:
        what = "a causal LM" if head == "causal_lm" else "a reward (score) model"
        raise FeedlearnError(f"{source}: cannot load {what} ({_first_line(exc)})") from None
    return model.to(device) if device else model


def _score_model(auto: Any, source: str, dtype: Any, kwargs: dict) -> Any:
    """A reward model from a causal LM checkpoint: the new score head is expected, so transformers'
    loading report (a table saying ``score.weight | MISSING``) is not printed; any *other* weight
    the checkpoint lacks is still said, in one line."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model, info = auto.from_pretrained(source, dtype=dtype, output_loading_info=True, **kwargs)
    finally:
        hf_logging.set_verbosity(verbosity)
    missing = sorted(k for k in info.get("missing_keys", ()) if k.split(".")[0] not in ("score", "classifier"))
    if missing:
        logging.getLogger(__name__).warning(f"{source}: {len(missing)} weights are not in the checkpoint and "
                                            f"start random (e.g. {', '.join(missing[:3])})")
    return model


def default_device() -> str:
    """Where models used outside a Trainer (RLHF loops, reward scoring) run: the GPU when there is one."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def fit_embeddings(model: Any, tokenizer: Any) -> Any:
    """Grow the embeddings when the tokenizer gained tokens (a template's markers); returns the model."""
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
    return model
