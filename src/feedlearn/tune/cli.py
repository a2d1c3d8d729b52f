"""``feedlearn tune ...``: the fine-tuning pipeline's commands (thin over ``feedlearn.tune``)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from feedlearn.common.config import load_config
from feedlearn.common.errors import FeedlearnError
from feedlearn.common.io import atomic_write_text
from feedlearn.common.outputs import check_outputs
from feedlearn.common.text import plain
from feedlearn.tune.data import DATASET_TYPES, IMPORTERS, DatasetReport, convert, describe, load_dataset, save_dataset
from feedlearn.tune.data.io import read_text
from feedlearn.tune.features import generation_prompts, pair_features, prompts_of
from feedlearn.tune.gguf_export import export_gguf
from feedlearn.tune.harness import run_lm_eval
from feedlearn.tune.models import fit_embeddings, load_model, load_tokenizer
from feedlearn.tune.templates import to_messages
from feedlearn.tune.tiny import TinyConfig, init_tiny

# The modules below import torch (and transformers, ...) at import time: commands import them when
# they run, so `feedlearn --help` and the data commands start in well under a second.

tune_app = typer.Typer(help="Fine-tune causal LMs: data, stages, recipes, inference, evaluation.",
                       no_args_is_help=True)
data_app = typer.Typer(help="LMFlow-format datasets: convert from common formats, validate.", no_args_is_help=True)
tune_app.add_typer(data_app, name="data")
console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)


def say(*parts: str | tuple[str, str]) -> None:
    """Print one line of text from files, models and the command line literally: never read as rich
    markup, without terminal control sequences. A part may be ``(text, style)``."""
    console.print(Text.assemble(*((plain(p[0]), p[1]) if isinstance(p, tuple) else plain(p) for p in parts)))


def cell(value: object) -> Text:
    """A table cell shown literally (rich reads plain ``str`` cells as markup)."""
    return Text(plain(value))


def write_out(text: str) -> None:
    """Model output streamed to the terminal as it comes, without control sequences."""
    sys.stdout.write(plain(text))
    sys.stdout.flush()


SKIP_HELP = "Drop bad rows (counted and reported) instead of stopping at the first one."


@data_app.command("convert")
def convert_command(
    source: Path = typer.Argument(..., help="Input file (JSON list, JSONL, text; .gz works too), or a shipped "
                                  "dataset's name (feedlearn list datasets)."),
    out: Path = typer.Argument(..., help="Output LMFlow dataset (.json or .jsonl, optionally .gz)."),
    from_format: str = typer.Option(..., "--from", help=f"Source format: {', '.join(IMPORTERS)}."),
    to: str = typer.Option("", "--to", help="Target type where a source allows two (alpaca: conversation|text2text); "
                           "openai/sharegpt: conversation keeps KTO-labelled data's label-true rows as SFT data."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help=SKIP_HELP),
) -> None:
    """Import a dataset from a common format into LMFlow's format."""
    check_outputs({"OUT": out}, inputs=[source])
    dataset = convert(source, from_format, to=to, skip_bad=skip_bad)
    save_dataset(dataset, out)
    say(f"wrote {out}: {len(dataset)} {dataset.type} instances"
        + (f", {dataset.skipped} bad rows dropped" if dataset.skipped else ""))
    for file in dataset.files:
        say(f"  {file.summary()}")
    for example in dataset.skipped_examples:
        say(f"  dropped: {example}")


def print_report(report: DatasetReport) -> None:
    say(f"{report.source}: {report.instances} valid {report.type} instances"
        + (f", {report.skipped} bad rows dropped" if report.skipped else ""))
    for file in report.files:
        say(f"  {file.summary()}")
    for example in report.skipped_examples:
        say(f"  dropped: {example}")
    table = Table(title="lengths in characters")
    for column in ("field", "count", "mean", "p50", "p95", "max"):
        table.add_column(column, justify="left" if column == "field" else "right")
    for name, s in report.chars.items():
        table.add_row(cell(name), str(s.count), f"{s.mean:.0f}", f"{s.p50:.0f}", f"{s.p95:.0f}", str(s.max))
    console.print(table)
    if report.tokens is not None:
        t = report.tokens
        say(f"tokens per training text: mean {t.mean:.0f}, p50 {t.p50:.0f}, p95 {t.p95:.0f}, "
            f"max {t.max}; total {report.total_tokens:,}")
    if report.unknown_fields:
        extra = ", ".join(f"{k} ({n} rows)" for k, n in report.unknown_fields.items())
        say(f"fields not used by {report.type} (kept as they are): {extra}")


