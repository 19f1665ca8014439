"""One plugin, one of each: a model provider, a metric type, a strategy and a processor.

- provider ``keywords:WORD,WORD,…``: a rule "model" that runs offline and instantly — it answers
  ``positive`` when the request's input holds one of the words, else ``negative``; asked for one
  word it says just that, otherwise it chatters ("I think this one is positive."). Handy for
  checking a pipeline end to end before paying for a real model.
- metric ``max-words``: 1 when the answer has at most ``limit`` words (default 1), else 0.
- strategy ``closers``: the best prompt so far with one closing sentence added that asks for a
  short answer.
- processor ``last-word``: keeps the answer's last word, without punctuation.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core import (
    Adapter,
    Candidate,
    Completion,
    Message,
    MetricContext,
    MetricType,
    ModelSpec,
    Register,
    Request,
    Score,
    StrategyContext,
    hookimpl,
)
from core.processors import Processor

_ASKS_ONE_WORD = re.compile(r"\b(one word|single word|only the label|label only)\b", re.I)


class KeywordModel:
    """The ``keywords`` provider's adapter (see the module docstring)."""

    kind = "keywords"
    context_size: int | None = None

    def __init__(self, words: list[str]) -> None:
        self.words = [w.lower() for w in words if w]
        self.model = ",".join(self.words)

    @property
    def endpoint(self) -> str:
        return "in-process:keywords"

    @property
    def identity(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model}

    def count_tokens(self, request: Request) -> int:
        return sum(len(m.content.split()) for m in request.messages)

    async def send(self, request: Request) -> Completion:
        started = time.perf_counter()
        user = request.messages[-1].content.lower()
        label = "positive" if any(re.search(rf"\b{re.escape(w)}\b", user) for w in self.words) \
            else "negative"
        prompt = "\n".join(m.content for m in request.messages)
        text = label if _ASKS_ONE_WORD.search(prompt) else f"I think this one is {label}."
        return Completion(text=text, prompt_tokens=self.count_tokens(request),
                          completion_tokens=len(text.split()),
                          latency_s=time.perf_counter() - started, model=self.model,
                          endpoint=self.endpoint)

    async def aclose(self) -> None:
        return None


def keyword_model(spec: ModelSpec, settings: Any, secrets: Any) -> Adapter:
    return KeywordModel(spec.model.split(","))


class MaxWordsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(default=1, ge=1, le=1000, description="the most words an answer may have")


class MaxWords:
    def __init__(self, limit: int) -> None:
        self.limit = limit

    @property
    def name(self) -> str:
        return "max-words"

    async def score(self, answer: str, example: Any) -> Score:
        n = len(answer.split())
        return Score(1.0 if n <= self.limit else 0.0, f"{n} words (limit {self.limit})",
                     "ok" if n <= self.limit else "too_long")


def max_words(params: BaseModel, ctx: MetricContext) -> MaxWords:
    assert isinstance(params, MaxWordsParams)
    return MaxWords(params.limit)


CLOSERS = ("Answer with one word.", "Reply with the label only.",
           "Give a single word: the label.")


class Closers:
    """Strategy ``closers``: one closing sentence added to the best prompt, each tried once."""

    name = "closers"

    async def step(self, ctx: StrategyContext, n: int) -> list[Candidate]:
        parent = ctx.parent()
        tried = {s.candidate.text() for s in ctx.history}
        main = parent.main_index()
        out: list[Candidate] = []
        for closer in CLOSERS:
            if len(out) >= n:
                break
            messages = list(parent.messages)
            messages[main] = Message(messages[main].role,
                                     f"{messages[main].content.rstrip()}\n{closer}")
            made = replace(parent, messages=tuple(messages), parents=(parent.id,),
                           strategy=self.name, operator="closer",
                           generation=parent.generation + 1, note=f"added: {closer}")
            if made.text() not in tried:
                out.append(made)
        return out


def last_word(text: str, context: Any) -> str:
    words = re.findall(r"[\w'-]+", text)
    return words[-1] if words else text


@hookimpl
def register_providers(register: Register) -> None:
    register("keywords", keyword_model)


@hookimpl
def register_metrics(register: Register) -> None:
    register("max-words", MetricType("max-words", MaxWordsParams, max_words,
                                     description="at most `limit` words (default 1)"))


@hookimpl
def register_strategies(register: Register) -> None:
    register("closers", Closers)


@hookimpl
def register_processors(register: Register) -> None:
    register("last-word", Processor("last-word", after_response=last_word))
