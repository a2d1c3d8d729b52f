"""``feedlearn cache ...``: simulate, inspect, convert and generate traces (thin over the API)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from feedlearn.cache.journal import SweepJournal, journal_path
from feedlearn.cache.policies import POLICIES, split_policy_list
from feedlearn.cache.report import human_bytes, plot_miss_ratios, plot_timeline, results_table, write_csv, write_json
from feedlearn.cache.stats import trace_stats
from feedlearn.cache.sweep import SweepConfig, sweep
from feedlearn.cache.traces import CdnConfig, convert_trace, load_trace, write_oracle_general, zipf_trace
from feedlearn.cache.traces.oracle import write_oracle_chunks
from feedlearn.cache.traces.synthetic import cdn_chunks
from feedlearn.common.errors import FeedlearnError
from feedlearn.common.outputs import check_output_file, check_outputs
from feedlearn.common.text import plain

cache_app = typer.Typer(help="Trace-driven cache simulation and eviction policies.", no_args_is_help=True)
# Wide enough for the results table when output goes to a file or CI log (rich assumes 80 there).
console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)

FORMAT_HELP = "Trace format: oracle, csv or lis (default: inferred from the file name)."
POLICY_HELP = f"Comma-separated policies, e.g. lru,s3fifo(small_ratio=0.1). Known: {', '.join(POLICIES)}."
SIZE_HELP = "Comma-separated cache sizes: 64MiB, 10GB, 4096, 1% or 0.1 of unique bytes."
WINDOW_HELP = "Window length for per-window byte miss ratios (default: 100 windows)."
CSV_HELP = ('CSV column spec, e.g. "time-col=1,obj-id-col=2,obj-size-col=3,delimiter=tab,has-header=false"; '
            '"feature-cols=5,6" adds request-supplied features for learned policies.')


@cache_app.command("sim")
def sim_command(
    traces: list[Path] = typer.Argument(..., help="Trace files (oracleGeneral .bin, CSV/TSV, ARC .lis[.zst])."),
    policy: str = typer.Option("lru", "--policy", "-p", help=POLICY_HELP),
    size: str = typer.Option("1%,10%", "--size", "-s", help=SIZE_HELP),
    trace_format: str | None = typer.Option(None, "--format", help=FORMAT_HELP),
    csv_spec: str | None = typer.Option(None, "--csv-spec", help=CSV_HELP),
    warmup: int = typer.Option(0, "--warmup", help="Requests served before metrics are counted."),
    window: float | None = typer.Option(None, "--window", help=WINDOW_HELP),
    window_unit: str = typer.Option("requests", "--window-unit", help="requests or seconds."),
    unit_size: bool = typer.Option(False, "--unit-size", help="Ignore sizes: every object counts 1, cache sizes count objects."),
    seed: int = typer.Option(0, "--seed", help="Seed for randomised policies."),
    jobs: int | None = typer.Option(None, "--jobs", "-j", help="Worker processes (default: all cores)."),
    executor: str = typer.Option("local", "--executor", help="local (processes here) or ray (one Ray task per "
                                                              "trace and policy; pip install 'feedlearn[ray]')."),
    ray_address: str | None = typer.Option(None, "--ray-address", help="Ray cluster for --executor ray: auto, "
                                                                        "ray://host:10001 (default: start one here)."),
    json_out: Path | None = typer.Option(
        None, "--json", help="Write the results as a JSON list of records; while the sweep runs, finished tasks are "
                             "kept in JSON.partial.jsonl and a rerun of the same command resumes from them."),
    csv_out: Path | None = typer.Option(None, "--csv", help="Write the results as CSV."),
    plot_out: Path | None = typer.Option(None, "--plot", help="Save a miss-ratio vs cache-size plot (PNG)."),
    timeline_out: Path | None = typer.Option(
        None, "--timeline", help="Save per-window byte miss ratios and learned policies' loss/accuracy over time (PNG)."
    ),
    save_models: Path | None = typer.Option(
        None, "--save-models", help="Folder to save each learned policy's model (warm start with halp(model=PATH))."
    ),
    stream: bool | None = typer.Option(
        None, "--stream/--no-stream", help="Replay trace files chunk by chunk, in memory independent of their "
                                           "length (default: for files of 256 MiB or more)."),
) -> None:
    """Simulate policies × cache sizes × traces and print a table of miss ratios."""
    # Outputs are checked before the (possibly long) simulation, not found unwritable after it.
    check_outputs({"--json": json_out, "--csv": csv_out, "--plot": plot_out, "--timeline": timeline_out},
                  inputs=traces, folders={"--save-models": save_models})
    sizes = [s.strip() for s in size.split(",") if s.strip()]
    config = SweepConfig(seed=seed, warmup=warmup, window=window, window_unit=window_unit,
                         save_models=str(save_models) if save_models else None)
    # with --json, finished tasks are journalled as they complete: a rerun after a crash resumes
    journal = SweepJournal(journal_path(json_out)) if json_out else None
    saved = False
    try:
        results = sweep(
            [str(t) for t in traces], split_policy_list(policy), sizes, config=config, jobs=jobs,
            trace_format=trace_format, csv_spec=csv_spec, unit_size=unit_size, journal=journal,
            executor=executor, ray_address=ray_address, stream=stream,
        )
        if journal is not None and journal.reused:
            console.print(f"resumed: {journal.reused} of {len(results)} result(s) were already in {plain(journal.path)}",
                          markup=False)
        if json_out:
            write_json(results, json_out)
            saved = True
    finally:
        if journal is not None:
            journal.close(remove=saved)
    console.print(results_table(results))
    # file names are the user's text: printed as they are, never read as markup
    if json_out:
        console.print(f"results: {plain(json_out)}", markup=False)
    if csv_out:
        write_csv(results, csv_out)
        console.print(f"results: {plain(csv_out)}", markup=False)
    if plot_out:
        console.print(f"plot: {plain(plot_miss_ratios(results, plot_out))}", markup=False)
    if timeline_out:
        console.print(f"timeline: {plain(plot_timeline(results, timeline_out))}", markup=False)
    if save_models:
        console.print(f"learned models: {plain(save_models)}/", markup=False)


@cache_app.command("stats")
def stats_command(
    trace: Path = typer.Argument(..., help="Trace file."),
    trace_format: str | None = typer.Option(None, "--format", help=FORMAT_HELP),
    csv_spec: str | None = typer.Option(None, "--csv-spec", help=CSV_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the statistics as JSON."),
) -> None:
    """Requests, unique objects and bytes, one-hit wonders and the object size distribution."""
    stats = trace_stats(load_trace(trace, trace_format, csv_spec))
    if as_json:
        typer.echo(json.dumps(stats.as_dict(), indent=2))
        return
    table = Table(title=Text(f"trace {plain(stats.name)}"), show_header=False)
    rows = [
        ("requests", f"{stats.requests:,}"),
        ("unique objects", f"{stats.unique_objects:,}"),
        ("unique bytes", f"{stats.unique_bytes:,} ({human_bytes(stats.unique_bytes)})"),
        ("total bytes", f"{stats.total_bytes:,} ({human_bytes(stats.total_bytes)})"),
        ("one-hit wonders", f"{stats.one_hit_wonders:,} ({stats.one_hit_wonder_ratio:.1%} of objects)"),
        ("time span", f"{stats.time_span:,.0f}"),
        ("out-of-order times", f"{stats.out_of_order_times:,} requests earlier than the one before"
                               + (f" (first: request {stats.first_out_of_order:,})" if stats.first_out_of_order else "")),
        ("object size min / p25 / median", f"{stats.size_min:,} / {stats.size_p25:,.0f} / {stats.size_median:,.0f}"),
        ("object size p75 / p99 / max", f"{stats.size_p75:,.0f} / {stats.size_p99:,.0f} / {stats.size_max:,}"),
        ("object size mean", f"{stats.size_mean:,.0f}"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)


@cache_app.command("convert")
def convert_command(
    trace: Path = typer.Argument(..., help="Trace file to read."),
    out: Path = typer.Argument(..., help="Output path, conventionally *.oracleGeneral.bin."),
    trace_format: str | None = typer.Option(None, "--format", help=FORMAT_HELP),
    csv_spec: str | None = typer.Option(None, "--csv-spec", help=CSV_HELP),
) -> None:
    """Convert any supported trace to libCacheSim's oracleGeneral (with next-access indices)."""
    loaded = convert_trace(trace, out, trace_format, csv_spec)
    console.print(f"wrote {len(loaded):,} requests to {plain(out)}", markup=False)


