"""``prompt-tuner show RUN_ID``: one stored run as a screenful — what was tuned, the result with
its intervals and test, the best score after each round, the leaderboard, the winning prompt and
what it cost. Finished or not: an unfinished run shows its best so far on the dev examples.

Prompt text and notes go in as ``rich.text.Text`` (no markup is parsed); on a pipe rich prints
the same characters without colour.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from core import CandidateView, Estimate, RunView, best_so_far, safety_facts

from .termcharts import LEGEND, emit, interval, score_bar, sparkline
from .termcharts import table as new_table

PROG = "prompt-tuner"
BAR = 20
UNFINISHED = ("running", "interrupted", "failed")


def money(cost: float) -> str:
    return f"${cost:.4f}" if 0 < cost < 0.01 else f"${cost:.2f}"


def seconds(s: float | None) -> str:
    if s is None:
        return "?"
    if s < 60:
        return f"{s:.1f}s"
    minutes, secs = divmod(round(s), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def _section(title: str, note: str = "") -> Text:
    return Text.assemble("\n", (title, "bold underline"), (f"  {note}" if note else "", "dim"))


def _settings(view: RunView) -> dict[str, Any]:
    raw = view.run.get("settings_json")
    data = json.loads(raw) if raw else {}
    return data if isinstance(data, dict) else {}


# -- header -----------------------------------------------------------------------------------------


def header(view: RunView) -> RenderableType:
    run, tune = view.run, _settings(view).get("tune") or {}
    status_style = "green" if view.status == "finished" else "yellow"
    title = Text.assemble(("run ", "bold"), (view.id, "bold cyan"), " · ",
                          (str(run.get("task_name") or "?"), "bold"), " · ",
                          (view.status or "?", f"bold {status_style}"))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim")
    grid.add_column()
    description = view.task.get("description") if isinstance(view.task, dict) else None
    if description:
        grid.add_row("task", Text(" ".join(str(description).split())))
    if view.started:
        took = view.duration_s if view.duration_s is not None else \
            (view.rounds[-1].elapsed_s if view.rounds else None)
        grid.add_row("started", Text(view.started + (f" · took {seconds(took)}"
                                                     if took is not None else "")))
    grid.add_row("target", Text(str(run.get("target") or "?")))
    how = [f"strategy {tune['strategy']}" if tune.get("strategy") else "",
           f"{tune['rounds']} rounds at most" if tune.get("rounds") else "",
           f"metric {run['metric']}" if run.get("metric") else ""]
    grid.add_row("optimizer", Text(" · ".join([str(run.get("optimizer") or "?"),
                                               *[h for h in how if h]])))
    if view.run.get("error"):
        grid.add_row("stopped", Text(str(view.run["error"]), "yellow"))
    return Group(title, grid)


# -- the result -------------------------------------------------------------------------------------


def _score_row(grid: Table, label: str, c: CandidateView | None, est: Estimate | None,
               bar: int, mark: str = "") -> None:
    grid.add_row(label, Text(c.id if c else "?", "cyan"), score_bar(est, bar),
                 Text(interval(est), "bold"), Text(mark, "green"))


def result_section(view: RunView, bar: int = BAR) -> RenderableType:
    """Baseline → best with intervals, the paired test, and what the run returned."""
    res, orig = view.result, view.original
    grid = Table.grid(padding=(0, 2))
    for _ in range(5):
        grid.add_column(no_wrap=True)
    if res is None:
        best = best_so_far(view)
        note = f"none: the run is {view.status or 'unfinished'}; best so far on the dev examples"
        _score_row(grid, "original", orig, orig.dev if orig else None, bar)
        if best is not None and (orig is None or best.id != orig.id):
            _score_row(grid, "best so far", best, best.dev, bar)
        hint = Text("")
        if view.status in UNFINISHED:
            when = "once it has stopped, " if view.status == "running" else ""
            hint = Text(f"{when}continue it with `{PROG} tune --resume {view.id}`", "dim")
        extra = [t for t in (baseline_line(view), rejected_line(view)) if t is not None]
        return Group(_section("Result", note), Padding(Group(grid, *extra, hint), (0, 0, 0, 2)))
    best, search = view.best, view.search_best
    where = ("held-out: examples the search never saw" if view.heldout
             else "on the search's own examples (too few to hold any out)")
    kept = best is not None and orig is not None and best.id == orig.id
    _score_row(grid, "original", orig, view.headline(orig) if orig else None, bar,
               "★ returned" if kept else "")
    if search is not None and (orig is None or search.id != orig.id):
        _score_row(grid, "best", search, view.headline(search), bar,
                   "★ returned" if best is not None and best.id == search.id else "")
    lines: list[RenderableType] = [grid, verdict(view)]
    lines += [t for t in (baseline_line(view), rejected_line(view), safety_line(view))
              if t is not None]
    lines += [Text(str(res[key]), "dim") for key in ("pick", "attribution") if res.get(key)]
    for warning in res.get("warnings") or []:
        lines.append(Text(f"warning: {warning}", "yellow"))
    return Group(_section("Result", where), Padding(Group(*lines), (0, 0, 0, 2)))


def verdict(view: RunView) -> Text:
    """The paired test, and what was returned."""
    res = view.result or {}
    cmp = res.get("comparison")
    improved = bool(res.get("improved"))
    if not cmp:
        return Text("no candidate beat the original on the dev examples: the original is kept",
                    "yellow")
    significant = bool(cmp.get("significant"))
    alpha = float(cmp.get("alpha") or 0.05)
    text = Text(f"difference {cmp['diff']:+.0%} [{cmp['diff_low']:+.0%}, {cmp['diff_high']:+.0%}]"
                f" · better on {cmp.get('b_wins', '?')}, worse on {cmp.get('a_wins', '?')} "
                f"examples · p={cmp['p_value']:.3g} (paired permutation)")
    if cmp.get("test_name") and cmp.get("test_p") is not None:
        text.append(f" · {cmp['test_name']} p={cmp['test_p']:.3g}", "dim")
    text.append("\n→ ")
    if significant and improved:
        text.append(f"significant at {alpha:g}: the best prompt is returned", "bold green")
    elif improved:
        text.append(f"not significant at {alpha:g}; returned anyway (keep_best)", "yellow")
    else:
        text.append(f"not significant at {alpha:g}: the original is kept", "yellow")
        if cmp.get("needed_n"):
            text.append(f" (about {cmp['needed_n']} examples would tell)", "dim")
    return text


def baseline_line(view: RunView) -> Text | None:
    """Chance and always answering the most frequent train label, and whether the winner beats it."""
    b = view.baselines
    if b is None:
        return None
    where = "held-out" if b.split == "test" else "dev"
    text = Text(f"baselines ({where}): chance {b.chance:.0%} ({len(b.answers)} answers) · always "
                f"`{b.majority_label}` {interval(b.majority)}", "dim")
    text.append("\n→ ")
    style = "" if b.beats_majority is None else "green" if b.beats_majority else "bold yellow"
    text.append(b.verdict(), style)
    return text


def rejected_line(view: RunView) -> Text | None:
    """How many proposals were rejected before a target call, by reason."""
    reasons = view.rejected()
    if not reasons:
        return None
    total = sum(n for _, n in reasons)
    text = Text(f"rejected before scoring: {total} proposal{'s' if total != 1 else ''} — ", "yellow")
    text.append("; ".join(f"{r} ({n})" for r, n in reasons), "dim")
    return text


def safety_line(view: RunView) -> Text | None:
    """The safety screening's counts, when the run screened anything (``core.safety``)."""
    facts = safety_facts(view)
    if facts is None:
        return None
    return Text(f"safety: {facts['line']}", "bold red" if facts["flagged"] else "dim")


