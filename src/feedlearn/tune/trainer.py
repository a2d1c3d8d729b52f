"""The training loop every stage shares: transformers' ``Trainer`` plus what LMFlow users need.

A stage turns its dataset into token features (``{"input_ids", "labels"}``, labels -100 where no
loss is wanted) and calls :func:`train`. This module adds, around ``Trainer``:

* the model (full fine-tuning, LoRA via peft, QLoRA 4-bit when CUDA + bitsandbytes are there,
  gradient checkpointing, LISA layer sampling) in the config's ``precision`` (``precision.py``:
  fp32 master weights under bf16/fp16 autocast, or pure bf16);
* resume: checkpoints every ``save_steps``; rerunning the same command continues from the last one
  (same seed → the same final weights as an uninterrupted run, tested); a run killed after its last
  checkpoint is finished from it without another step. Which reruns may resume at all, and the
  one-writer lock, are ``run_state``'s (applied by ``stage.run_stage``);
* ``log.jsonl`` (one JSON object per logging step, ``records.append_log``) and TensorBoard when installed;
* the final model in ``output_dir/final`` (adapters; merged weights in ``final-merged`` — under QLoRA
  merged into the base reloaded in 16 bits, ``merge.py``, and quantized again by a later stage), written
  to a temp dir first and renamed; the stats (steps, tokens, seconds, peak memory) that
  ``stage.train_once`` turns into ``summary.json`` (``records.build_summary``).
"""

from __future__ import annotations

import contextlib
import json
import resource
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from feedlearn.common.errors import FeedlearnError
from feedlearn.common.io import atomic_dir
from feedlearn.tune.config import TrainConfig
from feedlearn.tune.features import IGNORE
from feedlearn.tune.lisa import LisaCallback
from feedlearn.tune.merge import merge_adapters
from feedlearn.tune.models import fit_embeddings, load_model, load_tokenizer
from feedlearn.tune.precision import Precision, resolve_precision
from feedlearn.tune.records import append_log
from feedlearn.tune.run_state import refused_load
from feedlearn.tune.sharded_checkpoint import with_sharded_checkpoints
from feedlearn.tune.sharding import bytes_callback, full_state_dict, is_main_rank, shard
from feedlearn.tune.templates import DEFAULT_TEMPLATE


class Features(torch.utils.data.Dataset):
    """Tokenized examples: a list of ``{"input_ids": [...], "labels": [...]}``, and how many instances
    tokenization dropped (none left to learn from: the shared loop puts the count in the summary)."""

    def __init__(self, rows: list[dict[str, list[int]]], dropped: int = 0) -> None:
        self.rows, self.dropped = rows, dropped

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.rows[i]


