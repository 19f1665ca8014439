"""What a task's answers can be, as far as it can be known before any model call: the declared
labels, a number, or the distinct short answers of the TRAIN split; otherwise free text.

One rule for every user of it: the format sentence a candidate gets (``core.strategies``), the
faithfulness check (``core.faithful``) and the majority-label baseline (``core.baselines``).
Dev and test answers never count: nothing about the scored examples leaks into a prompt.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .task import Example, Task

MAX_LABELS = 12      # distinct train answers that still make a label space
MAX_LABEL_WORDS = 3  # words per such answer, at most
LABEL_LIKE = frozenset({"label", "exact", "contains"})
_NUMBER = re.compile(r"^[-+]?[\d,]*\.?\d+(?:[eE][-+]?\d+)?$")


@dataclass(frozen=True)
class AnswerSpace:
    """What the task's answers can be: a set of labels, a number, or free text."""

    kind: Literal["labels", "numeric", "free"]
    labels: tuple[str, ...] = ()

    def sentence(self) -> str:
        if self.kind == "labels":
            return f"The answer is one of: {', '.join(self.labels)}."
        if self.kind == "numeric":
            return "The answer is a number."
        return ""


def answer_space(task: Task, train: Sequence[Example] | None = None) -> AnswerSpace:
    """A ``label`` metric's labels (or the task's ``labels``, in their declared order, for an
    exact-style metric); a number when every train answer is one; else the distinct train
    answers when they form a small label space: at most 12, of at most three words each, and
    repeated (no more distinct answers than half the train examples, two always allowed).
    ``train``: the examples demonstrations come from (None: the task's train split, if any)."""
    kinds = {spec.type for spec in task.metric_specs()}
    if "label" in kinds and task.label_set():
        return AnswerSpace("labels", task.label_set())
    if task.labels and kinds & LABEL_LIKE:
        return AnswerSpace("labels", task.labels)
    if train is None:
        train = task.split("train") if "train" in task.splits else ()
    values = [e.expected.strip() for e in train if e.expected is not None and e.expected.strip()]
    if not values:
        return AnswerSpace("free")
    if all(_NUMBER.match(v.replace(" ", "")) for v in values):
        return AnswerSpace("numeric")
    distinct = sorted(set(values))
    if kinds & LABEL_LIKE and len(distinct) <= min(MAX_LABELS, max(2, len(values) // 2)) \
            and all(len(v.split()) <= MAX_LABEL_WORDS and "\n" not in v for v in distinct):
        return AnswerSpace("labels", tuple(distinct))
    return AnswerSpace("free")
