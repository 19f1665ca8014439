"""Python string tokens: split a token into prefix, quotes and body, and decode the body while
remembering where each character of the value came from in the source."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_PREFIX = re.compile(r"[rRuUbBfF]*")
_SIMPLE = {"\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b", "f": "\f", "n": "\n",
           "r": "\r", "t": "\t", "v": "\v"}


@dataclass(frozen=True)
class Token:
    prefix: str
    quote: str      # ' " ''' or \"\"\"
    body_start: int  # index of the body within the token source
    body: str

    @property
    def raw(self) -> bool:
        return "r" in self.prefix.lower()

    @property
    def triple(self) -> bool:
        return len(self.quote) == 3


def split_token(source: str) -> Token:
    prefix = _PREFIX.match(source)
    assert prefix is not None
    rest = source[prefix.end():]
    quote = rest[:3] if rest[:3] in ('"""', "'''") else rest[:1]
    start = prefix.end() + len(quote)
    return Token(prefix.group(), quote, start, source[start:len(source) - len(quote)])


def decode(token: Token, base: int) -> tuple[str, list[int]]:
    """The value of the token's body and, for each value character, its document offset
    (``base`` is the document offset of the token's first character)."""
    body, at = token.body, base + token.body_start
    if token.raw:
        return body, [at + i for i in range(len(body))]
    out: list[str] = []
    where: list[int] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\" or i + 1 >= len(body):
            out.append(ch)
            where.append(at + i)
            i += 1
            continue
        value, width = _escape(body, i)
        for c in value:
            out.append(c)
            where.append(at + i)
        i += width
    return "".join(out), where


def _escape(body: str, i: int) -> tuple[str, int]:
    """The value of the escape sequence at ``body[i]`` (a backslash) and its length."""
    nxt = body[i + 1]
    if nxt == "\n":
        return "", 2
    if nxt in _SIMPLE:
        return _SIMPLE[nxt], 2
    if nxt in "01234567":
        m = re.match(r"[0-7]{1,3}", body[i + 1:])
        assert m is not None
        return chr(int(m.group(), 8)), 1 + m.end()
    widths = {"x": 2, "u": 4, "U": 8}
    if nxt in widths:
        digits = body[i + 2:i + 2 + widths[nxt]]
        return chr(int(digits, 16)), 2 + widths[nxt]
    if nxt == "N" and body[i + 2:i + 3] == "{":
        end = body.index("}", i)
        return unicodedata.lookup(body[i + 3:end]), end - i + 1
    return "\\" + nxt, 2  # an unknown escape keeps its backslash