@data_app.command("validate")
def validate_command(
    path: Path = typer.Argument(..., help="LMFlow dataset: .json, .jsonl (optionally .gz) or a folder of them."),
    dtype: str = typer.Option(None, "--type", help=f"Expected type: {', '.join(DATASET_TYPES)}."),
    tokenizer: str = typer.Option(None, "--tokenizer", help="Tokenizer (hub id or local dir) for token statistics."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help=SKIP_HELP),
) -> None:
    """Check every instance and report counts and length statistics."""
    dataset = load_dataset(path, type=dtype, skip_bad=skip_bad)
    print_report(describe(dataset, load_tokenizer(tokenizer) if tokenizer else None))


@tune_app.command("init-tiny")
def init_tiny_command(
    out_dir: Path = typer.Argument(..., help="Directory for the model and tokenizer."),
    template: str = typer.Option("chatml", "--template", help="Chat template: chatml, qwen2, llama3, zephyr."),
    vocab_size: int = typer.Option(4096, "--vocab-size", help="BPE vocabulary size."),
    hidden_size: int = typer.Option(128, "--hidden-size"),
    layers: int = typer.Option(4, "--layers"),
    heads: int = typer.Option(4, "--heads"),
    seed: int = typer.Option(0, "--seed"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier tiny model in OUT_DIR (never "
                                   "a folder init-tiny did not write)."),
) -> None:
    """Create the embedded tiny Llama model and its tokenizer (offline, from the shipped text)."""
    config = TinyConfig(template=template, vocab_size=vocab_size, hidden_size=hidden_size, layers=layers, heads=heads,
                        intermediate_size=max(8, round(hidden_size * 8 / 3 / 8) * 8), seed=seed)
    out = init_tiny(out_dir, config, overwrite=overwrite)
    say(f"wrote {out}: tiny Llama ({layers} layers, hidden {hidden_size}), {vocab_size}-token byte-level BPE, "
        f"{template} chat template")


@tune_app.command("train", context_settings={"allow_extra_args": True})
def train_command(
    stage: str = typer.Argument(..., help="Stage: pretrain, sft, reward, raft, dpo, iterative_dpo, ppo, grpo or rloo."),
    overrides: list[str] = typer.Argument(None, help="Options as key=value (override the config file)."),
    config: Path = typer.Option(None, "--config", "-c", help="YAML file of the stage's options."),
) -> None:
    """Run one training stage; rerunning the same command resumes from the last checkpoint."""
    from feedlearn.tune.stage import run_stage  # torch: not at start-up
    from feedlearn.tune.stages import STAGES  # torch: not at start-up

    if stage not in STAGES:
        raise FeedlearnError(f"unknown stage {stage!r}; choose from {', '.join(STAGES)}")
    runner = STAGES[stage]()
    summary = run_stage(runner, load_config(runner.config_class, config, overrides or []))
    if summary.get("main_rank") is False:  # under torchrun with a strategy: rank 0 reports
        return
    print_summary(summary)


def print_summary(summary: dict) -> None:
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in summary["eval"].items()) or "no eval data"
    resumed = (" (already finished: nothing trained)" if summary.get("already_finished")
               else f" (resumed from {summary['resumed_from']})" if summary.get("resumed_from") else "")
    say(f"{summary['stage']}: {summary['steps']} steps{resumed}, train loss {summary['train_loss']:.4f}, "
        f"{summary['tokens']:,} tokens at {summary['tokens_per_second']:,.0f}/s, "
        f"peak memory {summary['peak_memory_bytes'] / 2**20:,.0f} MiB; eval: {metrics}")
    say(f"model: {summary['model']}")


