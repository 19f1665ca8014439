"""A prompt found in a document: where it is, what it says, and how to write a new one back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .spans import Span

SiteKind = Literal["file", "python", "task"]


@dataclass(frozen=True)
class PyLiteral:
    """How a Python string literal was written, so a replacement can be written the same way."""

    tokens: tuple[str, ...]      # the source of each string token (implicit concatenation)
    token_starts: tuple[int, ...]  # document offset of each token
    dedent_margin: str | None    # the literal is the argument of textwrap.dedent(): its margin
    parenthesized: bool          # the literal sits alone inside ( … )
    line_indent: str             # indentation of the line the literal starts on
    continuation: str            # indentation for the literal's second and later lines


@dataclass(frozen=True)
class YamlScalar:
    """The YAML scalar holding the prompt text in a task file."""

    style: str           # '|', '>', '"', "'" or '' (plain)
    indent: int          # column the block's lines start at (for block scalars)
    key_column: int      # column of the mapping key that owns the scalar
    single_line: bool


@dataclass(frozen=True)
class Note:
    """Something about a document worth telling the user that is not about one prompt."""

    message: str
    offset: int
    code: str = "not-checked"
    line: int | None = None  # a line instead of an offset (errors reported by line)


@dataclass(frozen=True)
class PromptSite:
    key: str                      # stable within the document: the variable name, or "prompt"
    kind: SiteKind
    span: Span                    # the source a replacement overwrites
    text: str                     # the prompt as the model sees it (one message, or [role] turns)
    offsets: tuple[int, ...]      # text index -> document offset; one more entry for the end
    task_ref: str | None = None   # a task file named by a marker comment or front matter
    declared: frozenset[str] | None = None  # variables declared in front matter
    literal: PyLiteral | None = None
    yaml: YamlScalar | None = None
    line: int = 0                 # zero-based line of the prompt's start

    def doc_span(self, start: int, end: int) -> Span:
        """The document span of ``text[start:end]``."""
        last = len(self.offsets) - 1
        a = self.offsets[max(0, min(start, last))]
        b = self.offsets[max(0, min(end, last))]
        return Span(a, max(a, b))
