"""Compact charts for the terminal made of block characters: a score bar that shows its 95%
interval, and a sparkline. They are ``rich.text.Text``, so they print in colour on a terminal and
as the same characters (no control codes) in a pipe.

A score bar of width 20 for 60% [45%, 80%]::

    █████████▓▓▓░░░░····

``█`` up to the interval's low end, ``▓`` from there to the score, ``░`` from the score to the
high end, ``·`` the rest of the scale (0-100%).
"""

from __future__ import annotations

import json
from typing import Any

from rich import box
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from core import Estimate

SOLID, BELOW, ABOVE, TRACK = "█", "▓", "░", "·"
SPARKS = "▁▂▃▄▅▆▇█"
LEGEND = f"{SOLID} score  {BELOW}{ABOVE} 95% interval"


def _cells(x: float, width: int) -> int:
    return max(0, min(width, round(min(1.0, max(0.0, x)) * width)))


def score_bar(est: Estimate | None, width: int = 20, style: str = "green") -> Text:
    """The score as a bar on a 0-100% scale with its interval shaded; a dim track when there is
    no score."""
    if est is None or est.n == 0:
        return Text(TRACK * width, "dim")
    low, mean, high = _cells(est.low, width), _cells(est.mean, width), _cells(est.high, width)
    low, high = min(low, mean), max(high, mean)
    return Text.assemble(
        (SOLID * low, style), (BELOW * (mean - low), style),
        (ABOVE * (high - mean), f"dim {style}"), (TRACK * (width - high), "dim"))


def sparkline(values: list[float | None]) -> Text:
    """One character a value on a 0-1 scale (``▁`` to ``█``); a missing value is a space."""
    out = Text()
    for v in values:
        if v is None:
            out.append(" ")
        else:
            out.append(SPARKS[round(max(0.0, min(1.0, v)) * (len(SPARKS) - 1))], "cyan")
    return out


def pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


def interval(est: Estimate | None, *, n: bool = True) -> str:
    """``60% [45%, 80%] n=40``; ``—`` without a score."""
    if est is None or est.n == 0:
        return "—"
    text = f"{est.mean:.0%} [{est.low:.0%}, {est.high:.0%}]"
    return f"{text} n={est.n}" if n else text


def table() -> Table:
    """A table with a rule under its header, columns two spaces apart, no outer border."""
    return Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1, 0, 0))


def emit_json(out: Console, data: Any) -> None:
    """One JSON document: highlighted on a terminal, plain (one line) elsewhere."""
    text = json.dumps(data, ensure_ascii=False)
    if out.is_terminal:
        out.print_json(text)
    else:
        out.out(text, highlight=False)


def emit(out: Console, renderable: RenderableType) -> None:
    """Print ``renderable``: styled on a terminal; elsewhere (a pipe, a file) as plain lines with
    no trailing padding, so the output reads (and diffs) well."""
    if out.is_terminal:
        out.print(renderable, highlight=False)
        return
    for line in out.render_lines(renderable, out.options, pad=False):
        out.out("".join(segment.text for segment in line).rstrip(), highlight=False)
