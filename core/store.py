"""The store: SQLite (via sqlite-utils) holding runs, candidates, evaluations and responses.

Candidates are the prompt version history: a candidate's id is a hash of its messages, so the same
prompt is the same version in every run of a task, and its parents give the lineage. Everything is
written as it happens; reports, history and resume read it back.

Schema changes are numbered migrations applied in order on open; never edit a released one.

Commands that only read (runs, show, report, export, versions, lineage, diff) open the store with
:meth:`Store.existing`: read-only, so they work on a store nobody may write and never create one.
A store of an older schema is upgraded by the first command that can write it, a read command
included; where the file cannot be written, the command says so in one line instead of guessing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from .errors import PromptTunerError
from .sqlitedb import Place, migrate, open_migrated, schema_version


def _m001_initial(db: sqlite_utils.Database) -> None:
    db.table("runs").create({
        "id": str, "task_name": str, "task_json": str, "settings_json": str,
        "target": str, "optimizer": str, "judge": str, "metric": str,
        "status": str, "created_at": float, "finished_at": float,
        "original_id": str, "best_id": str, "original_score": float, "best_score": float,
        "result_json": str, "report_path": str, "error": str,
    }, pk="id")
    db.table("candidates").create({
        "run_id": str, "id": str, "task_name": str, "messages_json": str, "parents_json": str,
        "strategy": str, "operator": str, "generation": int, "note": str, "created_at": float,
        "status": str, "score": float, "ci_low": float, "ci_high": float, "n": int,
    }, pk=("run_id", "id"), foreign_keys=[("run_id", "runs", "id")])
    db.table("evaluations").create({
        "run_id": str, "candidate_id": str, "example_index": int, "inputs_json": str,
        "expected": str, "answer": str, "score": float, "reason": str, "response_key": str,
        "created_at": float,
    }, pk=("run_id", "candidate_id", "example_index"))
    db.table("responses").create({
        "run_id": str, "key": str, "model": str, "request_json": str, "text": str,
        "prompt_tokens": int, "completion_tokens": int, "latency_s": float,
        "finish_reason": str, "created_at": float,
    }, pk=("run_id", "key"))
    db.table("candidates").create_index(["task_name", "id"])
    db.table("runs").create_index(["task_name", "created_at"])


def _m002_score_vectors(db: sqlite_utils.Database) -> None:
    """Per-metric scores (and judge dimensions) and the outcome tag of every scored answer."""
    db.table("evaluations").add_column("parts_json", str)
    db.table("evaluations").add_column("outcome", str)


def _m003_reviews(db: sqlite_utils.Database) -> None:
    """Team reviews of prompt versions (from Slack, the editor or the CLI)."""
    db.table("reviews").create({
        "id": int, "task_name": str, "candidate_id": str, "run_id": str, "reviewer": str,
        "verdict": str, "comment": str, "source": str, "meta_json": str, "created_at": float,
    }, pk="id")
    db.table("reviews").create_index(["task_name", "candidate_id"])


def _m004_candidate_extras(db: sqlite_utils.Database) -> None:
    """What besides its messages makes a candidate: demonstrations, an answer line."""
    db.table("candidates").add_column("extras_json", str)


def _m005_rounds_and_splits(db: sqlite_utils.Database) -> None:
    """Rounds (the best after each, what was spent, what a person decided), the round that made
    each candidate, and which split an answer was scored on: a held-out answer no longer shares
    a key with the dev answer of the same index."""
    db.table("rounds").create({
        "run_id": str, "round": int, "best_id": str, "score": float, "ci_low": float,
        "ci_high": float, "n": int, "candidates": int, "calls": int, "cache_hits": int,
        "tokens": int, "cost": float, "elapsed_s": float, "decision_json": str,
        "created_at": float,
    }, pk=("run_id", "round"))
    db.table("candidates").add_column("round", int)
    db.table("evaluations").add_column("split", str)
    db.execute("UPDATE evaluations SET split = 'dev' WHERE split IS NULL")
    db.table("evaluations").transform(pk=("run_id", "candidate_id", "split", "example_index"))


def _m006_predictions(db: sqlite_utils.Database) -> None:
    """What the score predictor (core.predictor) expected of a proposal against its parent before
    it was paid for, and whether it was skipped: its calibration is read back from here."""
    db.table("predictions").create({
        "run_id": str, "candidate_id": str, "parent_id": str, "target": str,
        "predicted": float, "ci_low": float, "ci_high": float, "support": int,
        "skipped": int, "created_at": float,
    }, pk=("run_id", "candidate_id"))


def _m007_answers_by_request(db: sqlite_utils.Database) -> None:
    """Earlier runs' answers found by request hash: a new run reuses them (``cache.history``)."""
    db.table("responses").create_index(["key", "created_at"])


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _m001_initial, _m002_score_vectors, _m003_reviews, _m004_candidate_extras,
    _m005_rounds_and_splits, _m006_predictions, _m007_answers_by_request]
