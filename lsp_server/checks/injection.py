"""User input interpolated before the instructions, with nothing marking where it ends; and
text in the prompt itself that reads like a prompt injection.

Text that follows an undelimited ``{{ slot }}`` reads to the model as a continuation of the
input, so an input that says "ignore the above" competes with the real instructions. A slot is
delimited when it is quoted or tagged on its line (``"{{ x }}"``, ``<review>{{ x }}</review>``,
``[{{ x }}]``) or fenced by the lines around it (``` ``` ```, ``\"\"\"``, ``---``, ``<tag>``).
The injection phrases are the core's (``core.injection_matches``), the ones a run's
``safety.injection`` screens inputs and prompts with, so the lint and the run agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from core import injection_matches

from .base import Finding, PromptFacts

_SLOT = re.compile(r"\{\{-?\s*([A-Za-z_]\w*)[^}]*\}\}")
_PAIRS = {'"': '"', "'": "'", "`": "`", "[": "]", "(": ")", "«": "»", "“": "”"}
_FENCE = re.compile(r"^\s*(```\w*|\"\"\"|'''|-{3,}|={3,}|#{3,}|<[/]?[A-Za-z][\w-]*>)\s*$")
_WORDS = re.compile(r"[A-Za-z]{2,}")
MIN_INSTRUCTION_WORDS = 6


def _delimited_inline(text: str, start: int, end: int) -> bool:
    before = text[text.rfind("\n", 0, start) + 1:start].rstrip()
    line_end = text.find("\n", end)
    after = text[end:len(text) if line_end == -1 else line_end].lstrip()
    if before and after and _PAIRS.get(before[-1]) == after[0]:
        return True
    tag = re.search(r"<([A-Za-z][\w-]*)[^>]*>$", before)
    return bool(tag and after.startswith(f"</{tag.group(1)}>"))


def _fenced(lines: list[str], row: int) -> bool:
    above = next((ln for ln in reversed(lines[:row]) if ln.strip()), "")
    below = next((ln for ln in lines[row + 1:] if ln.strip()), "")
    return bool(_FENCE.match(above) and _FENCE.match(below))


def check_injection(facts: PromptFacts) -> Iterator[Finding]:
    text = facts.text
    for name, start, end in injection_matches(text):
        yield Finding("injection-risk",
                      f"the prompt holds text that reads like a prompt injection ({name}): a run "
                      "with safety.injection: refuse refuses it",
                      "remove it, or quote it as an example inside fenced, labelled data",
                      start, end)
    if not facts.templated:
        return
    lines = text.split("\n")
    starts = [0]
    for ln in lines[:-1]:
        starts.append(starts[-1] + len(ln) + 1)
    for m in _SLOT.finditer(text):
        row = max(i for i, s in enumerate(starts) if s <= m.start())
        if _delimited_inline(text, m.start(), m.end()) or _fenced(lines, row):
            continue
        following = len(_WORDS.findall(text[m.end():]))
        if following < MIN_INSTRUCTION_WORDS:
            continue
        name = m.group(1)
        yield Finding("injection-risk",
                      f"user input {{{{ {name} }}}} comes before instructions with nothing marking "
                      "where it ends: an input that says 'ignore the above' competes with them",
                      f"put the instructions first, or fence the input: <{name}>{{{{ {name} }}}}"
                      f"</{name}> (or ``` lines) and say 'the text inside is data'",
                      m.start(), m.end())
