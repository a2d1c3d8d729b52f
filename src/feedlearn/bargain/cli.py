"""``feedlearn bargain``: run ICL-AIF experiments and report them (a thin layer over the APIs)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from feedlearn.common.errors import FeedlearnError
from feedlearn.common.outputs import check_outputs
from feedlearn.common.text import plain
from feedlearn.shipped import find

bargain_app = typer.Typer(help="ICL-AIF: LLM bargaining with in-context learning from AI feedback.",
                          no_args_is_help=True)
WIDE = 160  # columns of a table written to a file or a pipe: the comparison's rows unwrapped
SCENARIO_HELP = ("Scenario YAML, or a shipped scenario's name such as used-bike (feedlearn list scenarios); "
                 "default: the paper's balloon game.")


@bargain_app.command("play")
def play_command(
    seller: str = typer.Option("scripted:seller", "--seller", help="Backend: openai:MODEL[@URL], anthropic:MODEL, "
                               "local:DIR or scripted:seller."),
    buyer: str = typer.Option("scripted:buyer", "--buyer", help="Backend for the buyer (as --seller)."),
    moderator: str = typer.Option("auto", "--moderator", help="auto (rules for scripted players, else an LLM "
                                  "moderator on the LLM player's model), rules, or a backend spec."),
    scenario: Path = typer.Option(None, "--scenario", help=SCENARIO_HELP),
    temperature: float = typer.Option(1.0, "--temperature", help="The paper's: the APIs' default, 1.0."),
    max_tokens: int = typer.Option(256, "--max-tokens"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Play one game, streamed to the terminal, and say how it ended."""
    import asyncio

    from feedlearn.bargain.backends import make_backend
    from feedlearn.bargain.backends.base import Params
    from feedlearn.bargain.game import play
    from feedlearn.bargain.moderator import LLMModerator, RuleModerator, default_moderator
    from feedlearn.bargain.scenario import Scenario, load_scenario

    params = Params(temperature, max_tokens, seed)  # checked before anything is played
    game = load_scenario(scenario) if scenario else Scenario()
    # one game, no draws: scripted players take their numbers (and a deal's terms) from the scenario
    players = {role: make_backend(spec).for_run(game, None) for role, spec in (("seller", seller), ("buyer", buyer))}
    if moderator == "auto":
        moderator = default_moderator(seller, buyer)
    judge = RuleModerator() if moderator == "rules" else LLMModerator(make_backend(moderator))
    console = Console(highlight=False)

    def show(role: str, text: str) -> None:
        # a model's words: never rich markup, never terminal control sequences
        console.print(Text.assemble((f"{role}:", "bold"), " ", plain(text)))

    result = asyncio.run(play(game, players, judge, params=params, on_turn=show))
    # term names come from the scenario file: printed as plain text too
    if result.success:
        terms = "".join(f", {name} {value:g}" for name, value in result.terms.items())
        utility = ", ".join(f"{role} {value:g}" for role, value in result.utility.items())
        line = f"deal at ${result.price:g}{terms}" + (f" (utility: {utility})" if utility else "")
    elif result.deal:
        line = (f"a deal, but not a valid one (price {result.price}; valid strictly between "
                f"${game.buyer_open:g} and ${game.seller_ask:g})")
    else:
        line = f"no deal: {result.end}" if result.end.startswith(("empty", "reply")) else result.end
    console.print(plain(line), markup=False)


