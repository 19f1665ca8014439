"""``refine``: the optimizer proposes variations, then rewrites the best ones against their failures.

The meta-prompts are few-shot (one worked rewrite, then "New prompt:"): a 135M optimizer follows a
pattern far better than an instruction. Variations differ by seed at a sampling temperature, so
the run stays reproducible. Replies are parsed leniently; one that yields nothing usable is
skipped, never fatal.
"""

from __future__ import annotations

import asyncio
import logging

from ..candidate import Candidate
from ..evaluator import Evaluation
from ..models.base import Message, Request
from .base import StrategyContext, extract_prompt, repair_slots, slots_of, with_format

log = logging.getLogger(__name__)


class Refine:
    name = "refine"

    async def _ask(self, ctx: StrategyContext, prompt: str, seed: int) -> str | None:
        request = Request(messages=(Message("user", prompt),), max_tokens=ctx.max_tokens,
                          temperature=ctx.temperature, seed=seed)
        completion = await ctx.optimizer.complete(request)
        return completion.text

    async def _variation(self, ctx: StrategyContext, parent: Candidate, i: int) -> Candidate | None:
        slots = slots_of(parent)
        meta = ctx.templates.render(
            "refine/propose.j2", description=ctx.task.description or "(not described)",
            prompt=parent.messages[parent.main_index()].content,
        )
        reply = await self._ask(ctx, meta, ctx.seed_for(i))
        text = repair_slots(extract_prompt(reply or ""), slots)
        if text is None:
            log.info("variation %d: optimizer reply had no usable prompt", i)
            return None
        return parent.with_main(text, parents=(parent.id,), strategy=self.name,
                                operator="vary", generation=parent.generation + 1,
                                note=f"variation {i + 1}")

    async def step(self, ctx: StrategyContext, n: int) -> list[Candidate]:
        """Round 1: ``n`` variations of the incumbent. Later rounds: rewrite the best
        ``refine_top`` candidates against the examples they got wrong. When the optimizer gives
        nothing usable, fall back to stating the output format the metric checks."""
        parent = ctx.parent()
        if ctx.round == 1:
            out = await self.propose(ctx, parent, n)
        else:
            top = [s for s in ctx.ranked() if s.evaluation.failures()][: max(1, ctx.refine_top)]
            if not top:
                return []  # nothing failed: nothing to fix
            async with asyncio.TaskGroup() as group:
                jobs = [group.create_task(self.refine(ctx, s.evaluation)) for s in top]
            out = [c for job in jobs if (c := job.result()) is not None][:n]
        if not out:
            fallback = with_format(parent, ctx.task, strategy=self.name,
                                   generation=parent.generation + 1,
                                   train=ctx.pool.examples if ctx.pool else ())
            out = [fallback] if fallback is not None else []
        return out

    async def propose(self, ctx: StrategyContext, parent: Candidate, n: int) -> list[Candidate]:
        async with asyncio.TaskGroup() as group:
            jobs = [group.create_task(self._variation(ctx, parent, i)) for i in range(n)]
        return [c for job in jobs if (c := job.result()) is not None]

    async def refine(self, ctx: StrategyContext, evaluation: Evaluation) -> Candidate | None:
        parent = evaluation.candidate
        failures = evaluation.failures()[:2]
        if not failures:
            return None
        examples = ctx.examples or ctx.task.examples
        shown = []
        for f in failures:
            ex = examples[f.index] if f.index < len(examples) else None
            inputs = "; ".join(f"{k}: {str(v)[:160]}" for k, v in (ex.inputs if ex else {}).items())
            shown.append({"input": inputs, "answer": " ".join(f.answer.split())[:120],
                          "expected": (ex.expected or "") if ex else "", "reason": f.reason[:200]})
        slots = slots_of(parent)
        meta = ctx.templates.render(
            "refine/improve.j2", description=ctx.task.description or "(not described)",
            prompt=parent.messages[parent.main_index()].content, failures=shown[:2],
        )
        reply = await self._ask(ctx, meta, ctx.seed_for(50 + parent.generation))
        text = repair_slots(extract_prompt(reply or ""), slots)
        if text is None:
            return None
        return parent.with_main(text, parents=(parent.id,), strategy=self.name,
                                operator="refine", generation=parent.generation + 1,
                                note=f"rewritten against {len(failures)} failures")
