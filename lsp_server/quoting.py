"""Write a new prompt back as Python source, in the style of the literal it replaces.

Kept: the quote character, triple quotes, a raw prefix (when the text allows it), a leading
backslash-newline, the margin of a ``textwrap.dedent`` block, and the continuation indentation of
an implicitly concatenated literal. A one-line literal that receives a multi-line prompt becomes a
parenthesized concatenation, one source line per prompt line. Every result is checked by
evaluating it; if a style cannot express the text, ``repr`` does.
"""

from __future__ import annotations

import ast
import textwrap

from .pyliteral import Token, split_token
from .sites import PyLiteral


def escape(text: str, quote: str, triple: bool) -> str:
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\n" and triple:
            out.append("\n")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t" if not triple else "\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == quote and not triple:
            out.append("\\" + quote)
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    body = "".join(out)
    if triple:
        body = body.replace(quote * 3, quote * 2 + "\\" + quote)
        if body.endswith(quote) and not body.endswith("\\" + quote):
            body = body[:-1] + "\\" + quote
    return body


def _one(tok: Token, text: str, keep_backslash_newline: bool = False) -> str:
    """One token in ``tok``'s style holding ``text``."""
    q = tok.quote[0]
    raw_ok = tok.raw and _raw_fits(text, tok.quote)
    prefix = tok.prefix if raw_ok else tok.prefix.replace("r", "").replace("R", "")
    body = text if raw_ok else escape(text, q, tok.triple)
    lead = "\\\n" if keep_backslash_newline and not raw_ok else ""
    return f"{prefix}{tok.quote}{lead}{body}{tok.quote}"


def _raw_fits(text: str, quote: str) -> bool:
    """A raw literal can hold ``text`` as is: no closing quote inside, no trailing backslash."""
    if text.endswith("\\") or text.endswith(quote[0]):
        return False
    if len(quote) == 1:
        return quote not in text and "\n" not in text and "\\" + quote not in text
    return quote not in text


def _evaluates_to(source: str, text: str, dedent: bool) -> bool:
    try:
        value = ast.literal_eval(source)
    except (ValueError, SyntaxError):
        return False
    if dedent:
        value = textwrap.dedent(value)
    return bool(value == text)


def requote(text: str, literal: PyLiteral) -> str:
    """The Python source for a literal with value ``text`` (``dedent(value)`` when the original
    was wrapped in ``textwrap.dedent``), in the style of ``literal``."""
    first = split_token(literal.tokens[0])
    dedent = literal.dedent_margin is not None
    if first.triple:
        source = _triple(text, first, literal)
    elif len(literal.tokens) > 1 or "\n" in text.rstrip("\n"):
        source = _concatenated(text, first, literal)
    else:
        source = _one(first, text)
    if _evaluates_to(_as_expression(source), text, dedent):
        return source
    return repr(text)


def _as_expression(source: str) -> str:
    stripped = source.strip()
    return stripped if stripped.startswith("(") else f"({stripped})"


def _triple(text: str, tok: Token, literal: PyLiteral) -> str:
    margin = literal.dedent_margin
    body = text
    if margin is not None:
        body = "".join(margin + ln if ln.strip() else ln for ln in text.splitlines(keepends=True))
        original_tail = tok.body[tok.body.rfind("\n") + 1:] if "\n" in tok.body else None
        if original_tail is not None and not original_tail.strip() and body.endswith("\n"):
            body += original_tail  # closing quotes indented as before
    lead = tok.body.startswith("\\\n")
    return _one(tok, body, keep_backslash_newline=lead)


def _concatenated(text: str, first: Token, literal: PyLiteral) -> str:
    """One token per prompt line, each on its own source line."""
    pieces = text.splitlines(keepends=True) or [""]
    tokens = [_one(first, piece) for piece in pieces]
    if len(tokens) == 1:
        return tokens[0]
    indent = literal.continuation
    joined = ("\n" + indent).join(tokens)
    if literal.parenthesized or len(literal.tokens) > 1:
        return joined
    return "(\n" + indent + joined + "\n" + literal.line_indent + ")"
