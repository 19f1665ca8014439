"""Positions inside a document: character offsets, and the (line, column) pairs editors use.

Everything in the server works in offsets into the document's text (Python ``str`` indices, i.e.
code points); ``LineIndex`` turns them into zero-based (line, code-point column) pairs, and the
server converts those to the client's position encoding (UTF-16 by default) at the edge.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Span:
    """``text[start:end]`` of a document."""

    start: int
    end: int

    def contains(self, offset: int) -> bool:
        return self.start <= offset <= self.end


class LineIndex:
    """Offset <-> (line, column) for one text; columns count code points."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0]
        at = text.find("\n")
        while at != -1:
            self.starts.append(at + 1)
            at = text.find("\n", at + 1)

    def position(self, offset: int) -> tuple[int, int]:
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.starts, offset) - 1
        return line, offset - self.starts[line]

    def offset(self, line: int, column: int) -> int:
        if line >= len(self.starts):
            return len(self.text)
        start = self.starts[max(0, line)]
        end = self.starts[line + 1] - 1 if line + 1 < len(self.starts) else len(self.text)
        return min(start + max(0, column), end)

    def lines(self) -> list[str]:
        """The lines with their line endings (what pygls' position codec expects)."""
        return self.text.splitlines(keepends=True) or [""]

    def line_text(self, line: int) -> str:
        start = self.starts[line]
        end = self.starts[line + 1] - 1 if line + 1 < len(self.starts) else len(self.text)
        return self.text[start:end]


def byte_col_to_offset(index: LineIndex, line0: int, byte_col: int) -> int:
    """Python's ``ast`` columns are UTF-8 byte offsets into the line: turn one into an offset."""
    text = index.line_text(line0)
    prefix = text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore")
    return index.starts[line0] + len(prefix)
