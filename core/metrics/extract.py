"""Metrics that pull a structured answer out of chatter: a regex, a number, a JSON object.

Outcome tags: ``ok``; ``no_match`` / ``bad_pattern`` / ``error`` (regex: the match ran out of
time); ``wrong`` / ``no_number`` / ``bad_expected`` (numeric); ``partial`` / ``wrong`` /
``parse_error`` / ``schema_error`` / ``bad_expected`` / ``error`` (json: the answer's JSON is
nested too deeply or too large).
"""

from __future__ import annotations

import asyncio
import importlib
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import regex  # type: ignore[import-untyped]  # no stubs; wrapped in typed helpers below
from jsonschema import exceptions as js_exceptions
from jsonschema import validators

from ..errors import TaskError
from ..jsonio import MAX_DEPTH, JsonTooDeep, load_json, raw_decode
from ..task import Example
from .base import Score
from .match import normalize

# Patterns come from task files and from examples' expected answers: untrusted. Each is
# checked with Python's re syntax (as documented), held to MAX_PATTERN_CHARS and to a compiled
# size (MAX_PATTERN_COST: ``(a{1000}){1000}`` would compile to a million nodes), and run by the
# `regex` engine with a time limit per answer: a pattern that backtracks catastrophically
# (``(.*a){20}x``) scores 0 with outcome ``error`` instead of freezing the run. Answers are
# stripped, then cut to MAX_REGEX_CHARS characters.
MAX_REGEX_CHARS = 4000
MAX_PATTERN_CHARS = 1000
MAX_PATTERN_COST = 50_000
MATCH_TIMEOUT_S = 0.5
# JSON is searched for in this much of the answer, at this many '{' at most.
MAX_JSON_CHARS = 100_000
MAX_JSON_STARTS = 200

_FLAGS = {"i": regex.IGNORECASE, "m": regex.MULTILINE, "s": regex.DOTALL, "x": regex.VERBOSE,
          "a": regex.ASCII}
_RE_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE, "a": re.ASCII}
_sre: Any = importlib.import_module("re._parser")  # re's own parser: the pattern's structure


def _check_flags(flags: str) -> None:
    for c in flags:
        if c not in _FLAGS:
            raise TaskError(f"unknown regex flag '{c}'", f"use some of: {''.join(_FLAGS)}")


def _parts(av: Any) -> list[Any]:
    """The sub-patterns inside one parsed item's argument (groups, branches, repeats)."""
    if isinstance(av, _sre.SubPattern):
        return [av]
    if isinstance(av, list | tuple):
        return [sub for x in av for sub in _parts(x)]
    return []


def _cost(items: Any) -> int:
    """How many nodes a parsed pattern compiles to, counting every fixed repeat in full."""
    total = 0
    for op, av in items:
        if str(op) in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = av
            total += max(1, low if high == _sre.MAXREPEAT else high) * _cost(sub)
        else:
            total += 1 + sum(_cost(sub) for sub in _parts(av))
        if total > MAX_PATTERN_COST:
            return total
    return total


@lru_cache(maxsize=512)
def compile_pattern(pattern: str, flags: str = "") -> Any:
    """A `regex` pattern object for a Python re pattern, or a TaskError saying what is wrong."""
    _check_flags(flags)
    shown = pattern if len(pattern) <= 60 else pattern[:57] + "..."
    if len(pattern) > MAX_PATTERN_CHARS:
        raise TaskError(f"the regex {shown!r} is longer than {MAX_PATTERN_CHARS} characters",
                        "shorten the pattern")
    re_flags = 0
    for c in flags:
        re_flags |= _RE_FLAGS[c]
    try:
        re.compile(pattern, re_flags)
        cost = _cost(_sre.parse(pattern, re_flags))
    except re.error as exc:
        raise TaskError(f"invalid regex {shown!r}: {exc}", "fix the pattern (Python re syntax)") from None
    except (RecursionError, OverflowError):
        raise TaskError(f"the regex {shown!r} nests too deeply", "simplify the pattern") from None
    if cost > MAX_PATTERN_COST:
        raise TaskError(f"the regex {shown!r} repeats too much (over {MAX_PATTERN_COST:,} steps "
                        "once compiled)", "use smaller {m,n} counts")
    mask = 0
    for c in flags:
        mask |= _FLAGS[c]
    return regex.compile(pattern, mask)


def _matches(compiled: Any, text: str, fullmatch: bool) -> bool:
    """Whether ``compiled`` matches; raises TimeoutError after MATCH_TIMEOUT_S seconds."""
    run = compiled.fullmatch if fullmatch else compiled.search
    return run(text, timeout=MATCH_TIMEOUT_S, concurrent=True) is not None


