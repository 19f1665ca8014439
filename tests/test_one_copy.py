"""One read side (issue 16): a prompt's messages as text, a prompt diff and a run's spend each have
one definition in the core, and the fronts (Slack bot, language server) use it instead of their
own copies."""

from __future__ import annotations

import re
from pathlib import Path

from core import (
    Candidate,
    Estimate,
    Message,
    Progress,
    Store,
    messages_text,
    parse_prompt_text,
    prompt_diff,
)
from lsp_server.history import History, history_document
from lsp_server.linking import text_of
from slack_bot.progress import ProgressState, Spent
from slack_bot.report import CandidateLine
from slack_bot.updater import spent_before

ROOT = Path(__file__).resolve().parents[1]
FRONTS = ("slack_bot", "lsp_server")
# the one "[role]" join; core/lineage.py's candidate_text still holds its own (owned elsewhere)
ROLE_JOIN = re.compile(r"""\[\{[^{}]*role[^{}]*\}\]\\n""")  # f"[{m.role}]\n…", f"[{role}]\n…"
JOIN_HOME = {"core/candidate.py"}


def sources(*folders: str) -> dict[str, str]:
    return {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8")
            for folder in folders for p in sorted((ROOT / folder).rglob("*.py"))}


def test_the_fronts_hold_no_diff_and_no_usage_arithmetic_of_their_own() -> None:
    for path, text in sources(*FRONTS).items():
        assert not re.search(r"^\s*(import difflib|from difflib )", text, re.M), path
        assert "unified_diff" not in text, path
        assert "store.responses(" not in text, path        # spend: the engine's Progress events
        assert "input_per_mtok" not in text, path          # prices: the engine's
    core = sources("core")
    assert [p for p, t in core.items() if "unified_diff(" in t] == ["core/textdiff.py"]


def test_messages_are_joined_as_text_in_one_place() -> None:
    found = {p for p, t in sources("core", *FRONTS).items() if ROLE_JOIN.search(t)}
    assert found <= JOIN_HOME and "core/candidate.py" in found


def test_messages_text_reads_messages_and_role_content_dicts_alike() -> None:
    turns = (Message("system", "One word."), Message("user", "{{ review }}"))
    assert messages_text(turns) == "[system]\nOne word.\n\n[user]\n{{ review }}"
    assert messages_text([{"role": m.role, "content": m.content} for m in turns]) == messages_text(turns)
    assert messages_text(turns) == Candidate(turns).text()
    assert messages_text([Message("user", "Hi")]) == "Hi"
    # the editor's form keeps the header of a single turn, and reads back as the same turns
    single = (Message("user", "Hi"),)
    assert messages_text(single, roles=True) == "[user]\nHi"
    assert parse_prompt_text(text_of(single, like="[user]\nHello")) == single
    assert text_of(single, like="Hello") == "Hi"
    line = CandidateLine("a" * 12, "vary", Estimate(0.5, 0.3, 0.7, 10), False, turns)
    assert line.text() == messages_text(turns)


def test_prompt_diff_changed_lines_keep_lines_that_look_like_headers() -> None:
    before = "Label the review.\n-- be brief\n@@ keep this"
    after = "Label the review.\n--- be very brief\n@@ keep that"
    full = prompt_diff(before, after, "v1", "v2", context=1)
    assert full[:2] == ["--- v1", "+++ v2"] and full[2].startswith("@@ ")
    assert " Label the review." in full
    # the changed lines alone, even those whose text starts like a header or a hunk line
    assert prompt_diff(before, after, changes_only=True) == [
        "--- be brief", "-@@ keep this", "+--- be very brief", "+@@ keep that"]
    assert prompt_diff(before, before) == [] and prompt_diff(before, before, changes_only=True) == []


def test_the_editor_history_diffs_each_version_against_its_parent(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.db")
    try:
        first = Candidate((Message("user", "Review: {{ review }}\nAnswer."),))
        second = first.with_main("Review: {{ review }}\nAnswer in one word.", parents=(first.id,))
        for version in (first, second):
            store.save_version("sentiment", messages=version.to_json(), author="ann",
                               candidate_id=version.id, parents=list(version.parents))
        history = History(store)
        doc = history_document("sentiment", history)
        assert history.version_of("sentiment", second.id) == 2
        assert history_document("nothing", history).endswith("No versions stored yet: run "
                                                             "\"Optimize this prompt\" first.\n")
    finally:
        store.close()
    assert doc.startswith("# sentiment: 2 versions")
    v2 = doc.index(f"## v2 `{second.id}`")
    v1 = doc.index(f"## v1 `{first.id}`")
    assert v2 < v1  # newest first
    diff = doc[v2:v1]
    assert "```diff\n--- v1\n+++ v2\n" in diff and "-Answer.\n+Answer in one word.\n" in diff
    assert "```\nReview: {{ review }}\nAnswer.\n```" in doc[v1:]


def test_progress_spend_is_the_engines_own_added_to_earlier_legs(tmp_path: Path) -> None:
    state = ProgressState("r1", "sentiment", 100, cost_budget=None)
    state.apply(Progress("r1", 3, 1, 0, 0, 200, 30, 0.0, 1.0))
    assert (state.calls, state.tokens, state.cost) == (3, 230, None)  # no price: no cost shown
    assert "3 / 100 calls · 230 tokens" in state.text() and "$" not in state.text()
    state.apply(Progress("r1", 5, 1, 0, 0, 300, 50, 0.0021, 2.0))
    assert state.spent() == "5 / 100 calls · 350 tokens · $0.0021"

    resumed = ProgressState("r1", "sentiment", 100, cost_budget=1.0)
    resumed.carry(Spent(calls=7, tokens=900, cost=0.01))
    assert resumed.spent() == "7 / 100 calls · 900 tokens · $0.0100 / $1.00"
    resumed.apply(Progress("r1", 2, 7, 0, 0, 100, 10, 0.002, 1.0))  # replayed answers are hits
    assert (resumed.calls, resumed.tokens, resumed.cost) == (9, 1010, 0.012)

    store = Store(tmp_path / "store.db")
    try:
        assert spent_before(store, "never-started") == Spent()
        store.create_run("r1", task_name="sentiment", task={"name": "sentiment"}, settings={},
                         target="openai:gpt-4o-mini", optimizer="openai:gpt-4o-mini",
                         judge="openai:gpt-4o-mini", metric="label")
        for i, (p, c) in enumerate([(100, 5), (120, 7)]):
            store.record_response("r1", "openai:gpt-4o-mini", f"k{i}", {"messages": []},
                                  {"text": "positive", "prompt_tokens": p, "completion_tokens": c,
                                   "latency_s": 0.1, "finish_reason": "stop"})
        store.record_round("r1", 0, best_id="c1", score=0.5, low=0.2, high=0.8, n=4, candidates=1,
                           calls=2, cache_hits=0, tokens=232, cost=0.0004, elapsed_s=1.0)
        assert spent_before(store, "r1") == Spent(calls=2, tokens=232, cost=0.0004)
    finally:
        store.close()
