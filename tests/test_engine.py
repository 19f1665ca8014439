"""The tuning loop against the loopback fake server, and the pure pieces it is made of.

The fake answers by substring rules, so each test writes the whole "world". The rules key on text
the test controls rather than on the wording of the meta-prompts:

* a request that shows a prompt *template* (the literal ``{{ text }}``) is the optimizer's
  meta-prompt: the target only ever sees rendered prompts;
* a meta-prompt that quotes the target's wrong answer (``UNSURE``) asks for a rewrite against
  failures (``refine``); one that does not asks for a variation;
* the target answers right only when its rendered prompt carries the marker word.
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import pytest

from core import (
    CandidateProposed,
    ConfigError,
    EvaluationDone,
    Event,
    Example,
    ExampleScored,
    Message,
    ModelCalled,
    PhaseStarted,
    Progress,
    ReportNotWritten,
    RoundFinished,
    RunFinished,
    RunWarning,
    Store,
    Task,
    TuneResult,
    load_settings,
    quick_task,
    resume,
    tune,
)
from core.events import PHASES
from core.metrics import ExactMatch, LabelMatch, normalize, parse_judgement
from core.metrics.stats import estimate, sign_test, wilson
from core.strategies import extract_prompt, repair_slots
from tests.fakes.fixtures import StartFakeServer
from tests.fakes.harness import FakeServer

SLOT = "{{ text }}"  # only a meta-prompt shows the unrendered template
WRONG = "UNSURE, it is a movie review"  # the target's answer without the marker: no label
MARKER = "ZEBRA"
ORIGINAL = f"Please read the following movie review and tell me what you think about it.\n\n{SLOT}"
GOOD = f"{MARKER} Answer with one word, positive or negative.\nReview: {SLOT}"
PLAIN = f"Classify the review as positive or negative.\nReview: {SLOT}"
SHORT = f"Positive or negative?\n{SLOT}"
REVIEWS = {
    "A joy from start to finish.": "positive",
    "Two hours of my life I will never get back.": "negative",
    "The best film I have seen this year.": "positive",
    "Dull, slow and far too long.": "negative",
}


def sentiment_task() -> Task:
    examples = tuple(Example(inputs={"text": t}, expected=e) for t, e in REVIEWS.items())
    return Task(name="sentiment", description="Label a movie review positive or negative.",
                messages=(Message("user", ORIGINAL),), examples=examples, metric="label",
                labels=("positive", "negative"))


def proposal(prompt: str) -> str:
    return f"Sure! Here is a better prompt:\n<<<\n{prompt}\n>>>"


def world(vary: str, refine: str | None = None, marker: str | None = MARKER) -> dict[str, Any]:
    """``server.configure`` arguments: the optimizer proposes ``vary`` (and ``refine`` when asked
    to fix failures); the target is right only on prompts that carry ``marker``."""
    rules = [[WRONG, refine if refine is not None else vary], [SLOT, vary]]
    if marker is not None:
        rules += [[f"{marker} Answer with one word, positive or negative.\nReview: {text}", label]
                  for text, label in REVIEWS.items()]
    return {"rules": rules, "reply": f"fixed:{WRONG}"}


async def run(server: FakeServer, tmp_path: Path, task: Task, events: list[Event] | None = None,
              *, optimizer: FakeServer | None = None, judge: FakeServer | None = None,
              **flags: Any) -> TuneResult:
    settings = load_settings(flags={
        "models.target": f"openai:fake@{server.base_url}",
        "models.optimizer": f"openai:fake-optimizer@{(optimizer or server).base_url}",
        "models.judge": f"openai:fake-judge@{(judge or server).base_url}",
        "store_path": str(tmp_path / "store.db"),
        "run_dir": str(tmp_path / "runs"),
        "cache.enabled": False,
        "tune.variations": 2,
        "tune.refine_top": 1,
        "tune.strategy": "refine",  # variations, then rewrites against failures: 2 rounds
        "tune.rounds": 2,
        "tune.max_examples": 4,
        "retry.attempts": 2,
        "retry.initial_s": 0.01,
        "retry.max_s": 0.05,
        "retry.jitter_s": 0.0,
        **flags,
    }).settings
    return await tune(task, settings, on_event=events.append if events is not None else None)


def user_texts(server: FakeServer) -> list[str]:
    """The last user message of every model request the fake received, in order."""
    out = []
    for r in server.requests():
        msgs = r["body"]["messages"]
        out.append(next(m["content"] for m in reversed(msgs) if m["role"] == "user"))
    return out


def meta_prompts(server: FakeServer) -> list[str]:
    return [t for t in user_texts(server) if SLOT in t]


def open_store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store.db")


# -- the loop -----------------------------------------------------------------------------


async def test_a_better_prompt_wins_with_a_higher_score(
    fake_openai: FakeServer, tmp_path: Path
) -> None:
    fake_openai.configure(**world(vary=proposal(GOOD), refine=proposal(PLAIN)))

    result = await run(fake_openai, tmp_path, sentiment_task())

    assert result.status == "finished"
    assert result.improved
    assert result.best_prompt == GOOD
    assert result.best.estimate.mean == 1.0 and result.best.estimate.n == 4
    assert result.original.estimate.mean == 0.0
    assert result.best.candidate.parents == (result.original.id,)
    assert result.best.candidate.operator == "vary"
    assert result.p_value == pytest.approx(2 / 2**4)  # 4 fixed, 0 broken
    assert "better on 4 and worse on 0" in result.explanation
    assert Path(result.report_path).is_file()
    # The two variations came back identical: one candidate. The refinement (of the original,
    # the best prompt that has failures) is PLAIN, which the marker-less target gets wrong.
    scores = {c.candidate.text(): c.estimate.mean for c in result.candidates}
    assert scores == {GOOD: 1.0, ORIGINAL: 0.0, PLAIN: 0.0}
    # baseline 4 + 2 proposals + 4 answers + 1 refinement + its 4 answers
    assert len(meta_prompts(fake_openai)) == 3
    assert result.calls == len(fake_openai.requests()) == 15


async def test_the_original_wins_ties(fake_openai: FakeServer, tmp_path: Path) -> None:
    # No prompt carries the marker, so every candidate gets the same wrong answers: nothing can
    # beat the original, not even shorter proposals.
    fake_openai.configure(**world(vary=proposal(SHORT), refine=proposal(PLAIN)))

    result = await run(fake_openai, tmp_path, sentiment_task())

    assert result.status == "finished"
    assert not result.improved
    assert result.best.id == result.original.id
    assert result.best_prompt == ORIGINAL
    assert result.p_value is None
    assert "No candidate beat the original" in result.explanation
    assert [c.candidate.text() for c in result.candidates] == [ORIGINAL, SHORT, PLAIN]
    assert {c.estimate.mean for c in result.candidates} == {0.0}
    assert all(c.estimate.n == 4 for c in result.candidates)


async def test_the_original_wins_ties_at_the_top(fake_openai: FakeServer,
                                                tmp_path: Path) -> None:
    # Every prompt gets every answer right.
    fake_openai.configure(rules=[[SLOT, proposal(SHORT)]], reply="fixed:positive")
    task = sentiment_task()
    task = task.model_copy(update={"examples": tuple(
        Example(inputs=e.inputs, expected="positive") for e in task.examples)})

    result = await run(fake_openai, tmp_path, task)

    assert not result.improved and result.best_prompt == ORIGINAL
    assert [(c.candidate.text(), c.estimate.mean) for c in result.candidates] == [
        (ORIGINAL, 1.0), (SHORT, 1.0)]
    assert len(meta_prompts(fake_openai)) == 2  # nothing failed: nothing to refine


async def test_events_arrive_in_order(fake_openai: FakeServer, tmp_path: Path) -> None:
    fake_openai.configure(**world(vary=proposal(GOOD), refine=proposal(PLAIN)))
    events: list[Event] = []

    result = await run(fake_openai, tmp_path, sentiment_task(), events=events)

    assert all(e.run_id == result.run_id for e in events)
    phases = [(e.phase, e.round) for e in events if isinstance(e, PhaseStarted)]
    assert phases == [("baseline", None), ("propose", 1), ("evaluate", 1), ("propose", 2),
                      ("evaluate", 2), ("finalize", None)]
    assert {e.phase for e in events if isinstance(e, PhaseStarted)} <= set(PHASES)

    def first(pred: Any) -> int:
        return next(i for i, e in enumerate(events) if pred(e))

    def phase(name: str) -> int:
        kind, _, number = name.partition(" ")
        if kind == "round":
            return first(lambda e: isinstance(e, PhaseStarted) and e.phase == "propose"
                         and e.round == int(number))
        return first(lambda e: isinstance(e, PhaseStarted) and e.phase == name)

    def done(cid: str) -> int:
        return first(lambda e: isinstance(e, EvaluationDone) and e.candidate_id == cid)

    def proposed(operator: str) -> int:
        return first(lambda e: isinstance(e, CandidateProposed) and e.operator == operator)

    refined = next(c.id for c in result.candidates if c.candidate.operator == "refine")
    round1 = first(lambda e: isinstance(e, RoundFinished) and e.round == 1)
    round2 = first(lambda e: isinstance(e, RoundFinished) and e.round == 2)
    assert proposed("original") == 0
    assert (phase("baseline") < done(result.original.id) < phase("round 1") < proposed("vary")
            < phase("evaluate") < done(result.best.id) < round1 < phase("round 2")
            < proposed("refine") < done(refined) < round2 < phase("finalize")
            < len(events) - 1)
    end = events[-1]
    assert isinstance(end, RunFinished)
    assert (end.status, end.best_id) == ("finished", result.best.id)
    assert end.summary == {"baseline": 0.0, "best": 1.0}
    assert [e.kind for e in events].count("RunFinished") == 1

    rounds = [e for e in events if isinstance(e, RoundFinished)]
    assert [(r.round, r.best_id) for r in rounds] == [(1, result.best.id), (2, result.best.id)]
    evaluated = [e for e in events if isinstance(e, EvaluationDone)]
    assert sorted(e.candidate_id for e in evaluated) == sorted(c.id for c in result.candidates)
    assert not any(e.partial for e in evaluated)
    announced = [e for e in events if isinstance(e, CandidateProposed)]
    assert [e.parents for e in announced] == [(), (result.original.id,), (result.original.id,)]


async def test_the_store_has_every_candidate_and_evaluation(
    fake_openai: FakeServer, tmp_path: Path
) -> None:
    fake_openai.configure(**world(vary=proposal(GOOD), refine=proposal(PLAIN)))

    result = await run(fake_openai, tmp_path, sentiment_task())

    store = open_store(tmp_path)
    try:
        run_row = store.get_run(result.run_id)
        assert run_row["status"] == "finished"
        assert (run_row["original_id"], run_row["best_id"]) == (result.original.id,
                                                                 result.best.id)
        assert (run_row["original_score"], run_row["best_score"]) == (0.0, 1.0)
        assert run_row["report_path"] == result.report_path
        rows = {c["id"]: c for c in store.candidates(result.run_id)}
        assert set(rows) == {c.id for c in result.candidates}
        assert len(rows) == 3
        for cid, row in rows.items():
            parents = json.loads(row["parents_json"])
            if cid == result.original.id:
                assert parents == [] and row["operator"] == "original"
            else:
                assert parents == [result.original.id]
                assert row["operator"] in ("vary", "refine")
            assert row["status"] == "evaluated" and row["n"] == 4
        assert sorted(r["operator"] for r in rows.values()) == ["original", "refine", "vary"]
        evals = store.evaluations(result.run_id)
        assert {(e["candidate_id"], e["example_index"]) for e in evals} == {
            (cid, i) for cid in rows for i in range(4)}
        assert len(evals) == 3 * 4
        best = store.evaluations(result.run_id, result.best.id)
        assert [e["score"] for e in best] == [1.0] * 4
        assert [e["answer"] for e in best] == list(REVIEWS.values())
        original = store.evaluations(result.run_id, result.original.id)
        assert {(e["score"], e["reason"]) for e in original} == {(0.0, "no label found")}
        responses = store.responses(result.run_id)
        assert len(responses) == result.calls == len(fake_openai.requests())
        assert {e["response_key"] for e in evals} <= {r["key"] for r in responses}
    finally:
        store.close()


async def test_an_unusable_optimizer_reply_is_skipped(
    fake_openai: FakeServer, tmp_path: Path
) -> None:
    # Both variations get one garbage reply, the refinement another.
    fake_openai.configure(**world(vary="<<<\nClassify {{ text\n>>>",       # not a template
                                  refine=f"<<<\nClassify {SLOT} as {{{{ mood }}}}\n>>>"))

    result = await run(fake_openai, tmp_path, sentiment_task())

    assert result.status == "finished"
    assert not result.improved and result.best.id == result.original.id
    # nothing usable from the optimizer: the fallback states the output format instead
    fallback = [c for c in result.candidates if c.id != result.original.id]
    assert [c.candidate.operator for c in fallback] == ["format"]
    assert fallback[0].candidate.text().endswith(
        "Answer with exactly one of these words and nothing else: positive, negative.")
    assert len(meta_prompts(fake_openai)) == 3  # 2 variations and 1 rewrite asked, all dropped
    store = open_store(tmp_path)
    try:
        assert [c["id"] for c in store.candidates(result.run_id)] == [
            result.original.id, fallback[0].id]
        assert store.get_run(result.run_id)["status"] == "finished"
    finally:
        store.close()


async def test_a_budget_too_small_to_compare_two_prompts_fails_before_any_call(
    fake_openai: FakeServer, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as info:
        await run(fake_openai, tmp_path, sentiment_task(), **{"budget.max_calls": 8})

    message = str(info.value)
    # 4 examples x 2 candidates + 1 proposal = 9
    assert "--max-calls 8" in message and "needs 9 calls" in message
    assert "at least 9" in message
    assert fake_openai.log()["count"] == 0
    store = open_store(tmp_path)
    try:
        assert store.runs() == []
    finally:
        store.close()


async def test_a_clear_winner_cut_short_by_the_budget_goes_to_the_held_out_check(
    fake_openai: FakeServer, tmp_path: Path
) -> None:
    """The budget runs out while the one proposal is scored: it answered 11 of 12 dev
    examples, all right, where the original got none. It is not dropped for want of two
    answers ("no candidate beat the original"): it goes to the held-out check and wins there."""
    reviews = {f"Review {i}: {'a great' if i % 2 else 'an awful'} film, {i} stars.":
               "positive" if i % 2 else "negative" for i in range(40)}
    rules: list[list[str]] = [[SLOT, proposal(GOOD)]]
    rules += [[GOOD.replace(SLOT, text), label] for text, label in reviews.items()]
    fake_openai.configure(rules=rules, reply=f"fixed:{WRONG}")
    task = Task(name="sentiment", description="Label a movie review positive or negative.",
                messages=(Message("user", ORIGINAL),), metric="label",
                labels=("positive", "negative"),
                examples=tuple(Example(inputs={"text": t}, expected=e)
                               for t, e in reviews.items()))
    # 12 baseline + 2 proposals (the same prompt) + 11 of its 12 answers; 24 kept back for the
    # held-out check: the least budget that can compare two prompts at all
    result = await run(fake_openai, tmp_path, task, **{
        "budget.max_calls": 49, "tune.max_examples": 12})

    assert result.status == "budget_exhausted"
    assert result.best.candidate.text() == GOOD and result.best.partial
    assert result.best.dev is not None and result.best.dev.n == 11
    assert result.best.test is not None and result.best.test.n == 12  # held out, all right
    assert result.heldout and result.improved
    assert "budget ran out" in result.pick and "11 of the 12 dev examples" in result.pick
    assert "when the budget ran out" in result.best.candidate.note


@pytest.mark.parametrize(("max_calls", "cut"), [
    (9, "the variation"),   # baseline 4 + 2 proposals + 3 of the variation's 4 answers
    (12, "the rewrite"),    # ... + 4 answers + 1 rewrite + 1 of its 4 answers
])
async def test_a_budget_that_runs_out_keeps_what_it_paid_for(
    fake_openai: FakeServer, tmp_path: Path, max_calls: int, cut: str
) -> None:
    fake_openai.configure(**world(vary=proposal(GOOD), refine=proposal(PLAIN)))
    events: list[Event] = []

    result = await run(fake_openai, tmp_path, sentiment_task(), events=events,
                       **{"budget.max_calls": max_calls})

    sent = fake_openai.requests()
    assert len(sent) <= max_calls
    assert result.calls == len(sent) == max_calls
    assert result.status == "budget_exhausted", cut
    assert any("below the plan" in w for w in result.warnings)
    assert any(w.startswith("stopped early") for w in result.warnings)
    assert isinstance(events[-1], RunFinished) and events[-1].status == "budget_exhausted"
    # The original was scored in full; a partly scored candidate is kept but cannot win.
    assert result.original.estimate.n == 4 and not result.original.partial
    assert not result.best.partial
    partial = [c for c in result.candidates if c.partial]
    assert len(partial) == 1 and partial[0].estimate.n < 4
    answered = [t for t in user_texts(fake_openai) if SLOT not in t]
    assert sum(c.estimate.n for c in result.candidates) == len(answered)
    store = open_store(tmp_path)
    try:
        assert store.get_run(result.run_id)["status"] == "budget_exhausted"
        evals = store.evaluations(result.run_id)
        assert len(evals) == len(answered)  # every answer paid for was scored and kept
        rows = {r["id"]: r for r in store.candidates(result.run_id)}
        assert set(rows) == {c.id for c in result.candidates}
        for c in result.candidates:
            assert rows[c.id]["status"] == ("partial" if c.partial else "evaluated")
            assert rows[c.id]["n"] == c.estimate.n
    finally:
        store.close()


async def test_a_quick_task_is_scored_by_the_judge(fake_server: StartFakeServer,
                                                   tmp_path: Path) -> None:
    # One server per role: a judge prompt quotes the answer, and so does a rewrite request.
    haiku = "Soft rain on the roof / the garden drinks slowly / grey sky, green answer"
    target = fake_server(reply=f"fixed:{haiku}")
    optimizer = fake_server(reply="fixed:" + proposal("Write a short haiku about the rain."))
    judge = fake_server(reply="fixed:Score: 8/10 - good")
    task = quick_task("Write a haiku about rain", "a haiku")
    events: list[Event] = []

    result = await run(target, tmp_path, task, events, optimizer=optimizer, judge=judge)

    assert result.status == "finished"
    assert result.original.estimate.mean == pytest.approx(0.8)
    assert result.original.estimate.n == 5  # tune.samples answers sampled per candidate
    assert [c.candidate.text() for c in result.candidates] == [
        "Write a haiku about rain", "Write a short haiku about the rain."]
    assert [c.estimate.mean for c in result.candidates] == pytest.approx([0.8, 0.8])
    assert not result.improved and result.best.id == result.original.id
    done = [e.estimate.mean for e in events if isinstance(e, EvaluationDone)]
    assert done == pytest.approx([0.8, 0.8])
    sampled = [r["body"] for r in target.requests()]
    assert len(sampled) == 10  # 2 candidates x 5 samples, each its own seed
    assert sorted({b["seed"] for b in sampled}) == [0, 1, 2, 3, 4]
    assert {b["temperature"] for b in sampled} == {0.7}
    judged = user_texts(judge)
    assert judged and all(haiku in t for t in judged)
    assert all("Write a haiku about rain" in t for t in judged)  # judged against the user's task
    assert len(user_texts(optimizer)) == 3  # 2 variations (identical) + 1 rewrite (a duplicate)
    store = open_store(tmp_path)
    try:
        assert store.get_run(result.run_id)["metric"] == "judge"
        evals = store.evaluations(result.run_id)
        assert [(e["score"], e["reason"], e["answer"]) for e in evals] == [
            (0.8, "good", haiku)] * 10
    finally:
        store.close()


async def test_a_run_within_its_budget_has_no_warnings(fake_openai: FakeServer,
                                                      tmp_path: Path) -> None:
    fake_openai.configure(**world(vary=proposal(GOOD)))
    events: list[Event] = []

    result = await run(fake_openai, tmp_path, sentiment_task(), events,
                       **{"budget.max_calls": 100, "tune.variations": 1})

    assert result.warnings == [e.message for e in events if isinstance(e, RunWarning)] == []


# -- reading the optimizer's reply --------------------------------------------------------


@pytest.mark.parametrize(("reply", "want"), [
    ("Sure! Here it is:\n<<<\nClassify: {{ text }}\n>>>\nHope this helps!", "Classify: {{ text }}"),
    ("<<< Classify: {{ text }}", "Classify: {{ text }}"),  # no closing marker
    ("```\nClassify: {{ text }}\n```", "Classify: {{ text }}"),
    ("Try this:\n```text\nClassify: {{ text }}\n```\nGood luck.", "Classify: {{ text }}"),
    ("Here is the improved prompt:\nClassify: {{ text }}", "Classify: {{ text }}"),
    ("Sure, I can help with that.\nClassify: {{ text }}", "Classify: {{ text }}"),
    ('"Classify: {{ text }}"', "Classify: {{ text }}"),
    ('"""\nClassify: {{ text }}\n"""', "Classify: {{ text }}"),
    ("'Classify: {{ text }}'", "Classify: {{ text }}"),
    ('Here is the improved prompt:\n"Classify: {{ text }}"', "Classify: {{ text }}"),
    ("  Classify: {{ text }}  ", "Classify: {{ text }}"),
    # few-shot meta-prompts end with "New prompt:", which a small model may echo
    ("New prompt: Classify: {{ text }}", "Classify: {{ text }}"),
    ("Old prompt: {{ text }}\nNew prompt: Classify: {{ text }}\nTask: Say if an email is spam.",
     "Classify: {{ text }}"),
])
def test_extract_prompt(reply: str, want: str) -> None:
    assert extract_prompt(reply) == want


def test_extract_prompt_keeps_inner_quotes_and_lines() -> None:
    text = 'Label the review "positive" or "negative".\n\nReview: {{ text }}'
    assert extract_prompt(f"<<<\n{text}\n>>>") == text


def test_repair_slots_re_adds_a_dropped_slot() -> None:
    repaired = repair_slots("Say whether the review is positive or negative.", ["review"])
    assert repaired == "Say whether the review is positive or negative.\n\nreview: {{ review }}"


def test_repair_slots_keeps_a_complete_prompt() -> None:
    text = "Review: {{ review }}\nAnswer positive or negative."
    assert repair_slots(text, ["review"]) == text


@pytest.mark.parametrize("text", [
    "Classify {{ review }} by {{ mood }}",  # invented a slot no example fills
    "Classify {{ review",                   # syntax error
    "{% if review %}Classify {{ review }}",  # unclosed block
    "   \n",                                 # nothing
    "{{ review }} ok?",                      # too little instruction to be a prompt
])
def test_repair_slots_rejects_unusable_text(text: str) -> None:
    assert repair_slots(text, ["review"]) is None


# -- metrics --------------------------------------------------------------------------------


async def test_label_match_takes_the_first_label() -> None:
    metric = LabelMatch(("positive", "negative"))
    answer = "Sure! The sentiment is: Positive. It is not negative at all."
    assert metric.find(answer) == "positive"
    assert metric.find("NEGATIVE, though parts are positive") == "negative"
    assert metric.find("The review is positively glowing") is None  # whole words only

    pos, neg = Example(inputs={}, expected="positive"), Example(inputs={}, expected="negative")
    assert (await metric.score(answer, pos)).value == 1.0
    wrong = await metric.score(answer, neg)
    assert wrong.value == 0.0 and wrong.reason == "wrong label 'positive', expected 'negative'"
    missing = await metric.score("I cannot tell from this text.", neg)
    assert missing.value == 0.0 and missing.reason == "no label found"


async def test_exact_match_normalizes() -> None:
    metric = ExactMatch()
    ex = Example(inputs={}, expected="New York")
    assert (await metric.score("  new   york. ", ex)).value == 1.0
    assert (await metric.score("“NEW YORK!”", ex)).value == 1.0
    assert (await metric.score("ｎｅｗ ｙｏｒｋ", ex)).value == 1.0  # full-width (NFKC)
    miss = await metric.score("New York City", ex)
    assert miss.value == 0.0 and miss.reason == "expected 'New York'"
    assert normalize("It's\tdone,  OK?") == "its done ok"


def test_normalize_folds_accents() -> None:
    assert normalize("Café") == normalize("cafe")


@pytest.mark.parametrize(("reply", "value", "parsed"), [
    ("Score: 7/10 - clear and correct.", 7.0, True),
    ("I would give this 8 out of 10.", 8.0, True),
    ("**9**", 9.0, True),
    ("score: 10", 10.0, True),
    ("Rating 6.5/10", 6.5, True),
    ("A lovely answer, nothing to add.", 5.0, False),
])
def test_parse_judgement(reply: str, value: float, parsed: bool) -> None:
    got, reason, ok = parse_judgement(reply)
    assert (got, ok) == (value, parsed)
    assert reason


def test_parse_judgement_reason() -> None:
    assert parse_judgement("Score: 7/10 - clear and correct.") == (7.0, "clear and correct", True)
    assert parse_judgement("no idea") == (5.0, "no idea", False)


def test_wilson() -> None:
    assert wilson(0, 0) == (0.0, 1.0)
    low, high = wilson(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    assert math.isclose(low + high, 1.0)
    low, high = wilson(10, 10)
    assert round(low, 4) == 0.7225 and high == pytest.approx(1.0)
    low, high = wilson(0, 10)
    assert low == pytest.approx(0.0, abs=1e-12) and round(high, 4) == 0.2775


def test_estimate() -> None:
    empty = estimate([])
    assert (empty.mean, empty.low, empty.high, empty.n) == (0.0, 0.0, 1.0, 0)
    binary = estimate([1.0, 0.0, 1.0, 1.0])
    assert binary.mean == 0.75 and binary.n == 4
    assert (binary.low, binary.high) == wilson(3, 4)
    # A few identical graded scores do not make a zero-width interval: below 20 examples the
    # interval is the conservative bound for a [0, 1] variable (Wilson on the mean).
    same = estimate([0.8, 0.8, 0.8])
    assert same.mean == pytest.approx(0.8)
    assert same.low < 0.5 and same.high > 0.9
    many = [0.2, 0.4, 0.6, 0.8] * 10
    graded = estimate(many, seed=1)  # 40 examples: percentile bootstrap
    assert graded.mean == pytest.approx(0.5)
    assert 0.4 < graded.low < 0.5 < graded.high < 0.6
    assert estimate(many, seed=1) == graded  # seeded: reproducible
    assert estimate([1.0] * 5).fmt() == "100% [57%, 100%] (n=5)"


def test_sign_test() -> None:
    assert sign_test([0, 0, 0, 0, 0], [1, 1, 1, 1, 1]) == (5, 0, 0.0625)
    assert sign_test([1, 1, 1], [0, 0, 0]) == (0, 3, 0.25)
    assert sign_test([1, 0, 1], [1, 0, 1]) == (0, 0, 1.0)
    assert sign_test([1, 0], [0, 1]) == (1, 1, 1.0)
    wins, losses, p = sign_test([0] * 10, [1] * 9 + [0])
    assert (wins, losses) == (9, 0) and p == pytest.approx(2 / 2**9)
    with pytest.raises(ValueError):
        sign_test([1.0], [1.0, 0.0])


async def test_example_scored_events_count_up_to_the_planned_total(
    fake_server: StartFakeServer, tmp_path: Path
) -> None:
    server = fake_server("openai")
    server.configure(reply="fixed:positive")
    settings = load_settings(flags={
        "models.target": f"openai:fake@{server.base_url}",
        "models.optimizer": f"openai:fake@{server.base_url}",
        "store_path": str(tmp_path / "s.db"), "run_dir": str(tmp_path / "runs"),
        "cache.enabled": False, "tune.variations": 1, "tune.refine_top": 0,
    }).settings
    task = Task(name="t", messages=(Message("user", "Review: {{ r }}"),),
                examples=tuple(Example(inputs={"r": str(i)}, expected="positive")
                               for i in range(5)), metric="label")
    seen: list[ExampleScored] = []
    await tune(task, settings, on_event=lambda e: seen.append(e) if isinstance(e, ExampleScored)
               else None)
    original = [e for e in seen if e.candidate_id == seen[0].candidate_id]
    assert sorted(e.done for e in original) == [1, 2, 3, 4, 5]
    assert {e.total for e in original} == {5}


async def test_tuning_never_searches_on_the_test_split(fake_openai: FakeServer, tmp_path: Path) -> None:
    task = sentiment_task()
    n = len(task.examples)
    test_idx = tuple(range(n - 2, n))
    split = task.model_copy(update={"splits": {"train": tuple(range(n - 2)), "test": test_idx}})
    fake_openai.configure(**world(vary=proposal(GOOD), refine=proposal(PLAIN)))
    result = await run(fake_openai, tmp_path, split)
    held_out = [str(task.examples[i].inputs["text"]) for i in test_idx]
    for ask in meta_prompts(fake_openai):  # the optimizer never sees a test example
        assert not any(text in ask for text in held_out)
    answered = [t for t in user_texts(fake_openai) if SLOT not in t]
    on_test = [t for t in answered if any(text in t for text in held_out)]
    # only the confirmation: the original and the winner, each on both test examples
    assert len(on_test) == 4 and result.heldout
    assert result.original.estimate.n == 2 and result.splits["test"] == 2


async def test_refine_shows_the_failing_examples_of_the_sample_not_of_the_whole_task(
    fake_openai: FakeServer, tmp_path: Path
) -> None:
    # 2 examples are sampled: failure indices point into the sample, which the meta-prompt
    # must resolve against the sample itself
    task = sentiment_task()
    fake_openai.configure(**world(vary=proposal(PLAIN), refine=proposal(PLAIN), marker=None))
    await run(fake_openai, tmp_path, task, **{"tune.max_examples": 2})
    scored = {t.split("Review: ")[-1] for t in user_texts(fake_openai)
              if SLOT not in t and "Review: " in t}
    refine_asks = [t for t in user_texts(fake_openai) if WRONG in t and SLOT in t]
    assert refine_asks
    for ask in refine_asks:
        shown = [text for text in REVIEWS if text in ask]
        assert shown and set(shown) <= scored, (shown, scored)


class StopAfter(list[Event]):
    """An event list that cancels the run's task (as an editor or the bot would) after n
    scored answers."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.task: asyncio.Task[Any] | None = None

    def append(self, event: Event) -> None:
        super().append(event)
        if isinstance(event, ExampleScored):
            self.n -= 1
            if self.n == 0 and self.task is not None:
                self.task.cancel()


