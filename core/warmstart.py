"""Warm start: a run on a task like earlier ones begins with what won there.

The store every front writes to holds every finished run. A *precedent* is an earlier run whose
task reads like this one (its description, prompt and a few inputs, by MiniLM similarity, offline)
and whose winner beat its original. Its winner gives the new run's first round up to two
candidates, scored alongside the strategy's own proposals:

- the *pattern*: this task's own instruction with what made the winner (its kind and number of
  demonstrations and their placement, a stated answer format, an answer line). The instruction
  stays the team's; nothing of the other task's wording is carried over.
- the *transfer*: the winner's prompt itself, when it fills the same template slots and the tasks
  share their answer space (a rerun of the same task, or its sibling). It goes through the
  faithfulness check like any proposal.

A precedent on the same target model counts before a more similar one on another model: what works
on a 135M model says little about a 70B one. Runs of the same id (a resumed run) never count.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .answers import answer_space
from .candidate import Candidate, Demos
from .faithful import instruction_text
from .lineage import extras_of, messages_of
from .models.base import Message
from .store import Store
from .strategies.base import with_format
from .task import Example, Task
from .templates import prompt_slots

log = logging.getLogger(__name__)

STRATEGY = "warm"
PATTERN = "pattern"
TRANSFER = "transfer"
DEFAULT_THRESHOLD = 0.6   # task similarity (cosine of MiniLM embeddings) a precedent needs
RECENT_RUNS = 200         # finished runs looked at, newest first
_FORMAT_WORDS = ("answer with", "reply with", "respond with", "one word", "nothing else",
                 "only the", "json object", "final number")


@dataclass(frozen=True)
class Precedent:
    run_id: str
    task_name: str
    target: str
    similarity: float
    gain: float                 # the winner's score minus its original's (headline numbers)
    winner: Candidate
    same_answers: bool          # the tasks share their answer space
    same_slots: bool            # the winner's prompt fills this task's template slots

    def describe(self) -> str:
        return (f"run {self.run_id} on `{self.task_name}` (task similarity {self.similarity:.2f}, "
                f"winner {self.gain:+.0%} over its original on {self.target})")


def signature(task: Task, examples: int = 5) -> str:
    """What a task is, as text to embed: description, instruction and a few inputs."""
    prompt = instruction_text("\n".join(m.content for m in task.messages))
    inputs = [" ".join(str(v) for v in e.inputs.values())[:300] for e in task.examples[:examples]]
    return "\n".join([task.description, prompt, *inputs])[:4000]


def _stored_candidate(row: dict[str, Any]) -> Candidate | None:
    msgs = messages_of(row)
    if not msgs or any(m["role"] not in ("system", "user", "assistant") or not m["content"]
                       for m in msgs):
        return None
    extras = extras_of(row)
    demos = None
    raw = extras.get("demos")
    if isinstance(raw, dict):
        k = raw.get("k") or len(raw.get("indices") or ())
        if isinstance(k, int) and k > 0:
            # knn: a fixed set's indices point into another run's train pool
            demos = Demos("knn", k, (), "inline" if raw.get("placement") == "inline" else "turns")
    prefix = extras.get("answer_prefix")
    return Candidate(tuple(Message(m["role"], m["content"]) for m in msgs),  # type: ignore[arg-type]
                     demos=demos, answer_prefix=prefix if isinstance(prefix, str) else None)


def precedents(store: Store, task: Task, target: str, *, run_id: str | None = None,
               threshold: float = DEFAULT_THRESHOLD, limit: int = 2,
               before: float | None = None) -> list[Precedent]:
    """Earlier runs whose winner beat its original on a task like ``task``: the same target's
    first, then by similarity; at most ``limit`` (one per task). ``before``: only runs finished
    by then (a resumed run starts from what its first leg started from)."""
    from .metrics.similarity import embed

    rows = [r for r in store.runs(limit=RECENT_RUNS)
            if r["id"] != run_id and r["status"] in ("finished", "budget_exhausted")
            and (before is None or (r["finished_at"] or before + 1) <= before)
            and r["best_id"] and r["best_id"] != r["original_id"]
            and (r["best_score"] or 0.0) > (r["original_score"] or 0.0)]
    if not rows:
        return []
    tasks: list[tuple[dict[str, Any], Task]] = []
    for r in rows:
        try:
            tasks.append((r, Task.model_validate_json(r["task_json"])))
        except ValueError:
            continue  # a run stored by an older version whose task no longer parses
    if not tasks:
        return []
    vecs = embed([signature(task)] + [signature(t) for _, t in tasks])
    sims = np.clip(vecs[1:] @ vecs[0], -1.0, 1.0)
    mine = set(answer_space(task).labels)
    slots = prompt_slots("\n".join(m.content for m in task.messages))
    found: list[Precedent] = []
    for (r, other), sim in zip(tasks, sims, strict=True):
        if float(sim) < threshold:
            continue
        winner = next((_stored_candidate(c) for c in store.candidates(r["id"])
                       if c["id"] == r["best_id"]), None)
        if winner is None:
            continue
        theirs = set(answer_space(other).labels)
        found.append(Precedent(
            run_id=r["id"], task_name=r["task_name"], target=r["target"] or "",
            similarity=float(sim), gain=float(r["best_score"] or 0.0) - float(r["original_score"] or 0.0),
            winner=winner, same_answers=mine == theirs,
            same_slots=prompt_slots("\n".join(m.content for m in winner.messages)) == slots))
    found.sort(key=lambda p: (p.target != target, -p.similarity, -p.gain, p.run_id))
    out: list[Precedent] = []
    for p in found:
        if p.task_name not in {q.task_name for q in out}:
            out.append(p)
    return out[:limit]


def _states_format(c: Candidate) -> bool:
    text = c.messages[c.main_index()].content.lower()
    return any(w in text for w in _FORMAT_WORDS)


def seeds(task: Task, original: Candidate, found: Sequence[Precedent],
          train: Sequence[Example]) -> list[Candidate]:
    """The first round's warm candidates: per precedent its pattern on this task's instruction,
    and its prompt itself when it fits this task (see the module docstring)."""
    out: list[Candidate] = []
    for p in found:
        w = p.winner
        base = original
        if _states_format(w):
            base = with_format(original, task, strategy=STRATEGY, generation=1, train=train) \
                or original
        demos = w.demos
        if demos is not None:
            demos = replace(demos, k=min(demos.k, len(train))) if len(train) else None
        pattern = replace(base, parents=(original.id,), strategy=STRATEGY, operator=PATTERN,
                          generation=1, demos=demos, answer_prefix=w.answer_prefix,
                          note=f"what won {p.describe()}, on this task's instruction")
        if pattern.id != original.id:
            out.append(pattern)
        if p.same_slots and p.same_answers:
            out.append(replace(w, parents=(original.id,), strategy=STRATEGY, operator=TRANSFER,
                               generation=1, demos=demos,
                               note=f"the winning prompt of {p.describe()}"))
    unique: dict[str, Candidate] = {}
    for c in out:
        unique.setdefault(c.dedup_key, c)
    return list(unique.values())


def describe(found: Sequence[Precedent]) -> str:
    """One line for the run's log and report."""
    if not found:
        return ""
    return "warm start from " + "; ".join(p.describe() for p in found)


def to_json(found: Sequence[Precedent]) -> str:
    return json.dumps([{"run_id": p.run_id, "task": p.task_name, "target": p.target,
                        "similarity": round(p.similarity, 4), "gain": round(p.gain, 4)}
                       for p in found])
