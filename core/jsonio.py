"""JSON from files and from model servers, with a depth limit.

``json.loads`` recurses once per ``[`` or ``{``: 100,000 of them raise ``RecursionError``, and a
value nested 900 deep parses but makes every later step (validation, storing, rendering) recurse
as deep. :func:`load_json` refuses more than :data:`MAX_DEPTH` levels and reports every problem
as ``json.JSONDecodeError`` (a ``ValueError``) with the line, so callers keep one ``except``.
Numbers follow :mod:`core.scalars`: an integer of over 1,000 digits is text, ``1.50`` prints
as written.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .scalars import MAX_INT_DIGITS, float_or_text

MAX_DEPTH = 100  # levels of nesting; task files need about 6, JSON schemas in them about 20

# A string (skipped whole, so brackets inside it do not count) or a bracket.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def _int(text: str) -> int | str:
    digits = len(text) - text.startswith("-")
    return int(text) if digits <= MAX_INT_DIGITS else text


def _float(text: str) -> float | str:
    return float_or_text(text, float(text))


def _depth(value: Any) -> int:
    """How deeply ``value`` nests lists and objects (0 for a scalar), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                return deepest
            stack.extend((child, depth) for child in item)
    return deepest


def too_deep_at(text: str) -> int:
    """Where (a character offset) ``text`` first opens its level ``MAX_DEPTH + 1``; 0 if nowhere."""
    depth = 0
    for m in _TOKENS.finditer(text):
        token = m.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return m.start()
        elif token in "]}":
            depth -= 1
    return 0


class JsonTooDeep(json.JSONDecodeError):
    """The JSON nests more than :data:`MAX_DEPTH` levels."""


def _too_deep(text: str, locate: bool = True) -> JsonTooDeep:
    return JsonTooDeep(f"nested more than {MAX_DEPTH} levels deep", text,
                       too_deep_at(text) if locate else 0)


def load_json(text: str, *, as_written: bool = True) -> Any:
    """``json.loads`` with the depth limit; every failure is a ``json.JSONDecodeError``.
    ``as_written``: numbers as :mod:`core.scalars` reads them (for files); without it plain
    ``json`` numbers, faster, for model replies (an integer over Python's 4,300 digits fails)."""
    try:
        value = json.loads(text, parse_int=_int, parse_float=_float) if as_written else json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise _too_deep(text, locate=as_written) from None
    except ValueError as exc:  # an integer over Python's digit limit
        raise json.JSONDecodeError(str(exc)[:80], text, 0) from None
    if _depth(value) > MAX_DEPTH:
        raise _too_deep(text, locate=as_written)
    return value


_PLAIN = json.JSONDecoder()


def raw_decode(text: str, start: int) -> tuple[Any, int]:
    """The JSON value that starts at ``start`` and where it ends, with the depth limit and plain
    numbers (for JSON found inside a model's answer); raises ``json.JSONDecodeError``."""
    try:
        value, end = _PLAIN.raw_decode(text, start)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise _too_deep(text, locate=False) from None
    except ValueError as exc:
        raise json.JSONDecodeError(str(exc)[:80], text, start) from None
    if _depth(value) > MAX_DEPTH:
        raise _too_deep(text, locate=False)
    return value, end
