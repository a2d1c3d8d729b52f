"""Presenting simulation results: a rich table, JSON/CSV files and a miss-ratio plot."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

from rich.table import Table
from rich.text import Text

from feedlearn.cache.simulator import SimResult
from feedlearn.common.io import atomic_write, atomic_write_text
from feedlearn.common.text import plain, strip_suffixes


def human_bytes(n: float) -> str:
    """``20297697`` → ``19.4MiB`` (binary units, as cache sizes are usually given)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    raise AssertionError("unreachable")


_TRACE_SUFFIXES = (".zst", ".csv", ".tsv", ".txt", ".bin", ".oracleGeneral", ".sample", ".lis")


def short_trace_name(name: str) -> str:
    """``tencentBlock.ns2706.sample.csv`` → ``tencentBlock.ns2706`` (format suffixes dropped)."""
    return strip_suffixes(name, _TRACE_SUFFIXES)


def results_table(results: Sequence[SimResult], title: str = "cache simulation") -> Table:
    """One row per (trace, policy, size): object/byte miss ratio, P95 window byte miss ratio, time."""
    table = Table(title=title)
    for column in ("trace", "policy", "cache size", "requests", "obj miss", "byte miss", "p95 win byte miss", "seconds"):
        table.add_column(column, justify="left" if column in ("trace", "policy") else "right")
    for r in results:
        table.add_row(  # trace and policy are the user's text (file names, model paths): never markup
            Text(plain(r.trace)), Text(plain(r.policy)), human_bytes(r.cache_size), f"{r.requests:,}",
            f"{r.object_miss_ratio:.4f}", f"{r.byte_miss_ratio:.4f}",
            f"{r.p95_window_byte_miss_ratio:.4f}", f"{r.seconds:.3f}",
        )
    return table


def pivot_table(results: Sequence[SimResult], title: str) -> Table:
    """Policies as rows, (trace, cache size) as columns, cells ``object / byte`` miss ratio.

    The lowest byte miss ratio of each column among online policies is shown in bold; offline
    oracles (names starting with ``belady``) are shown for reference.
    """
    columns = list(dict.fromkeys((r.trace, r.cache_size) for r in results))
    policies = list(dict.fromkeys(r.policy for r in results))
    cell = {(r.policy, r.trace, r.cache_size): r for r in results}
    best = {}
    for trace, size in columns:
        online = [r for r in results if (r.trace, r.cache_size) == (trace, size) and not r.policy.startswith("belady")]
        best[(trace, size)] = min((r.byte_miss_ratio for r in online), default=None)
    table = Table(title=title)
    table.add_column("policy")
    for trace, size in columns:
        table.add_column(Text(f"{plain(short_trace_name(trace))}\n{human_bytes(size)}"), justify="right")
    for policy in policies:
        row = []
        for trace, size in columns:
            r = cell.get((policy, trace, size))
            if r is None:
                row.append("")
                continue
            text = f"{r.object_miss_ratio:.4f} / {r.byte_miss_ratio:.4f}"
            row.append(Text(text, style="bold") if r.byte_miss_ratio == best[(trace, size)] else text)
        table.add_row(Text(plain(policy)), *row)
    return table


def write_json(results: Sequence[SimResult], path: str | Path) -> None:
    """A JSON list of records, written atomically: the flat metrics of :meth:`SimResult.record`
    plus the per-window byte miss ratios and the policy's diagnostics (HALP's learning curves)."""
    records = [
        {**r.record(), "window_byte_miss_ratios": r.window_byte_miss_ratios, "diagnostics": r.diagnostics}
        for r in results
    ]
    atomic_write_text(path, json.dumps(records, indent=2) + "\n")


def write_csv(results: Sequence[SimResult], path: str | Path) -> None:
    """The same records as CSV, written atomically."""
    records = [r.record() for r in results]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(records[0]))
    writer.writeheader()
    writer.writerows(records)
    atomic_write_text(path, buffer.getvalue())


def _label(text: str) -> str:
    """A trace or policy name as plot text: ``$`` escaped, so matplotlib shows it instead of
    parsing it as mathtext (an unbalanced ``$`` in a file name would fail the plot after the run)."""
    return plain(text).replace("$", r"\$")


def plot_timeline(results: Sequence[SimResult], path: str | Path) -> Path:
    """Per-window byte miss ratio over the trace for each run, and the learning curves of learned
    policies (pairwise loss, batch accuracy, decision accuracy per model update) below it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    learned = [r for r in results if r.diagnostics.get("history", {}).get("request")]
    rows = 3 if learned else 1
    fig, axes = plt.subplots(rows, 1, figsize=(9, 3.2 * rows), squeeze=False)
    ax = axes[0][0]
    for r in results:
        windows = r.window_byte_miss_ratios
        ax.plot(range(1, len(windows) + 1), windows, label=_label(f"{r.policy} @ {human_bytes(r.cache_size)}"), linewidth=1)
    ax.set_xlabel(f"window ({r.window:g} {r.window_unit})")
    ax.set_ylabel("byte miss ratio")
    ax.set_title("byte miss ratio per window", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    for r in learned:
        hist = r.diagnostics["history"]
        label = _label(f"{r.policy} @ {human_bytes(r.cache_size)}")
        axes[1][0].plot(hist["request"], hist["loss"], label=label, linewidth=1)
        axes[2][0].plot(hist["request"], hist["decision_accuracy"], label=f"{label}: decisions", linewidth=1)
        axes[2][0].plot(hist["request"], hist["batch_accuracy"], label=f"{label}: training batch", linewidth=1,
                        linestyle=":")
    if learned:
        axes[1][0].set_ylabel("pairwise loss")
        axes[2][0].set_ylabel("pairwise accuracy")
        axes[2][0].set_xlabel("request")
        for a in (axes[1][0], axes[2][0]):
            a.grid(True, alpha=0.3)
            a.legend(fontsize=7)
    fig.tight_layout()
    out = Path(path)
    with atomic_write(out, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)
    return out


def plot_miss_ratios(results: Sequence[SimResult], path: str | Path) -> Path:
    """Miss ratio against cache size, one column per trace, object and byte miss ratio as rows."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt

    traces = list(dict.fromkeys(r.trace for r in results))
    policies = list(dict.fromkeys(r.policy for r in results))
    colors = plt.get_cmap("tab20")  # more distinct colours than the default ten
    fig, axes = plt.subplots(2, len(traces), figsize=(4.5 * len(traces), 7), squeeze=False)
    for col, trace in enumerate(traces):
        for row, (metric, label) in enumerate((("object_miss_ratio", "object miss ratio"),
                                              ("byte_miss_ratio", "byte miss ratio"))):
            ax = axes[row][col]
            for k, policy in enumerate(policies):
                points = sorted((r.cache_size, getattr(r, metric)) for r in results
                                if r.trace == trace and r.policy == policy)
                if points:
                    xs, ys = zip(*points)
                    oracle = policy.startswith("belady")  # offline references: dashed
                    ax.plot(xs, ys, marker="o", markersize=4, label=_label(policy), color=colors(k % 20),
                            linestyle="--" if oracle else "-")
            ax.set_xscale("log")
            ax.set_xlabel("cache size (bytes)")
            ax.set_ylabel(label)
            ax.set_title(_label(trace), fontsize=9)
            ax.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    out = Path(path)
    with atomic_write(out, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)
    return out
