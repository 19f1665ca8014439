"""``opro``: the optimizer sees the trajectory — the scored prompts so far, worst first and best
last, with a few task examples — and writes one that should beat them all (Yang et al.'s OPRO).
Proposals differ by seed; the incumbent's demonstrations and answer line carry over."""

from __future__ import annotations

import asyncio

from ..candidate import Candidate
from .base import StrategyContext, ask, extract_prompt, repair_slots, slots_of

TRAJECTORY = 8


class Opro:
    name = "opro"

    def _meta(self, ctx: StrategyContext) -> str:
        seen: dict[str, tuple[float, str]] = {}
        for s in ctx.ranked():
            text = s.candidate.messages[s.candidate.main_index()].content
            if text not in seen:
                seen[text] = (s.mean, text)
        best = sorted(seen.values(), reverse=True)[:TRAJECTORY]
        trajectory = [{"prompt": text, "score": round(100 * mean)} for mean, text in reversed(best)]
        pool = ctx.pool.examples if ctx.pool is not None else ctx.examples
        examples = [{"input": "; ".join(str(v)[:120] for v in ex.inputs.values()),
                     "expected": ex.expected} for ex in list(pool)[:2] if ex.expected]
        return ctx.templates.render("opro/propose.j2",
                                    description=ctx.task.description or "(not described)",
                                    trajectory=trajectory, examples=examples)

    async def _one(self, ctx: StrategyContext, meta: str, i: int) -> Candidate | None:
        base = ctx.parent()
        text = repair_slots(extract_prompt(await ask(ctx, meta, ctx.seed_for(20 + i))),
                            slots_of(base))
        if text is None:
            return None
        return base.with_main(text, parents=(base.id,), strategy=self.name, operator="opro",
                              generation=base.generation + 1,
                              note=f"written from the trajectory of {len(ctx.history)} prompts")

    async def step(self, ctx: StrategyContext, n: int) -> list[Candidate]:
        meta = self._meta(ctx)
        async with asyncio.TaskGroup() as group:
            jobs = [group.create_task(self._one(ctx, meta, i)) for i in range(n)]
        return [c for job in jobs if (c := job.result()) is not None]
