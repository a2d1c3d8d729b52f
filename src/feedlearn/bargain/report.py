"""``bargain report``: the paper's per-round table (Markdown) and figure (PNG) for one or more runs dirs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from feedlearn.bargain.metrics import per_round
from feedlearn.bargain.runlog import finished_runs
from feedlearn.common.errors import FeedlearnError
from feedlearn.common.text import plain


def load_runs(run_dir: str | Path) -> list[list[dict[str, Any]]]:
    path = Path(run_dir) / "runs.jsonl"
    runs = finished_runs(path)
    if not runs:
        raise FeedlearnError(f"{path}: no finished runs")
    return [runs[i]["rounds"] for i in sorted(runs)]


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "—" if value is None else format(value, spec)


def markdown(rows_by_name: dict[str, list[dict[str, Any]]]) -> str:
    """One table: per run dir and round, success ratio, mean ± std price, change after feedback.

    Multi-issue runs (any round with utilities) also get each side's mean utility.
    """
    utility = any(r.get("mean_seller_utility") is not None for rows in rows_by_name.values() for r in rows)
    extra = " seller utility | buyer utility |" if utility else ""
    lines = ["| run | round | deal success | mean price | std | change after feedback | seller reply chars | "
             "deals seen / price read | rejected |" + extra,
             "|---|---|---|---|---|---|---|---|---|" + ("---|---|" if utility else "")]
    for name, rows in rows_by_name.items():
        name = plain(name).replace("|", "\\|")  # a folder name: no control sequences, no extra column
        for r in rows:
            line = (f"| {name} | {r['round']} | {r['success_ratio']:.2f} | {_fmt(r['mean_price'])} | "
                    f"{_fmt(r['std_price'])} | {_fmt(r['mean_change'], '+.2f')} | "
                    f"{_fmt(r['seller_reply_chars'], '.0f')} | {r['deals_seen']} / {r['prices_read']} | "
                    f"{', '.join(f'{why} {n}' for why, n in r['rejected'].items()) or '—'} |")
            if utility:
                line += f" {_fmt(r.get('mean_seller_utility'))} | {_fmt(r.get('mean_buyer_utility'))} |"
            lines.append(line)
    return "\n".join(lines) + "\n"


def plot(rows_by_name: dict[str, list[dict[str, Any]]], path: str | Path) -> Path:
    """Mean deal price (± std) and deal success per round, one line per run dir (the paper's figures)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, (price_ax, success_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for name, rows in rows_by_name.items():
        name = plain(name).replace("$", r"\$")  # a folder name, not mathtext ("$\\x$" would fail to draw)
        rounds = [r["round"] for r in rows if r["mean_price"] is not None]
        means = [r["mean_price"] for r in rows if r["mean_price"] is not None]
        stds = [r["std_price"] for r in rows if r["mean_price"] is not None]
        price_ax.errorbar(rounds, means, yerr=stds, marker="o", capsize=3, label=name)
        success_ax.plot([r["round"] for r in rows], [r["success_ratio"] for r in rows], marker="o", label=name)
    price_ax.set(xlabel="round", ylabel="mean deal price ($)", title="deal price over rounds")
    success_ax.set(xlabel="round", ylabel="deal success ratio", title="runs still dealing", ylim=(0, 1.05))
    for ax in (price_ax, success_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # rounds are whole numbers
    price_ax.legend(loc="upper left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def report(run_dirs: list[str | Path], rounds: int | None = None) -> dict[str, list[dict[str, Any]]]:
    """Per-round rows for each run dir (named by its folder)."""
    out = {}
    for d in run_dirs:
        name = Path(d).name or Path(d).resolve().name  # "." has no name of its own
        if name in out:  # one row would silently replace the other
            raise FeedlearnError(f"{d}: another run directory is also named {name!r}; the table names runs by "
                                 "folder, so give them different names")
        runs = load_runs(d)
        out[name] = per_round(runs, rounds or max(len(r) for r in runs))
    return out
