"""``refine``: the optimizer proposes variations, then rewrites the best ones against their failures.

Each variation is asked for from a different angle (format, clarity, brevity, role, method) with
its own seed, so a small optimizer still yields distinct prompts. Replies are parsed leniently;
one that yields nothing usable is skipped, never fatal.
"""

from __future__ import annotations

import asyncio
import logging

from ..candidate import Candidate
from ..evaluator import Evaluation
from ..models.base import Message, Request
from .base import StrategyContext, extract_prompt, repair_slots, slots_of

log = logging.getLogger(__name__)

ANGLES = (
    "State exactly what the answer must look like (for example: one word, or one number).",
    "Make the instruction clearer and more specific.",
    "Make it shorter and more direct.",
    "Start with a one-line role for the model, then the instruction.",
    "Tell the model how to work out the answer, in one or two steps.",
    "Put the instruction first and the input last, clearly separated.",
    "Use simple words a small model understands.",
    "Add one short example of an input and its answer.",
)


def _example_lines(ctx: StrategyContext, k: int = 3) -> list[dict[str, str]]:
    out = []
    for ex in ctx.task.examples[:k]:
        shown = "; ".join(f"{key}: {str(v)[:160]}" for key, v in ex.inputs.items())
        out.append({"input": shown, "expected": (ex.expected or "")[:120]})
    return out


class Refine:
    name = "refine"

    async def _ask(self, ctx: StrategyContext, prompt: str, seed: int) -> str | None:
        request = Request(messages=(Message("user", prompt),), max_tokens=ctx.max_tokens,
                          temperature=ctx.temperature, seed=seed)
        completion = await ctx.optimizer.complete(request)
        return completion.text

    async def _variation(self, ctx: StrategyContext, parent: Candidate, i: int) -> Candidate | None:
        slots = slots_of(parent)
        angle = ANGLES[i % len(ANGLES)]
        meta = ctx.templates.render(
            "refine/propose.j2", description=ctx.task.description or "(not described)",
            examples=_example_lines(ctx), prompt=parent.messages[parent.main_index()].content,
            angle=angle, slots=", ".join(f"{{{{ {s} }}}}" for s in slots),
        )
        reply = await self._ask(ctx, meta, ctx.seed * 1000 + i)
        text = repair_slots(extract_prompt(reply or ""), slots)
        if text is None:
            log.info("variation %d: optimizer reply had no usable prompt", i)
            return None
        return parent.with_main(text, parents=(parent.id,), strategy=self.name,
                                operator="vary", generation=parent.generation + 1, note=angle)

    async def propose(self, ctx: StrategyContext, parent: Candidate, n: int) -> list[Candidate]:
        async with asyncio.TaskGroup() as group:
            jobs = [group.create_task(self._variation(ctx, parent, i)) for i in range(n)]
        return [c for job in jobs if (c := job.result()) is not None]

    async def refine(self, ctx: StrategyContext, evaluation: Evaluation) -> Candidate | None:
        parent = evaluation.candidate
        failures = evaluation.failures()[:4]
        if not failures:
            return None
        examples = ctx.task.examples
        shown = []
        for f in failures:
            ex = examples[f.index] if f.index < len(examples) else None
            inputs = "; ".join(f"{k}: {str(v)[:160]}" for k, v in (ex.inputs if ex else {}).items())
            shown.append({"input": inputs, "answer": f.answer.strip()[:200],
                          "expected": (ex.expected or "") if ex else "", "reason": f.reason[:200]})
        slots = slots_of(parent)
        meta = ctx.templates.render(
            "refine/improve.j2", description=ctx.task.description or "(not described)",
            prompt=parent.messages[parent.main_index()].content,
            score=f"{evaluation.estimate().mean:.0%}", failures=shown,
            slots=", ".join(f"{{{{ {s} }}}}" for s in slots),
        )
        reply = await self._ask(ctx, meta, ctx.seed * 1000 + 500 + parent.generation)
        text = repair_slots(extract_prompt(reply or ""), slots)
        if text is None:
            return None
        return parent.with_main(text, parents=(parent.id,), strategy=self.name,
                                operator="refine", generation=parent.generation + 1,
                                note=f"rewritten against {len(failures)} failures")
