"""``cot``: a chain-of-thought variant — think first, then a fixed answer line the metrics read.

The candidate carries ``answer_prefix`` ("Answer:"): the evaluator gives the metrics only what
follows the last answer line, and allows the target room for its reasoning. Demonstrations, if the
parent has them, show the answer line too.
"""

from __future__ import annotations

from ..candidate import Candidate
from .base import StrategyContext

PREFIX = "Answer:"
INSTRUCTIONS = (
    "Think step by step. Then write the final answer on its own last line, as: Answer: <answer>",
    "First work it out briefly. Finish with a line that starts with \"Answer:\" followed by the "
    "answer only.",
)


class ChainOfThought:
    name = "cot"

    async def step(self, ctx: StrategyContext, n: int) -> list[Candidate]:
        base = ctx.parent()
        if base.answer_prefix:
            return []
        main = base.messages[base.main_index()].content.rstrip()
        out = []
        for i, sentence in enumerate(INSTRUCTIONS):
            out.append(base.with_main(f"{main}\n{sentence}", parents=(base.id,),
                                      strategy=self.name, operator="cot",
                                      generation=base.generation + 1, answer_prefix=PREFIX,
                                      note=f"reason first, then an answer line ({i + 1})"))
            if base.demos is not None:  # the same without demos: their answers have no reasoning
                out.append(base.with_main(f"{main}\n{sentence}", parents=(base.id,),
                                          strategy=self.name, operator="cot", demos=None,
                                          generation=base.generation + 1, answer_prefix=PREFIX,
                                          note=f"reason first, no demos ({i + 1})"))
        return out[:n]