class PadCollator:
    """Right-pads a batch: ``pad_id`` for inputs, ``IGNORE`` for labels, 0 in the attention mask."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, rows: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(r["input_ids"]) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            n = len(r["input_ids"])
            ids[i, :n] = torch.tensor(r["input_ids"])
            labels[i, :n] = torch.tensor(r["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def peak_memory_bytes() -> int:
    """Peak memory: CUDA's allocator peak on GPU, else the process's max resident set size."""
    if torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


def prepare_model(config: TrainConfig, tokenizer: Any, head: str = "causal_lm"):
    """Load the base model (``head``: causal_lm or score) and wrap it for the method (full, LoRA, QLoRA).

    Seeded first: a new score head and LoRA's A matrices are drawn from torch's global generator
    while loading and wrapping, before the Trainer seeds anything — without this, their values
    depended on whatever ran earlier in the process.
    """
    from transformers import set_seed

    set_seed(config.seed)
    precision = resolve_precision(config.precision)
    if config.qlora:
        if not torch.cuda.is_available():
            raise FeedlearnError("qlora: 4-bit loading needs a CUDA GPU and bitsandbytes "
                                 "(pip install 'feedlearn[qlora]')")
        model = load_model(config.model, head=head, quantization_config=quantization_config(config, precision))
    else:
        model = load_model(config.model, dtype=precision.load_dtype(config.lora), head=head)
    before = model.get_input_embeddings().num_embeddings
    fit_embeddings(model, tokenizer)  # a template may have added marker tokens
    new_tokens = list(range(before, len(tokenizer)))  # their rows are new: LoRA must train them too
    model.config.pad_token_id = tokenizer.pad_token_id
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    if config.lora or config.qlora:
        if config.qlora:
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing)
        model = add_lora(model, config, head, new_tokens)
    return master_weights(model, precision)


def add_lora(model: Any, config: TrainConfig, head: str = "causal_lm", new_tokens: list[int] | None = None) -> Any:
    """``model`` wrapped by peft with the config's LoRA adapters (only they, a new score head and the rows of
    ``new_tokens`` train).

    A template's added tokens (``<|im_end|>`` on a model that had none) start as untrained rows; frozen
    under LoRA, the model could never learn to read them nor to emit its stop token. peft trains just
    those rows (``trainable_token_indices``) of the input embeddings and, when not tied to them, the
    output ones.
    """
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=config.lora_target_modules,
                      trainable_token_indices=_token_rows(model, new_tokens) if new_tokens else None,
                      # SEQ_CLS: peft also trains and saves the new score head (modules_to_save)
                      task_type="CAUSAL_LM" if head == "causal_lm" else "SEQ_CLS")
    model = get_peft_model(model, lora)
    if config.gradient_checkpointing:
        model.enable_input_require_grads()
    return model


def _token_rows(model: Any, ids: list[int]) -> dict[str, list[int]]:
    """peft's ``trainable_token_indices``: the embedding modules (by their own names) whose rows ``ids`` train."""
    names = {id(module): name.rsplit(".", 1)[-1] for name, module in model.named_modules()}
    inputs, outputs = model.get_input_embeddings(), model.get_output_embeddings()
    rows = {names[id(inputs)]: ids}
    if outputs is not None and outputs.weight is not inputs.weight:  # untied: the output rows (emitting them) too
        rows[names[id(outputs)]] = ids
    return rows


def quantization_config(config: TrainConfig, precision: Precision) -> Any:
    """QLoRA's 4-bit NF4 base, computing in the precision's dtype; ``qlora_double_quant`` also quantizes
    the per-block scales (~0.4 bits per weight saved, QLoRA paper section 3)."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                              bnb_4bit_use_double_quant=config.qlora_double_quant,
                              bnb_4bit_compute_dtype=precision.compute or precision.weights)


def master_weights(model: Any, precision: Precision) -> Any:
    """Under ``-mixed`` every trainable tensor is fp32 (its Adam state too): a LoRA base loaded in bf16
    leaves peft's ``modules_to_save`` copies (a reward head) in bf16, where small updates round away."""
    if precision.mixed:
        for param in model.parameters():
            if param.requires_grad and param.dtype != precision.weights:
                param.data = param.data.to(precision.weights)
    return model


def load_stage_tokenizer(config: TrainConfig, chat: bool = False):
    """The stage's tokenizer; ``chat`` (conversation data): ours (chatml) when the model ships no template."""
    return load_tokenizer(config.model, template=config.template, fallback=DEFAULT_TEMPLATE if chat else None)


