"""The Strategy contract and what every strategy needs to read an optimizer's reply."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..answers import answer_space
from ..candidate import Candidate
from ..errors import TaskError
from ..evaluator import Evaluation
from ..models.stack import ModelClient
from ..render import DemoPool
from ..task import Example, Task
from ..templates import TemplateLibrary, compile_prompt, prompt_slots


@dataclass
class Scored:
    """A candidate with its evaluation on the dev examples so far (a racing rung or all)."""

    candidate: Candidate
    evaluation: Evaluation

    @property
    def mean(self) -> float:
        return self.evaluation.mean()


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
    pool: DemoPool | None = None       # train examples for demonstrations (None: no train split)
    round: int = 1
    history: list[Scored] = field(default_factory=list)  # every candidate scored so far
    best: Scored | None = None          # the incumbent
    refine_top: int = 2
    retry: int = 0                      # asked again this round (proposals were rejected)

    def ranked(self) -> list[Scored]:
        """Fully scored candidates first, then by mean (highest first), then shortest."""
        full = len(self.examples)
        return sorted(self.history, key=lambda s: (len(s.evaluation.results) < full and full > 0,
                                                   -s.mean, len(s.candidate.text()),
                                                   s.candidate.id))

    def seed_for(self, i: int) -> int:
        """A distinct, reproducible sampling seed per round, proposal and ask."""
        return self.seed * 1000 + (self.round - 1) * 100 + i + 1_000_003 * self.retry

    def parent(self) -> Candidate:
        if self.best is not None:
            return self.best.candidate
        return self.history[0].candidate


class Strategy(Protocol):
    name: str

    async def step(self, ctx: StrategyContext, n: int) -> list[Candidate]:
        """Up to ``n`` new candidates for this round, from what has been scored so far."""
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


def _number_format(train: Sequence[Example]) -> str:
    """How the train examples write their numbers: whole numbers, or N decimal places."""
    places: set[int] = set()
    for e in train:
        value = (e.expected or "").strip().replace(",", "")
        if not re.fullmatch(r"-?\d+(?:\.\d+)?", value):
            return ""
        places.add(len(value.split(".")[1]) if "." in value else 0)
    if places == {0}:
        return ", as a whole number in digits"
    if len(places) == 1:
        return f", in digits with {places.pop()} decimal places"
    return ""


def format_instruction(task: Task, train: Sequence[Example] | None = None) -> str | None:
    """An explicit output-format sentence from what the metrics check — the edit a small
    optimizer most often fails to make, made without it. It names the answer space when it can
    be known (:func:`answer_space`: labels, or the train split's short expected answers), the
    JSON schema's keys, or the train split's number format. ``train``: the examples the run
    draws demonstrations from (None: the task's train split, if any)."""
    kinds = {spec.type: spec for spec in task.metric_specs()}
    if train is None:
        train = task.split("train") if "train" in task.splits else ()
    if "json" in kinds and "label" not in kinds:
        schema = kinds["json"].params().get("schema")
        keys = list(schema.get("properties", {})) if isinstance(schema, dict) else []
        if keys:
            return f"Reply with only a JSON object with the keys {', '.join(keys)}, and no other text."
        return "Reply with only a JSON object and no other text."
    space = answer_space(task, train).labels
    if space:
        noun = "words" if all(len(a.split()) == 1 for a in space) else "answers"
        return f"Answer with exactly one of these {noun} and nothing else: {', '.join(space)}."
    if "numeric" in kinds:
        return f"Reply with the final number only{_number_format(train) if train else ''}."
    if kinds.keys() & {"exact", "contains"}:
        return "Reply with the answer only, no explanation."
    return None


def with_format(parent: Candidate, task: Task, *, strategy: str, generation: int,
                train: Sequence[Example] | None = None) -> Candidate | None:
    sentence = format_instruction(task, train)
    if sentence is None:
        return None
    main = parent.messages[parent.main_index()].content
    if sentence in main:
        return None
    return parent.with_main(main.rstrip() + "\n" + sentence, parents=(parent.id,),
                            strategy=strategy, operator="format", generation=generation,
                            note="states the output format the metric checks")


async def ask(ctx: StrategyContext, prompt: str, seed: int) -> str:
    """One optimizer call with the run's sampling settings; an empty reply on budget
    exhaustion is the caller's to skip."""
    from ..models.base import Message, Request

    request = Request(messages=(Message("user", prompt),), max_tokens=ctx.max_tokens,
                      temperature=ctx.temperature, seed=seed)
    return (await ctx.optimizer.complete(request)).text
