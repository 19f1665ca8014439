"""Prompts inside Python code, found with ``ast`` (exact source positions).

Only the assignment statements that can hold a prompt are parsed (see ``pystatements``). A
prompt is a string literal assigned to a name that matches one of the configured patterns
(``*_PROMPT``…), or any string assignment under a marker comment::

    # prompt-tuner: task=tasks/support.tune.yaml
    GREETING = "You are a support agent…"

The literal may be implicitly concatenated, triple-quoted, raw, or wrapped in
``textwrap.dedent(...)``; f-strings are skipped (their text is only known at run time) and
reported as such.
"""

from __future__ import annotations

import ast
import fnmatch
import io
import re
import textwrap
import tokenize
from collections.abc import Sequence

from .pyliteral import decode, split_token
from .pystatements import assignments
from .sites import Note, PromptSite, PyLiteral
from .spans import LineIndex, Span, byte_col_to_offset

MARKER = re.compile(r"#\s*prompt-tuner:\s*(?P<args>[^\n]*)")
DEDENT_CALLS = frozenset({"dedent", "textwrap.dedent"})


def markers(text: str, index: LineIndex) -> dict[int, dict[str, str]]:
    """``# prompt-tuner: task=PATH`` comments by zero-based line: their ``key=value`` words."""
    out: dict[int, dict[str, str]] = {}
    for m in MARKER.finditer(text):
        args: dict[str, str] = {}
        for word in m.group("args").split():
            key, _, value = word.partition("=")
            args[key] = value
        out[index.position(m.start())[0]] = args
    return out


def _target_name(node: ast.Assign | ast.AnnAssign) -> str | None:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    for t in targets:
        if isinstance(t, ast.Name):
            return t.id
        if isinstance(t, ast.Attribute):
            return t.attr
    return None


def _call_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_call_name(node.value)}.{node.attr}"
    return ""


def _literal_of(value: ast.expr | None) -> tuple[ast.expr | None, bool]:
    """The string expression of an assignment's value, and whether dedent() wraps it."""
    if (isinstance(value, ast.Call) and _call_name(value.func) in DEDENT_CALLS
            and len(value.args) == 1 and not value.keywords):
        return value.args[0], True
    return value, False


def _marker_for(line0: int, marks: dict[int, dict[str, str]]) -> dict[str, str] | None:
    return marks.get(line0) if line0 in marks else marks.get(line0 - 1)


def find_python_prompts(text: str, patterns: Sequence[str],
                        index: LineIndex | None = None) -> tuple[list[PromptSite], list[Note]]:
    """The prompts of a Python source, and notes on what was skipped (f-strings)."""
    index = index or LineIndex(text)
    marks = markers(text, index)

    def wanted(name: str, line0: int) -> bool:
        return _marker_for(line0, marks) is not None or any(
            fnmatch.fnmatchcase(name, p) for p in patterns)

    sites: list[PromptSite] = []
    notes: list[Note] = []
    for line0, node in assignments(text, index, name_ok=wanted):
        if node is None:
            notes.append(Note("this assignment is nested too deeply to read, so it is not checked",
                              0, line=line0))
            continue
        name = _target_name(node)
        if name is None:
            continue
        marker = _marker_for(line0, marks)
        if marker is None and not any(fnmatch.fnmatchcase(name, p) for p in patterns):
            continue
        expr, dedented = _literal_of(node.value)
        if isinstance(expr, ast.JoinedStr):
            notes.append(Note(f"{name} is an f-string: its text is only known at run time, so it "
                              "is not checked or tuned (use a plain string and .format/Jinja)",
                              byte_col_to_offset(index, expr.lineno - 1, expr.col_offset)))
            continue
        if not (isinstance(expr, ast.Constant) and isinstance(expr.value, str)):
            continue
        site = _site(text, index, name, expr, dedented, marker)
        if site is not None:
            sites.append(site)
    return sites, notes


def _tokens(segment: str, start: int) -> list[tuple[str, int]]:
    """The string tokens of an expression's source, with their document offsets."""
    seg_index = LineIndex(segment)
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(segment).readline):
            if tok.type == tokenize.STRING:
                off = seg_index.offset(tok.start[0] - 1, tok.start[1])
                out.append((tok.string, start + off))
    except (tokenize.TokenError, SyntaxError):
        return []
    return out


def _site(text: str, index: LineIndex, name: str, expr: ast.Constant, dedented: bool,
          marker: dict[str, str] | None) -> PromptSite | None:
    assert expr.end_lineno is not None and expr.end_col_offset is not None
    start = byte_col_to_offset(index, expr.lineno - 1, expr.col_offset)
    end = byte_col_to_offset(index, expr.end_lineno - 1, expr.end_col_offset)
    tokens = _tokens(text[start:end], start)
    if not tokens:
        return None
    value_parts: list[str] = []
    where: list[int] = []
    for source, at in tokens:
        part, offsets = decode(split_token(source), at)
        value_parts.append(part)
        where += offsets
    value = "".join(value_parts)
    if value != expr.value:  # an escape we do not map: keep the value, map everything to the start
        value = str(expr.value)
        where = [start] * len(value)
    margin = None
    if dedented:
        value, where, margin = _dedent(value, where)
    line0 = expr.lineno - 1
    line = index.line_text(line0)
    before = text[:start].rstrip()
    after = text[end:].lstrip()
    indent = line[:len(line) - len(line.lstrip())]
    literal = PyLiteral(
        tokens=tuple(t for t, _ in tokens), token_starts=tuple(a for _, a in tokens),
        dedent_margin=margin, parenthesized=before.endswith("(") and after.startswith(")"),
        line_indent=indent, continuation=_continuation(index, [a for _, a in tokens], indent))
    return PromptSite(key=name, kind="python", span=Span(start, end), text=value,
                      offsets=(*where, end), task_ref=(marker or {}).get("task") or None,
                      literal=literal, line=line0)


def _continuation(index: LineIndex, starts: list[int], indent: str) -> str:
    """Where a literal's later lines start: under its own first token when that token starts its
    line (inside parentheses), at the second token's column when it has one on another line,
    else one level in from the statement."""
    first_line, first_col = index.position(starts[0])
    for at in starts[1:]:
        line, col = index.position(at)
        if line != first_line:
            return " " * col
    if not index.line_text(first_line)[:first_col].strip():
        return " " * first_col
    return indent + "    "


def _dedent(value: str, where: list[int]) -> tuple[str, list[int], str]:
    """``textwrap.dedent`` of the value, with the offset map carried through it."""
    out = textwrap.dedent(value)
    lines = value.splitlines(keepends=True)
    margins = [ln[:len(ln) - len(ln.lstrip())] for ln in lines if ln.strip()]
    margin = _common_prefix(margins)
    mapped: list[int] = []
    pos = 0
    for ln in lines:
        body = ln.rstrip("\r\n")
        if not body.strip():  # dedent turns a blank line into just its newline
            keep = list(range(pos + len(body), pos + len(ln)))
        else:
            keep = list(range(pos + len(margin), pos + len(ln)))
        mapped += [where[i] for i in keep]
        pos += len(ln)
    if len(mapped) != len(out):
        mapped = [where[0] if where else 0] * len(out)
    return out, mapped, margin


def _common_prefix(items: list[str]) -> str:
    if not items:
        return ""
    first, last = min(items), max(items)
    n = 0
    while n < len(first) and n < len(last) and first[n] == last[n]:
        n += 1
    return first[:n]