@cache_app.command("generate")
def generate_command(
    kind: str = typer.Argument(..., help="zipf or cdn."),
    out: Path = typer.Argument(..., help="Output oracleGeneral file."),
    requests: int = typer.Option(1_000_000, "--requests", "-n", help="Number of requests."),
    objects: int = typer.Option(100_000, "--objects", help="zipf: number of objects; cdn: initial catalogue."),
    alpha: float = typer.Option(1.0, "--alpha", help="Zipf exponent of popularity."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
) -> None:
    """Generate a seeded synthetic trace (Zipf, or the CDN/video-like model) as oracleGeneral."""
    check_output_file(out, "output")
    if kind == "zipf":
        trace = zipf_trace(requests, objects, alpha, seed=seed, object_size=(4096, 1 << 20))
        write_oracle_general(trace, out)
        written = len(trace)
    elif kind == "cdn":  # generated and written as a stream: memory O(objects), whatever --requests
        written = write_oracle_chunks(
            cdn_chunks(CdnConfig(n_requests=requests, initial_objects=objects, alpha=alpha, seed=seed)), out)
    else:
        raise FeedlearnError(f"unknown generator {kind!r}; choose zipf or cdn")
    console.print(f"wrote {written:,} requests to {plain(out)}", markup=False)


@cache_app.command("compile")
def compile_command(
    jobs: int | None = typer.Option(None, "--jobs", "-j", help="Worker processes (default: all cores)."),
) -> None:
    """Compile every policy ahead of time into numba's on-disk cache (~100 s of one core, once), so the first
    simulation starts warm — e.g. in a Docker image's build."""
    from feedlearn.cache.precompile import precompile

    console.print(f"compiled {precompile(jobs=jobs):,} policies", markup=False)
