"""The embedded default model: a tiny Llama and a byte-level BPE tokenizer, made offline.

Nothing can be downloaded here, so every ``feedlearn tune`` command has to work from a model built
on the spot: ``init_tiny`` trains a byte-level BPE tokenizer on the shipped text (``feedlearn.shipped``'s datasets:
Wikipedia, C4 and Alpaca samples), gives it a chat template from ``templates.py`` (its end-of-turn
token is the tokenizer's EOS and the generation config's, so generation stops), and saves a
randomly initialised Llama-architecture model of ~1–3 M parameters next to it — a directory that
``AutoModelForCausalLM`` / ``AutoTokenizer.from_pretrained`` load like any hub checkpoint.
Same seed and same text → the same tokenizer and the same weights.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from feedlearn.common.errors import FeedlearnError, did_you_mean
from feedlearn.common.io import atomic_dir
from feedlearn.shipped import folder
from feedlearn.tune.templates import ChatTemplate, get_template

DATA = folder("datasets")  # inside the installed package, wherever that is
PAD = "<|endoftext|>"  # padding (and the document separator when packing text)


@dataclass(frozen=True)
class TinyConfig:
    """Shape of the embedded model and its tokenizer (defaults: ~1.3 M parameters)."""

    template: str = "chatml"  # chat template name (templates.TEMPLATES)
    vocab_size: int = 4096  # BPE vocabulary, special tokens included
    hidden_size: int = 128
    layers: int = 4
    heads: int = 4
    intermediate_size: int = 344  # ~8/3 x hidden, a multiple of 8 (Llama's SwiGLU ratio)
    max_positions: int = 1024
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.template, str):
            raise FeedlearnError(f"tiny model: template must be a name (chatml, llama3, ...), got {self.template!r}")
        get_template(self.template)  # an unknown name is an error naming the known ones
        for name, (low, high) in _BOUNDS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise FeedlearnError(f"tiny model: {name} must be a whole number from {low:,} to {high:,}, got {value!r}")
        if self.hidden_size % self.heads:
            raise FeedlearnError(f"tiny model: hidden_size {self.hidden_size} must be a multiple of heads {self.heads}")
        if (self.hidden_size // self.heads) % 2:
            raise FeedlearnError(f"tiny model: hidden_size / heads (the head size) must be even for rotary "
                                 f"embeddings, got {self.hidden_size} / {self.heads}")
        # embeddings (tied) + per layer: attention (4 h²) and SwiGLU (3 h·i); the bound keeps a typo
        # (hidden_size 40960) from allocating hundreds of GB
        params = self.vocab_size * self.hidden_size + self.layers * (4 * self.hidden_size ** 2
                                                                     + 3 * self.hidden_size * self.intermediate_size)
        if params > MAX_PARAMETERS:
            raise FeedlearnError(f"tiny model: these sizes make ~{params / 1e9:.1f}B parameters; the embedded model "
                                 f"is capped at {MAX_PARAMETERS / 1e9:.0f}B")

    @classmethod
    def from_options(cls, options: dict, source: str) -> TinyConfig:
        """From a recipe's ``init_tiny`` mapping; ``source`` names it in errors (unknown keys included)."""
        known = [f.name for f in fields(cls)]
        for key in options:
            if key not in known:
                raise FeedlearnError(f"{source}: unknown option {key!r}{did_you_mean(key, known, list_known=True)}")
        try:
            return cls(**options)
        except FeedlearnError as exc:
            raise FeedlearnError(f"{source}: {str(exc).removeprefix('tiny model: ')}") from None


# Sizes bounded before anything is allocated: big enough for a ~1B-parameter check, no bigger.
MAX_PARAMETERS = 2_000_000_000
_BOUNDS = {"vocab_size": (256, 1 << 18), "hidden_size": (1, 1 << 14), "layers": (1, 256), "heads": (1, 1 << 10),
           "intermediate_size": (1, 1 << 16), "max_positions": (16, 1 << 17), "seed": (0, 2**32 - 1)}
MARKER = "feedlearn_tiny.json"  # in every model init_tiny makes: the mark of what it may replace


def is_tiny_model(path: Path) -> bool:
    """Whether ``path`` is a complete model ``init_tiny`` wrote (and so may replace or reuse)."""
    return (path / MARKER).is_file() and (path / "config.json").is_file()