@tune_app.command("run", context_settings={"allow_extra_args": True})
def run_command(
    recipe: Path = typer.Argument(..., help="Recipe YAML, or a shipped recipe's name such as "
                                  "tiny-4stage (feedlearn list recipes)."),
    overrides: list[str] = typer.Argument(None, help="Recipe options as key=value, e.g. steps_scale=0.1."),
) -> None:
    """Run a recipe: stages chained, evaluated after each; rerun to continue after an interruption."""
    from feedlearn.tune.recipe import run_recipe  # torch: not at start-up

    result = run_recipe(recipe, overrides or [], log=lambda row: say((f"{row['stage']} done", "dim")))
    console.print(recipe_table(result))


def recipe_table(result: dict) -> Table:
    """Held-out metrics, one row per metric and one column per stage (stages are few and short,
    metrics many and long-named: this way the table fits a terminal without cutting either)."""
    rows = result["rows"]
    hidden = ("stage", "model", "train_loss", "tokens_per_second")
    metrics = list(dict.fromkeys(k for row in rows for k in row if k not in hidden))
    table = Table(title=Text(plain(f"{result['recipe']}: held-out metrics after each stage")))
    table.add_column("held-out metric")
    for row in rows:
        stage = plain(str(row["stage"]))
        table.add_column(Text(stage), justify="right", no_wrap=True, min_width=len(stage))
    for m in metrics:  # numbers never wrap or get cut ("874708.4…")
        table.add_row(cell(m), *(Text(metric_text(row[m]), no_wrap=True) if m in row else "" for row in rows))
    return table


def metric_text(value: float) -> str:
    """A metric in at most 9 characters: 3 decimals below 10,000, else 3 significant digits (8.75e+05)."""
    return f"{value:.3f}" if abs(value) < 1e4 else f"{value:.3g}"


def _model_and_tokenizer(model: str, template: str | None):
    tokenizer = load_tokenizer(model, template=template)
    return fit_embeddings(load_model(model), tokenizer), tokenizer


def read_prompts(path: Path, raw: bool) -> list:
    """Prompts from a text file (one per line; a user turn unless --raw) or an LMFlow dataset."""
    if path.suffix in (".txt", ".text"):
        lines = [line.strip() for line in read_text(path).splitlines() if line.strip()]
        if not lines:
            raise FeedlearnError(f"{path}: no prompts (every line is blank)")
        return lines if raw else [[{"role": "user", "content": line}] for line in lines]
    return generation_prompts(load_dataset(path))


