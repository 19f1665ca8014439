"""The SQLite store: migrations, writes, reads and the version history."""

from __future__ import annotations

import ast
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from core import Estimate, PromptTunerError, Store, task_versions
from core.store import MIGRATIONS, ModelUsage, TaskRuns


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "nested" / "store.db")
    yield s
    s.close()


def new_run(store: Store, run_id: str = "run-1", task_name: str = "task-a") -> None:
    store.create_run(run_id, task_name=task_name, task={"name": task_name, "n": 1},
                     settings={"tune": {"variations": 4}}, target="embedded",
                     optimizer="openai:gpt", judge="embedded", metric="label")


def add(store: Store, run_id: str, cid: str, *, task_name: str = "task-a",
        parents: list[str] | None = None, note: str = "", generation: int = 0) -> None:
    store.add_candidate(run_id, task_name, candidate_id=cid,
                        messages=[{"role": "user", "content": f"prompt {cid}"}],
                        parents=parents or [], strategy="refine", operator="vary",
                        generation=generation, note=note)


# -- schema ---------------------------------------------------------------------------------------


def test_new_store_creates_schema_and_records_migration(store: Store) -> None:
    tables = set(store.iter_tables())
    assert {"runs", "candidates", "evaluations", "responses", "_migrations"} <= tables
    rows = list(store.db["_migrations"].rows)
    assert [r["version"] for r in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert len(MIGRATIONS) == 7
    assert store.schema_version() == 7
    assert store.path.parent.is_dir()


def test_a_version_1_store_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = Store.__new__(Store)  # build a v1 store by hand: only the first migration
    old.path = path
    old.db = sqlite_utils.Database(sqlite3.connect(str(path), isolation_level=None))
    old.db.table("_migrations").create({"version": int, "applied_at": float}, pk="version")
    MIGRATIONS[0](old.db)
    old.db.table("_migrations").insert({"version": 1, "applied_at": 0.0})
    old.db.table("evaluations").insert({"run_id": "r", "candidate_id": "c", "example_index": 0,
                                        "score": 1.0})
    old.db.conn.close()
    store = Store(path)
    try:
        assert store.schema_version() == 7
        row = next(iter(store.db["evaluations"].rows))
        assert row["score"] == 1.0 and row["parts_json"] is None
        store.record_evaluation("r", "c", 1, inputs={}, expected=None, answer="a", score=0.5,
                                reason="", response_key="k", parts={"label": 0.5}, outcome="ok")
        got = store.db.execute("SELECT parts_json, outcome FROM evaluations WHERE example_index = 1")
        assert got.fetchone() == ('{"label": 0.5}', "ok")
        # migration 5: old answers are dev answers; a held-out answer with the same index is a
        # row of its own instead of overwriting the dev one
        assert store.evaluations("r", "c", split="dev")[0]["score"] == 1.0
        store.record_evaluation("r", "c", 0, inputs={}, expected=None, answer="t", score=0.0,
                                reason="", response_key="k2", split="test")
        assert [e["score"] for e in store.evaluations("r", "c", split="dev")] == [1.0, 0.5]
        assert [e["answer"] for e in store.evaluations("r", "c", split="test")] == ["t"]
        assert store.rounds("r") == []
    finally:
        store.close()


def test_rounds_are_recorded_with_the_decision(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    try:
        new_run(store)
        for number in (0, 1):
            store.record_round("run-1", number, best_id="c1", score=0.5 + number / 10, low=0.3,
                               high=0.7, n=10, candidates=1 + 2 * number, calls=10 * (number + 1),
                               cache_hits=0, tokens=100, cost=0.0, elapsed_s=1.5,
                               decision={"drop": ["c2"], "stop": True} if number else None)
        rows = store.rounds("run-1")
        assert [r["round"] for r in rows] == [0, 1]
        assert rows[0]["decision_json"] is None
        assert json.loads(rows[1]["decision_json"]) == {"drop": ["c2"], "stop": True}
    finally:
        store.close()


def test_reopening_does_not_rerun_migrations(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    first = Store(path)
    new_run(first)
    applied = list(first.db["_migrations"].rows)
    first.close()

    again = Store(path)
    try:
        assert list(again.db["_migrations"].rows) == applied
        # the data written before survives (tables were not recreated)
        assert again.get_run("run-1")["task_name"] == "task-a"
    finally:
        again.close()


def test_store_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    s = Store(path)
    s.db.execute("INSERT INTO _migrations (version, applied_at) VALUES (?, 0)",
                 [len(MIGRATIONS) + 1])
    s.close()
    with pytest.raises(PromptTunerError) as info:
        Store(path)
    assert "newer" in str(info.value)
    assert str(path) in str(info.value)
    assert info.value.hint


def test_unopenable_path_is_a_prompt_tuner_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(PromptTunerError, match="cannot open the store"):
        Store(blocker / "store.db")


# -- writes and reads -----------------------------------------------------------------------------


def test_run_round_trip(store: Store) -> None:
    new_run(store)
    run = store.get_run("run-1")
    assert run["status"] == "running"
    assert run["target"] == "embedded"
    assert run["optimizer"] == "openai:gpt"
    assert run["metric"] == "label"
    assert json.loads(run["task_json"]) == {"name": "task-a", "n": 1}
    assert json.loads(run["settings_json"]) == {"tune": {"variations": 4}}
    assert run["finished_at"] is None

    result = {"best": "c2", "scores": [0.5, 0.9]}
    store.finish_run("run-1", status="finished", original_id="c1", best_id="c2",
                     original_score=0.5, best_score=0.9, result=result,
                     report_path="/tmp/r.html")
    run = store.get_run("run-1")
    assert run["status"] == "finished"
    assert (run["original_id"], run["best_id"]) == ("c1", "c2")
    assert (run["original_score"], run["best_score"]) == (0.5, 0.9)
    assert json.loads(run["result_json"]) == result
    assert run["report_path"] == "/tmp/r.html"
    assert run["finished_at"] >= run["created_at"]
    assert run["error"] is None


def test_failed_run_keeps_error_and_no_result(store: Store) -> None:
    new_run(store)
    store.finish_run("run-1", status="failed", error="boom")
    run = store.get_run("run-1")
    assert (run["status"], run["error"], run["result_json"]) == ("failed", "boom", None)


def test_candidates_round_trip_and_duplicates_are_ignored(store: Store) -> None:
    new_run(store)
    add(store, "run-1", "c1", note="first")
    add(store, "run-1", "c2", parents=["c1"], generation=1)
    add(store, "run-1", "c1", note="second insert must not win")
    cands = store.candidates("run-1")
    assert [c["id"] for c in cands] == ["c1", "c2"]
    c1, c2 = cands
    assert c1["note"] == "first"
    assert c1["status"] == "proposed"
    assert json.loads(c1["messages_json"]) == [{"role": "user", "content": "prompt c1"}]
    assert json.loads(c2["parents_json"]) == ["c1"]
    assert c2["generation"] == 1
    assert c1["score"] is None


def test_set_candidate_score(store: Store) -> None:
    new_run(store)
    add(store, "run-1", "c1")
    add(store, "run-1", "c2")
    store.set_candidate_score("run-1", "c1", score=0.75, low=0.5, high=0.9, n=8,
                              status="evaluated")
    by_id = {c["id"]: c for c in store.candidates("run-1")}
    c1 = by_id["c1"]
    assert (c1["score"], c1["ci_low"], c1["ci_high"], c1["n"], c1["status"]) == (
        0.75, 0.5, 0.9, 8, "evaluated")
    assert by_id["c2"]["score"] is None  # only the named candidate changed


def test_candidates_of_one_run_only(store: Store) -> None:
    new_run(store, "run-1")
    new_run(store, "run-2")
    add(store, "run-1", "c1")
    add(store, "run-2", "c9")
    assert [c["id"] for c in store.candidates("run-1")] == ["c1"]
    assert [c["id"] for c in store.candidates("run-2")] == ["c9"]


def test_evaluations_round_trip_and_rerecording_replaces(store: Store) -> None:
    new_run(store)
    add(store, "run-1", "c1")
    add(store, "run-1", "c2")
    for cid in ("c2", "c1"):
        for i in (1, 0):
            store.record_evaluation("run-1", cid, i, inputs={"text": f"x{i}"},
                                    expected="positive", answer="negative", score=0.0,
                                    reason="wrong", response_key=f"k-{cid}-{i}")
    store.record_evaluation("run-1", "c1", 0, inputs={"text": "x0"}, expected=None,
                            answer="positive", score=1.0, reason="ok", response_key="k2")
    all_rows = store.evaluations("run-1")
    assert [(r["candidate_id"], r["example_index"]) for r in all_rows] == [
        ("c1", 0), ("c1", 1), ("c2", 0), ("c2", 1)]
    c1 = store.evaluations("run-1", "c1")
    assert [r["example_index"] for r in c1] == [0, 1]
    first = c1[0]
    assert (first["answer"], first["score"], first["reason"], first["response_key"]) == (
        "positive", 1.0, "ok", "k2")
    assert first["expected"] is None
    assert json.loads(first["inputs_json"]) == {"text": "x0"}


def test_responses_round_trip(store: Store) -> None:
    new_run(store)
    completion: dict[str, Any] = {"text": "positive", "prompt_tokens": 12,
                                  "completion_tokens": 1, "latency_s": 0.25,
                                  "finish_reason": "stop", "cached": False}
    request = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
    store.record_response("run-1", "embedded", "key-1", request, completion)
    store.record_response("run-1", "embedded", "key-1", request, {**completion, "text": "neg"})
    rows = store.responses("run-1")
    assert len(rows) == 1
    row = rows[0]
    assert (row["key"], row["model"], row["text"]) == ("key-1", "embedded", "neg")
    assert (row["prompt_tokens"], row["completion_tokens"]) == (12, 1)
    assert row["latency_s"] == 0.25
    assert row["finish_reason"] == "stop"
    assert json.loads(row["request_json"]) == request


def test_runs_lists_newest_first_and_filters_by_task(store: Store) -> None:
    new_run(store, "run-1", "task-a")
    new_run(store, "run-2", "task-b")
    new_run(store, "run-3", "task-a")
    assert [r["id"] for r in store.runs(task_name="task-a")] == ["run-3", "run-1"]
    assert [r["id"] for r in store.runs(limit=2)] == ["run-3", "run-2"]


def test_get_unknown_run_raises_with_hint(store: Store) -> None:
    with pytest.raises(PromptTunerError) as info:
        store.get_run("nope")
    assert "nope" in str(info.value)
    assert "prompt-tuner runs" in info.value.hint


# -- version history ------------------------------------------------------------------------------


def test_versions_group_the_same_candidate_across_runs(store: Store) -> None:
    new_run(store, "run-1")
    new_run(store, "run-2")
    new_run(store, "run-x", "other-task")
    add(store, "run-1", "orig")
    add(store, "run-1", "v1", parents=["orig"])
    add(store, "run-2", "orig")
    add(store, "run-2", "v2", parents=["orig"])
    add(store, "run-x", "orig", task_name="other-task")
    store.set_candidate_score("run-1", "orig", score=0.4, low=0, high=1, n=5, status="evaluated")
    store.set_candidate_score("run-2", "orig", score=0.6, low=0, high=1, n=5, status="evaluated")
    store.set_candidate_score("run-x", "orig", score=0.99, low=0, high=1, n=5,
                              status="evaluated")
    store.set_candidate_score("run-1", "v1", score=0.7, low=0, high=1, n=5, status="evaluated")

    versions = store.versions("task-a")
    by_id = {v["id"]: v for v in versions}
    assert set(by_id) == {"orig", "v1", "v2"}
    assert by_id["orig"]["runs"] == 2
    assert by_id["orig"]["best_score"] == 0.6  # the other task's 0.99 does not count
    assert by_id["v1"]["runs"] == 1
    assert by_id["v1"]["best_score"] == 0.7
    assert by_id["v2"]["best_score"] is None
    assert json.loads(by_id["v2"]["parents_json"]) == ["orig"]
    assert versions[0]["id"] == "orig"  # ordered by first seen
    assert store.versions("no-such-task") == []


def test_a_versions_score_is_its_measurement_on_the_most_examples_not_its_luckiest(
        store: Store) -> None:
    """Raced out at 4 of 4 in one run, measured at 7 of 12 in another: the version scores 58%
    (n=12) wherever it is shown, not 100% (the highest ever measured)."""
    new_run(store, "run-1")
    new_run(store, "run-2")
    add(store, "run-1", "v1")
    add(store, "run-2", "v1")
    store.set_candidate_score("run-1", "v1", score=1.0, low=0.51, high=1.0, n=4, status="pruned")
    store.set_candidate_score("run-2", "v1", score=7 / 12, low=0.32, high=0.81, n=12,
                              status="evaluated")

    (row,) = store.versions("task-a")
    (view,) = task_versions(store, "task-a")

    assert (row["best_score"], row["score_n"], row["scored_in"]) == (7 / 12, 12, "run-2")
    assert view.score == Estimate(7 / 12, 0.32, 0.81, 12) and view.best_score == 7 / 12


def test_reviews_and_human_versions_join_the_history(store: Store) -> None:
    new_run(store, "run-1")
    add(store, "run-1", "orig")
    add(store, "run-1", "cand01", parents=["orig"])
    store.add_review("task-a", "cand01", reviewer="U1", verdict="approve", comment="ship it",
                     run_id="run-1", source="slack", meta={"channel": "C1"})
    store.add_review("task-a", "cand01", reviewer="U2", verdict="comment", comment="nice")
    store.save_version("task-a", messages=[{"role": "user", "content": "edited"}],
                       candidate_id="edit01", parents=["cand01"], author="U2")
    store.add_review("task-a", "edit01", reviewer="U2", verdict="edit", source="slack")
    versions = store.versions("task-a")
    assert [(v["version"], v["id"]) for v in versions] == [(1, "orig"), (2, "cand01"), (3, "edit01")]
    v2 = versions[1]
    assert (v2["reviews"], v2["approvals"], v2["latest_verdict"]) == (2, 1, "approve")
    assert versions[2]["operator"] == "edit" and json.loads(versions[2]["parents_json"]) == ["cand01"]
    assert store.version("task-a", "v2")["id"] == "cand01"
    assert store.version("task-a", "edit0")["id"] == "edit01"
    reviews = store.reviews("task-a", "cand01")
    assert [r["verdict"] for r in reviews] == ["approve", "comment"]
    assert json.loads(reviews[0]["meta_json"]) == {"channel": "C1"}
    with pytest.raises(PromptTunerError, match="v1-v3"):
        store.version("task-a", "v9")
    with pytest.raises(PromptTunerError, match="verdict"):
        store.add_review("task-a", "orig", reviewer="U1", verdict="love")


# -- the reads other modules ask for (the SQL about runs lives here, nowhere else) ---------------


def at(store: Store, table: str, pk: Any, created_at: float) -> None:
    """Set a row's creation time: the order the reads below promise does not hang on the clock."""
    store.db.table(table).update(pk, {"created_at": created_at})


def test_tuning_runs_leave_out_peoples_versions_newest_first(store: Store) -> None:
    for rid, task, when in (("run-1", "task-a", 1.0), ("run-2", "task-b", 2.0),
                            ("run-3", "task-a", 3.0)):
        new_run(store, rid, task)
        at(store, "runs", rid, when)
    store.save_version("task-a", messages=[{"role": "user", "content": "x"}],
                       candidate_id="edit01", parents=[], author="ann")
    at(store, "runs", "manual:task-a", 9.0)  # the newest row, but not a run
    assert store.runs(limit=1)[0]["id"] == "manual:task-a"
    assert [r["id"] for r in store.tuning_runs()] == ["run-3", "run-2", "run-1"]
    assert [r["id"] for r in store.tuning_runs(task_name="task-a")] == ["run-3", "run-1"]
    assert [r["id"] for r in store.tuning_runs(limit=1)] == ["run-3"]
    assert store.task_runs("task-a") == TaskRuns(2, 3.0)
    assert store.task_runs("nothing") == TaskRuns(0, None)
    assert store.task_names() == ["task-a", "task-b"]


def test_runs_with_status_and_finished_run_ids(store: Store) -> None:
    for rid, task, when in (("run-b", "task-a", 2.0), ("run-a", "task-a", 2.0),
                            ("run-0", "task-b", 1.0), ("run-x", "task-a", 0.5)):
        new_run(store, rid, task)
        at(store, "runs", rid, when)
    store.finish_run("run-b", status="finished")
    store.finish_run("run-a", status="budget_exhausted")
    store.finish_run("run-0", status="finished")
    store.db.table("runs").update("run-0", {"finished_at": 10.0})
    store.db.table("runs").update("run-b", {"finished_at": 20.0})
    store.db.table("runs").update("run-a", {"finished_at": 30.0})
    both = ("finished", "budget_exhausted")
    assert [r["id"] for r in store.runs_with_status(both)] == ["run-0", "run-a", "run-b"]
    assert [r["id"] for r in store.runs_with_status(both, "task-a")] == ["run-a", "run-b"]
    assert [r["id"] for r in store.runs_with_status(["running"])] == ["run-x"]
    assert store.runs_with_status([]) == []
    assert store.finished_run_ids(20.0) == {"run-0", "run-b"}
    assert store.finished_run_ids(5.0) == set()


def test_run_ids_with_prefix_oldest_first_and_literal(store: Store) -> None:
    for rid, when in (("abc-2", 2.0), ("abc-1", 3.0), ("a%c-9", 1.0), ("ab_x", 0.0)):
        new_run(store, rid)
        at(store, "runs", rid, when)
    assert store.run_ids_with_prefix("abc") == ["abc-2", "abc-1"]
    assert store.run_ids_with_prefix("abc-1") == ["abc-1"]
    assert store.run_ids_with_prefix("a%") == ["a%c-9"]  # no LIKE wildcards
    assert store.run_ids_with_prefix("ab_") == ["ab_x"]
    assert store.run_ids_with_prefix("ABC") == []  # no case folding


def test_candidate_counts_and_first_candidate_across_runs(store: Store) -> None:
    new_run(store, "run-1")
    new_run(store, "run-2")
    new_run(store, "run-3")
    add(store, "run-1", "c1", note="later")
    add(store, "run-2", "c1", note="earlier")
    add(store, "run-2", "c2")
    at(store, "candidates", ("run-1", "c1"), 5.0)
    at(store, "candidates", ("run-2", "c1"), 4.0)
    assert store.candidate_counts() == {"run-1": 1, "run-2": 2}  # run-3 has none
    first = store.first_candidate("c1")
    assert first is not None and (first["run_id"], first["note"]) == ("run-2", "earlier")
    assert json.loads(first["messages_json"]) == [{"role": "user", "content": "prompt c1"}]
    assert store.first_candidate("nope") is None


def test_last_round_is_the_highest_numbered(store: Store) -> None:
    new_run(store)
    assert store.last_round("run-1") is None
    for number, cost in ((1, 0.2), (0, 0.1), (2, 0.35)):
        store.record_round("run-1", number, best_id="c1", score=0.5, low=0.3, high=0.7, n=4,
                           candidates=1, calls=4, cache_hits=0, tokens=10, cost=cost,
                           elapsed_s=1.0)
    last = store.last_round("run-1")
    assert last is not None and (last["round"], last["cost"]) == (2, 0.35)


def test_responses_counted_and_summed_per_model(store: Store) -> None:
    new_run(store)
    new_run(store, "run-2")
    request = {"messages": [{"role": "user", "content": "hi"}]}

    def respond(run_id: str, model: str, key: str, prompt: int, latency: float) -> None:
        store.record_response(run_id, model, key, request, {
            "text": "ok", "prompt_tokens": prompt, "completion_tokens": 2,
            "latency_s": latency, "finish_reason": "stop"})

    respond("run-1", "target", "k1", 10, 0.1)
    respond("run-1", "target", "k2", 30, 0.3)
    respond("run-1", "judge", "k3", 0, 0.5)
    respond("run-2", "target", "k9", 99, 9.0)
    assert store.response_count("run-1") == 3 and store.response_count("nope") == 0
    usage = {u.model: u for u in store.usage_by_model("run-1")}
    assert usage["target"] == ModelUsage("target", 2, 40, 4, usage["target"].latency_mean_s)
    assert usage["target"].latency_mean_s == pytest.approx(0.2)
    assert usage["judge"] == ModelUsage("judge", 1, 0, 2, 0.5)
    assert store.usage_by_model("nope") == []

    add(store, "run-1", "c1")
    add(store, "run-1", "c2")
    add(store, "run-1", "c3")
    for cid, index, key in (("c1", 0, "k1"), ("c1", 1, "k2"), ("c2", 0, "k3"),
                            ("c3", 0, "cached-elsewhere")):
        store.record_evaluation("run-1", cid, index, inputs={}, expected=None, answer="ok",
                                score=1.0, reason="", response_key=key)
    # c2's only answer has no token count, c3's no stored response: both absent
    assert store.mean_prompt_tokens("run-1") == {"c1": 20.0}


# -- no SQL about runs outside the store ------------------------------------------------------------

CORE = Path(__file__).resolve().parent.parent / "core"
# modules that own a database of their own, or are the store: they may speak SQL
OWN_DATABASE = {
    "store.py": "the store itself: every query about runs lives here",
    "sqlitedb.py": "opens, checks and migrates any SQLite file (the store, the cache, the bot's "
                   "ledger); no query about runs",
    "models/cache.py": "the response cache: a database file of its own (responses.db)",
}
# raw queries on the store still to be replaced by the Store method named (files another change
# owns); each must still hold raw SQL, so an entry goes once its module is switched
NOT_YET_MOVED: dict[str, str] = {}  # module -> the Store method it should call instead
_SQL_CALLS = {"execute", "executemany", "executescript", "query", "table", "rows_where",
              "count_where", "create_table"}
_DB_NAMES = {"db", "_db", "conn", "_conn"}


def _names_in(node: ast.AST) -> set[str]:
    """The names and attribute names a receiver is made of (``store.db[...]`` → store, db)."""
    return {n.id if isinstance(n, ast.Name) else n.attr for n in ast.walk(node)
            if isinstance(n, ast.Name | ast.Attribute)}


def _last_name(node: ast.AST) -> str | None:
    return node.attr if isinstance(node, ast.Attribute) else (
        node.id if isinstance(node, ast.Name) else None)


def raw_sql(source: str) -> list[int]:
    """Lines that query a database directly: ``<…db…>.execute(``/``.table(``/``rows_where(``…,
    or ``<…>.db[…]``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in _SQL_CALLS and (
                    node.func.attr == "rows_where" or _DB_NAMES & _names_in(node.func.value)):
                lines.append(node.lineno)
        elif isinstance(node, ast.Subscript) and _last_name(node.value) in _DB_NAMES:
            lines.append(node.lineno)
    return sorted(set(lines))


def test_the_raw_sql_check_sees_queries_and_nothing_else() -> None:
    assert raw_sql("store.db.execute('SELECT 1')") == [1]
    assert raw_sql("x = 1\nrows = store.db.table('runs').rows_where('id = ?', [i])") == [2]
    assert raw_sql("self._db.execute('DELETE FROM responses')") == [1]
    assert raw_sql("list(store.db['runs'].rows)") == [1]
    assert raw_sql("t.rows_where('x')") == [1]
    assert raw_sql("await run.execute()\nstore.runs()\nd['db']\nplan.table(x)") == []


def test_no_sql_about_runs_outside_the_store() -> None:
    found = {}
    for path in sorted(CORE.rglob("*.py")):
        name = path.relative_to(CORE).as_posix()
        lines = raw_sql(path.read_text(encoding="utf-8"))
        if lines and name not in OWN_DATABASE:
            found[name] = lines
    assert all((CORE / name).is_file() for name in OWN_DATABASE)
    stale = sorted(set(NOT_YET_MOVED) - set(found))
    assert not stale, f"no raw SQL left in {stale}: take them off NOT_YET_MOVED"
    extra = {name: lines for name, lines in found.items() if name not in NOT_YET_MOVED}
    assert not extra, f"raw SQL outside the store (add a Store method instead): {extra}"