async def test_an_interrupted_run_resumes_without_paying_twice(
    fake_openai: FakeServer, tmp_path: Path
) -> None:
    fake_openai.configure(**world(vary=proposal(GOOD), refine=proposal(PLAIN)))
    # the two runs share a store: neither may learn from the other (tests/test_warmstart.py)
    cold = {"tune.warm_start": False, "tune.predictor": False}
    whole = await run(fake_openai, tmp_path, sentiment_task(), **cold)  # uninterrupted
    sent_whole = sorted(json.dumps(r["body"], sort_keys=True) for r in fake_openai.requests())
    fake_openai.reset()
    fake_openai.configure(**world(vary=proposal(GOOD), refine=proposal(PLAIN)))

    stop = StopAfter(7)
    # one call at a time: when the 7th answer lands no other request is on the wire, so
    # "every request exactly once" is exact (a request cut off mid-flight is resent, rightly)
    stop.task = asyncio.create_task(run(fake_openai, tmp_path, sentiment_task(), stop,
                                        **{"tune.concurrency": 1, "limits.max_in_flight": 1},
                                        **cold))
    with pytest.raises(asyncio.CancelledError):
        await stop.task
    store = open_store(tmp_path)
    (stopped,) = [r for r in store.runs() if r["status"] == "interrupted"]
    before = len(fake_openai.requests())
    assert 0 < before < len(sent_whole)
    settings = load_settings(flags={"store_path": str(tmp_path / "store.db"),
                                    "cache.enabled": False}).settings
    finished = await resume(stopped["id"], settings, use_cache=False)
    assert finished.run_id == stopped["id"] and finished.status == "finished"
    sent = sorted(json.dumps(r["body"], sort_keys=True) for r in fake_openai.requests())
    assert sent == sent_whole  # every request once, in both legs together
    assert finished.best.id == whole.best.id
    assert finished.cache_hits >= before  # the first leg's answers were replayed
    assert store.get_run(stopped["id"])["status"] == "finished"
    with pytest.raises(ConfigError, match="already finished"):
        await resume(stopped["id"], settings)
    store.close()


