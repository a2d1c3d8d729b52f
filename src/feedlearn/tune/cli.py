"""``feedlearn tune ...``: the fine-tuning pipeline's commands (thin over ``feedlearn.tune``)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.data import DATASET_TYPES, IMPORTERS, DatasetReport, convert, describe, load_dataset, save_dataset

tune_app = typer.Typer(help="Fine-tune causal LMs: data, stages, recipes, inference, evaluation.",
                       no_args_is_help=True)
data_app = typer.Typer(help="LMFlow-format datasets: convert from common formats, validate.", no_args_is_help=True)
tune_app.add_typer(data_app, name="data")
console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)

SKIP_HELP = "Drop bad rows (counted and reported) instead of stopping at the first one."


@data_app.command("convert")
def convert_command(
    source: Path = typer.Argument(..., help="Input file (JSON list, JSONL, text; .gz works too)."),
    out: Path = typer.Argument(..., help="Output LMFlow dataset (.json or .jsonl, optionally .gz)."),
    from_format: str = typer.Option(..., "--from", help=f"Source format: {', '.join(IMPORTERS)}."),
    to: str = typer.Option("", "--to", help="Target type where a source allows two (alpaca: conversation|text2text)."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help=SKIP_HELP),
) -> None:
    """Import a dataset from a common format into LMFlow's format."""
    dataset = convert(source, from_format, to=to, skip_bad=skip_bad)
    save_dataset(dataset, out)
    console.print(f"wrote {out}: {len(dataset)} {dataset.type} instances"
                  + (f", {dataset.skipped} bad rows dropped" if dataset.skipped else ""))
    for example in dataset.skipped_examples:
        console.print(f"  dropped: {example}")


def _load_tokenizer(path: str):
    from transformers import AutoTokenizer  # heavy: imported only when asked for

    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise FeedlearnError(f"{path}: cannot load a tokenizer ({str(exc).splitlines()[0]})") from None


def print_report(report: DatasetReport) -> None:
    console.print(f"{report.source}: {report.instances} valid {report.type} instances"
                  + (f", {report.skipped} bad rows dropped" if report.skipped else ""))
    for example in report.skipped_examples:
        console.print(f"  dropped: {example}")
    table = Table(title="lengths in characters")
    for column in ("field", "count", "mean", "p50", "p95", "max"):
        table.add_column(column, justify="left" if column == "field" else "right")
    for name, s in report.chars.items():
        table.add_row(name, str(s.count), f"{s.mean:.0f}", f"{s.p50:.0f}", f"{s.p95:.0f}", str(s.max))
    console.print(table)
    if report.tokens is not None:
        t = report.tokens
        console.print(f"tokens per training text: mean {t.mean:.0f}, p50 {t.p50:.0f}, p95 {t.p95:.0f}, "
                      f"max {t.max}; total {report.total_tokens:,}")
    if report.unknown_fields:
        extra = ", ".join(f"{k} ({n} rows)" for k, n in report.unknown_fields.items())
        console.print(f"fields not used by {report.type} (kept as they are): {extra}")


@data_app.command("validate")
def validate_command(
    path: Path = typer.Argument(..., help="LMFlow dataset: .json, .jsonl (optionally .gz) or a folder of them."),
    dtype: str = typer.Option(None, "--type", help=f"Expected type: {', '.join(DATASET_TYPES)}."),
    tokenizer: str = typer.Option(None, "--tokenizer", help="Tokenizer (hub id or local dir) for token statistics."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help=SKIP_HELP),
) -> None:
    """Check every instance and report counts and length statistics."""
    dataset = load_dataset(path, type=dtype, skip_bad=skip_bad)
    print_report(describe(dataset, _load_tokenizer(tokenizer) if tokenizer else None))


@tune_app.command("init-tiny")
def init_tiny_command(
    out_dir: Path = typer.Argument(..., help="Directory for the model and tokenizer."),
    template: str = typer.Option("chatml", "--template", help="Chat template: chatml, qwen2, llama3, zephyr."),
    vocab_size: int = typer.Option(4096, "--vocab-size", help="BPE vocabulary size."),
    hidden_size: int = typer.Option(128, "--hidden-size"),
    layers: int = typer.Option(4, "--layers"),
    heads: int = typer.Option(4, "--heads"),
    seed: int = typer.Option(0, "--seed"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty OUT_DIR."),
) -> None:
    """Create the embedded tiny Llama model and its tokenizer (offline, from the shipped text)."""
    from feedlearn.tune.tiny import TinyConfig, init_tiny

    config = TinyConfig(template=template, vocab_size=vocab_size, hidden_size=hidden_size, layers=layers, heads=heads,
                        intermediate_size=max(8, round(hidden_size * 8 / 3 / 8) * 8), seed=seed)
    out = init_tiny(out_dir, config, overwrite=overwrite)
    console.print(f"wrote {out}: tiny Llama ({layers} layers, hidden {hidden_size}), {vocab_size}-token byte-level BPE, "
                  f"{template} chat template")


@tune_app.command("train", context_settings={"allow_extra_args": True})
def train_command(
    stage: str = typer.Argument(..., help="Stage: pretrain or sft."),
    overrides: list[str] = typer.Argument(None, help="Options as key=value (override the config file)."),
    config: Path = typer.Option(None, "--config", "-c", help="YAML file of the stage's options."),
) -> None:
    """Run one training stage; rerunning the same command resumes from the last checkpoint."""
    from feedlearn.tune.config import load_config
    from feedlearn.tune.stages import STAGES, run_stage

    if stage not in STAGES:
        raise FeedlearnError(f"unknown stage {stage!r}; choose from {', '.join(STAGES)}")
    runner = STAGES[stage]()
    summary = run_stage(runner, load_config(runner.config_class, config, overrides or []))
    print_summary(summary)


def print_summary(summary: dict) -> None:
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in summary["eval"].items()) or "no eval data"
    resumed = f" (resumed from {summary['resumed_from']})" if summary.get("resumed_from") else ""
    console.print(f"{summary['stage']}: {summary['steps']} steps{resumed}, train loss {summary['train_loss']:.4f}, "
                  f"{summary['tokens']:,} tokens at {summary['tokens_per_second']:,.0f}/s, "
                  f"peak memory {summary['peak_memory_bytes'] / 2**20:,.0f} MiB; eval: {metrics}")
    console.print(f"model: {summary['model']}")


@tune_app.command("run", context_settings={"allow_extra_args": True})
def run_command(
    recipe: Path = typer.Argument(..., help="Recipe YAML (see recipes/)."),
    overrides: list[str] = typer.Argument(None, help="Recipe options as key=value, e.g. steps_scale=0.1."),
) -> None:
    """Run a recipe: stages chained, evaluated after each; rerun to continue after an interruption."""
    from feedlearn.tune.recipe import run_recipe

    result = run_recipe(recipe, overrides or [], log=lambda row: console.print(f"[dim]{row['stage']} done[/]"))
    console.print(recipe_table(result))


def recipe_table(result: dict) -> Table:
    rows = result["rows"]
    metrics = [k for k in rows[0] if k not in ("stage", "model")]
    table = Table(title=f"{result['recipe']}: held-out metrics after each stage")
    table.add_column("stage")
    for m in metrics:
        table.add_column(m, justify="right")
    for row in rows:
        table.add_row(row["stage"], *(f"{row[m]:.3f}" if m in row else "" for m in metrics))
    return table