@tune_app.command("generate")
def generate_command(
    model: str = typer.Argument(..., help="Model: hub id or local directory."),
    prompts: Path = typer.Option(..., "--prompts", help="Text file (one prompt per line) or LMFlow dataset."),
    out: Path = typer.Option(None, "--out", help="Write JSONL {prompt, completion, stopped, tokens} here."),
    raw: bool = typer.Option(False, "--raw", help="Use text lines as they are (no chat template)."),
    template: str = typer.Option(None, "--template", help="Chat template to use instead of the tokenizer's."),
    max_new_tokens: int = typer.Option(128, "--max-new-tokens"),
    temperature: float = typer.Option(0.0, "--temperature", help="0: greedy."),
    top_p: float = typer.Option(1.0, "--top-p"),
    batch_size: int = typer.Option(16, "--batch-size"),
    seed: int = typer.Option(0, "--seed"),
    draft_model: str = typer.Option(None, "--draft-model", help="Small model for speculative decoding."),
    stream: bool = typer.Option(False, "--stream", help="Print each completion as it is generated (one at a time)."),
) -> None:
    """Batched generation for a file of prompts."""
    from feedlearn.tune.infer import GenerationOptions, generate  # torch: not at start-up

    # options, prompts and output first: a mistake in them is reported before any model is loaded
    check_outputs({"--out": out}, inputs=[prompts])
    options = GenerationOptions(max_new_tokens, temperature, top_p, batch_size, seed,
                                on_text=write_out if stream else None)
    items = read_prompts(prompts, raw)
    loaded, tokenizer = _model_and_tokenizer(model, template)
    if draft_model:
        options = dataclasses.replace(options, draft=load_model(draft_model))
    if stream:
        results = []
        for item in items:
            write_out(f"{item if isinstance(item, str) else item[-1]['content']} -> ")
            results += generate(loaded, tokenizer, [item], options)
    else:
        results = generate(loaded, tokenizer, items, options)
    records = [{"prompt": p if isinstance(p, str) else p[-1]["content"], "completion": c.text, "stopped": c.stopped,
                "tokens": c.tokens} for p, c in zip(items, results)]
    for r in records if not stream else []:  # model output and file text: shown literally
        say((r["prompt"], "bold"), " -> ", r["completion"], ("" if r["stopped"] else " (cut)", "dim"))
    if out is not None:
        atomic_write_text(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        say(f"wrote {out}")


@tune_app.command("chat")
def chat_command(
    model: str = typer.Argument(..., help="Model: hub id or local directory."),
    template: str = typer.Option(None, "--template", help="Chat template to use instead of the tokenizer's."),
    system: str = typer.Option(None, "--system", help="System prompt."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens"),
    temperature: float = typer.Option(0.0, "--temperature"),
    web: bool = typer.Option(False, "--web", help="Serve a Gradio web chat instead (pip install 'feedlearn[web]')."),
    port: int = typer.Option(7860, "--port", help="Web chat port."),
) -> None:
    """Chat in the terminal (history kept; /reset clears it, /exit or Ctrl-D quits), or on the web."""
    from feedlearn.tune.chat import ChatSession  # torch: not at start-up
    from feedlearn.tune.infer import GenerationOptions  # torch: not at start-up

    options = GenerationOptions(max_new_tokens=max_new_tokens, temperature=temperature)  # checked before loading
    if web and not 1 <= port <= 65535:
        raise FeedlearnError(f"--port must be from 1 to 65535, got {port}")
    loaded, tokenizer = _model_and_tokenizer(model, template)
    if web:
        from feedlearn.tune.webchat import build_web_chat  # torch: not at start-up

        app = build_web_chat(loaded, tokenizer, system=system, options=options, title=f"feedlearn chat: {model}")
        app.launch(server_port=port)
        return
    session = ChatSession(loaded, tokenizer, system, options)
    while True:
        try:
            text = input("you> ").strip()
        except EOFError:
            break
        if text in ("/exit", "/quit"):
            break
        if text == "/reset":
            session.reset()
            continue
        if text:
            sys.stdout.write("model> ")
            session.send(text, on_text=write_out)
            sys.stdout.write("\n")


@tune_app.command("eval")
def eval_command(
    model: str = typer.Argument(..., help="Model: hub id or local directory."),
    data: Path = typer.Option(None, "--data", help="LMFlow dataset: text_only (perplexity) or text2text/conversation."),
    lm_eval_tasks: str = typer.Option(None, "--lm-eval", help="Comma-separated lm-evaluation-harness tasks."),
    lm_eval_include: str = typer.Option(None, "--lm-eval-include", help="Folder of your own harness task YAMLs."),
    limit: int = typer.Option(None, "--limit", help="lm-eval: at most N examples per task."),
    reward_model: str = typer.Option(None, "--reward-model", help="Judge replies to --data's prompts with this RM."),
    baseline: str = typer.Option(None, "--baseline", help="With --reward-model: win rate of MODEL over this model."),
    reference: str = typer.Option(None, "--reference", help="With --reward-model: KL of MODEL to this model."),
    template: str = typer.Option(None, "--template"),
    block_size: int = typer.Option(256, "--block-size", help="Perplexity block length (tokens)."),
    max_new_tokens: int = typer.Option(64, "--max-new-tokens", help="Generation budget for exact match."),
    json_out: Path = typer.Option(None, "--json", help="Write the metrics as JSON."),
) -> None:
    """Perplexity on text; exact match, stop-at-EOS rate and label loss on text2text/conversation."""
    from feedlearn.tune.evaluate import DEFAULT_KIND, KINDS, check_block_size, evaluate  # torch: not at start-up
    from feedlearn.tune.infer import GenerationOptions  # torch: not at start-up

    if (data is None) == (lm_eval_tasks is None):
        raise FeedlearnError("eval: give --data FILE or --lm-eval TASKS (one of them)")
    check_outputs({"--json": json_out}, inputs=[data] if data else [])
    if lm_eval_tasks is not None:
        scores = run_lm_eval(model, [t.strip() for t in lm_eval_tasks.split(",") if t.strip()],
                             include=lm_eval_include, limit=limit)
        for task, metrics in scores.items():
            say(f"{task}: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
        if json_out is not None:
            atomic_write_text(json_out, json.dumps({"model": model, "lm_eval": scores}, indent=1) + "\n")
        return
    # options and data first: their mistakes are reported before any model is loaded
    GenerationOptions(max_new_tokens=max_new_tokens)
    check_block_size(block_size)
    if (baseline or reference) and reward_model is None:
        raise FeedlearnError("eval: --baseline and --reference go with --reward-model")
    dataset = load_dataset(data)
    kind = "rlhf" if reward_model is not None else DEFAULT_KIND.get(dataset.type)
    if kind is None:
        raise FeedlearnError(f"{data}: eval handles {', '.join(DEFAULT_KIND)}, not {dataset.type}")
    if dataset.type not in KINDS[kind].data_types:
        raise FeedlearnError(f"{data}: --reward-model judges replies to {' or '.join(KINDS[kind].data_types)} prompts, "
                             f"not {dataset.type}")
    loaded, tokenizer = _model_and_tokenizer(model, template)
    options: dict = {"block_size": block_size, "max_new_tokens": max_new_tokens}
    if reward_model is not None:
        from feedlearn.tune.rewards import RewardScorer, replies  # torch: not at start-up

        if baseline:
            options["baseline_replies"] = replies(*_model_and_tokenizer(baseline, template), prompts_of(dataset),
                                                  max_new_tokens)
        options.update(scorer=RewardScorer(reward_model), reference=load_model(reference) if reference else None)
    metrics = evaluate(loaded, tokenizer, dataset, kind, **options)
    say(f"{data} ({len(dataset)} {dataset.type}): " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
    if json_out is not None:
        atomic_write_text(json_out, json.dumps({"model": model, "data": str(data), **metrics}, indent=1) + "\n")


@tune_app.command("score")
def score_command(
    model: str = typer.Argument(..., help="Reward model (trained with the reward stage)."),
    data: Path = typer.Option(..., "--data", help="paired_* data (accuracy) or conversation data (a reward each)."),
    out: Path = typer.Option(None, "--out", help="Write one JSON line per instance with its reward(s)."),
    max_length: int = typer.Option(1024, "--max-length"),
    batch_size: int = typer.Option(16, "--batch-size"),
) -> None:
    """Score data with a reward model: pairwise accuracy on pairs, rewards on conversations."""
    from feedlearn.tune.rewards import RewardScorer, pair_rewards  # torch: not at start-up

    RewardScorer.check(max_length=max_length, batch_size=batch_size)  # before the data and the model
    check_outputs({"--out": out}, inputs=[data])
    dataset = load_dataset(data)
    if dataset.type not in ("paired_conversation", "paired_text_to_text", "conversation"):
        raise FeedlearnError(f"{data}: score takes paired_* or conversation data, not {dataset.type}")
    scorer = RewardScorer(model, max_length=max_length, batch_size=batch_size)
    if dataset.type == "conversation":
        records = [{"reward": v} for v in scorer.score([to_messages(inst) for inst in dataset.instances])]
        say(f"{data}: {len(records)} conversations, mean reward {sum(r['reward'] for r in records) / len(records):.4f}")
    else:
        rows = pair_features(dataset, scorer.tokenizer, max_length, True)
        pairs = pair_rewards(scorer.model, rows, scorer.tokenizer.pad_token_id, batch_size)
        records = [{"chosen": c, "rejected": r} for c, r in pairs]
        say(f"{data}: {len(records)} pairs, accuracy {sum(c > r for c, r in pairs) / len(pairs):.4f}, "
            f"mean gap {sum(c - r for c, r in pairs) / len(pairs):.4f}")
    if out is not None:
        atomic_write_text(out, "".join(json.dumps(r) + "\n" for r in records))


@tune_app.command("export-gguf")
def export_gguf_command(
    model: Path = typer.Argument(..., help="A Llama model directory (e.g. a stage's final/)."),
    out: Path = typer.Argument(..., help="The GGUF file to write."),
    dtype: str = typer.Option("f32", "--dtype", help="f32 or f16 (norms stay f32)."),
) -> None:
    """Write a Llama model and its byte-level BPE tokenizer as one GGUF file (llama.cpp, Ollama)."""
    check_outputs({"OUT": out})
    path = export_gguf(model, out, dtype=dtype)
    say(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB); serve it with e.g. "
        f"python -m llama_cpp.server --model {path} --chat_format chatml")
