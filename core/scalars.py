"""Numbers read from task files, datasets and configs, kept the way they were written.

A number in a file is two things at once: a value for settings (``weight: 0.5``) and text for
examples (``expected: 1.50`` means the answer "1.50", not "1.5"). YAML and JSON are read so that
both hold:

- an integer is a Python ``int`` only when it prints back the same (``42``, ``-7``); ``0755``,
  ``+5``, ``1_000`` and ``0x1F`` stay text, as does an integer of more than
  :data:`MAX_INT_DIGITS` digits;
- a float whose text Python would print differently (``1.50``, ``1e3``) is a
  :class:`WrittenFloat`: a ``float`` for arithmetic that ``str()`` prints as written, so an
  expected answer or a prompt slot shows exactly what the file says.
"""

from __future__ import annotations

import math
import re

MAX_INT_DIGITS = 1000  # Python refuses int() on over 4,300 digits; a longer "number" is text
INT_PATTERN = re.compile(rf"^(?:0|-?[1-9][0-9]{{0,{MAX_INT_DIGITS - 1}}})$")


class WrittenFloat(float):
    """A float that prints the way the file wrote it (``1.50`` stays "1.50")."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str, value: float) -> WrittenFloat:
        obj = super().__new__(cls, value)
        obj.text = text
        return obj

    def __str__(self) -> str:
        return self.text

    def __reduce__(self) -> tuple[type[WrittenFloat], tuple[str, float]]:
        return (WrittenFloat, (self.text, float(self)))


def int_or_text(text: str) -> int | str:
    """``text`` as an int if it prints back the same, else the text itself."""
    return int(text) if INT_PATTERN.match(text) else text


def float_or_text(text: str, value: float) -> float | str:
    """``value`` (parsed from ``text``), printing as ``text``; an overflow (``1e999``) stays text."""
    if not math.isfinite(value):
        return text
    return value if repr(value) == text else WrittenFloat(text, value)
