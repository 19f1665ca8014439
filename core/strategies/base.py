"""The Strategy contract and what every strategy needs to read an optimizer's reply."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..candidate import Candidate
from ..errors import TaskError
from ..evaluator import Evaluation
from ..models.stack import ModelClient
from ..task import Example, Task
from ..templates import TemplateLibrary, compile_prompt, prompt_slots


@dataclass
class StrategyContext:
    task: Task
    optimizer: ModelClient
    templates: TemplateLibrary
    seed: int
    temperature: float
    max_tokens: int
    # The examples candidates are scored on: ExampleResult.index points into this, not into
    # task.examples (the run may sample them, and never includes the test split).
    examples: tuple[Example, ...] = ()


class Strategy(Protocol):
    name: str

    async def propose(self, ctx: StrategyContext, parent: Candidate, n: int) -> list[Candidate]:
        """New candidates derived from ``parent``."""
        ...

    async def refine(self, ctx: StrategyContext, evaluation: Evaluation) -> Candidate | None:
        """One candidate that fixes what ``evaluation`` got wrong, or None."""
        ...


MIN_PROMPT_CHARS = 12  # shorter than "Is it spam?": not an instruction
_FENCE = re.compile(r"```[a-zA-Z]*\n?(.*?)```", re.S)
_PREAMBLE = re.compile(
    r"^(?:sure|here(?:'s| is)|certainly|okay|ok|the (?:new|improved|better) prompt)[^\n]*[:!.]\s*\n",
    re.I)


def extract_prompt(reply: str) -> str:
    """Pull the proposed prompt out of a chatty reply: <<<…>>> markers, fences, preambles."""
    text = reply.strip()
    marker = re.search(r"(?i)new prompt\s*:", text)
    if marker:  # few-shot meta-prompts end with "New prompt:"; the model may echo it
        text = text[[m.end() for m in re.finditer(r"(?i)new prompt\s*:", text)][-1]:]
        text = re.split(r"\n\s*(?:Task|Old prompt|Example|Mistakes)\s*:", text)[0]
    if "<<<" in text:
        inner = text.split("<<<", 1)[1]
        text = inner.split(">>>", 1)[0] if ">>>" in inner else inner
    else:
        fenced = _FENCE.search(text)
        if fenced:
            text = fenced.group(1)
    text = text.strip()
    text = _PREAMBLE.sub("", text, count=1).strip()
    for quote in ('"""', "'''", '"', "'"):
        if len(text) > 2 * len(quote) and text.startswith(quote) and text.endswith(quote):
            text = text[len(quote):-len(quote)].strip()
    return text


def repair_slots(text: str, slots: Sequence[str]) -> str | None:
    """Keep every input slot; append any the optimizer dropped. None if the text is unusable."""
    if len(re.sub(r"{{.*?}}", "", text).strip()) < MIN_PROMPT_CHARS:
        return None
    try:
        present = prompt_slots(text)
    except TaskError:
        return None
    if present - set(slots):  # invented a slot no example fills
        return None
    missing = [s for s in slots if s not in present]
    if missing:
        text = text.rstrip() + "\n\n" + "\n".join(f"{s}: {{{{ {s} }}}}" for s in missing)
    try:
        compile_prompt(text)
    except TaskError:
        return None
    return text


def slots_of(candidate: Candidate) -> list[str]:
    text = candidate.messages[candidate.main_index()].content
    return sorted(prompt_slots(text))