@dataclass(frozen=True)
class RegexMetric:
    """1.0 if the (stripped) answer matches ``pattern``: anywhere (``search``) or as a whole
    (``fullmatch``). Without a pattern each example's ``expected`` is its pattern. Only the first
    :data:`MAX_REGEX_CHARS` characters of the answer are looked at, for at most
    :data:`MATCH_TIMEOUT_S` seconds."""

    pattern: str | None = None
    mode: Literal["search", "fullmatch"] = "search"
    flags: str = ""
    name: str = "regex"
    _compiled: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.mode not in ("search", "fullmatch"):
            raise TaskError(f"unknown regex mode '{self.mode}'", "use search or fullmatch")
        _check_flags(self.flags)
        if self.pattern is not None:
            object.__setattr__(self, "_compiled", compile_pattern(self.pattern, self.flags))

    async def score(self, answer: str, example: Example) -> Score:
        compiled = self._compiled
        if compiled is None:
            if example.expected is None:
                return Score(0.0, "the example has no expected pattern", "bad_pattern")
            try:
                compiled = compile_pattern(example.expected, self.flags)
            except TaskError as exc:
                why = f"invalid pattern in the expected answer: {exc.message}"
                return Score(0.0, why[:300], "bad_pattern")
        text = answer.strip()[:MAX_REGEX_CHARS]
        full = self.mode == "fullmatch"
        try:
            # in a thread (the engine releases the GIL) so a slow match never stalls the loop
            found = await asyncio.to_thread(_matches, compiled, text, full)
        except TimeoutError:
            return Score(0.0, f"the pattern {compiled.pattern[:60]!r} took over {MATCH_TIMEOUT_S:g} s "
                              "on this answer (it backtracks too much)", "error")
        if found:
            return Score(1.0, "", "ok")
        return Score(0.0, f"does not {'fully ' if full else ''}match {compiled.pattern!r}", "no_match")


# -- numbers -------------------------------------------------------------------------------------

_NUM = re.compile(r"""
    (?P<sign>(?<![\w.,])[-−+])?                 # a sign, not glued to a word ("5-6" is a range)
    (?:[$€£¥]\s?(?P<sign2>[-−])?)?              # currency, and "$-12"
    (?:
        (?P<int>\d{1,3}(?:,\d{3})+(?!\d)|\d+)   # 1,234 or 1234
        (?P<frac>\.\d+)?                        # .5
      | (?P<bare>\.\d+)                         # .5 alone
    )
    (?:[eE](?P<exp>[-+]?\d+)(?!\w))?            # 1e-3
    (?:\s?/\s?(?P<den>0*[1-9]\d*)(?![\d.]))?    # 3/4
""", re.VERBOSE)
_MARKERS = (
    re.compile(r"####"),                                     # GSM8K: the first number after it
    re.compile(r"\\boxed\{"),                                # LaTeX: the first number inside
    # "The answer is 42 (40 + 2)": only a number right after it ("Answer: first, 3 apples …" is
    # a header before reasoning, where the final number is the better guess)
    re.compile(r"\banswer\s*(?:is|:|=)[\s:=*_`\"'(\[]*(?=[-−+]?[$€£¥]?\s?[-−]?\.?\d)", re.IGNORECASE),
)


def _numbers(text: str) -> list[float]:
    out = []
    for m in _NUM.finditer(text):
        digits = (m["int"] or "0").replace(",", "") + (m["frac"] or m["bare"] or "")
        value = float(digits + (f"e{m['exp']}" if m["exp"] else ""))
        if m["den"] is not None:
            value /= float(m["den"])
        if m["sign"] in ("-", "−") or m["sign2"]:
            value = -value
        out.append(value)
    return out


def extract_number(text: str) -> float | None:
    """The number an answer gives: the first number after the last "####" or "\\boxed{", or
    right after the last "answer is"/"answer:", else the final number in the text.

    Understands signs (incl. "−"), thousands separators ("1,234.5"), currency ("$12"),
    exponents ("1e-3"), simple fractions ("3/4" → 0.75); "50%" is 50.
    """
    for marker in _MARKERS:
        found = list(marker.finditer(text))
        if found:
            after = _numbers(text[found[-1].end():])
            if after:
                return after[0]
    numbers = _numbers(text)
    return numbers[-1] if numbers else None


@dataclass(frozen=True)
class NumericMatch:
    """The answer's number (:func:`extract_number`) equals the expected one within ``tolerance``:
    absolute, or relative to the expected value with ``relative``."""

    tolerance: float = 1e-6
    relative: bool = False
    name: str = "numeric"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.tolerance) and self.tolerance >= 0):
            raise TaskError(f"tolerance {self.tolerance} must be a number >= 0", "e.g. tolerance: 0.01")

    def close(self, got: float, want: float) -> bool:
        limit = self.tolerance * abs(want) if self.relative else self.tolerance
        return got == want or abs(got - want) <= limit

    async def score(self, answer: str, example: Example) -> Score:
        want = extract_number(example.expected or "")
        if want is None:
            return Score(0.0, f"expected {example.expected!r} is not a number", "bad_expected")
        got = extract_number(answer)
        if got is None:
            return Score(0.0, "no number in the answer", "no_number")
        if self.close(got, want):
            return Score(1.0, "", "ok")
        return Score(0.0, f"got {got:g}, expected {want:g}", "wrong")


