"""Candidates: prompt variants, identified by the hash of their content."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal

from .metrics.match import normalize
from .models.base import Message


def messages_text(messages: Iterable[Message | Mapping[str, object]], *,
                  roles: bool = False) -> str:
    """Messages (``Message`` objects or ``{"role", "content"}`` dicts) as one text, the form every
    front shows a prompt in: a single message is its content; several are ``[role]`` lines, each
    followed by its content, separated by blank lines. ``roles``: the ``[role]`` lines even for a
    single message (the form ``parse_prompt_text`` reads back as the same turns).

    Examples:
        >>> from core import Message, messages_text
        >>> messages_text([Message("user", "Review: {{ review }}")])
        'Review: {{ review }}'
        >>> messages_text([{"role": "system", "content": "One word."},
        ...                {"role": "user", "content": "{{ review }}"}])
        '[system]\\nOne word.\\n\\n[user]\\n{{ review }}'
        >>> messages_text([Message("user", "Hi")], roles=True)
        '[user]\\nHi'
    """
    pairs = [(m.role, m.content) if isinstance(m, Message)
             else (str(m.get("role", "")), str(m.get("content", ""))) for m in messages]
    if len(pairs) == 1 and not roles:
        return pairs[0][1]
    return "\n\n".join(f"[{role}]\n{content}" for role, content in pairs)


@dataclass(frozen=True)
class Demos:
    """Worked examples drawn from the train split and put into the prompt at answer time:
    a fixed set (indices into the train pool), or the ``k`` nearest train examples to each input
    by sentence embedding (``knn``). ``turns``: user/assistant chat turns; ``inline``: written
    into the last user message."""

    mode: Literal["fixed", "knn"]
    k: int
    indices: tuple[int, ...] = ()
    placement: Literal["turns", "inline"] = "turns"

    def describe(self) -> str:
        what = (f"the {self.k} nearest train examples to each input" if self.mode == "knn"
                else f"{len(self.indices)} fixed train examples {list(self.indices)}")
        return f"{what}, as {'chat turns' if self.placement == 'turns' else 'inline examples'}"


@dataclass(frozen=True)
class Candidate:
    """A prompt variant: its messages, where it came from, and the demonstrations and answer
    line that go with it. Its ``id`` hashes only what is sent, so the same prompt is the same
    version in every run.

    Examples:
        >>> from core import Candidate, Message
        >>> original = Candidate((Message("user", "Review: {{ review }}"),))
        >>> child = original.with_main("Positive or negative?\\n{{ review }}", parents=(original.id,),
        ...                            strategy="refine", operator="rewrite")
        >>> len(original.id), child.parents == (original.id,), child.text()
        (12, True, 'Positive or negative?\\n{{ review }}')
        >>> Candidate(original.messages, strategy="opro").id == original.id
        True
    """

    messages: tuple[Message, ...]
    parents: tuple[str, ...] = ()
    strategy: str = "original"
    operator: str = "original"
    generation: int = 0
    note: str = field(default="", compare=False)
    demos: Demos | None = None
    answer_prefix: str | None = None  # chain of thought: the metrics read what follows it

    @property
    def id(self) -> str:
        parts: list[object] = [[m.role, m.content] for m in self.messages]
        if self.demos is not None or self.answer_prefix is not None:
            parts.append({"demos": None if self.demos is None else asdict(self.demos),
                          "answer_prefix": self.answer_prefix})
        blob = json.dumps(parts, ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]

    @property
    def dedup_key(self) -> str:
        """Same prompt up to case, punctuation and spacing (and the same demos and answer line)."""
        text = "\n".join(f"{m.role}:{normalize(m.content)}" for m in self.messages)
        return f"{text}|{self.demos}|{self.answer_prefix}"

    def text(self) -> str:
        body = messages_text(self.messages)
        if self.demos is not None:
            body += f"\n\n(+ {self.demos.describe()})"
        return body

    def extras(self) -> dict[str, object]:
        """What besides the messages makes this candidate (stored with it)."""
        out: dict[str, object] = {}
        if self.demos is not None:
            out["demos"] = asdict(self.demos)
        if self.answer_prefix is not None:
            out["answer_prefix"] = self.answer_prefix
        return out

    def main_index(self) -> int:
        """The message a rewrite edits: the system message if any, else the first user one."""
        for i, m in enumerate(self.messages):
            if m.role == "system":
                return i
        return next((i for i, m in enumerate(self.messages) if m.role == "user"), 0)

    def with_main(self, text: str, **changes: object) -> Candidate:
        """A child with the main message rewritten; demos and answer line carry over."""
        idx = self.main_index()
        msgs = list(self.messages)
        msgs[idx] = Message(msgs[idx].role, text)
        changes.setdefault("demos", self.demos)
        changes.setdefault("answer_prefix", self.answer_prefix)
        return Candidate(messages=tuple(msgs), **changes)  # type: ignore[arg-type]

    def to_json(self) -> list[dict[str, str]]:
        return [{"role": m.role, "content": m.content} for m in self.messages]