# -- rounds -----------------------------------------------------------------------------------------


def rounds_section(view: RunView, bar: int = BAR) -> RenderableType | None:
    """The best candidate after each round (0: the original alone), its dev score and interval,
    and what had been spent by then."""
    if not view.rounds:
        return None
    table = new_table()
    table.add_column("round", justify="right")
    table.add_column("", no_wrap=True)
    table.add_column("best score (dev)", no_wrap=True)
    table.add_column("best", no_wrap=True)
    table.add_column("cands", justify="right")
    table.add_column("calls", justify="right")
    table.add_column("time", justify="right")
    prev = None
    for r in view.rounds:
        changed = prev is not None and r.best_id != prev
        best = Text(r.best_id, "bold cyan" if changed else "cyan")
        if changed:
            best.append(" ▲", "bold green")
        if r.decision:
            best.append(" ✎", "magenta")
        table.add_row(str(r.round), score_bar(r.best, bar), interval(r.best), best,
                      str(r.candidates), f"{r.calls:,}", seconds(r.elapsed_s))
        prev = r.best_id
    marks = "▲ new best" + ("  ✎ a person stepped in" if any(r.decision for r in view.rounds)
                            else "")
    title = Text.assemble("\n", ("Best score by round", "bold underline"), "  ",
                          sparkline([r.best.mean for r in view.rounds]),
                          (f"   {marks} · {LEGEND}", "dim"))
    return Group(title, table)


# -- leaderboard ------------------------------------------------------------------------------------


def _marks(c: CandidateView) -> Text:
    if c.is_best:
        return Text("★ returned", "bold green")
    if c.status in ("pruned", "dropped", "partial"):
        return Text(c.status, "dim")
    return Text("")


