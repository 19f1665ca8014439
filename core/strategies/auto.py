"""``auto`` (the default): instructions first, then demonstrations, then reasoning, then more of
whatever has worked.

Round 1 states the output format the metric checks, tries that prompt with the nearest train
examples as demonstrations (what carries most gains on a small target: they show the answer
format as well as the task) and asks for instruction variations; round 2
tries demonstration sets from the train split on the incumbent; round 3 a chain-of-thought trial
and OPRO proposals from the trajectory so far; later rounds spend on the kind of change that made
the incumbent (its instruction evolved, its demos varied) and on evolution of the best prompts.
"""

from __future__ import annotations

from dataclasses import replace

from ..candidate import Candidate
from .base import StrategyContext, with_format
from .cot import ChainOfThought
from .evolve import Evolve
from .fewshot import FewShot
from .opro import Opro
from .refine import Refine


class Auto:
    name = "auto"

    def __init__(self) -> None:
        self.refine = Refine()
        self.fewshot = FewShot()
        self.cot = ChainOfThought()
        self.opro = Opro()
        self.evolve = Evolve()

    async def step(self, ctx: StrategyContext, n: int) -> list[Candidate]:
        parent = ctx.parent()
        out: list[Candidate] = []
        if ctx.round == 1:
            fmt = with_format(parent, ctx.task, strategy=self.name, generation=parent.generation + 1,
                              train=ctx.pool.examples if ctx.pool else ())
            out = [fmt] if fmt is not None else []
            shots = self.fewshot.early(ctx, fmt or parent)
            out += [shots] if shots is not None and n > len(out) + 1 else []
            out += await self.refine.propose(ctx, parent, max(1, n - len(out)))
        elif ctx.round == 2:
            out = await self.fewshot.step(ctx, n)
            if not out:  # no train split: keep working on the instruction
                out = await self.opro.step(ctx, n)
        elif ctx.round == 3:
            out = await self.cot.step(ctx, min(2, n))
            out += await self.opro.step(ctx, max(1, n - len(out)))
        else:
            maker = parent.strategy
            if maker == "fewshot" or parent.demos is not None:
                out = await self.refine.propose(ctx, parent, max(1, n // 2))
            out += await self.evolve.step(ctx, max(1, n - len(out)))
        # everything auto makes is labelled auto/<the strategy that made it>
        return [c if c.strategy.startswith(self.name) else replace(c, strategy=f"auto/{c.strategy}")
                for c in out[:n]]