async def test_rounds_progress_and_held_out_answers_are_stored_apart(
    fake_openai: FakeServer, tmp_path: Path
) -> None:
    task = sentiment_task()
    n = len(task.examples)
    split = task.model_copy(update={"splits": {"train": tuple(range(n - 2)),
                                               "test": tuple(range(n - 2, n))}})
    fake_openai.configure(**world(vary=proposal(GOOD), refine=proposal(PLAIN)))
    events: list[Event] = []
    result = await run(fake_openai, tmp_path, split, events)
    store = open_store(tmp_path)
    try:
        rounds = store.rounds(result.run_id)
        # round 0 is the baseline; then one row per round, calls never going down
        assert [r["round"] for r in rounds] == [0, 1, 2]
        assert rounds[0]["best_id"] == result.original.id
        assert [r["calls"] for r in rounds] == sorted(r["calls"] for r in rounds)
        assert rounds[-1]["calls"] <= result.calls
        made = {r["id"]: r["round"] for r in store.candidates(result.run_id)}
        assert made[result.original.id] == 0 and set(made.values()) <= {0, 1, 2}
        # the held-out answers do not overwrite the dev answers of the same example index
        for cid in {result.original.id, result.best.id}:
            assert len(store.evaluations(result.run_id, cid, split="test")) == 2
            assert len(store.evaluations(result.run_id, cid, split="dev")) == result.splits["dev"]
    finally:
        store.close()
    progress = [e for e in events if isinstance(e, Progress)]
    called = [e for e in events if isinstance(e, ModelCalled)]
    assert progress and progress[-1].calls == result.calls
    assert len(called) == result.calls and all(c.key for c in called)


