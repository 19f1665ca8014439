"""What the store knows about a prompt: its version number, its score (the core's one definition), the
task's best version, and the version history as a document with diffs.

Reads are cached for a few seconds (diagnostics and hovers ask often; the store only changes when
a run writes to it, and the server drops the cache when its own runs finish).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from core import Candidate, Message, PromptTunerError, Store, VersionView, prompt_diff, task_versions

TTL_S = 3.0


@dataclass(frozen=True)
class Measurement:
    version: int
    candidate_id: str
    score: float
    low: float
    high: float
    n: int
    run_id: str
    when: float
    source: str = "run"

    def fmt(self) -> str:
        return f"{self.score:.0%} [{self.low:.0%}, {self.high:.0%}] (n={self.n})"

    def when_text(self) -> str:
        return dt.datetime.fromtimestamp(self.when).strftime("%Y-%m-%d %H:%M")


def candidate_id(messages: tuple[Message, ...]) -> str:
    return Candidate(messages).id


class History:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}

    def clear(self) -> None:
        self._cache.clear()

    def _cached(self, kind: str, key: str, compute: Any) -> Any:
        hit = self._cache.get((kind, key))
        now = time.monotonic()
        if hit is not None and now - hit[0] < TTL_S:
            return hit[1]
        value = compute()
        self._cache[(kind, key)] = (now, value)
        return value

    def versions(self, task_name: str) -> list[VersionView]:
        """The task's versions, oldest first (the core's ``task_versions``; none stored: [])."""
        result: list[VersionView] = self._cached("versions", task_name,
                                                 lambda: self._versions(task_name))
        return result

    def _versions(self, task_name: str) -> list[VersionView]:
        try:
            return task_versions(self.store, task_name)
        except PromptTunerError:
            return []

    def measurements(self, task_name: str) -> dict[str, Measurement]:
        """Every scored version's score as every front shows it (its measurement on the most
        examples), by candidate id."""
        return {v.id: Measurement(v.version, v.id, v.score.mean, v.score.low, v.score.high,
                                  v.score.n, v.scored_in or "", v.scored_at or 0.0)
                for v in self.versions(task_name) if v.score is not None}

    def best(self, task_name: str) -> Measurement | None:
        measured = self.measurements(task_name).values()
        return max(measured, key=lambda m: (m.score, m.n, -m.version), default=None)

    def version_of(self, task_name: str, cid: str) -> int | None:
        return next((v.version for v in self.versions(task_name) if v.id == cid), None)


def history_document(task_name: str, history: History) -> str:
    """Markdown: every version, newest first, with its score and a diff from its parent."""
    versions = history.versions(task_name)
    measured = history.measurements(task_name)
    if not versions:
        return f"# {task_name}\n\nNo versions stored yet: run \"Optimize this prompt\" first.\n"
    by_id = {v.id: v for v in versions}
    lines = [f"# {task_name}: {len(versions)} versions", ""]
    for v in reversed(versions):
        m = measured.get(v.id)
        score = m.fmt() + f", run {m.run_id}" if m else "not scored"
        reviewed = v.approvals or v.rejections
        review = f", {v.approvals} approved / {v.rejections} rejected" if reviewed else ""
        lines += [f"## v{v.version} `{v.id}`: {score}",
                  f"{v.operator or 'original'}, first seen {v.first_seen}{review}", ""]
        parent = by_id.get(v.parents[0]) if v.parents else None
        if parent is None:
            lines += ["```", v.text, "```", ""]
            continue
        diff = prompt_diff(parent.text, v.text, f"v{parent.version}", f"v{v.version}")
        lines += ["```diff", *diff, "```", ""]
    return "\n".join(lines)
