"""Enough evidence to pick: survivors of racing are scored on all of dev (or as much as the call
budget affords), and among candidates tied with the best on dev the cheapest is picked, with
the reason in the explanation, the report and the winner's note."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import Store, tune
from core.candidate import Candidate
from core.cli import main
from core.evaluator import Evaluation, ExampleResult
from core.models import Message
from core.plan import FITTED_DEV_FLOOR, fit_dev, plan_calls
from core.racing import expected_examples, rung_sizes
from core.selection import cut_short_winner
from tests.fakes.films import label, review
from tests.fakes.harness import FakeServer
from tests.fakes.scripted import dev_indices, prompt, settings_for, split_task, use_scripted

DECIDE = "Decide: {{ text }}"
LONG = ("Read the film review below with care, weigh every word of it, and decide whether the "
        "reviewer liked the film. Answer with one word, positive or negative.\nText: {{ text }}")
SHORT = "Mood? {{ text }}"


def right(template: str, wrong: frozenset[int] = frozenset(), n: int = 200) -> list[list[str]]:
    """Rules: ``template`` answered right on every film but those in ``wrong``."""
    head = template.replace("{{ text }}", "")
    return [[f"{head}{review(i)}", "no idea" if i in wrong else label(i)] for i in range(n)]


async def test_survivors_are_scored_on_all_of_dev_by_default(
    fake_openai: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_scripted(monkeypatch, [prompt(DECIDE)])
    fake_openai.configure(rules=right(DECIDE), reply="fixed:no idea")
    task = split_task(10, 40, 10)
    result = await tune(task, settings_for(fake_openai, tmp_path))
    assert result.splits["dev"] == 40  # not the old fixed 24
    assert result.search_best is not None and result.search_best.dev is not None
    assert result.search_best.dev.n == 40 and result.search_best.dev.mean == 1.0


async def test_a_call_budget_fits_dev_to_what_it_affords(
    fake_openai: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_scripted(monkeypatch, [prompt(DECIDE)])
    fake_openai.configure(rules=right(DECIDE), reply="fixed:no idea")
    task = split_task(10, 60, 10)
    probe = settings_for(fake_openai, tmp_path)
    plan = plan_calls(45, probe, False, 10)
    budget = max(plan["calls"], plan["minimum"])  # affords 45 of the 60 dev examples
    settings = settings_for(fake_openai, tmp_path, **{"budget.max_calls": budget})
    n = fit_dev(60, settings, False, 10)
    more = plan_calls(n + 1, settings, False, 10)
    assert FITTED_DEV_FLOOR < n < 60 and max(more["calls"], more["minimum"]) > budget
    result = await tune(task, settings)
    assert result.splits["dev"] == n
    assert result.search_best is not None and result.search_best.dev is not None
    assert result.search_best.dev.n == n  # the survivor got all of the fitted dev
    assert result.calls <= budget and not any("below the plan" in w for w in result.warnings)


async def test_an_explicit_cap_is_kept(
    fake_openai: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_scripted(monkeypatch, [prompt(DECIDE)])
    fake_openai.configure(rules=right(DECIDE), reply="fixed:no idea")
    result = await tune(split_task(10, 40, 10),
                        settings_for(fake_openai, tmp_path, **{"tune.max_examples": 16}))
    assert result.splits["dev"] == 16


async def test_a_tie_with_the_best_picks_the_cheaper_prompt_and_says_why(
    fake_openai: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    task = split_task(10, 12, 10)
    last = dev_indices(task)[-1]  # wrong once, after the first rung: it is raced to the end
    use_scripted(monkeypatch, [prompt(LONG), prompt(SHORT)])
    fake_openai.configure(rules=right(LONG) + right(SHORT, frozenset({last})),
                          reply="fixed:no idea")
    result = await tune(task, settings_for(fake_openai, tmp_path))
    long_id, short_id = prompt(LONG).id, prompt(SHORT).id
    by_id = {c.id: c for c in result.candidates}
    long_dev, short_dev = by_id[long_id].dev, by_id[short_id].dev
    assert long_dev is not None and long_dev.mean == 1.0
    assert short_dev is not None and short_dev.mean == pytest.approx(11 / 12)
    assert result.search_best is not None and result.search_best.id == short_id
    assert f"`{long_id}` scored highest on dev" in result.explanation
    assert "statistically tied" in result.explanation and "prompt tokens per answer" in \
        result.explanation
    assert result.best.candidate.note.startswith(f"picked over `{long_id}`")
    report = Path(result.report_path).read_text()
    assert "statistically tied" in report
    monkeypatch.setenv("COLUMNS", "400")
    capsys.readouterr()
    assert main(["show", result.run_id, "--store", str(tmp_path / "s.db")]) == 0
    assert result.pick and result.pick in result.explanation
    assert result.pick in " ".join(capsys.readouterr().out.split())
    store = Store(tmp_path / "s.db")
    try:
        row = next(c for c in store.candidates(result.run_id) if c["id"] == short_id)
    finally:
        store.close()
    assert row["note"].startswith(f"picked over `{long_id}`")


async def test_a_cheaper_prompt_clearly_below_the_best_is_not_a_tie(
    fake_openai: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 8 of 12 right: the paired test alone cannot separate it from 12 of 12 (p = 0.125), but it
    # lies below the best's interval, so the best is kept
    task = split_task(10, 12, 10)
    wrong = frozenset(dev_indices(task)[-4:])
    use_scripted(monkeypatch, [prompt(LONG), prompt(SHORT)])
    fake_openai.configure(rules=right(LONG) + right(SHORT, wrong), reply="fixed:no idea")
    result = await tune(task, settings_for(fake_openai, tmp_path))
    assert result.search_best is not None and result.search_best.id == prompt(LONG).id
    assert "statistically tied" not in result.explanation


async def test_a_cheaper_prompt_two_answers_behind_is_not_a_tie(
    fake_openai: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 10 of 12 right: inside the best's 95% interval (Wilson, 76%-100%) and not separable by
    # the paired test, which used to make it a tie; two answers behind is more than one paired
    # standard error, so the best is kept
    task = split_task(10, 12, 10)
    wrong = frozenset(dev_indices(task)[-2:])
    use_scripted(monkeypatch, [prompt(LONG), prompt(SHORT)])
    fake_openai.configure(rules=right(LONG) + right(SHORT, wrong), reply="fixed:no idea")
    result = await tune(task, settings_for(fake_openai, tmp_path))
    by_id = {c.id: c for c in result.candidates}
    short_dev = by_id[prompt(SHORT).id].dev
    assert short_dev is not None and short_dev.mean == pytest.approx(10 / 12)
    assert result.search_best is not None and result.search_best.id == prompt(LONG).id
    assert "statistically tied" not in result.explanation


def test_rungs_double_up_to_all_of_dev_and_the_plan_counts_them() -> None:
    assert rung_sizes([8, 16], 100) == [8, 16, 32, 64, 100]
    assert rung_sizes([8, 16], 12) == [8, 12] and rung_sizes([8, 16], 4) == [4]
    # half the field goes on at each rung: 8 + 8/2 + 16/4 + 32/8 + 36/16
    assert expected_examples([8, 16], 100) == pytest.approx(22.25)


def scored(text: str, scores: list[float], partial: bool = True) -> Evaluation:
    results = {i: ExampleResult(i, "", x, "") for i, x in enumerate(scores)}
    return Evaluation(Candidate(messages=(Message("user", text + " {{ text }}"),)), results,
                      partial=partial)


def test_a_candidate_cut_short_wins_only_on_enough_paired_evidence() -> None:
    original = scored("original", [0.0] * 12, partial=False)
    clear = scored("clear", [1.0] * 11)            # 11 of 12 answered, all right
    few = scored("few", [1.0] * 5)                 # under half of dev answered
    close = scored("close", [1.0] * 3 + [0.0] * 8)  # 3 wins on 11: not significant
    picked = cut_short_winner([original, few, close, clear], original, 12, alpha=0.05)
    assert picked is not None and picked.chosen is clear
    assert "11 of the 12 dev examples" in picked.reason and "p=0.00098" in picked.reason
    assert cut_short_winner([original, few, close], original, 12, alpha=0.05) is None
    full = scored("full", [1.0] * 12, partial=False)  # fully scored: ranked, not this rule's
    assert cut_short_winner([original, full], original, 12, alpha=0.05) is None
