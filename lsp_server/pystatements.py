"""The assignment statements of a Python source that may hold prompts, parsed one by one.

Parsing a whole 2,000-line module on every keystroke costs 15-70 ms on a busy machine; the
statements that can hold a prompt are few. They are found by a line scan (an assignment to a
name, outside triple-quoted strings), cut at the end of their logical line with ``tokenize``,
and parsed alone with ``ast``; node positions are shifted back to the document's. A side effect
the user sees: a syntax error elsewhere in the file does not stop the prompts from being checked.
"""

from __future__ import annotations

import ast
import bisect
import io
import re
import tokenize
from collections.abc import Iterator

from .spans import LineIndex

ASSIGNMENT = re.compile(r"^([ \t]*)(?:self\.)?([A-Za-z_]\w*)[ \t]*(?::[^=\n]*)?=(?!=)", re.M)
_STRINGS = re.compile(r"#[^\n]*|(?P<q>(?:\b[rRbBuUfF]{1,2})?(?:\"\"\"|'''))"
                      r"|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'")


def triple_quoted(text: str) -> list[tuple[int, int]]:
    """Spans of triple-quoted strings (comments and one-line strings are skipped over)."""
    out: list[tuple[int, int]] = []
    pos = 0
    while (m := _STRINGS.search(text, pos)) is not None:
        if m.group("q") is None:
            pos = m.end()
            continue
        end = _closing(text, m.end(), m.group("q")[-3:])
        out.append((m.start(), end))
        pos = end
    return out


def _closing(text: str, start: int, quote: str) -> int:
    i = start
    while True:
        j = text.find(quote, i)
        if j == -1:
            return len(text)
        slashes = len(text[start:j]) - len(text[start:j].rstrip("\\"))
        if slashes % 2 == 0:
            return j + 3
        i = j + 1


def _inside(regions: list[tuple[int, int]], starts: list[int], offset: int) -> bool:
    i = bisect.bisect_right(starts, offset) - 1
    return i >= 0 and regions[i][0] < offset < regions[i][1]


def _statement_end(text: str, start: int) -> int:
    """The offset where the logical line starting at ``start`` ends."""
    reader = io.StringIO(text[start:]).readline
    consumed = 0
    lines_seen: list[str] = []

    def readline() -> str:
        line = reader()
        lines_seen.append(line)
        return line

    try:
        for tok in tokenize.generate_tokens(readline):
            if tok.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
                consumed = sum(len(x) for x in lines_seen[:tok.end[0] - 1]) + tok.end[1]
                return start + consumed
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return start + sum(len(x) for x in lines_seen)


def assignments(text: str, index: LineIndex, wanted: set[int] | None = None,
                name_ok: object = None) -> Iterator[tuple[int, ast.Assign | ast.AnnAssign | None]]:
    """(zero-based line, statement) for each assignment whose line ``name_ok(name, line0)``
    accepts; statement positions are the document's (lines 1-based, columns in UTF-8 bytes).
    The statement is None when it is nested too deeply for Python's parser."""
    regions = triple_quoted(text)
    region_starts = [r[0] for r in regions]
    for m in ASSIGNMENT.finditer(text):
        if _inside(regions, region_starts, m.start()):
            continue
        line0 = index.position(m.start())[0]
        if callable(name_ok) and not name_ok(m.group(2), line0):
            continue
        indent = m.group(1)
        body_start = m.start() + len(indent)
        end = _statement_end(text, body_start)
        try:
            tree = ast.parse(text[body_start:end])
        except (SyntaxError, ValueError):
            continue  # being typed: checked again once it parses
        except (RecursionError, MemoryError):
            yield line0, None
            continue
        if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assign | ast.AnnAssign):
            continue
        node = tree.body[0]
        shift = len(indent.encode("utf-8"))
        for sub in ast.walk(node):
            if not isinstance(sub, ast.expr | ast.stmt | ast.keyword | ast.arg):
                continue
            if sub.lineno == 1:
                sub.col_offset += shift
            if sub.end_lineno == 1 and sub.end_col_offset is not None:
                sub.end_col_offset += shift
        ast.increment_lineno(node, line0)
        yield line0, node
