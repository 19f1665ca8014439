"""What ``tune --interactive`` shows after a round: the ranked candidates and what changed."""

from __future__ import annotations

from collections.abc import Collection

from rich import box
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from core import ReviewEntry, RoundReview, word_diff

from .history import diff_text

CONTEXT_WORDS = 4  # unchanged words kept on each side of a change in a compact diff


def rank_of(review: RoundReview) -> dict[str, int]:
    return {e.id: i for i, e in enumerate(review.entries, 1)}


def header(review: RoundReview, again: bool) -> Text:
    spent = (f"{review.calls} of {review.max_calls} calls spent" if review.max_calls is not None
             else f"{review.calls} calls spent")
    text = Text(f"Round {review.round} of {review.rounds}", "bold")
    text.append(", with your prompts scored" if again else "", "bold")
    text.append(f" · scores on the dev examples · {spent}", "dim")
    return text


def made_by(entry: ReviewEntry, ranks: dict[str, int]) -> Text:
    if entry.is_original:
        return Text("original", "bold")
    if entry.strategy == "human" and entry.operator == "user":
        return Text("you", "magenta").append(" new", "dim")
    who = Text("you", "magenta") if entry.strategy == "human" else Text(entry.strategy)
    who.append(f" {entry.operator}", "dim")
    if entry.parent_id is not None:
        parent = ranks.get(entry.parent_id)
        who.append(f" ← #{parent}" if parent is not None else f" ← {entry.parent_id[:8]}", "dim")
    return who


def score(entry: ReviewEntry) -> Text:
    est = entry.estimate
    if est.n == 0:
        return Text("n/a", "dim")
    text = Text(f"{est.mean:4.0%}", "bold")
    text.append(f" [{est.low:.0%}, {est.high:.0%}]", "dim")
    return text


def status(entry: ReviewEntry, dropping: Collection[str]) -> Text:
    if entry.id in dropping:
        return Text("drop", "bold red")
    return Text(entry.status, {"pruned": "dim", "partial": "yellow"}.get(entry.status, ""))


def table(review: RoundReview, dropping: Collection[str] = ()) -> Table:
    """Rank, id, who made it, score with its 95% CI, answers paid for, status, NEW."""
    ranks = rank_of(review)
    out = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    out.add_column("#", justify="right", style="bold")
    out.add_column("id", no_wrap=True)
    out.add_column("made by", no_wrap=True)
    out.add_column("score [95% CI]", no_wrap=True)
    out.add_column("answers", justify="right")
    out.add_column("status", no_wrap=True)
    out.add_column("", no_wrap=True)
    for rank, entry in enumerate(review.entries, 1):
        new = Text("NEW", "bold green") if entry.is_new else Text("")
        out.add_row(str(rank), Text(entry.id, "cyan"), made_by(entry, ranks), score(entry),
                    str(entry.answers), status(entry, dropping), new,
                    style="dim" if entry.id in dropping else None)
    return out


def compact(segments: list[tuple[str, str]], context: int = CONTEXT_WORDS) -> list[tuple[str, str]]:
    """Long unchanged stretches cut to their first and last ``context`` words."""
    out = []
    for i, (op, part) in enumerate(segments):
        words = part.split()
        keep_head = context if i > 0 else 0
        keep_tail = context if i < len(segments) - 1 else 0
        if op == "equal" and len(words) > keep_head + keep_tail + 2:
            lead = part[:len(part) - len(part.lstrip())]
            trail = part[len(part.rstrip()):]
            kept = [*words[:keep_head], "…", *words[len(words) - keep_tail:]]
            part = lead + " ".join(kept) + trail
        out.append((op, part))
    return out


def diffs(review: RoundReview, *, plain: bool) -> list[RenderableType]:
    """For each candidate new in this round: what it changed in its parent."""
    ranks = rank_of(review)
    originals = {e.id for e in review.entries if e.is_original}
    out: list[RenderableType] = []
    for entry in review.entries:
        if not entry.is_new:
            continue
        title = Text(f"#{ranks[entry.id]} {entry.id}", "bold")
        if entry.parent_text is None or entry.parent_id is None:
            title.append(" written whole (v to read it)", "dim")
            out.append(title)
            continue
        segments = word_diff(entry.parent_text, entry.text)
        parent = f"#{ranks[entry.parent_id]}" if entry.parent_id in ranks else entry.parent_id
        title.append(f" vs {'the original' if entry.parent_id in originals else 'its parent'} "
                     f"{parent}:", "dim")
        if all(op == "equal" for op, _ in segments):
            title.append(" no change in the text", "dim")
            out.append(title)
            continue
        out.extend([title, Padding(diff_text(compact(segments), plain=plain), (0, 0, 0, 4),
                                          expand=False)])
    return out


def screen(review: RoundReview, *, again: bool, plain: bool,
           dropping: Collection[str] = ()) -> Group:
    parts: list[RenderableType] = [Text(""), header(review, again), table(review, dropping)]
    changes = diffs(review, plain=plain)
    if changes:
        parts += [Text("What the new candidates changed", "bold"), *changes]
    else:
        parts.append(Text("No new candidates this round.", "dim"))
    return Group(*parts, Text(""))


def prompt_view(entry: ReviewEntry, rank: int) -> Group:
    title = Text(f"#{rank} {entry.id}", "bold")
    title.append(f" · {entry.estimate.fmt()} · {entry.status}", "dim")
    return Group(title, Text(entry.text), Text(""))
