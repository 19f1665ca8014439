"""Secrets and personal data out of text that is about to leave for a hosted model.

``core.redact`` removes the keys this process was configured with, which it knows exactly; this
module finds what it cannot know in advance by its shape: e-mail addresses, credit card numbers
(checked with the Luhn sum, so an order number is left alone), phone numbers (at least nine
digits in groups) and tokens that look like API keys. Every pattern is linear: fixed-width
classes and bounded repeats, nothing that backtracks on a long input.
"""

from __future__ import annotations

import re
from collections.abc import Callable

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}")
CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}"
                   r"(?!\w)")
KEY = re.compile(
    r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,200}"       # OpenAI, Anthropic
    r"|(?:ghp|gho|ghs|ghu|github_pat)_[A-Za-z0-9_]{20,200}"  # GitHub
    r"|AKIA[0-9A-Z]{16}"                                  # AWS access key id
    r"|AIza[0-9A-Za-z_-]{35}"                             # Google API key
    r"|xox[abposre]-[A-Za-z0-9-]{10,200}"                 # Slack
    r"|hf_[A-Za-z0-9]{30,200}"                            # Hugging Face
    r"|eyJ[A-Za-z0-9_-]{10,2000}\.[A-Za-z0-9_-]{10,2000}\.[A-Za-z0-9_-]{10,2000})"  # a JWT
    r"|(?<![\w-])(?=[A-Za-z0-9_-]{0,199}\d)(?=[A-Za-z0-9_-]{0,199}[A-Za-z])[A-Za-z0-9_-]{32,200}"
    r"(?![\w-])")                                         # any long random-looking token
MIN_PHONE_DIGITS = 9


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _card(m: re.Match[str]) -> str:
    return "[card]" if _luhn(_digits(m.group())) else m.group()


def _phone(m: re.Match[str]) -> str:
    return "[phone]" if len(_digits(m.group())) >= MIN_PHONE_DIGITS else m.group()


_STEPS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (KEY, lambda m: "[key]"),
    (EMAIL, lambda m: "[email]"),
    (CARD, _card),
    (PHONE, _phone),
)


def redact_personal(text: str) -> str:
    """``text`` with keys, e-mail addresses, card numbers and phone numbers replaced by
    ``[key]``, ``[email]``, ``[card]`` and ``[phone]``."""
    for pattern, repl in _STEPS:
        text = pattern.sub(repl, text)
    return text
