"""Stepping in between rounds: what a person sees after a round, and what they decide.

The engine hands a ``RoundReview`` to the run's reviewer (``tune(..., reviewer=...)``) after
each round's candidates are scored, and applies the ``RoundDecision`` it gets back before the next
round: dropped candidates leave the race, edited and added prompts are scored on the dev
examples at once, and ``stop`` ends the search (the held-out check and the report still run).
Every decision is stored with its round.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import TaskError
from .metrics.stats import Estimate
from .promptfile import MARKERS
from .templates import prompt_slots

if TYPE_CHECKING:
    from .evaluator import Evaluation


@dataclass(frozen=True)
class ReviewEntry:
    """One candidate as the reviewer sees it: rank order is the list's order."""

    id: str
    text: str                 # the whole prompt as text ([role] markers for chat prompts)
    main: str                 # the message an edit rewrites (system message, else first user)
    estimate: Estimate        # on the dev examples scored so far
    answers: int              # answers scored (the calls it has cost, the judge's aside)
    operator: str
    strategy: str
    parent_id: str | None
    parent_text: str | None   # for a diff against the parent
    round: int                # the round that proposed it (0: the original)
    status: str               # evaluated | pruned | partial
    is_original: bool = False
    is_new: bool = False      # proposed in this round


@dataclass(frozen=True)
class RoundReview:
    run_id: str
    round: int
    rounds: int               # the most rounds the run will do
    entries: tuple[ReviewEntry, ...]
    best_id: str
    calls: int                # model calls paid so far
    max_calls: int | None
    inputs: tuple[str, ...] = ()  # the {{ slots }} a prompt may use (the examples fill them)


@dataclass
class RoundDecision:
    """``drop``: candidate ids; ``edits``: (id, new text of its main message); ``add``: prompts
    written by the person (a whole prompt with [system]/[user] markers, or the text of the
    original's main message); ``stop``: finalize after this round.

    Examples:
        A reviewer is any function from a :class:`RoundReview` to a decision (see
        :func:`core.tune`); this one drops the round's worst candidate and adds a prompt:

        >>> from core import RoundDecision, RoundReview
        >>> def review(round_review: RoundReview) -> RoundDecision:
        ...     worst = round_review.entries[-1]
        ...     drop = [] if worst.is_original else [worst.id]
        ...     return RoundDecision(drop=drop, add=["Answer positive or negative.\\n\\n{{ review }}"])
        >>> decision = RoundDecision(drop=["3f2a9c01b7e4"], stop=True)
        >>> decision.to_json()
        {'drop': ['3f2a9c01b7e4'], 'edits': [], 'add': [], 'stop': True}
        >>> RoundDecision.from_json(decision.to_json()) == decision, RoundDecision().empty
        (True, True)
    """

    drop: list[str] = field(default_factory=list)
    edits: list[tuple[str, str]] = field(default_factory=list)
    add: list[str] = field(default_factory=list)
    stop: bool = False
    # a round's whole decision: the reviewer's answers one by one, when there were several (an
    # edit may rewrite a prompt the same person added a step before)
    steps: list[RoundDecision] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.drop or self.edits or self.add or self.stop)

    def merge(self, step: RoundDecision) -> None:
        self.drop += step.drop
        self.edits += step.edits
        self.add += step.add
        self.stop = self.stop or step.stop
        self.steps.append(step)

    def in_steps(self) -> list[RoundDecision]:
        """The answers to carry out in order (one, unless there were several)."""
        return list(self.steps) or [self]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"drop": list(self.drop), "edits": [list(e) for e in self.edits],
                               "add": list(self.add), "stop": self.stop}
        if len(self.steps) > 1:
            out["steps"] = [step.to_json() for step in self.steps]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RoundDecision:
        return cls(drop=[str(d) for d in data.get("drop", [])],
                   edits=[(str(e[0]), str(e[1])) for e in data.get("edits", [])],
                   add=[str(a) for a in data.get("add", [])], stop=bool(data.get("stop")),
                   steps=[cls.from_json(s) for s in data.get("steps", [])])


Reviewer = Callable[[RoundReview], "RoundDecision | Awaitable[RoundDecision]"]


def is_whole(text: str) -> bool:
    """Whether a person's prompt is written whole, with [system]/[user]/[assistant] lines (else
    it is the text of the original's main message)."""
    return any(line.strip().lower() in MARKERS for line in text.splitlines())


def check_slots(text: str, inputs: Collection[str]) -> frozenset[str]:
    """The ``{{ slots }}`` of a prompt a person wrote. ``TaskError`` for a template syntax error or
    a slot no example fills (the run would fail on the first answer)."""
    slots = prompt_slots(text)
    unknown = sorted(slots - set(inputs))
    if unknown:
        known = ", ".join(f"{{{{ {s} }}}}" for s in sorted(inputs)) or "none"
        raise TaskError(f"{{{{ {unknown[0]} }}}} is not an input of this task",
                        f"the inputs are: {known}")
    return slots


def append_slots(text: str, missing: Sequence[str]) -> str:
    """``text`` with a ``name: {{ name }}`` line for each input it left out."""
    if not missing:
        return text
    return text.rstrip() + "\n\n" + "\n".join(f"{s}: {{{{ {s} }}}}" for s in missing)


def review_entries(ranked: Sequence[Evaluation], evaluations: Mapping[str, Evaluation], *,
                   pruned: Collection[str], dropped: Collection[str], made_in: Mapping[str, int],
                   original_id: str, number: int, seed: int) -> list[ReviewEntry]:
    """What the reviewer of round ``number`` sees: the fully scored candidates best first
    (``ranked``), then the rest (racing, partial, pruned) by score, each with its parent."""
    texts = {e.candidate.id: e.candidate.text() for e in evaluations.values()}
    shown = {e.candidate.id for e in ranked} | set(dropped)
    rest = sorted((e for e in evaluations.values() if e.candidate.id not in shown),
                  key=lambda e: (-e.mean(), e.candidate.id))
    out = []
    for ev in [*ranked, *rest]:
        c = ev.candidate
        parent = c.parents[0] if c.parents else None
        status = "pruned" if c.id in pruned else "partial" if ev.partial else "evaluated"
        out.append(ReviewEntry(
            id=c.id, text=c.text(), main=c.messages[c.main_index()].content,
            estimate=ev.estimate(seed), answers=len(ev.results), operator=c.operator,
            strategy=c.strategy, parent_id=parent, parent_text=texts.get(parent or ""),
            round=made_in.get(c.id, 0), status=status, is_original=c.id == original_id,
            is_new=made_in.get(c.id) == number))
    return out