VERDICTS = ("approve", "reject", "comment", "edit",
            "drop", "keep", "add", "continue", "stop")  # the last five: a round's review
MANUAL_RUN = "manual:"  # prefix of the pseudo-run that holds versions written by people


@dataclass(frozen=True)
class ModelUsage:
    """What one model was asked in a run, summed from the run's stored responses
    (:meth:`Store.usage_by_model`); answers reused from a cache have no response and no part here."""

    model: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    latency_mean_s: float


@dataclass(frozen=True)
class TaskRuns:
    """How many runs a task has (people's hand-written versions are not runs) and when the newest
    started (:meth:`Store.task_runs`)."""

    count: int
    last_started: float | None


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def store_place(path: Path) -> Place:
    """The store's file, as errors name it."""
    return Place(path, "the store", "--store / store_path",
                 corrupt_hint=f"move it aside (e.g. `mv {path} {path}.broken`) and run again; "
                 "a new, empty store is started")


class Store:
    """The run and version history in one SQLite file, created and brought up to date when
    opened (``read_only``: neither).

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from core import Store
        >>> path = Path(tempfile.mkdtemp()) / "store.db"
        >>> store = Store(path)
        >>> store.schema_version() >= 7, store.runs()
        (True, [])
        >>> store.close()
        >>> reader = Store.existing(path)  # read-only: nothing is created or written
        >>> reader.read_only, reader.runs()
        (True, [])
        >>> reader.close()
        >>> Store.existing(path.with_name("elsewhere.db"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        core.errors.PromptTunerError: no store at .../elsewhere.db (tune a prompt first, ...)
    """

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        """``read_only``: nothing is created or written (see the module's docstring)."""
        self.path = path
        self.read_only = read_only
        self.db = open_migrated(store_place(path), MIGRATIONS, read_only=read_only)

    @classmethod
    def existing(cls, path: Path) -> Store:
        """Open a store that must already exist, read-only (commands that read history)."""
        if not path.exists():
            raise PromptTunerError(f"no store at {path}", "tune a prompt first, or point --store "
                                   "at the store of your runs")
        return cls(path, read_only=True)

    # -- schema -----------------------------------------------------------------------------------
    def schema_version(self) -> int:
        return schema_version(self.db)

    def migrate(self) -> None:
        place = store_place(self.path)
        migrate(self.db, MIGRATIONS, place.name, place.setting)

    # -- writes -------------------------------------------------------------------------------------
    def create_run(self, run_id: str, *, task_name: str, task: dict[str, Any],
                   settings: dict[str, Any], target: str, optimizer: str, judge: str,
                   metric: str) -> None:
        self.db.table("runs").insert({
            "id": run_id, "task_name": task_name, "task_json": _dumps(task),
            "settings_json": _dumps(settings), "target": target, "optimizer": optimizer,
            "judge": judge, "metric": metric, "status": "running", "created_at": time.time(),
        })

    def reopen_run(self, run_id: str) -> None:
        """Mark an interrupted run as running again (it is being resumed)."""
        self.get_run(run_id)
        self.db.table("runs").update(run_id, {"status": "running", "finished_at": None,
                                              "error": None})

    def unfinished_runs(self) -> list[dict[str, Any]]:
        """Runs that stopped without finishing: killed (still 'running'), interrupted, failed."""
        return list(self.db.table("runs").rows_where(
            "status in ('running', 'interrupted', 'failed')", order_by="created_at"))

    def add_candidate(self, run_id: str, task_name: str, *, candidate_id: str,
                      messages: list[dict[str, str]], parents: list[str], strategy: str,
                      operator: str, generation: int, note: str = "",
                      extras: dict[str, Any] | None = None, round: int | None = None) -> None:
        self.db.table("candidates").insert({
            "round": round,
            "run_id": run_id, "id": candidate_id, "task_name": task_name,
            "messages_json": _dumps(messages), "parents_json": _dumps(parents),
            "strategy": strategy, "operator": operator, "generation": generation, "note": note,
            "extras_json": _dumps(extras or {}),
            "created_at": time.time(), "status": "proposed",
        }, ignore=True)

    def set_candidate_score(self, run_id: str, candidate_id: str, *, score: float, low: float,
                            high: float, n: int, status: str) -> None:
        self.db.table("candidates").update((run_id, candidate_id), {
            "score": score, "ci_low": low, "ci_high": high, "n": n, "status": status})

    def record_evaluation(self, run_id: str, candidate_id: str, index: int, *,
                          inputs: dict[str, Any], expected: str | None, answer: str,
                          score: float, reason: str, response_key: str,
                          parts: dict[str, float] | None = None, outcome: str = "",
                          split: str = "dev") -> None:
        self.db.table("evaluations").insert({
            "run_id": run_id, "candidate_id": candidate_id, "example_index": index,
            "split": split,
            "inputs_json": _dumps(inputs), "expected": expected, "answer": answer,
            "score": score, "reason": reason, "response_key": response_key,
            "parts_json": _dumps(parts or {}), "outcome": outcome, "created_at": time.time(),
        }, replace=True)

    def record_response(self, run_id: str, model: str, key: str, request: dict[str, Any],
                        completion: dict[str, Any]) -> None:
        self.db.table("responses").insert({
            "run_id": run_id, "key": key, "model": model, "request_json": _dumps(request),
            "text": completion["text"], "prompt_tokens": completion["prompt_tokens"],
            "completion_tokens": completion["completion_tokens"],
            "latency_s": completion["latency_s"], "finish_reason": completion["finish_reason"],
            "created_at": time.time(),
        }, replace=True)

    def set_candidate_status(self, run_id: str, candidate_id: str, status: str) -> None:
        self.db.table("candidates").update((run_id, candidate_id), {"status": status})

    def record_prediction(self, run_id: str, candidate_id: str, *, parent_id: str, target: str,
                          predicted: float, low: float, high: float, support: int,
                          skipped: bool) -> None:
        """The predictor's expected dev gain of a proposal over its parent (core.predictor)."""
        self.db.table("predictions").insert({
            "run_id": run_id, "candidate_id": candidate_id, "parent_id": parent_id,
            "target": target, "predicted": predicted, "ci_low": low, "ci_high": high,
            "support": support, "skipped": int(skipped), "created_at": time.time(),
        }, replace=True)

    def predictions(self, run_id: str | None = None) -> list[dict[str, Any]]:
        where, args = ("run_id = ?", [run_id]) if run_id else (None, [])
        return list(self.db.table("predictions").rows_where(where, args, order_by="created_at"))

    def set_candidate_note(self, run_id: str, candidate_id: str, note: str) -> None:
        self.db.table("candidates").update((run_id, candidate_id), {"note": note})

    def record_round(self, run_id: str, number: int, *, best_id: str, score: float, low: float,
                     high: float, n: int, candidates: int, calls: int, cache_hits: int,
                     tokens: int, cost: float, elapsed_s: float,
                     decision: dict[str, Any] | None = None) -> None:
        """The state after round ``number`` (0: the baseline) and what a person decided."""
        self.db.table("rounds").insert({
            "run_id": run_id, "round": number, "best_id": best_id, "score": score,
            "ci_low": low, "ci_high": high, "n": n, "candidates": candidates, "calls": calls,
            "cache_hits": cache_hits, "tokens": tokens, "cost": cost, "elapsed_s": elapsed_s,
            "decision_json": _dumps(decision) if decision else None, "created_at": time.time(),
        }, replace=True)

    def finish_run(self, run_id: str, *, status: str, original_id: str | None = None,
                   best_id: str | None = None, original_score: float | None = None,
                   best_score: float | None = None, result: dict[str, Any] | None = None,
                   report_path: str | None = None, error: str | None = None) -> None:
        self.db.table("runs").update(run_id, {
            "status": status, "finished_at": time.time(), "original_id": original_id,
            "best_id": best_id, "original_score": original_score, "best_score": best_score,
            "result_json": _dumps(result) if result is not None else None,
            "report_path": report_path, "error": error,
        })

    def add_review(self, task_name: str, candidate_id: str, *, reviewer: str, verdict: str,
                   comment: str = "", run_id: str | None = None, source: str = "cli",
                   meta: dict[str, Any] | None = None) -> int:
        """Record a review of a prompt version; returns its id."""
        if verdict not in VERDICTS:
            raise PromptTunerError(f"unknown review verdict '{verdict}'",
                                   f"use one of: {', '.join(VERDICTS)}")
        cur = self.db.execute(
            "INSERT INTO reviews (task_name, candidate_id, run_id, reviewer, verdict, comment, "
            "source, meta_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [task_name, candidate_id, run_id, reviewer, verdict, comment, source,
             _dumps(meta or {}), time.time()])
        return int(cur.lastrowid or 0)

    def save_version(self, task_name: str, *, messages: list[dict[str, str]], candidate_id: str,
                     parents: list[str], author: str, note: str = "",
                     operator: str = "edit") -> None:
        """A version written by a person (an edit in review), kept beside the runs' candidates
        under the task's pseudo-run ``manual:<task>``."""
        run_id = MANUAL_RUN + task_name
        self.db.table("runs").insert({
            "id": run_id, "task_name": task_name, "status": "manual", "created_at": time.time(),
        }, ignore=True)
        self.add_candidate(run_id, task_name, candidate_id=candidate_id, messages=messages,
                           parents=parents, strategy="human", operator=operator,
                           generation=0, note=note or f"written by {author}")

    # -- reads ---------------------------------------------------------------------------------------
    def reviews(self, task_name: str, candidate_id: str | None = None) -> list[dict[str, Any]]:
        where, args = "task_name = ?", [task_name]
        if candidate_id is not None:
            where, args = where + " and candidate_id = ?", [*args, candidate_id]
        return list(self.db.table("reviews").rows_where(where, args, order_by="created_at, id"))

    def get_run(self, run_id: str) -> dict[str, Any]:
        rows = list(self.db.table("runs").rows_where("id = ?", [run_id]))
        if not rows:
            raise PromptTunerError(f"no run {run_id} in {self.path}",
                                   "list runs with `prompt-tuner runs`")
        return rows[0]

    def runs(self, limit: int = 50, task_name: str | None = None) -> list[dict[str, Any]]:
        """Run rows, newest first, the pseudo-runs of people's versions included."""
        where, args = ("task_name = ?", [task_name]) if task_name else (None, [])
        return list(self.db.table("runs").rows_where(where, args, order_by="created_at desc",
                                               limit=limit))

    def tuning_runs(self, limit: int = 50, task_name: str | None = None) -> list[dict[str, Any]]:
        """Run rows, newest first, without the pseudo-runs that hold people's hand-written
        versions (``manual:<task>``): what ``runs`` lists and ``last`` picks from."""
        where = "substr(id, 1, ?) != ?" + (" AND task_name = ?" if task_name else "")
        args: list[Any] = [len(MANUAL_RUN), MANUAL_RUN, *([task_name] if task_name else [])]
        return list(self.db.table("runs").rows_where(where, args, order_by="created_at desc",
                                                     limit=limit))

    def runs_with_status(self, statuses: Iterable[str],
                         task_name: str | None = None) -> list[dict[str, Any]]:
        """Run rows whose status is one of ``statuses`` (of ``task_name`` only, when given),
        oldest first (ties by id)."""
        wanted = list(statuses)
        if not wanted:
            return []
        where = f"status IN ({', '.join('?' * len(wanted))})"
        args: list[Any] = wanted
        if task_name is not None:
            where, args = where + " AND task_name = ?", [*args, task_name]
        return list(self.db.table("runs").rows_where(where, args, order_by="created_at, id"))

    def finished_run_ids(self, by: float) -> set[str]:
        """The ids of the runs that had finished at ``by`` (a timestamp), whatever their status."""
        rows = self.db.execute("SELECT id FROM runs WHERE finished_at IS NOT NULL AND "
                               "finished_at <= ?", [by]).fetchall()
        return {str(r[0]) for r in rows}

    def run_ids_with_prefix(self, prefix: str) -> list[str]:
        """The ids of the runs that start with ``prefix`` (an exact id included), oldest first.
        Compared byte for byte: no ``LIKE`` wildcards, no case folding."""
        cur = self.db.execute("SELECT id FROM runs WHERE substr(id, 1, ?) = ? "
                              "ORDER BY created_at", [len(prefix), prefix])
        return [str(r[0]) for r in cur.fetchall()]

    def task_names(self) -> list[str]:
        """Every task with a run or a version written by a person, by name."""
        rows = self.db.execute("SELECT DISTINCT task_name FROM runs WHERE task_name IS NOT NULL "
                               "ORDER BY task_name").fetchall()
        return [str(r[0]) for r in rows]

    def task_runs(self, task_name: str) -> TaskRuns:
        """How many runs ``task_name`` has and when the newest started (without the pseudo-run
        of people's versions)."""
        count, last = self.db.execute(
            "SELECT count(*), max(created_at) FROM runs WHERE task_name = ? AND "
            "substr(id, 1, ?) != ?", [task_name, len(MANUAL_RUN), MANUAL_RUN]).fetchone()
        return TaskRuns(int(count), float(last) if last is not None else None)

    def candidates(self, run_id: str) -> list[dict[str, Any]]:
        """The run's candidate rows in the order they were proposed."""
        return list(self.db.table("candidates").rows_where("run_id = ?", [run_id],
                                                     order_by="created_at"))

    def candidate_counts(self) -> dict[str, int]:
        """How many candidates each run has, by run id (runs without any are absent)."""
        cur = self.db.execute("SELECT run_id, count(*) FROM candidates GROUP BY run_id")
        return {str(run_id): int(n) for run_id, n in cur.fetchall()}

    def first_candidate(self, candidate_id: str) -> dict[str, Any] | None:
        """The earliest candidate row with this id in any run (ids are content hashes, so every
        run's row with this id holds the same prompt); None when no run has it."""
        rows = list(self.db.table("candidates").rows_where(
            "id = ?", [candidate_id], order_by="created_at", limit=1))
        return rows[0] if rows else None

    def evaluations(self, run_id: str, candidate_id: str | None = None,
                    split: str | None = None) -> list[dict[str, Any]]:
        """Scored answers, by candidate, split (dev before test) and example."""
        where, args = "run_id = ?", [run_id]
        if candidate_id is not None:
            where, args = where + " and candidate_id = ?", [*args, candidate_id]
        if split is not None:
            where, args = where + " and split = ?", [*args, split]
        return list(self.db.table("evaluations").rows_where(
            where, args, order_by="candidate_id, split, example_index"))

    def rounds(self, run_id: str) -> list[dict[str, Any]]:
        """The run's round rows, round 0 (the baseline) first."""
        return list(self.db.table("rounds").rows_where("run_id = ?", [run_id], order_by="round"))

    def last_round(self, run_id: str) -> dict[str, Any] | None:
        """The run's latest round row (its ``cost``: what the run had spent by then); None
        before the baseline round is recorded."""
        rows = list(self.db.table("rounds").rows_where("run_id = ?", [run_id],
                                                       order_by="round desc", limit=1))
        return rows[0] if rows else None

    def earlier_response(self, key: str, *, before: float,
                         exclude_run: str) -> dict[str, Any] | None:
        """The answer another run received for the request hashed ``key`` before ``before``
        (a timestamp), if any: the oldest."""
        rows = self.db.execute(
            "SELECT text, prompt_tokens, completion_tokens, latency_s, finish_reason, model "
            "FROM responses WHERE key = ? AND created_at < ? AND run_id != ? "
            "ORDER BY created_at LIMIT 1", [key, before, exclude_run]).fetchall()
        if not rows:
            return None
        return dict(zip(("text", "prompt_tokens", "completion_tokens", "latency_s",
                         "finish_reason", "model"), rows[0], strict=True))

    def responses(self, run_id: str) -> list[dict[str, Any]]:
        """The run's stored responses (calls it paid for), oldest first."""
        return list(self.db.table("responses").rows_where("run_id = ?", [run_id],
                                                    order_by="created_at"))

    def response_count(self, run_id: str) -> int:
        """How many responses the run stored: the calls it paid for so far."""
        return int(self.db.execute("SELECT count(*) FROM responses WHERE run_id = ?",
                                   [run_id]).fetchone()[0])

    def usage_by_model(self, run_id: str) -> list[ModelUsage]:
        """Calls, tokens and mean latency of the run's stored responses, per model."""
        cur = self.db.execute(
            "SELECT model, count(*), sum(prompt_tokens), sum(completion_tokens), avg(latency_s) "
            "FROM responses WHERE run_id = ? GROUP BY model", [run_id])
        return [ModelUsage(str(model), int(calls), int(pt or 0), int(ct or 0), float(lat or 0.0))
                for model, calls, pt, ct, lat in cur.fetchall()]

    def mean_prompt_tokens(self, run_id: str) -> dict[str, float]:
        """Mean prompt tokens the target read per scored answer, by candidate id, from the run's
        stored responses. Answers without a stored response (reused from a cache) or without a
        token count are left out; a candidate with none is absent."""
        cur = self.db.execute(
            "SELECT e.candidate_id, avg(r.prompt_tokens) FROM evaluations e JOIN responses r "
            "ON r.run_id = e.run_id AND r.key = e.response_key WHERE e.run_id = ? "
            "AND r.prompt_tokens > 0 GROUP BY e.candidate_id", [run_id])
        return {str(cid): float(avg) for cid, avg in cur.fetchall() if avg is not None}

    def versions(self, task_name: str) -> list[dict[str, Any]]:
        """Every distinct prompt ever tried for a task, oldest first, numbered ``version`` 1, 2, …
        in that order: first seen, runs, its score, parents, and its reviews (latest verdict,
        approvals, rejections).

        A version's score (``best_score`` with ``score_low``/``score_high``/``score_n``, measured in
        run ``scored_in`` at ``scored_at``) is the one definition every front shows: of all its
        measurements across the task's runs, the one on the most examples, the newest among
        equals. Not the highest: a prompt raced out at 4 of 4 would otherwise show 100%."""
        sql = """
            WITH measured AS (
                SELECT id, run_id, score, ci_low, ci_high, n, created_at,
                       row_number() OVER (PARTITION BY id
                                          ORDER BY n DESC, created_at DESC, run_id DESC) AS k
                FROM candidates
                WHERE task_name = ? AND score IS NOT NULL AND n IS NOT NULL AND n > 0)
            SELECT c.id, min(c.created_at) AS first_seen, count(DISTINCT c.run_id) AS runs,
                   m.score AS best_score, m.ci_low AS score_low, m.ci_high AS score_high,
                   m.n AS score_n, m.run_id AS scored_in, m.created_at AS scored_at,
                   c.messages_json, c.parents_json, c.operator
            FROM candidates c LEFT JOIN measured m ON m.id = c.id AND m.k = 1
            WHERE c.task_name = ? GROUP BY c.id ORDER BY first_seen, c.id
        """
        cur = self.db.execute(sql, [task_name, task_name])
        cols = [c[0] for c in cur.description]
        rows = [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
        by_id: dict[str, list[dict[str, Any]]] = {}
        for review in self.reviews(task_name):
            by_id.setdefault(review["candidate_id"], []).append(review)
        for number, row in enumerate(rows, start=1):
            got = by_id.get(row["id"], [])
            verdicts = [r for r in got if r["verdict"] in ("approve", "reject")]
            row.update(version=number, reviews=len(got),
                       approvals=sum(1 for r in got if r["verdict"] == "approve"),
                       rejections=sum(1 for r in got if r["verdict"] == "reject"),
                       latest_verdict=verdicts[-1]["verdict"] if verdicts else None)
        return rows

    def version(self, task_name: str, ref: str) -> dict[str, Any]:
        """One version by number (``7`` or ``v7``) or by candidate id (or a unique prefix)."""
        rows = self.versions(task_name)
        text = ref.lower().removeprefix("v")
        if text.isdigit() and 1 <= int(text) <= len(rows) and not any(
                r["id"].startswith(ref) for r in rows if len(ref) >= 6):
            return rows[int(text) - 1]
        found = [r for r in rows if r["id"].startswith(ref)]
        if len(found) == 1:
            return found[0]
        have = f"v1-v{len(rows)}" if rows else "none yet"
        raise PromptTunerError(f"no single version '{ref}' of task {task_name}",
                               f"give a version number ({have}) or a candidate id")

    def iter_tables(self) -> Iterator[str]:
        yield from self.db.table_names()

    def close(self) -> None:
        self.db.conn.close()
