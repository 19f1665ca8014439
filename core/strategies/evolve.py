"""``evolve``: a population evolved by LLM mutation and crossover (EvoPrompt style).

Parents are picked by tournament (two at random, the better wins) from the best scored so far;
the incumbent is never lost (elitism: the engine only replaces it with a measured better one).
Crossover asks the optimizer to merge two prompts; when its reply is unusable, a deterministic
crossover splices the first half of one parent's sentences onto the second half of the other's.
"""

from __future__ import annotations

import asyncio
import random
import re

from ..candidate import Candidate
from .base import Scored, StrategyContext, ask, extract_prompt, repair_slots, slots_of

POPULATION = 6


def splice(first: str, second: str) -> str:
    """Sentence-level one-point crossover of two prompts."""
    def sentences(text: str) -> list[str]:
        return [s for s in re.split(r"(?<=[.!?:])\s+|\n+", text.strip()) if s.strip()]

    a, b = sentences(first), sentences(second)
    head = a[: max(1, len(a) // 2)]
    tail = b[len(b) // 2:]
    return "\n".join(dict.fromkeys(head + tail))


class Evolve:
    name = "evolve"

    def _tournament(self, population: list[Scored], rng: random.Random) -> Scored:
        a, b = rng.sample(population, 2) if len(population) > 1 else (population[0], population[0])
        return a if (a.mean, -len(a.candidate.text())) >= (b.mean, -len(b.candidate.text())) else b

    async def _mutate(self, ctx: StrategyContext, parent: Candidate, i: int) -> Candidate | None:
        meta = ctx.templates.render("refine/propose.j2",
                                    description=ctx.task.description or "(not described)",
                                    prompt=parent.messages[parent.main_index()].content)
        text = repair_slots(extract_prompt(await ask(ctx, meta, ctx.seed_for(60 + i))),
                            slots_of(parent))
        if text is None:
            return None
        return parent.with_main(text, parents=(parent.id,), strategy=self.name, operator="mutate",
                                generation=parent.generation + 1, note="LLM mutation")

    async def _cross(self, ctx: StrategyContext, a: Candidate, b: Candidate,
                     i: int) -> Candidate | None:
        first = a.messages[a.main_index()].content
        second = b.messages[b.main_index()].content
        meta = ctx.templates.render("evolve/crossover.j2",
                                    description=ctx.task.description or "(not described)",
                                    first=first, second=second)
        slots = sorted(set(slots_of(a)) | set(slots_of(b)))
        text = repair_slots(extract_prompt(await ask(ctx, meta, ctx.seed_for(80 + i))), slots)
        note = "LLM crossover"
        if text is None:
            text, note = repair_slots(splice(first, second), slots), "sentence splice"
        if text is None:
            return None
        return a.with_main(text, parents=(a.id, b.id), strategy=self.name, operator="crossover",
                           generation=max(a.generation, b.generation) + 1, note=note)

    async def step(self, ctx: StrategyContext, n: int) -> list[Candidate]:
        population = ctx.ranked()[:POPULATION]
        if not population:
            return []
        rng = random.Random(ctx.seed_for(0))
        jobs = []
        async with asyncio.TaskGroup() as group:
            for i in range(n):
                if i % 2 == 1 and len(population) > 1:
                    a = self._tournament(population, rng)
                    others = [p for p in population if p.candidate.id != a.candidate.id]
                    b = self._tournament(others, rng) if len(others) > 1 else others[0]
                    jobs.append(group.create_task(self._cross(ctx, a.candidate, b.candidate, i)))
                else:
                    parent = self._tournament(population, rng).candidate
                    jobs.append(group.create_task(self._mutate(ctx, parent, i)))
        return [c for job in jobs if (c := job.result()) is not None]
