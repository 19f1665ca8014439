"""Shape checks for the format benchmark: each example's meta says which shape and what count.

``kind`` is one of:

- ``words``: the answer has exactly ``n`` words (a word is a run of non-space characters with a
  letter or digit in it, so a lone dash or emoji does not count);
- ``bullets``: exactly ``n`` bullet lines ("- ", "* " or "• "), and no other text after the first
  bullet (one short lead-in line before the list is tolerated);
- ``numbered``: exactly ``n`` lines "1." / "1)" … numbered 1 to n in order, same lead-in rule;
- ``commas``: one line holding exactly ``n`` non-empty comma-separated items.

Used by the task as ``function: "checks.py:check_format"``; returns ``(score, reason)``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

BULLET = re.compile(r"^\s*[-*•]\s+\S")
NUMBERED = re.compile(r"^\s*(\d+)[.)]\s+\S")
WORD = re.compile(r"[^\W_]", re.UNICODE)


def _meta(example: Any) -> Mapping[str, Any]:
    meta = example.get("meta") if isinstance(example, Mapping) else getattr(example, "meta", None)
    if not isinstance(meta, Mapping):
        raise ValueError("format check: the example has no meta (kind, n)")
    return meta


def count_words(text: str) -> int:
    return sum(1 for token in text.split() if WORD.search(token))


def _lines(text: str) -> list[str]:
    return [line for line in text.strip().splitlines() if line.strip()]


def _list_shape(text: str, pattern: re.Pattern[str]) -> tuple[list[str], str | None]:
    """The list lines, or a reason the text is not one list (lead-in line allowed)."""
    lines = _lines(text)
    first = next((i for i, line in enumerate(lines) if pattern.match(line)), None)
    if first is None:
        return [], "no list items found"
    if first > 1:
        return [], f"{first} lines of text before the list"
    items = lines[first:]
    stray = [line for line in items if not pattern.match(line)]
    if stray:
        return [], f"text that is not a list item: {stray[0].strip()[:40]!r}"
    return items, None


def check(answer: str, kind: str, n: int) -> tuple[float, str]:
    text = answer.strip()
    if not text:
        return 0.0, "empty answer"
    if kind == "words":
        got = count_words(text)
        return (1.0, f"{got} words") if got == n else (0.0, f"{got} words, wanted {n}")
    if kind == "bullets":
        items, problem = _list_shape(text, BULLET)
        if problem:
            return 0.0, problem
        return (1.0, f"{n} bullets") if len(items) == n else (0.0, f"{len(items)} bullets, wanted {n}")
    if kind == "numbered":
        items, problem = _list_shape(text, NUMBERED)
        if problem:
            return 0.0, problem
        numbers = [int(m.group(1)) for m in (NUMBERED.match(line) for line in items) if m]
        if len(items) != n:
            return 0.0, f"{len(items)} numbered items, wanted {n}"
        if numbers != list(range(1, n + 1)):
            return 0.0, f"numbered {numbers}, not 1 to {n}"
        return 1.0, f"{n} numbered items"
    if kind == "commas":
        lines = _lines(text)
        if len(lines) != 1:
            return 0.0, f"{len(lines)} lines, wanted one"
        items = [item.strip() for item in lines[0].rstrip(".").split(",")]
        if any(not item for item in items):
            return 0.0, "an empty item between commas"
        return (1.0, f"{n} items") if len(items) == n else (0.0, f"{len(items)} items, wanted {n}")
    raise ValueError(f"format check: unknown kind {kind!r}")


def check_format(answer: str, example: Any) -> tuple[float, str]:
    meta = _meta(example)
    return check(answer, str(meta["kind"]), int(meta["n"]))