def shipped_texts(data_dir: Path = DATA) -> Iterator[str]:
    """The tokenizer's training text: the shipped Wikipedia, C4 and Alpaca samples."""
    try:
        with gzip.open(data_dir / "wiki_demo.txt.gz", "rt", encoding="utf-8") as handle:
            yield from (line for line in handle if line.strip())
        with gzip.open(data_dir / "c4_demo.jsonl.gz", "rt", encoding="utf-8") as handle:
            yield from (json.loads(line)["text"] for line in handle if line.strip())
        with gzip.open(data_dir / "alpaca_en_demo.json.gz", "rt", encoding="utf-8") as handle:
            for rec in json.load(handle):
                yield "\n".join(rec[k] for k in ("instruction", "input", "output") if rec.get(k))
    except FileNotFoundError as exc:
        raise FeedlearnError(f"{exc.filename}: shipped text for the tiny tokenizer is missing") from None


def train_tokenizer(texts: Iterator[str], template: ChatTemplate, vocab_size: int):
    """A byte-level BPE ``PreTrainedTokenizerFast`` with ``template`` as its chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)  # offsets index the raw string
    specials = [PAD, *dict.fromkeys(t for t in template.special_tokens if t != PAD)]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=template.eos, pad_token=PAD,
                                   bos_token=template.bos, chat_template=template.jinja,
                                   model_max_length=1024, clean_up_tokenization_spaces=False)


def init_tiny(out_dir: str | Path, config: TinyConfig = TinyConfig(), *, overwrite: bool = False,
              texts: Iterator[str] | None = None) -> Path:
    """Create the tiny model + tokenizer in ``out_dir`` (written to a temp dir, then renamed).

    ``out_dir`` may be missing or empty; ``overwrite`` replaces only an earlier tiny model (one with
    ``MARKER``), never a folder of someone else's files.
    """
    import sys

    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    if not sys.stderr.isatty():  # no progress bars in logs and pipes
        hf_logging.disable_progress_bar()
    out = Path(out_dir)
    replace = _check_target(out, overwrite)
    template = get_template(config.template)
    tokenizer = train_tokenizer(texts if texts is not None else shipped_texts(), template, config.vocab_size)
    eos_id, pad_id = tokenizer.convert_tokens_to_ids(template.eos), tokenizer.convert_tokens_to_ids(PAD)
    bos_id = tokenizer.convert_tokens_to_ids(template.bos) if template.bos else None
    model_config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=config.hidden_size, intermediate_size=config.intermediate_size,
        num_hidden_layers=config.layers, num_attention_heads=config.heads, num_key_value_heads=config.heads,
        max_position_embeddings=config.max_positions, tie_word_embeddings=True,
        bos_token_id=bos_id, eos_token_id=eos_id, pad_token_id=pad_id,
    )
    torch.manual_seed(config.seed)
    model = LlamaForCausalLM(model_config)
    model.generation_config = GenerationConfig(eos_token_id=eos_id, pad_token_id=pad_id, bos_token_id=bos_id)
    if replace and not is_tiny_model(out):  # checked again just before: only ever our own earlier model goes
        raise FeedlearnError(f"{out}: no longer a tiny model made by init-tiny; refusing to replace it")

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        _portable_tokenizer_class(tmp / "tokenizer_config.json")
        (tmp / MARKER).write_text(json.dumps(asdict(config), indent=1) + "\n")

    # a missing or empty out_dir, or (checked by _check_target) our own earlier model, is swapped for the new one
    return atomic_dir(out, write)


def _check_target(out: Path, overwrite: bool) -> bool:
    """Whether ``out`` holds an earlier tiny model to replace; refuses any other non-empty path."""
    if not out.exists():
        return False
    if not out.is_dir():
        raise FeedlearnError(f"{out}: exists and is not a directory")
    if not any(out.iterdir()):
        return False
    if not is_tiny_model(out):
        raise FeedlearnError(f"{out}: exists and is not empty, and is not a tiny model made by init-tiny; "
                             "refusing to replace it (choose another directory)")
    if not overwrite:
        raise FeedlearnError(f"{out}: exists and is not empty (pass --overwrite to replace the tiny model there)")
    return True


def _portable_tokenizer_class(path: Path) -> None:
    """Name the tokenizer class ``PreTrainedTokenizerFast``: transformers 5 writes its own backend
    name, which older transformers (and tools pinned to them, e.g. LLaMA-Factory) cannot load."""
    config = json.loads(path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    path.write_text(json.dumps(config, indent=2) + "\n")


def n_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
