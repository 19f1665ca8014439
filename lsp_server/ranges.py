"""Spans (offsets) to LSP ranges in the client's position encoding, and back."""

from __future__ import annotations

from lsprotocol import types as lsp
from pygls.workspace.position_codec import PositionCodec, ServerTextPosition, ServerTextRange

from .spans import LineIndex, Span


class Ranges:
    def __init__(self, index: LineIndex, codec: PositionCodec) -> None:
        self.index = index
        self.codec = codec
        self._lines: list[str] | None = None

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = self.index.lines()
        return self._lines

    def range(self, span: Span) -> lsp.Range:
        (l1, c1), (l2, c2) = self.index.position(span.start), self.index.position(span.end)
        server = ServerTextRange(ServerTextPosition(l1, c1), ServerTextPosition(l2, c2))
        result: lsp.Range = self.codec.range_to_client_units(self.lines, server)
        return result

    def line(self, line: int) -> lsp.Range:
        line = max(0, min(line, len(self.index.starts) - 1))
        start = self.index.starts[line]
        return self.range(Span(start, start + len(self.index.line_text(line))))

    def offset(self, position: lsp.Position) -> int:
        server = self.codec.position_from_client_units(self.lines, position)
        return self.index.offset(server.line, server.character)
