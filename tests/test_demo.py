"""The demo's bargain part, in process. The other parts run in ``tests/test_wheel.py``: ``feedlearn demo
--quick`` from the installed wheel prints each of them (every learned policy, the recipe's table,
ZeRO++'s byte ratio), so they are not run twice."""

from __future__ import annotations

import io

from rich.console import Console

from feedlearn import demo


def test_bargain_demo_shows_feedback_moving_the_price(tmp_path):
    out = io.StringIO()
    rows = demo.bargain_demo(Console(file=out, width=200), tmp_path, runs=20)
    assert list(rows) == ["ai", "none", "random"]
    assert rows["ai"][2]["mean_price"] > rows["none"][2]["mean_price"]
    assert "mean deal price (deal success)" in out.getvalue() and (tmp_path / "bargain" / "bargain.png").exists()
