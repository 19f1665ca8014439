"""Strategies and what they rely on: demonstrations from train only, the answer line of chain of
thought, evolution's crossover, OPRO's trajectory, the format fallback, and the engine's budget
holdback for the held-out check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core import Example, Message, Task, load_settings, load_task, tune
from core.candidate import Candidate, Demos
from core.render import DemoPool, extract_answer, render
from core.strategies import StrategyContext, format_instruction, get_strategy, strategy_names, with_format
from core.strategies.evolve import splice
from core.strategies.fewshot import balanced
from core.task import MetricSpec
from core.templates import TemplateLibrary
from tests.fakes.films import N, film_task, label, review
from tests.fakes.harness import FakeServer

TEMPLATE = "Review: {{ text }}"
TRAIN = (
    Example(inputs={"text": "The soup was cold and bland."}, expected="negative"),
    Example(inputs={"text": "A lovely film with a great cast."}, expected="positive"),
    Example(inputs={"text": "My package arrived broken."}, expected="negative"),
    Example(inputs={"text": "The movie was wonderful, moving and funny."}, expected="positive"),
)


# -- demonstrations ---------------------------------------------------------------------------


async def test_nearest_demos_are_the_most_similar_train_examples_closest_last() -> None:
    pool = DemoPool(TRAIN)
    query = Example(inputs={"text": "What a wonderful movie, so funny!"}, expected="positive")
    cand = Candidate((Message("user", TEMPLATE),), demos=Demos("knn", 2))
    messages = await render(cand, query, pool)
    assert [m.role for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert messages[2].content == "Review: The movie was wonderful, moving and funny."
    assert messages[3].content == "positive"
    assert "film" in messages[0].content  # the second most similar, further from the question
    assert messages[-1].content == "Review: What a wonderful movie, so funny!"


async def test_fixed_inline_demos_with_an_answer_line() -> None:
    cand = Candidate((Message("system", "Label reviews."), Message("user", TEMPLATE)),
                     demos=Demos("fixed", 2, (0, 1), placement="inline"), answer_prefix="Answer:")
    messages = await render(cand, Example(inputs={"text": "Meh."}), DemoPool(TRAIN))
    assert [m.role for m in messages] == ["system", "user"]
    text = messages[1].content
    assert text.startswith("Examples:\n\nReview: The soup was cold and bland.\nAnswer: negative")
    assert text.endswith("Now this one:\nReview: Meh.")


async def test_no_pool_means_no_demos() -> None:
    cand = Candidate((Message("user", TEMPLATE),), demos=Demos("knn", 4))
    assert await render(cand, TRAIN[0], None) == (Message("user", "Review: The soup was cold and bland."),)


def test_balanced_sets_cycle_through_the_labels() -> None:
    import random

    labels = ["a", "a", "a", "b", "b", "c"]
    picked = balanced(list(labels), 3, random.Random(0))
    assert sorted(labels[i] for i in picked) == ["a", "b", "c"]
    assert len(set(balanced(list(labels), 6, random.Random(1)))) == 6


@pytest.mark.parametrize(("text", "prefix", "want"), [
    ("negative... wait. Answer: positive", "Answer:", "positive"),
    ("answer: 12\nso the Answer: 14", "Answer:", "14"),
    ("no answer line here", "Answer:", "no answer line here"),
    ("positive", None, "positive"),
])
def test_the_metric_reads_the_last_answer_line(text: str, prefix: str | None, want: str) -> None:
    assert extract_answer(text, prefix) == want


def test_candidates_differ_by_demos_and_answer_line() -> None:
    plain = Candidate((Message("user", TEMPLATE),))
    knn = Candidate((Message("user", TEMPLATE),), demos=Demos("knn", 4))
    cot = Candidate((Message("user", TEMPLATE),), answer_prefix="Answer:")
    assert len({plain.id, knn.id, cot.id}) == 3
    assert len({plain.dedup_key, knn.dedup_key, cot.dedup_key}) == 3
    assert plain.id == Candidate((Message("user", TEMPLATE),)).id  # unchanged for plain prompts
    assert "nearest train examples" in knn.text()


# -- proposals --------------------------------------------------------------------------------


def test_splice_takes_the_head_of_one_and_the_tail_of_the_other() -> None:
    a = "Read the review. Decide its mood. Answer in one word."
    b = "Look at the text: is it positive? Reply positive or negative."
    assert splice(a, b) == "Read the review.\nis it positive?\nReply positive or negative."


def _task(metric: str, **extra: Any) -> Task:
    return Task(name="t", messages=(Message("user", TEMPLATE),), examples=TRAIN,
                metric=metric, **extra)  # type: ignore[arg-type]


def test_format_instruction_follows_the_metric() -> None:
    assert format_instruction(_task("label")) == (
        "Answer with exactly one of these words and nothing else: negative, positive.")
    assert format_instruction(_task("exact")) == "Reply with the answer only, no explanation."
    assert format_instruction(_task("judge")) is None


def _bool_task(metric: str, answers: list[str], dev: list[str]) -> Task:
    examples = tuple(Example(inputs={"text": f"q{i}"}, expected=a) for i, a in enumerate(answers + dev))
    n = len(answers)
    return Task(name="t", messages=(Message("user", TEMPLATE),), examples=examples,
                metrics=(MetricSpec(type=metric),),
                splits={"train": tuple(range(n)), "dev": tuple(range(n, len(examples)))})


def test_format_instruction_names_the_train_answers_for_exact_match() -> None:
    task = _bool_task("exact", ["true", "false", "true"], ["maybe", "true"])
    sentence = format_instruction(task)
    assert sentence == "Answer with exactly one of these words and nothing else: false, true."
    assert "maybe" not in sentence  # a dev-only answer is never named
    # the run's own train examples win over the task's split; none at all: nothing is named
    assert format_instruction(task, train=task.split("dev")) == (
        "Answer with exactly one of these words and nothing else: maybe, true.")
    assert format_instruction(task, train=()) == "Reply with the answer only, no explanation."
    multi = _bool_task("contains", ["New York", "Paris"], [])
    assert format_instruction(multi) == (
        "Answer with exactly one of these answers and nothing else: New York, Paris.")


def test_format_instruction_names_nothing_when_the_answers_are_open() -> None:
    many = _bool_task("exact", [f"w{i}" for i in range(13)], [])
    assert format_instruction(many) == "Reply with the answer only, no explanation."
    long = _bool_task("exact", ["the cat sat down", "no"], [])
    assert format_instruction(long) == "Reply with the answer only, no explanation."


def test_format_instruction_states_the_train_number_format() -> None:
    assert format_instruction(_bool_task("numeric", ["12", "7"], ["3.5"])) == (
        "Reply with the final number only, as a whole number in digits.")
    assert format_instruction(_bool_task("numeric", ["1.25", "0.50"], [])) == (
        "Reply with the final number only, in digits with 2 decimal places.")
    assert format_instruction(_bool_task("numeric", ["1.5", "2"], [])) == (
        "Reply with the final number only.")


def test_the_format_candidate_names_the_pool_answers() -> None:
    task = _bool_task("exact", ["yes", "no"], ["no"])
    parent = Candidate(task.messages)
    made = with_format(parent, task, strategy="auto", generation=1, train=DemoPool(
        task.split("train")).examples)
    assert made is not None and made.messages[0].content.endswith(
        "Answer with exactly one of these words and nothing else: no, yes.")
    assert with_format(parent, task, strategy="auto", generation=1, train=()) is not None


def test_every_strategy_is_registered() -> None:
    assert strategy_names() == ["auto", "cot", "evolve", "fewshot", "opro", "refine"]
    with pytest.raises(Exception, match="unknown strategy 'magic'"):
        get_strategy("magic")


async def test_fewshot_proposes_only_from_the_train_pool(fake_openai: FakeServer) -> None:
    from core.models import ModelHub

    settings = load_settings(flags={"models.optimizer": f"openai:o@{fake_openai.base_url}"}).settings
    hub = ModelHub(settings, load_settings().secrets, use_cache=False)
    try:
        ctx = StrategyContext(_task("label"), hub.get(settings.models.optimizer), TemplateLibrary(),
                              seed=0, temperature=0.8, max_tokens=64, pool=DemoPool(TRAIN))
        ctx.history = []
        from core.evaluator import Evaluation
        from core.strategies import Scored

        original = Candidate((Message("user", TEMPLATE),))
        ctx.best = Scored(original, Evaluation(original))
        got = await get_strategy("fewshot").step(ctx, 8)
        assert got and all(c.demos is not None and c.parents == (original.id,) for c in got)
        assert all(i < len(TRAIN) for c in got if c.demos for i in c.demos.indices)
        ctx.pool = None
        assert await get_strategy("fewshot").step(ctx, 8) == []
        cot = await get_strategy("cot").step(ctx, 2)
        assert [c.answer_prefix for c in cot] == ["Answer:", "Answer:"]
        assert fake_openai.requests() == []  # neither asks the optimizer
    finally:
        await hub.aclose()


# -- the engine: held-out budget and chain of thought end to end ------------------------------

def settings_for(server: FakeServer, tmp: Path, **flags: Any) -> Any:
    spec = f"openai:fake@{server.base_url}"
    return load_settings(flags={"models.target": spec, "models.optimizer": spec,
                                "store_path": str(tmp / "s.db"), "run_dir": str(tmp / "runs"),
                                "cache.enabled": False, **flags}).settings


async def test_the_held_out_check_is_paid_for_even_when_the_search_spends_the_rest(
    fake_openai: FakeServer, tmp_path: Path
) -> None:
    fake_openai.configure(rules=[["New prompt:", "<<<\nDecide: {{ text }}\n>>>"]],
                          reply="fixed:positive")
    task = load_task(film_task(tmp_path))  # 16 train / 12 dev / 12 test
    budget = 2 * 12 + 1 + 2 * 12  # the least that compares two: 49
    result = await tune(task, settings_for(fake_openai, tmp_path, **{
        "budget.max_calls": budget, "tune.strategy": "refine", "tune.variations": 2}))
    assert result.calls <= budget
    assert result.status == "budget_exhausted"
    assert result.heldout and result.original.estimate.n == 12  # the check ran in full
    assert any("below the plan" in w for w in result.warnings)


async def test_chain_of_thought_is_scored_on_its_answer_line(
    fake_openai: FakeServer, tmp_path: Path
) -> None:
    # the target reasons (mentioning the wrong label first) when told to think, else rambles
    rules = []
    for i in range(N):
        wrong = "negative" if i % 2 else "positive"
        rules.append([f"{review(i)}\nThink step by step",
                      f"Some would say {wrong}. But it was {review(i).split()[-1]}.\n"
                      f"Answer: {label(i)}"])
    fake_openai.configure(rules=rules, reply="fixed:I am not sure.")
    task = load_task(film_task(tmp_path))
    result = await tune(task, settings_for(fake_openai, tmp_path, **{
        "tune.strategy": "cot", "tune.rounds": 1}))
    assert result.improved and result.best.candidate.answer_prefix == "Answer:"
    assert result.best.estimate.mean == 1.0 and result.original.estimate.mean == 0.0
    assert result.heldout and result.p_value is not None and result.p_value < 0.01
    cot_requests = [r["body"] for r in fake_openai.requests()
                    if "Think step by step" in r["body"]["messages"][-1]["content"]]
    assert cot_requests and all(b["max_tokens"] >= 256 for b in cot_requests)