def leaderboard(view: RunView, top: int, bar: int = BAR, *, compact: bool = False
                ) -> RenderableType | None:
    """The best ``top`` scored candidates (and the original and the returned one wherever they
    rank): score bar with its interval, and the prompt tokens the target read per answer.
    ``compact`` (under 100 columns) leaves out the round and the n of each interval."""
    ranked = [c for c in view.ranked() if c.dev is not None]
    if not ranked:
        return None
    shown = ranked[:top]
    pinned = [c for c in ranked[top:] if c.is_best or c.is_original]
    table = new_table()
    table.add_column("#", justify="right")
    table.add_column("candidate", no_wrap=True)
    table.add_column("operator", no_wrap=True, max_width=10, overflow="ellipsis")
    if not compact:
        table.add_column("round", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("score (dev)", no_wrap=True)
    table.add_column("tokens", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    for c in [*shown, *pinned]:
        dim = c.status in ("pruned", "dropped", "partial")
        tokens = f"{c.prompt_tokens:,.0f}" if c.tokens_measured else f"~{c.prompt_tokens:,.0f}"
        rnd = [] if compact else ["" if c.round is None else str(c.round)]
        table.add_row(str(ranked.index(c) + 1), Text(c.id, "dim" if dim else "cyan"), c.operator,
                      *rnd, score_bar(c.dev, bar, "dim" if dim else "green"),
                      interval(c.dev, n=not compact), tokens, _marks(c),
                      style="dim" if dim else "")
    unscored = len(view.candidates) - len(ranked)
    note = f"top {len(shown)} of {len(ranked)} scored" + (
        f" · {unscored} never scored" if unscored else "")
    title = _section("Leaderboard", f"{note} · tokens: prompt tokens per answer (~ estimated)")
    return Group(title, table)


# -- the prompt and the cost ------------------------------------------------------------------------


def prompt_section(view: RunView) -> RenderableType | None:
    returned = view.best
    c = returned or best_so_far(view)
    if c is None:
        return None
    if returned is None:
        title, note = "Best prompt so far", f"{c.id} · not confirmed (the run did not finish)"
    elif returned.is_original:
        title, note = "Returned prompt", f"{c.id} · the original: nothing beat it"
    else:
        parent = f" of {c.parents[0]}" if c.parents else ""
        title, note = "Winning prompt", f"{c.id} · {c.operator}{parent}"
    body: list[RenderableType] = [_section(title, note), Text(c.text)]
    search = view.search_best
    if returned is not None and search is not None and search.id != returned.id:
        body.append(Text(f"(the search's best, {search.id}, was not returned: see "
                         f"`{PROG} diff {view.id} {search.id} {returned.id}`)", "dim"))
    return Group(*body)


def cost_section(view: RunView) -> RenderableType:
    """Calls, cache hits, tokens, money and time: the run's totals; for a run without a result,
    what its stored answers and its last round say was spent so far."""
    t = dict(view.totals)
    note = ""
    if view.result is None and view.rounds:
        last = view.rounds[-1]
        t["cache_hits"] = max(int(t.get("cache_hits", 0)), last.cache_hits)
        t["cost"] = max(float(t.get("cost", 0.0)), last.cost)
        if t.get("seconds") is None:
            t["seconds"] = last.elapsed_s
        note = f"so far (to the end of round {last.round})"
    prompt, completion = int(t.get("prompt_tokens", 0)), int(t.get("completion_tokens", 0))
    line = Text(f"{int(t.get('calls', 0)):,} calls · {int(t.get('cache_hits', 0)):,} cache hits "
                f"· {int(t.get('retries', 0)):,} retries · {prompt + completion:,} tokens "
                f"({prompt:,} prompt + {completion:,} completion) · "
                f"{money(float(t.get('cost', 0.0)))} · {seconds(t.get('seconds'))}")
    parts: list[RenderableType] = [_section("Cost", note), Padding(line, (0, 0, 0, 2))]
    if len(view.usage) > 1:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim", no_wrap=True, overflow="ellipsis", max_width=48)
        for _ in range(3):
            grid.add_column(justify="right")
        for spec, u in sorted(view.usage.items()):
            used = int(u.get("prompt_tokens", 0)) + int(u.get("completion_tokens", 0))
            grid.add_row(spec, f"{int(u.get('calls', 0)):,} calls", f"{used:,} tokens",
                         money(float(u.get("cost", 0.0))))
        parts.append(Padding(grid, (0, 0, 0, 2)))
    return Group(*parts)


def bar_width(width: int) -> int:
    """Bars of 20 cells in 100 columns, down to 8 in 80."""
    return max(8, min(BAR, width - 80 if width >= 100 else width - 72))


def print_show(out: Console, view: RunView, *, top: int = 10) -> None:
    bar = bar_width(out.width)
    sections = [header(view), result_section(view, bar), rounds_section(view, bar),
                leaderboard(view, top, bar, compact=out.width < 100), prompt_section(view),
                cost_section(view)]
    for section in sections:
        if section is not None:
            emit(out, section)
