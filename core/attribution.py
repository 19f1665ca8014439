"""What carries the gain of a winner with demonstrations, measured on dev: its instruction
without the demonstrations, and the original instruction with them, scored on the dev examples
the winner was scored on and compared with the winner (paired, at the run's alpha).

When the original instruction with the winner's demonstrations does not do significantly worse
than the winner, that prompt is the one returned: the demonstrations carry the gain, and the
instruction the team wrote says what the task is better than one a small optimizer drifted to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from .candidate import Candidate
from .evaluator import Evaluation
from .metrics.stats import compare_paired
from .task import Example

STRATEGY = "attribution"
INSTRUCTION_ONLY = "instruction-only"
DEMOS_ONLY = "demos-only"

MIN_EXAMPLES = 16  # dev examples the parts are scored on, at the least
Admit = Callable[[Sequence[Candidate]], object]


@dataclass(frozen=True)
class Attribution:
    text: str                          # one sentence for the explanation ("" without demos)
    prefer: Evaluation | None = None   # the original instruction with the winner's demos, when
                                       # it does as well on dev: return it instead
Score = Callable[[Sequence[Candidate], Sequence[Example]], Awaitable[None]]


def variants(winner: Candidate, original: Candidate) -> tuple[Candidate, Candidate] | None:
    """(the winner's instruction alone, the original instruction with the winner's demos), or
    None when the winner has no demonstrations (or is the original)."""
    if winner.demos is None or winner.id == original.id:
        return None
    alone = Candidate(winner.messages, parents=(winner.id,), strategy=STRATEGY,
                      operator=INSTRUCTION_ONLY, generation=winner.generation,
                      note=f"`{winner.id}` without its demonstrations",
                      answer_prefix=winner.answer_prefix)
    demos = replace(original, parents=(winner.id,), strategy=STRATEGY, operator=DEMOS_ONLY,
                    generation=winner.generation, demos=winner.demos,
                    note=f"the original instruction with the demonstrations of `{winner.id}`")
    return alone, demos


async def attribute(winner: Evaluation, original: Candidate, evaluations: Mapping[str, Evaluation],
                    dev: Sequence[Example], *, per_example: int, remaining: int | None,
                    admit: Admit, score: Score, alpha: float, seed: int) -> Attribution:
    """Score the two variants (reusing any already scored on all of ``dev``) and say in one
    sentence what carries the gain; or why it was not measured. Empty without demonstrations."""
    made = variants(winner.candidate, original)
    if made is None:
        return Attribution("")

    def needs(examples: Sequence[Example]) -> int:
        return per_example * sum(max(0, len(examples) - (len(evaluations[c.id].results)
                                                          if c.id in evaluations else 0))
                                 for c in made)

    if remaining is not None and needs(dev) > remaining:
        # as many of the dev examples as the budget affords, when that is enough to tell
        afford = remaining // (2 * per_example)
        if afford >= MIN_EXAMPLES:
            dev = dev[:afford]
    todo = [c for c in made if c.id not in evaluations or evaluations[c.id].partial
            or len(evaluations[c.id].results) < len(dev)]
    needed = needs(dev)
    if remaining is not None and needed > remaining:
        return Attribution(
            f"What carries the gain was not measured: scoring the instruction alone and the "
            f"demonstrations alone on the {len(dev)} dev examples needs {needed} more calls and "
            f"the budget has {max(remaining, 0)} left.")
    admit([c for c in todo if c.id not in evaluations])
    if todo:
        await score(todo, dev)
    evs = [evaluations.get(c.id) for c in made]
    if any(e is None or e.partial or len(e.results) < len(dev) for e in evs):
        return Attribution("What carries the gain was not measured: the budget ran out while "
                           "scoring the instruction alone and the demonstrations alone.")
    alone, demos = evs[0], evs[1]
    assert alone is not None and demos is not None
    text = sentence(alone, demos, winner, alpha=alpha, seed=seed)
    if demos.candidate.id == winner.candidate.id or _worse(demos, winner, alpha, seed):
        return Attribution(text)
    return Attribution(
        f"{text} The original instruction with these demonstrations does as well on dev, so it is "
        f"the prompt returned (`{demos.candidate.id}`): the demonstrations carry the gain, and "
        f"the instruction is the one the task was written with.", prefer=demos)


def _worse(ev: Evaluation, both: Evaluation, alpha: float, seed: int) -> bool:
    """``ev`` scores significantly below ``both`` on the dev examples they share (paired)."""
    shared = sorted(ev.results.keys() & both.results.keys())
    cmp = compare_paired([both.example_score(i) for i in shared],
                         [ev.example_score(i) for i in shared], alpha=alpha, seed=seed)
    return cmp.significant and cmp.diff < 0


def sentence(alone: Evaluation, demos: Evaluation, both: Evaluation, *, alpha: float,
             seed: int) -> str:
    """"the demonstrations carry the gain: instruction alone 12%, demonstrations with the
    original instruction 70%, both 75%" — which part alone is significantly worse than both."""
    alone_worse, demos_worse = _worse(alone, both, alpha, seed), _worse(demos, both, alpha, seed)
    if alone_worse and not demos_worse:
        lead = "The demonstrations carry the gain"
    elif demos_worse and not alone_worse:
        lead = "The instruction carries the gain"
    elif alone_worse and demos_worse:
        lead = "The instruction and the demonstrations carry the gain together"
    else:
        lead = "Neither part alone does significantly worse than both"
    shared = len(alone.results.keys() & demos.results.keys() & both.results.keys())
    return (f"{lead} (on {shared} dev examples): "
            f"instruction alone {alone.mean():.0%}, demonstrations with the original "
            f"instruction {demos.mean():.0%}, both {both.mean():.0%}.")
