"""A fast token estimate for diagnostics (no tokenizer is loaded while the user types).

Sub-word tokenizers of small models (SmolLM2, Qwen, Llama) spend about one token per short
English word, more on long or rare words, one per punctuation mark and per digit group. The
estimate errs high rather than low: a diagnostic should warn before the model truncates.
"""

from __future__ import annotations

import re

_PIECES = re.compile(r"[A-Za-z]+|\d{1,3}|[^\sA-Za-z\d]|\s{2,}")
OVERHEAD_PER_MESSAGE = 4  # chat-template tokens around each message


def estimate_tokens(text: str) -> int:
    count = 0
    for m in _PIECES.finditer(text):
        piece = m.group()
        if piece[0].isalpha():
            count += 1 + (len(piece) - 1) // 6
        elif not piece[0].isspace() or len(piece) > 4:
            count += 1
    return count + OVERHEAD_PER_MESSAGE
