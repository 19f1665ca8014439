"""A run's prompt lineage, read back from the store: the tree of its candidates by parent, word
diffs between two prompts, and candidate lookup by id, unique prefix, ``original`` or ``best``.

Pure functions over store rows; the CLI (``core.cli.history``) does the printing.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from .candidate import messages_text
from .errors import PromptTunerError
from .store import Store

Op = Literal["equal", "delete", "insert"]
MIN_PREFIX = 4
_SHOWN_IDS = 5
_TOKEN = re.compile(r"\s+|\w+|[^\w\s]+")


@dataclass
class Node:
    """One candidate of a run in the lineage tree (or an external parent, from outside the run)."""

    id: str
    operator: str = ""
    strategy: str = ""
    generation: int | None = None
    status: str = "external"
    score: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    note: str = ""
    parents: tuple[str, ...] = ()
    is_original: bool = False
    is_best: bool = False
    external: bool = False  # a parent that is not one of this run's candidates
    tree_parent: str | None = None  # the node it hangs under: its first parent (None for roots)
    children: list[Node] = field(default_factory=list)
    # candidates that list this node as a second (third, …) parent: crossovers it went into
    secondary_of: list[str] = field(default_factory=list)

    @property
    def other_parents(self) -> tuple[str, ...]:
        """Parents besides the one it hangs under (a crossover's second parent, …)."""
        return self.parents[1:]

    @property
    def evaluated(self) -> bool:
        return self.score is not None and bool(self.n)

    def to_json(self, depth: int = 0) -> dict[str, Any]:
        return {
            "id": self.id, "operator": self.operator, "strategy": self.strategy,
            "generation": self.generation, "status": self.status, "score": self.score,
            "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n, "note": self.note,
            "parents": list(self.parents), "tree_parent": self.tree_parent, "depth": depth,
            "children": [c.id for c in self.children], "secondary_of": list(self.secondary_of),
            "original": self.is_original, "best": self.is_best, "external": self.external,
        }


# -- reading rows -----------------------------------------------------------------------------------


def parents_of(row: dict[str, Any]) -> list[str]:
    raw = row.get("parents_json")
    got = json.loads(raw) if raw else []
    return [str(p) for p in got] if isinstance(got, list) else []


def messages_of(row: dict[str, Any]) -> list[dict[str, str]]:
    raw = row.get("messages_json")
    got = json.loads(raw) if raw else []
    return [{"role": str(m.get("role", "")), "content": str(m.get("content", ""))}
            for m in got if isinstance(m, dict)] if isinstance(got, list) else []


def extras_of(row: dict[str, Any]) -> dict[str, Any]:
    """What besides its messages makes the candidate (demonstrations, an answer line); ``{}`` in
    stores from before it was recorded."""
    raw = row.get("extras_json")
    got = json.loads(raw) if raw else {}
    return got if isinstance(got, dict) else {}


def _describe_demos(demos: dict[str, Any]) -> str:
    if demos.get("mode") == "knn":
        what = f"the {demos.get('k')} nearest train examples to each input"
    else:
        indices = list(demos.get("indices") or [])
        what = f"{len(indices)} fixed train examples {indices}"
    return f"{what}, as {'inline examples' if demos.get('placement') == 'inline' else 'chat turns'}"


def candidate_text(row: dict[str, Any]) -> str:
    """The prompt as text: one message is its content; several get ``[role]`` headers (as
    ``Candidate.text``). Demonstrations and an answer line, when the candidate has them, follow as
    ``(+ …)`` lines, so that a few-shot or chain-of-thought child differs from its parent."""
    body = messages_text(messages_of(row))
    lines = []
    for key, value in sorted(extras_of(row).items()):
        if value is None:
            continue
        if key == "demos" and isinstance(value, dict):
            lines.append(f"(+ {_describe_demos(value)})")
        elif key == "answer_prefix":
            lines.append(f"(+ the answer follows {json.dumps(value, ensure_ascii=False)})")
        else:
            lines.append(f"(+ {key}: {json.dumps(value, ensure_ascii=False, sort_keys=True)})")
    return "\n\n".join([body, *lines]) if lines else body


def original_id(run: dict[str, Any], rows: list[dict[str, Any]]) -> str | None:
    """The run's original prompt: recorded when the run finished, else the candidate whose operator
    is ``original``, else the first one without parents."""
    ids = {r["id"] for r in rows}
    if run.get("original_id") in ids:
        return str(run["original_id"])
    for row in rows:
        if row.get("operator") == "original":
            return str(row["id"])
    return next((str(r["id"]) for r in rows if not parents_of(r)), None)


def best_id(run: dict[str, Any], rows: list[dict[str, Any]]) -> str | None:
    """The run's best candidate, as recorded when it finished (None while it has not)."""
    best = run.get("best_id")
    return str(best) if best and best in {r["id"] for r in rows} else None


def find_version(store: Store, candidate_id: str) -> dict[str, Any] | None:
    """A candidate row from any run of the store (ids are content hashes, so every run's row with
    this id holds the same prompt); the earliest one."""
    return store.first_candidate(candidate_id)


# -- the tree ---------------------------------------------------------------------------------------


def _node(row: dict[str, Any], original: str | None, best: str | None) -> Node:
    def opt_float(key: str) -> float | None:
        value = row.get(key)
        return float(value) if value is not None else None

    n = row.get("n")
    gen = row.get("generation")
    return Node(
        id=str(row["id"]), operator=row.get("operator") or "", strategy=row.get("strategy") or "",
        generation=int(gen) if gen is not None else None, status=row.get("status") or "proposed",
        score=opt_float("score"), ci_low=opt_float("ci_low"), ci_high=opt_float("ci_high"),
        n=int(n) if n is not None else None, note=row.get("note") or "",
        parents=tuple(parents_of(row)), is_original=row["id"] == original,
        is_best=row["id"] == best)


def lineage(store: Store, run_id: str) -> list[Node]:
    """The run's candidates as a tree, returned as its roots (the original first, then any other
    root of the run, then external parents), each with its ``children`` in the order they were
    proposed. A candidate hangs under its first parent; a crossover's other parents are in
    ``other_parents`` (and they list it in ``secondary_of``). Parents that are not among this run's
    candidates become external root nodes."""
    run = store.get_run(run_id)
    rows = store.candidates(run_id)
    original, best = original_id(run, rows), best_id(run, rows)
    nodes: dict[str, Node] = {}
    for row in rows:
        nodes.setdefault(str(row["id"]), _node(row, original, best))
    in_run = list(nodes.values())
    external: dict[str, Node] = {}
    for node in in_run:
        for pid in node.parents:
            if pid not in nodes and pid not in external:
                external[pid] = Node(id=pid, external=True)
    everything = {**nodes, **external}

    def reaches(start: str, target: str) -> bool:
        seen: set[str] = set()
        cur: str | None = start
        while cur is not None and cur not in seen:
            if cur == target:
                return True
            seen.add(cur)
            cur = everything[cur].tree_parent
        return False

    for node in in_run:
        if node.parents and not reaches(node.parents[0], node.id):  # no cycles, however stored
            node.tree_parent = node.parents[0]
            everything[node.tree_parent].children.append(node)
        for pid in node.parents[1:]:
            if pid != node.id and node.id not in everything[pid].secondary_of:
                everything[pid].secondary_of.append(node.id)
    roots = [n for n in in_run if n.tree_parent is None]
    roots.sort(key=lambda n: not n.is_original)  # stable: the rest stay in proposal order
    return roots + list(external.values())


def walk(roots: list[Node]) -> Iterator[tuple[int, Node]]:
    """Every node of the tree, depth first (parents before their children), with its depth."""
    stack = [(0, n) for n in reversed(roots)]
    while stack:
        depth, node = stack.pop()
        yield depth, node
        stack.extend((depth + 1, c) for c in reversed(node.children))


# -- word diff --------------------------------------------------------------------------------------


def tokens(text: str) -> list[str]:
    """Words, runs of punctuation and runs of whitespace: joined, they give the text back."""
    return _TOKEN.findall(text)


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """A word-level diff as ``(op, text)`` segments, op one of equal/delete/insert: the equal and
    delete segments joined give ``old``, the equal and insert ones give ``new``. Whitespace alone
    between two changes is folded into them, so a rewritten phrase is one deletion and one
    insertion rather than a word-by-word patchwork."""
    a, b = tokens(old), tokens(new)
    raw: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            raw.append(("equal", "".join(a[i1:i2])))
            continue
        if tag in ("delete", "replace"):
            raw.append(("delete", "".join(a[i1:i2])))
        if tag in ("insert", "replace"):
            raw.append(("insert", "".join(b[j1:j2])))
    out: list[tuple[str, str]] = []
    deleted: list[str] = []
    inserted: list[str] = []

    def flush() -> None:
        if deleted:
            out.append(("delete", "".join(deleted)))
        if inserted:
            out.append(("insert", "".join(inserted)))
        deleted.clear()
        inserted.clear()

    for i, (op, text) in enumerate(raw):
        if op == "delete":
            deleted.append(text)
        elif op == "insert":
            inserted.append(text)
        elif (text.isspace() and 0 < i < len(raw) - 1 and raw[i - 1][0] != "equal"
              and raw[i + 1][0] != "equal"):
            deleted.append(text)  # whitespace between two changes: part of both
            inserted.append(text)
        else:
            flush()
            out.append(("equal", text))
    flush()
    return [(op, text) for op, text in out if text]


# -- lookup -----------------------------------------------------------------------------------------


def _some_ids(rows: list[dict[str, Any]]) -> str:
    ids = [str(r["id"]) for r in rows]
    more = f" and {len(ids) - _SHOWN_IDS} more" if len(ids) > _SHOWN_IDS else ""
    return ", ".join(ids[:_SHOWN_IDS]) + more


def resolve_candidate(store: Store, run_id: str, ref: str) -> dict[str, Any]:
    """A candidate row of the run by full id, unique prefix (at least 4 characters), or the words
    ``original`` and ``best``. A ``PromptTunerError`` naming the run otherwise."""
    run = store.get_run(run_id)
    rows = store.candidates(run_id)
    word = " ".join(ref.split()).lower()
    if not rows:
        raise PromptTunerError(f"run {run_id} has no candidates",
                               "it stopped before proposing any; see `prompt-tuner runs`")
    if word in ("original", "best"):
        cid = original_id(run, rows) if word == "original" else best_id(run, rows)
        if cid is None:
            raise PromptTunerError(
                f"run {run_id} has no {word} candidate yet (status {run.get('status')})",
                f"give a candidate id: {_some_ids(rows)}")
        return next(r for r in rows if r["id"] == cid)
    exact = [r for r in rows if r["id"] == word]
    if exact:
        return exact[0]
    if len(word) < MIN_PREFIX:
        raise PromptTunerError(f"'{word}' is too short to pick a candidate of run {run_id}",
                               f"give at least {MIN_PREFIX} characters of an id: {_some_ids(rows)}")
    found = [r for r in rows if str(r["id"]).startswith(word)]
    if len(found) == 1:
        return found[0]
    if found:
        raise PromptTunerError(f"'{word}' matches {len(found)} candidates of run {run_id}: "
                               f"{_some_ids(found)}", "give more characters of the id")
    raise PromptTunerError(f"no candidate '{word}' in run {run_id}",
                           f"its candidates: {_some_ids(rows)}; or say `original` or `best`")