@bargain_app.command("run")
def run_command(
    out: Path = typer.Option(..., "--out", help="Run directory (runs.jsonl, config.json)."),
    config: Path = typer.Option(None, "--config", help="Experiment YAML (ExperimentConfig fields)."),
    runs: int = typer.Option(None, "--runs", help="Number of runs."),
    rounds: int = typer.Option(None, "--rounds", help="Rounds per run (the paper: 5)."),
    feedback: str = typer.Option(None, "--feedback", help="ai, human, constant, random or none."),
    coach: str = typer.Option(None, "--coach", help="seller, buyer or both."),
    concurrency: int = typer.Option(None, "--concurrency", help="Runs in flight at once."),
    seed: int = typer.Option(None, "--seed"),
    scenario: str = typer.Option(None, "--scenario", help=SCENARIO_HELP),
    seller: str = typer.Option(None, "--seller", help="Backend spec of the seller (e.g. openai:gpt-4o)."),
    buyer: str = typer.Option(None, "--buyer", help="Backend spec of the buyer."),
    critic: str = typer.Option(None, "--critic", help="Backend spec of the critic (--feedback ai)."),
    moderator: str = typer.Option(None, "--moderator", help="auto (the default), rules, or a backend spec for an "
                                  "LLM moderator."),
    paired_with: str = typer.Option(None, "--paired-with", help="A finished run directory (same scenario, players, "
                                    "seed): every run starts from its round-1 game, so arms differ only by feedback."),
    resume: bool = typer.Option(False, "--resume", help="Continue a run directory, skipping finished runs."),
) -> None:
    """Play many runs in parallel; each finished run is appended to OUT/runs.jsonl at once."""
    from rich.progress import Progress

    from feedlearn.bargain.experiment import ExperimentConfig, run_experiment
    from feedlearn.common.config import load_config

    options = {"runs": runs, "rounds": rounds, "feedback": feedback, "coach": coach, "concurrency": concurrency,
               "seed": seed, "scenario": scenario, "seller": seller, "buyer": buyer, "critic": critic,
               "moderator": moderator, "paired_with": paired_with}
    overrides = {k: v for k, v in options.items() if v is not None}  # options given win over --config
    experiment = load_config(ExperimentConfig, config, overrides)
    console = Console(highlight=False)
    with Progress(console=console, transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task("runs", total=experiment.runs)
        done = run_experiment(experiment, out, resume=resume, on_done=lambda row: progress.advance(task))
    console.print(plain(f"{len(done)} runs in {out / 'runs.jsonl'}"), markup=False)


@bargain_app.command("export")
def export_command(
    run_dirs: list[Path] = typer.Argument(..., help="Finished experiment folders (config.json, runs.jsonl)."),
    out: Path = typer.Option(..., "--out", help="Folder for conversation.json, paired.json, prompts.json."),
    role: str = typer.Option("seller", "--role", help="seller or buyer: whose replies to learn."),
    best_of: int = typer.Option(0, "--best-of", help="conversation.json: the K best successful games per opening "
                                "(0: every successful game)."),
    scenario: Path = typer.Option(None, "--scenario", help="The games' scenario YAML, if not where config.json says."),
) -> None:
    """Played games as LMFlow training data for one role (no critic's advice in the prompts)."""
    from feedlearn.bargain.export import FILES, export_runs

    summary = export_runs(run_dirs, out, role, best_of=best_of, scenario=scenario)
    lines = [f"{summary['games']} games ({summary['successful']} successful) as the {role}:"]
    lines += [f"  {out / name}: {summary[kind]} instances" for kind, name in FILES.items() if summary[kind]]
    print(plain("\n".join(lines)))  # not rich: it would wrap the paths


@bargain_app.command("selfplay")
def selfplay_command(
    config: Path = typer.Argument(..., help="Self-play config YAML (SelfPlayConfig fields), or a shipped one's "
                                  "name: selfplay (feedlearn list selfplay)."),
    out: Path = typer.Option(..., "--out", help="Folder for every step (a rerun continues where it stopped)."),
) -> None:
    """Teach a seller the game, then rounds of play -> export -> train, each seller evaluated without advice."""
    from feedlearn.bargain.compare import comparison, rich_table, verdict
    from feedlearn.bargain.selfplay import SelfPlayConfig, run_selfplay
    from feedlearn.common.config import load_config

    results = run_selfplay(load_config(SelfPlayConfig, find("selfplay", config)), out)
    console = Console(highlight=False, width=None if sys.stdout.isatty() else WIDE)
    shown = comparison(out)
    console.print(rich_table(shown, f"self-play ({results['method']}): {out}"))
    console.print(verdict(shown), markup=False)
    console.print(plain(f"{out / 'selfplay.json'}; seconds: {results['seconds']}"), markup=False)


@bargain_app.command("serve")
def serve_command(
    model: str = typer.Option(..., "--model", help="Backend spec to serve, e.g. local:DIR (a transformers model)."),
    name: str = typer.Option("local", "--name", help="The model name clients ask for."),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port", min=0, max=65535),
    strict: bool = typer.Option(False, "--strict", help="Answer 400 as vLLM does when roles do not alternate."),
) -> None:
    """Serve a backend as an OpenAI-compatible /v1 endpoint (Ctrl-C stops it)."""
    from feedlearn.bargain.backends import make_backend
    from feedlearn.bargain.serve import ChatServer

    server = ChatServer(make_backend(model), name, host=host, port=port, strict=strict)
    Console(highlight=False).print(plain(f"serving {model} as {name!r} at {server.url}"), markup=False)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


@bargain_app.command("report")
def report_command(
    run_dirs: list[Path] = typer.Argument(..., help="Run directories to compare (AI feedback, none, random...), "
                                          "or self-play folders (bargain selfplay --out)."),
    markdown_out: Path = typer.Option(None, "--markdown", help="Also write the table here."),
    plot_out: Path = typer.Option(None, "--plot", help="Write the figure (PNG) here."),
) -> None:
    """The paper's metrics per round: deal success, mean ± std price, change after feedback, reply length.

    A self-play folder (``bargain selfplay --out``) gets the comparison of its arms instead: the untuned
    model without advice and with in-context AI feedback, each tuned model without advice.
    """
    from feedlearn.bargain.compare import comparison, is_selfplay, rich_table, verdict
    from feedlearn.bargain.compare import markdown as comparison_markdown
    from feedlearn.bargain.report import markdown, plot, report
    from feedlearn.common.io import atomic_write_text

    for d in run_dirs:
        if not d.is_dir():
            raise FeedlearnError(f"{d}: not a run directory")
    selfplay = [d for d in run_dirs if is_selfplay(d)]
    experiments = [d for d in run_dirs if not is_selfplay(d)]
    if plot_out is not None and not experiments:
        raise FeedlearnError("--plot draws experiments' rounds: give it experiment folders, not only self-play ones")
    check_outputs({"--markdown": markdown_out, "--plot": plot_out},
                  inputs=[d / "runs.jsonl" for d in experiments] + [d / "selfplay.json" for d in selfplay])
    console = Console(highlight=False, width=None if sys.stdout.isatty() else WIDE)
    written = []
    for d in selfplay:
        shown = comparison(d)
        console.print(rich_table(shown, f"self-play ({shown['method']}): {d}"))
        console.print(verdict(shown), markup=False)
        written.append(f"## {plain(d)}\n\n" + comparison_markdown(shown))
    rows = report(experiments) if experiments else {}
    if rows:
        table = markdown(rows)  # run names are made plain there, so the file and the screen agree
        console.print(table, markup=False)
        written.append(table)
    if markdown_out is not None:
        atomic_write_text(markdown_out, "\n".join(written))
    if plot_out is not None:
        print(plain(f"plot: {plot(rows, plot_out)}"))