def _callbacks(config: TrainConfig, out: Path) -> list:
    from transformers import TrainerCallback

    class JsonlLog(TrainerCallback):
        """Appends every log record (step, loss, lr, ...) to ``log.jsonl``."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and state.is_world_process_zero:
                append_log(out, {"step": state.global_step, **logs})

    callbacks: list = [JsonlLog()]
    if config.optimizer_state is not None:
        callbacks.append(start_optimizer(config.optimizer_state))
    if config.lisa_layers:
        callbacks.append(LisaCallback(config.lisa_layers, config.lisa_interval, config.seed))
    return callbacks


def start_optimizer(path: str):
    """A callback that loads a saved optimizer state into a run's new optimizer before its first step
    (a resumed run keeps its own checkpoint's). The learning rates stay this run's: a state saved at the
    end of a cosine schedule holds lr ~0."""
    from transformers import TrainerCallback

    class StartOptimizer(TrainerCallback):
        def on_train_begin(self, args, state, control, optimizer=None, **kwargs):
            if state.global_step > 0:
                return
            import pickle

            try:
                saved = torch.load(path, weights_only=True, map_location="cpu")
            except pickle.UnpicklingError as exc:  # a planted pickle: refused unread
                raise refused_load(path, exc) from None
            except (OSError, RuntimeError, EOFError) as exc:
                raise FeedlearnError(f"{path}: not an optimizer state ({type(exc).__name__})") from None
            keep = [{k: g[k] for k in ("lr", "initial_lr") if k in g} for g in optimizer.param_groups]
            try:
                optimizer.load_state_dict(saved)
            except (ValueError, KeyError, TypeError) as exc:
                raise FeedlearnError(f"{path}: does not fit this model's optimizer ({exc})") from None
            for group, own in zip(optimizer.param_groups, keep):
                group.update(own)

    return StartOptimizer()


def last_checkpoint(out: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(out)) if out.is_dir() else None


def checkpoint_state(checkpoint: str):
    """The ``TrainerState`` saved in ``checkpoint`` (its step count, logs), checked before use."""
    from transformers import TrainerState

    path = Path(checkpoint) / "trainer_state.json"
    try:
        state = TrainerState.load_from_json(str(path))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError) as exc:
        raise FeedlearnError(f"{path}: not a training state ({type(exc).__name__}: {exc})") from None
    if not isinstance(state.global_step, int) or state.global_step < 0 or not isinstance(state.log_history, list):
        raise FeedlearnError(f"{path}: global_step must be a whole number >= 0 and log_history a list")
    state.log_history = [h for h in state.log_history if isinstance(h, dict)]
    return state


@contextlib.contextmanager
def weights_only_checkpoint(checkpoint: str | None):
    """Turn the refusal of a pickled object in a checkpoint file into a one-line error naming the checkpoint.

    transformers (5.x) loads optimizer.pt, scheduler.pt and rng_state.pth with ``weights_only=True``
    (numpy's RNG arrays allow-listed), so a planted pickle is refused rather than run; this keeps it
    a user-facing error instead of a traceback.
    """
    import pickle

    try:
        yield
    except pickle.UnpicklingError as exc:
        if checkpoint is None:
            raise
        raise refused_load(checkpoint, exc) from None


def train(config: TrainConfig, tokenizer: Any, features: Any, *, extra_callbacks: list | None = None,
          head: str = "causal_lm", collator: Any = None, trainer_class: Any = None, args_class: Any = None,
          args_extra: dict[str, Any] | None = None, trainer_extra: dict[str, Any] | None = None):
    """Train on ``features``; resumes from ``output_dir``'s last checkpoint. Returns (model, stats).

    Stages with another objective pass their ``head``, ``collator`` (``False``: the trainer's own)
    and ``Trainer`` subclass — or a TRL trainer with its config class (``args_class``,
    ``args_extra``) and extra constructor arguments (``trainer_extra``).
    """
    from transformers import Trainer, TrainingArguments

    if len(features) == 0:
        raise FeedlearnError(f"{config.data}: no training examples after tokenization")
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = prepare_model(config, tokenizer, head)
    sharded = None
    if config.strategy != "none":
        sharded = shard(model, config.strategy, config.ranks_per_node)
        extra_callbacks = [*(extra_callbacks or []), bytes_callback(sharded, out)]
    cpu = not torch.cuda.is_available()
    options = dict(
        output_dir=str(out), max_steps=config.max_steps, per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum, learning_rate=config.lr,
        warmup_steps=int(config.warmup_ratio * config.max_steps),
        lr_scheduler_type="cosine", weight_decay=config.weight_decay, logging_steps=config.logging_steps,
        save_strategy="steps", save_steps=config.save_steps, save_total_limit=config.save_total_limit,
        seed=config.seed, data_seed=config.seed, report_to=_reporters(), use_cpu=cpu,
        **resolve_precision(config.precision).trainer_flags(),  # autocast (and fp16's loss scaling) for -mixed
        include_num_input_tokens_seen="non_padding", remove_unused_columns=False,
        dataloader_num_workers=0, disable_tqdm=not sys.stderr.isatty(),
    )
    if sharded is not None:  # transformers refuses to save its own optimizer state of such a model; our
        options["save_only_model"] = True  # DCP checkpoints (sharded_checkpoint.py) save it, and ignore this flag
    with quiet_renames():
        args = (args_class or TrainingArguments)(**{**options, **(args_extra or {})})  # a stage may override
    own_collator = {} if collator is False else {"data_collator": collator or PadCollator(tokenizer.pad_token_id)}
    if args.disable_tqdm:  # TRL's trainers tokenize with datasets.map when built: no bars in logs and pipes
        import datasets

        datasets.disable_progress_bars()
    trainer_class = trainer_class or Trainer
    if sharded is not None:  # transformers cannot checkpoint a model sharded outside it: DCP does
        trainer_class = with_sharded_checkpoints(trainer_class)
    trainer = trainer_class(model=model, args=args, train_dataset=features, **own_collator,
                            callbacks=_callbacks(config, out) + (extra_callbacks or []), **(trainer_extra or {}))
    if args.disable_tqdm:  # not a terminal: logs go to log.jsonl, not as dicts printed on stdout
        from transformers import PrinterCallback
        from transformers.utils import logging as hf_logging

        trainer.remove_callback(PrinterCallback)
        hf_logging.disable_progress_bar()
    resume = last_checkpoint(out)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    saved = checkpoint_state(resume) if resume is not None else None
    # killed after its last checkpoint, before summary.json: that checkpoint holds the final weights.
    # trainer.train would take one step past max_steps (transformers checks only after a step).
    finished_only = saved is not None and saved.global_step >= config.max_steps
    with quiet_renames(), weights_only_checkpoint(resume):
        if finished_only:
            trainer._load_from_checkpoint(resume)  # the weights only: no optimizer, no step
            trainer.state = saved
            logged = [h["loss"] for h in saved.log_history if isinstance(h.get("loss"), (int, float))]
            train_loss = sum(logged) / len(logged) if logged else float("nan")  # mean of the logged losses
        else:
            train_loss = float(trainer.train(resume_from_checkpoint=resume).training_loss)
    seconds = 0.0 if finished_only else time.perf_counter() - started  # no training time this session
    stats = {
        "steps": trainer.state.global_step,
        "resumed_from": resume,
        "train_loss": train_loss,
        # TRL's online trainers count prompt + completion tokens themselves (num_tokens)
        "tokens": int(trainer.state.num_input_tokens_seen)
        or int(max((h.get("num_tokens", 0) for h in trainer.state.log_history), default=0)),
        "seconds": seconds,
        "peak_memory_bytes": peak_memory_bytes(),
    }
    return trainer.model, stats


@contextlib.contextmanager
def quiet_renames():
    """Silence transformers' FutureWarnings about its own renames (gradient_ -> activation_checkpointing)
    raised from TRL and peft calls: not the user's to fix."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
        yield


def _reporters() -> list[str]:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return []
    return ["tensorboard"]


def save_final(model: Any, tokenizer: Any, config: TrainConfig, head: str = "causal_lm") -> Path:
    """Save the trained model (and merged LoRA weights) atomically; returns the loadable model dir.

    A sharded model (``strategy``) is gathered to full tensors on every rank (a collective); rank 0
    loads them into a plain copy of the model — the same base and, under LoRA, the same adapters
    (``prepare_model``) — and saves that the single-process way: adapters in ``final``, merged
    weights in ``final-merged``.
    """
    out = Path(config.output_dir)
    if config.strategy != "none":
        import torch.distributed as dist

        state = full_state_dict(model)
        saved = out / ("final-merged" if config.merge_lora and (config.lora or config.qlora) else "final")
        if is_main_rank():
            plain = prepare_model(config.model_copy(update={"strategy": "none"}), tokenizer, head)
            plain.load_state_dict(state)
            saved = save_final(plain, tokenizer, config.model_copy(update={"strategy": "none"}), head)
        dist.barrier()  # the others may load it next (a RAFT round samples from it)
        return saved
    final = atomic_dir(out / "final", lambda d: (model.save_pretrained(d), tokenizer.save_pretrained(d)))
    if hasattr(model, "merge_and_unload") and config.merge_lora:
        with quiet_renames():
            if config.qlora:  # never into the 4-bit weights: reloaded unquantized, merged there (merge.py)
                precision = resolve_precision(config.precision)
                dtype = str(precision.compute or precision.weights).removeprefix("torch.")
                merged = merge_adapters(config.model, final, tokenizer, dtype=dtype, head=head)
            else:
                merged = model.merge_and_unload()
        return atomic_dir(out / "final-merged", lambda d: (merged.save_pretrained(d), tokenizer.save_pretrained(d)))
    return final
