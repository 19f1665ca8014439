"""Turning a candidate and an example into the messages the target model sees.

A candidate is its messages (with ``{{ slot }}`` templates), plus optionally worked examples
(``Demos``) drawn from the train split — a fixed set, or the nearest train examples to each input
by sentence embedding — and an answer line for chain of thought. Only train examples are ever
shown as demonstrations, so dev and test stay unseen.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence

import numpy as np

from .candidate import Candidate, Demos
from .models.base import Message
from .task import Example
from .templates import render_prompt


def example_text(example: Example) -> str:
    return "\n".join(str(v) for v in example.inputs.values())


def extract_answer(text: str, prefix: str | None) -> str:
    """With an answer line (chain of thought), the metrics read what follows its last
    occurrence; without one (the model skipped it), the whole reply."""
    if not prefix:
        return text
    hits = list(re.finditer(re.escape(prefix.rstrip(":：").strip()) + r"\s*[:：]", text, re.I))
    return text[hits[-1].end():].strip() if hits else text


class DemoPool:
    """The train examples demonstrations come from, with their embeddings on first use."""

    def __init__(self, examples: Sequence[Example]) -> None:
        self.examples = tuple(e for e in examples if e.expected is not None)
        self._vectors: np.ndarray | None = None
        self._lock = asyncio.Lock()

    def __len__(self) -> int:
        return len(self.examples)

    async def _matrix(self) -> np.ndarray:
        async with self._lock:
            if self._vectors is None:
                from .metrics.similarity import embed

                texts = [example_text(e) for e in self.examples]
                self._vectors = np.asarray(await asyncio.to_thread(embed, texts))
            return self._vectors

    async def nearest(self, example: Example, k: int) -> list[int]:
        """Indices of the k most similar train examples, least similar first (the closest one
        sits next to the question, where small models copy from)."""
        if not self.examples or k <= 0:
            return []
        from .metrics.similarity import embed

        matrix = await self._matrix()
        query = np.asarray(await asyncio.to_thread(embed, [example_text(example)]))[0]
        sims = matrix @ query
        order = sorted(range(len(sims)), key=lambda i: (-float(sims[i]), i))[:k]
        return order[::-1]


def _answer(demo: Example, prefix: str | None) -> str:
    expected = demo.expected or ""
    return f"{prefix.rstrip()} {expected}" if prefix else expected


async def render(candidate: Candidate, example: Example, pool: DemoPool | None) -> tuple[Message, ...]:
    """The messages for one example: slots filled, demonstrations placed. Templates are filled in
    a worker thread: a prompt template is untrusted, and even within its limits (about 0.2 s, see
    ``core.template_limits``) it must not hold up the event loop, where every concurrent
    evaluation would otherwise render its own copy back to back before the first error stops them."""
    filled = await asyncio.to_thread(_fill, candidate.messages, example)
    demos = candidate.demos
    if demos is None or pool is None or not len(pool):
        return filled
    picked = await _pick(demos, example, pool)
    if not picked:
        return filled
    return await asyncio.to_thread(_with_demos, candidate, filled, [pool.examples[i] for i in picked])


def _fill(messages: Sequence[Message], example: Example) -> tuple[Message, ...]:
    return tuple(Message(m.role, render_prompt(m.content, example.inputs)) for m in messages)


def _with_demos(candidate: Candidate, filled: tuple[Message, ...],
                shots: Sequence[Example]) -> tuple[Message, ...]:
    last_user = max((i for i, m in enumerate(candidate.messages) if m.role == "user"), default=None)
    if last_user is None:
        return filled
    template = candidate.messages[last_user].content
    if candidate.demos is not None and candidate.demos.placement == "turns":
        turns: list[Message] = []
        for shot in shots:
            turns.append(Message("user", render_prompt(template, shot.inputs)))
            turns.append(Message("assistant", _answer(shot, candidate.answer_prefix)))
        return filled[:last_user] + tuple(turns) + filled[last_user:]
    blocks = []
    for shot in shots:
        answer = (_answer(shot, candidate.answer_prefix) if candidate.answer_prefix
                  else f"Answer: {shot.expected or ''}")
        blocks.append(f"{render_prompt(template, shot.inputs).strip()}\n{answer}")
    lead = "Examples:\n\n" + "\n\n".join(blocks) + "\n\nNow this one:\n"
    main = filled[last_user]
    return (*filled[:last_user], Message("user", lead + main.content), *filled[last_user + 1:])


async def _pick(demos: Demos, example: Example, pool: DemoPool) -> list[int]:
    if demos.mode == "knn":
        return await pool.nearest(example, demos.k)
    return [i for i in demos.indices if 0 <= i < len(pool)]
