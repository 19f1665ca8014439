"""Faithfulness: is a proposed instruction still about the task? Checked before any target call.

A small optimizer often answers a meta-prompt with an instruction for some other task ("Rewrite
the input text so that it is more professional…" for sentiment) or copies the meta-prompt's own
worked example ("Is this email spam or ham?…" for Boolean expressions); demonstrations can then
carry the score of a prompt nobody would ship. Three checks, cheapest first:

- answer words: an instruction that names answer words of another task ("spam or ham" when the
  answers are True/False) is rejected;
- worked examples: an instruction that reproduces the worked example of one of our meta-prompts
  (``templates/*/…j2``, the ``{% raw %}`` example blocks) is rejected;
- meaning: the instruction's sentence embedding (all-MiniLM-L6-v2, offline) must be close enough
  to the task — its description, the original prompt, the answer space — or, with
  ``tune.faithfulness: optimizer``, the optimizer must answer yes when asked whether it is.

The original, a person's prompts and edits that keep an already-checked parent's text (format
sentences, demonstrations, an answer line) are never rejected for meaning.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np

from .answers import AnswerSpace, answer_space
from .candidate import Candidate
from .errors import PromptTunerError
from .models.base import Message, Request
from .models.stack import ModelClient
from .task import Example, Task
from .templates import TemplateLibrary, templates_dir

log = logging.getLogger(__name__)

Mode = Literal["embedding", "optimizer", "off"]
# Calibrated on tests/test_faithfulness.py's table (11 tasks, 45 honest rewrites, 154 off-task
# instructions): honest rewrites score 0.528 and up, off-task ones 0.419 at most.
DEFAULT_THRESHOLD = 0.47
CHECK_TEMPLATE = "faithful/check.j2"
# Answer words that mark a task when an instruction offers them as the answers ("X or Y"):
# sentiment, spam, truth values, yes/no, entailment, emotions, toxicity, correctness.
ANSWER_WORDS = frozenset({
    "positive", "negative", "neutral", "spam", "ham", "true", "false", "yes", "no",
    "entailment", "contradiction", "anger", "joy", "sadness", "fear", "optimism", "surprise",
    "disgust", "sarcastic", "toxic", "offensive", "correct", "incorrect", "valid", "invalid",
    "agree", "disagree", "relevant", "irrelevant",
})
PAIRED = {"yes": "no", "no": "yes", "true": "false", "false": "true"}
NUMBER_WORDS = frozenset({"positive", "negative"})
# What a worked example's own trigrams must cover of it to count as copied.
COPIED = 0.6
# An edit that keeps its parent whole and adds at most this many words is a format edit.
MAX_ADDED_WORDS = 30
_SLOT = re.compile(r"{{.*?}}|{%.*?%}", re.S)
_WORD = re.compile(r"[a-z0-9][a-z0-9_'-]*")
_RAW = re.compile(r"{%-?\s*raw\s*-?%}(.*?){%-?\s*endraw\s*-?%}", re.S)
_FIELD = re.compile(r"^\s*[A-Z][A-Za-z0-9 ]{0,20}:\s*(.*)$")
_STOP = frozenset({
    "a", "an", "the", "is", "are", "be", "this", "that", "of", "to", "and", "or", "in", "on", "for",
    "with", "as", "it", "its", "one", "word", "answer", "reply", "respond", "prompt", "new", "old",
    "task", "example", "your", "you"})


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""


PASS = Verdict(True)


def instruction_text(text: str) -> str:
    """An instruction as prose: template slots and tags removed, whitespace collapsed."""
    return " ".join(_SLOT.sub(" ", text).split())


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _aliases(task: Task) -> set[str]:
    out: set[str] = set()
    for spec in task.metric_specs():
        aliases = spec.params().get("aliases")
        if isinstance(aliases, dict):
            for key, value in aliases.items():
                out |= set(words(str(key))) | set(words(str(value)))
    return out


def offered_answers(text: str) -> set[str]:
    """Words an instruction offers as answers: those joined by "or" or "/" ("spam or ham",
    "true/false", "anger, joy or fear") and quoted single words."""
    toks = re.findall(r"[a-z0-9_'-]+|/|,", text.lower())
    out: set[str] = set()
    for i, tok in enumerate(toks):
        if tok not in ("or", "/") or i == 0 or i == len(toks) - 1:
            continue
        out |= {t for t in (toks[i - 1], toks[i + 1]) if t not in (",", "/", "or")}
        j = i - 1
        while j >= 2 and toks[j - 1] == "," and toks[j - 2] not in (",", "/", "or"):
            j -= 2
            out.add(toks[j])
    for quoted in re.findall(r"[\"']([A-Za-z_-]+)[\"']", text):
        out.add(quoted.lower())
    return out


def foreign_answers(text: str, space: AnswerSpace, allowed: Iterable[str]) -> list[str]:
    """Answer words the instruction offers that belong to another task's answer space. "yes",
    "no", "true" and "false" count only with their partner ("little or no explanation" offers
    nothing); a number may be positive or negative."""
    if space.kind == "free":
        return []
    known = set(allowed) | (NUMBER_WORDS if space.kind == "numeric" else set())
    offered = offered_answers(text)
    return sorted(w for w in offered if w in ANSWER_WORDS and w not in known
                  and PAIRED.get(w, w) in offered)


# "Answer with one word: X", "Reply with exactly one of these words and nothing else: a, b."
_STATED = re.compile(
    r"\b(?:answer|reply|respond)\w*\s+with\s+(?:exactly\s+|only\s+)?(?:one|a\s+single)\s+"
    r"(?:of\s+(?:these|the\s+following)\s+)?(?:words?|labels?|answers?)"
    r"(?:\s+and\s+nothing\s+else)?\s*:\s*([^.\n]+)", re.I)


# "The answer is yes." / "Always answer positive": one label, whatever the input
_ONE_ANSWER = re.compile(
    r"\b(?:the\s+(?:correct\s+|right\s+)?answer\s+is|always\s+(?:answer|say|reply|respond)"
    r"(?:\s+with)?)\s*[\"']?([A-Za-z_-]+)[\"']?\s*(?=[.!;]|$)", re.I)
MIN_COPIED = 12  # characters of an example's input value that count as copied data
# "Task: Determine if …": a task statement, up to the end of its sentence
_TASK_FIELD = re.compile(r"\bTask:\s*([^.?!]+)")


def stated_answers(text: str) -> list[str]:
    """The words an instruction states as the only answers ("Answer with one word: X")."""
    out: list[str] = []
    for m in _STATED.finditer(text):
        out += [w for w in words(m.group(1)) if w not in ("or", "and", "nothing", "else")]
    return out


@dataclass(frozen=True)
class WorkedExample:
    template: str
    text: str


@lru_cache(maxsize=4)
def worked_examples(root: Path | None = None) -> tuple[WorkedExample, ...]:
    """The example prompts of every meta-prompt template (the text between ``{% raw %}`` tags,
    one per field line: the task, the old and new prompts, the mistakes)."""
    base = root or templates_dir()
    out: list[WorkedExample] = []
    for path in sorted(base.rglob("*.j2")):
        if path.relative_to(base).parts[0] == "report":
            continue
        for block in _RAW.findall(path.read_text(encoding="utf-8")):
            for line in block.splitlines():
                field = _FIELD.match(line)
                value = instruction_text(field.group(1)) if field else ""
                if len(words(value)) >= 3:
                    out.append(WorkedExample(path.relative_to(base).as_posix(), value))
    return tuple(dict.fromkeys(out))


def _trigrams(seq: Sequence[str]) -> set[tuple[str, str, str]]:
    return {(seq[i], seq[i + 1], seq[i + 2]) for i in range(len(seq) - 2)}


def copied_example(text: str, examples: Sequence[WorkedExample],
                   task_text: str) -> WorkedExample | None:
    """The worked example ``text`` reproduces: most of the example's word trigrams that the
    task's own text lacks are in ``text``, and so is a word of the example the task never uses
    (a spam task may well say "spam or ham"; a Boolean task may not say "email")."""
    mine = words(text)
    have = _trigrams(mine)
    task_words = set(words(task_text))
    task_grams = _trigrams(words(task_text))
    for ex in examples:
        ex_words = words(ex.text)
        grams = _trigrams(ex_words) - task_grams
        if len(grams) < 2:
            continue
        foreign = {w for w in ex_words if w not in task_words and w not in _STOP}
        if len(grams & have) / len(grams) >= COPIED and foreign & set(mine):
            return ex
    return None


def similarity(text: str, references: Sequence[str]) -> float:
    """The highest cosine of ``text``'s embedding with the references' (blocking)."""
    from .metrics.similarity import embed

    vectors = embed([text, *references])
    return float(np.max(vectors[1:] @ vectors[0]))


class FaithfulnessCheck:
    """Checks the instructions a strategy proposes against the task, before they are scored."""

    def __init__(self, task: Task, *, mode: Mode = "embedding",
                 threshold: float = DEFAULT_THRESHOLD, train: Sequence[Example] = (),
                 optimizer: ModelClient | None = None, templates: TemplateLibrary | None = None,
                 seed: int = 0) -> None:
        self.task = task
        self.mode = mode
        self.threshold = threshold
        self.optimizer = optimizer
        self.templates = templates or TemplateLibrary()
        self.seed = seed
        # the check never shows answers to the target, so any examples may tell what they are
        self.space = answer_space(task, train or task.examples)
        self.original = task.messages[Candidate(task.messages).main_index()].content
        prompt = "\n".join(m.content for m in task.messages)
        self.task_text = f"{task.description}\n{prompt}\n{' '.join(self.space.labels)}"
        self.allowed = set(words(self.task_text)) | _aliases(task) | {
            w for label in self.space.labels for w in words(label)}
        desc, orig = instruction_text(task.description), instruction_text(prompt)
        answers = self.space.sentence()
        refs = [desc, f"{desc} {orig}", f"{orig} {answers}"]
        # nothing to compare with (no description, a prompt that is only its input)
        self.references = [r.strip() for r in refs if len(words(r)) >= 3]
        self._no_embedder = False
        # the examples' input values long enough to be data, not a word of an instruction
        # (case and spacing folded); unless the task's own prompt or description has them
        own = " ".join(f"{task.description}\n{prompt}".lower().split())
        self.inputs = {v for e in task.examples for value in e.inputs.values()
                       if len(v := " ".join(str(value).lower().split())) >= MIN_COPIED
                       and v not in own}

    def trusted(self, cand: Candidate) -> bool:
        """The original and what a person wrote are never rejected."""
        return cand.strategy == "human" or cand.operator == "original" or not cand.parents

    async def check(self, cand: Candidate, known: Mapping[str, Candidate]) -> Verdict:
        """``known``: the candidates already admitted (and checked), by id."""
        if self.mode == "off" or self.trusted(cand):
            return PASS
        main = cand.messages[cand.main_index()].content
        kept = [p.messages[p.main_index()].content for pid in cand.parents
                if (p := known.get(pid)) is not None]
        added = _added_text(main, kept)
        if added is not None and not added.strip():
            return PASS  # the parent's instruction unchanged (demonstrations, answer line)
        checked = instruction_text(added if added is not None else main)
        copied = copied_example(checked, worked_examples(self.templates.root), self.task_text)
        if copied is not None:
            return Verdict(False, f"copies the worked example of {copied.template}: "
                                  f"\"{copied.text[:80]}\"")
        foreign = foreign_answers(checked, self.space, self.allowed)
        if foreign:
            return Verdict(False, "offers answers of another task: " + ", ".join(foreign))
        wrong = self._stated_outside(checked)
        if wrong:
            return Verdict(False, "states answers outside the task's: " + ", ".join(wrong))
        copied_input = self._copied_input(main)
        if copied_input:
            return Verdict(False, f"copies an example's input into the instruction: "
                                  f"\"{copied_input[:60]}\"")
        fixed = self._one_answer(checked)
        if fixed:
            return Verdict(False, f"states one answer for every input: {fixed}")
        other = await asyncio.to_thread(self._another_task, checked)
        if other:
            return Verdict(False, f"states another task: \"{other[:80]}\"")
        if added is not None:
            return PASS  # a format sentence or two added to an instruction already checked
        if self.mode == "optimizer" and self.optimizer is not None:
            judged = await self._ask_optimizer(instruction_text(main))
            if judged is not None:
                return judged
        if self._names_the_answers(checked):
            return PASS  # it offers the task's own answers (and no other task's)
        return await asyncio.to_thread(self._by_meaning, instruction_text(main))

    def _stated_outside(self, text: str) -> list[str]:
        """Words stated as the only answers that are none of the task's labels (or aliases):
        "Answer with one word: question." on a yes/no task."""
        if self.space.kind != "labels":
            return []
        labels = {w for label in self.space.labels for w in words(label)} | _aliases(self.task)
        return sorted({w for w in stated_answers(text) if w not in labels})

    def _copied_input(self, text: str) -> str:
        """An example's input value written into the instruction (a prompt fitted to one
        example); "" when none."""
        flat = " ".join(text.lower().split())
        return next((v for v in sorted(self.inputs) if v in flat), "")

    def _one_answer(self, text: str) -> str:
        """A label the instruction gives as the answer whatever the input ("The answer is
        yes.", "Always answer positive."), on a task with several labels; "" when none."""
        if self.space.kind != "labels" or len(self.space.labels) < 2:
            return ""
        labels = {w for label in self.space.labels for w in words(label)}
        for m in _ONE_ANSWER.finditer(text):
            if m.group(1).lower() in labels:
                return m.group(1).lower()
        return ""

    def _another_task(self, text: str) -> str:
        """A "Task: …" statement (the meta-prompts' field, leaked into a proposal) whose meaning
        is far from this task's; "" when there is none (or no embedding model)."""
        if not self.references or self._no_embedder:
            return ""
        for m in _TASK_FIELD.finditer(text):
            stated = m.group(1).strip()
            if len(stated.split()) < 3:
                continue
            try:
                if similarity(stated, self.references) < self.threshold:
                    return stated
            except PromptTunerError:
                self._no_embedder = True
                return ""
        return ""

    def _names_the_answers(self, text: str) -> bool:
        """It offers at least two of the task's labels (all of them when there is one)."""
        if self.space.kind != "labels":
            return False
        labels = {w for label in self.space.labels for w in words(label)} | {
            "_".join(words(label)) for label in self.space.labels}
        return len(offered_answers(text) & labels) >= min(2, len(self.space.labels))

    def _by_meaning(self, text: str) -> Verdict:
        if not self.references or self._no_embedder:
            return PASS
        try:
            score = similarity(text, self.references)
        except PromptTunerError as exc:  # the embedding model is not installed
            self._no_embedder = True
            log.warning("faithfulness check by meaning skipped: %s", exc)
            return PASS
        if score < self.threshold:
            return Verdict(False, f"off-task: similarity to the task {score:.2f} < "
                                  f"{self.threshold:.2f}")
        return PASS

    async def _ask_optimizer(self, text: str) -> Verdict | None:
        """The optimizer's yes/no; None when its reply says neither."""
        assert self.optimizer is not None
        question = self.templates.render(
            CHECK_TEMPLATE, description=self.task.description or "(not described)",
            original=instruction_text(self.original), answers=self.space.sentence(),
            proposal=text)
        reply = await self.optimizer.complete(Request(messages=(Message("user", question),),
                                                      max_tokens=4, temperature=0.0,
                                                      seed=self.seed))
        first = words(reply.text)[:1]
        if first == ["yes"]:
            return PASS
        if first == ["no"]:
            return Verdict(False, "off-task: the optimizer says it asks for another task")
        return None

    async def screen(self, cands: Sequence[Candidate],
                     known: Mapping[str, Candidate]) -> dict[str, str]:
        """The rejected among ``cands``: id -> reason."""
        verdicts = await asyncio.gather(*(self.check(c, known) for c in cands))
        return {c.id: v.reason for c, v in zip(cands, verdicts, strict=True) if not v.ok}


def _added_text(main: str, parents: Sequence[str]) -> str | None:
    """What ``main`` adds to a parent's instruction it keeps whole (None: it keeps none)."""
    flat = " ".join(main.split())
    for parent in parents:
        kept = " ".join(parent.split())
        if kept and kept in flat:
            added = flat.replace(kept, " ", 1).strip()
            return added if len(words(added)) <= MAX_ADDED_WORDS else None
    return None