async def test_a_user_error_after_a_nested_group_is_the_one_raised(
    fake_openai: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrent scoring nests task groups; the engine stopped at the first nested group even
    when a later one held the user error, so `tune` printed an internal error."""
    from core import ModelUnavailable
    from core.engine import TuneRun

    async def search(*args: Any) -> None:
        raise ExceptionGroup("scoring", [ExceptionGroup("candidate a", [ValueError("a detail")]),
                                         ExceptionGroup("candidate b", [ModelUnavailable(
                                             "fake is down", "start it")])])

    monkeypatch.setattr(TuneRun, "_search", search)
    fake_openai.configure(**world(vary=proposal(GOOD)))
    with pytest.raises(ModelUnavailable, match="fake is down"):
        await run(fake_openai, tmp_path, sentiment_task())
    store = open_store(tmp_path)
    try:
        [stored] = store.runs()
        assert stored["status"] == "failed" and "fake is down" in stored["error"]
    finally:
        store.close()


async def test_a_report_that_cannot_be_written_leaves_the_run_finished(
    fake_openai: FakeServer, tmp_path: Path
) -> None:
    """A full disk when the report is written, after every call was paid for: one user error
    that says where the results are, and the run is stored as finished."""
    full = Path("/dev/full")
    if not full.exists():
        pytest.skip("needs /dev/full")
    fake_openai.configure(**world(vary=proposal(GOOD), refine=proposal(PLAIN)))
    settings = load_settings(flags={
        "models.target": f"openai:fake@{fake_openai.base_url}",
        "models.optimizer": f"openai:fake@{fake_openai.base_url}",
        "store_path": str(tmp_path / "store.db"), "run_dir": str(tmp_path / "runs"),
        "cache.enabled": False, "tune.variations": 1, "tune.rounds": 1, "retry.attempts": 1,
    }).settings
    run_dir = tmp_path / "runs" / "r-full"
    run_dir.mkdir(parents=True)
    (run_dir / "result.json").symlink_to(full)  # writes there fail with ENOSPC
    with pytest.raises(ReportNotWritten) as info:
        await tune(sentiment_task(), settings, run_id="r-full")
    message = str(info.value)
    assert "run r-full finished" in message and "No space left on device" in message
    assert str(tmp_path / "store.db") in message and "prompt-tuner report r-full" in message
    store = open_store(tmp_path)
    try:
        stored = store.get_run("r-full")
        assert stored["status"] == "finished" and stored["error"] is None
        assert stored["result_json"]
    finally:
        store.close()