# -- JSON --------------------------------------------------------------------------------------

_FENCE = re.compile(r"```[ \t]*(?:json|JSON|json5)?[ \t]*\n?(.*?)```", re.DOTALL)
_NOTHING = object()


def find_json(text: str) -> Any:
    """The JSON object (or array) in an answer: the whole answer, else the first ```json fence
    that parses, else the first balanced ``{...}`` that parses. Returns ``_NOTHING`` if none
    (see :func:`parse_json`). A bare number or string is not taken for JSON. Raises
    :class:`JsonTooDeep` when nothing parses and some JSON nests too deeply."""
    text = text[:MAX_JSON_CHARS]
    deep: JsonTooDeep | None = None
    candidates = [text.strip(), *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for candidate in candidates:
        try:
            value = load_json(candidate, as_written=False)
        except JsonTooDeep as exc:
            deep = deep or exc
            continue
        except ValueError:
            continue
        if isinstance(value, dict | list):
            return value
    start = text.find("{")
    for _ in range(MAX_JSON_STARTS):
        if start < 0:
            break
        try:
            value, _end = raw_decode(text, start)
            return value  # starts at "{": an object
        except JsonTooDeep as exc:
            deep = deep or exc
        except ValueError:
            pass
        start = text.find("{", start + 1)
    if deep is not None:
        raise deep
    return _NOTHING


def parse_json(text: str) -> tuple[bool, Any]:
    """(found, value) for the JSON value in an answer; raises :class:`JsonTooDeep`."""
    value = find_json(text)
    return (value is not _NOTHING, None if value is _NOTHING else value)


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, str):
        return isinstance(got, str) and normalize(got) == normalize(want)
    if isinstance(want, bool) or isinstance(got, bool):
        return got is want
    if isinstance(want, int | float):
        return isinstance(got, int | float) and (got == want or abs(got - want) <= 1e-9)
    if isinstance(want, dict):
        return (isinstance(got, dict) and got.keys() == want.keys()
                and all(_same(got[k], want[k]) for k in want))
    if isinstance(want, list):
        return (isinstance(got, list) and len(got) == len(want)
                and all(_same(g, w) for g, w in zip(got, want, strict=True)))
    return bool(got == want)


def _path(error: js_exceptions.ValidationError) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path) or "(top)"


@dataclass(frozen=True)
class JsonMatch:
    """The answer holds JSON that parses, fits ``schema`` (if any) and, where the example has an
    ``expected`` JSON text, agrees with it: the score is the fraction of the expected object's
    fields (or of ``fields``) whose values match (strings compared normalized). Without an
    expected value a valid answer scores 1."""

    schema: dict[str, Any] | None = None
    fields: tuple[str, ...] | None = None
    name: str = "json"
    _validator: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.schema is None:
            return
        cls = validators.validator_for(self.schema)
        try:
            cls.check_schema(self.schema)
        except js_exceptions.SchemaError as exc:
            where = "".join(f".{p}" for p in exc.absolute_path) or "(top)"
            raise TaskError(f"invalid JSON schema at {where}: {exc.message}",
                            "fix the schema (JSON Schema draft 2020-12)") from None
        object.__setattr__(self, "_validator", cls(self.schema))

    async def score(self, answer: str, example: Example) -> Score:
        try:
            found, value = parse_json(answer)
        except JsonTooDeep:
            return Score(0.0, f"the answer's JSON nests more than {MAX_DEPTH} levels deep", "error")
        if not found:
            return Score(0.0, "no JSON found in the answer", "parse_error")
        if self._validator is not None:
            try:
                error = js_exceptions.best_match(self._validator.iter_errors(value))
            except RecursionError:
                return Score(0.0, "JSON nested too deeply", "parse_error")
            if error is not None:
                return Score(0.0, f"schema: {_path(error)}: {error.message[:200]}", "schema_error")
        if example.expected is None:
            return Score(1.0, "", "ok")
        try:
            want = load_json(example.expected, as_written=False)
        except ValueError:
            return Score(0.0, "the expected value is not JSON (or nests too deeply)", "bad_expected")
        if not isinstance(want, dict):
            ok = _same(value, want)
            return Score(1.0, "", "ok") if ok else Score(0.0, "JSON differs from expected", "wrong")
        keys = [k for k in self.fields if k in want] if self.fields is not None else list(want)
        if not keys:
            return Score(1.0, "", "ok")
        got = value if isinstance(value, dict) else {}
        wrong = [k for k in keys if k not in got or not _same(got[k], want[k])]
        frac = 1.0 - len(wrong) / len(keys)
        if not wrong:
            return Score(1.0, "", "ok")
        outcome = "wrong" if frac == 0.0 else "partial"
        return Score(frac, f"fields wrong: {', '.join(wrong[:10])}", outcome)
