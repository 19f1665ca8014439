"""What carries the gain: a winner with demonstrations is taken apart on dev — its instruction
alone, the original instruction with its demonstrations — and the explanation says which part
carries the gain; on a budget without room for it, it says why it was not measured."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from core import CandidateProposed, Event, ExampleScored, Store, resume, tune
from core.attribution import DEMOS_ONLY, INSTRUCTION_ONLY, STRATEGY
from core.candidate import Demos
from core.cli import main
from tests.fakes.films import label, review
from tests.fakes.harness import FakeServer
from tests.fakes.scripted import ORIGINAL, prompt, settings_for, split_task, use_scripted

MOOD = "Mood? {{ text }}"
DEMOS = Demos("fixed", 4, (0, 1, 2, 3), placement="inline")


def with_demos(template: str) -> list[list[str]]:
    """Rules: ``template`` is answered right only after inline demonstrations."""
    head = template.replace("{{ text }}", "")
    return [[f"Now this one:\n{head}{review(i)}", label(i)] for i in range(40)]


async def test_the_demonstrations_carrying_the_gain_are_measured_and_said(
    fake_openai: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    use_scripted(monkeypatch, [prompt(MOOD, demos=DEMOS, operator="demos")])
    fake_openai.configure(rules=with_demos(MOOD) + with_demos(ORIGINAL), reply="fixed:no idea")
    result = await tune(split_task(10, 12, 10), settings_for(fake_openai, tmp_path))
    said = ("The demonstrations carry the gain (on 12 dev examples): "
            "instruction alone 0%, demonstrations with the original instruction 100%, both 100%.")
    assert said in result.explanation
    # the original instruction with the winner's demonstrations does as well: it is returned
    kept = prompt(ORIGINAL, demos=DEMOS).messages
    assert result.search_best is not None and result.search_best.candidate.messages == kept
    assert result.search_best.candidate.demos == DEMOS and result.improved
    assert "so it is the prompt returned" in result.explanation
    assert said in Path(result.report_path).read_text()
    monkeypatch.setenv("COLUMNS", "400")
    capsys.readouterr()
    assert main(["show", result.run_id, "--store", str(tmp_path / "s.db")]) == 0
    assert said in " ".join(capsys.readouterr().out.split())
    by_op = {c.candidate.operator: c for c in result.candidates
             if c.candidate.strategy == STRATEGY}
    assert set(by_op) == {INSTRUCTION_ONLY, DEMOS_ONLY}
    alone, demos = by_op[INSTRUCTION_ONLY], by_op[DEMOS_ONLY]
    assert alone.candidate.demos is None and alone.candidate.messages == prompt(MOOD).messages
    assert demos.candidate.demos == DEMOS and demos.candidate.messages == prompt(ORIGINAL).messages
    assert alone.dev is not None and alone.dev.n == 12 and alone.dev.mean == 0.0
    assert demos.dev is not None and demos.dev.n == 12 and demos.dev.mean == 1.0
    store = Store(tmp_path / "s.db")
    try:
        rows = {c["id"]: c for c in store.candidates(result.run_id)}
    finally:
        store.close()
    assert rows[alone.id]["strategy"] == STRATEGY and rows[alone.id]["operator"] == INSTRUCTION_ONLY
    assert rows[demos.id]["operator"] == DEMOS_ONLY


async def test_a_winner_whose_instruction_carries_the_gain_is_kept(
    fake_openai: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the original instruction with the demonstrations does significantly worse, the
    winner's own instruction is what made the gain, and it is returned."""
    use_scripted(monkeypatch, [prompt(MOOD, demos=DEMOS, operator="demos")])
    rules = [[f"Mood? {review(i)}", label(i)] for i in range(40)]  # with or without demos
    fake_openai.configure(rules=rules, reply="fixed:no idea")
    result = await tune(split_task(10, 12, 10), settings_for(fake_openai, tmp_path))
    assert result.search_best is not None and result.search_best.id == prompt(MOOD, demos=DEMOS).id
    assert "instruction alone 100%, demonstrations with the original instruction 0%" \
        in result.explanation
    assert "so it is the prompt returned" not in result.explanation


async def test_a_budget_without_room_skips_it_and_says_why(
    fake_openai: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_scripted(monkeypatch, [prompt(MOOD, demos=DEMOS, operator="demos")])
    fake_openai.configure(rules=with_demos(MOOD) + with_demos(ORIGINAL), reply="fixed:no idea")
    # 12 + 12 dev answers for the original and the winner, 20 kept for the held-out check:
    # 6 left, and taking the winner apart needs 24
    settings = settings_for(fake_openai, tmp_path, **{"budget.max_calls": 50})
    result = await tune(split_task(10, 12, 10), settings)
    assert result.improved and result.best.candidate.demos == DEMOS
    assert ("What carries the gain was not measured: scoring the instruction alone and the "
            "demonstrations alone on the 12 dev examples needs 24 more calls and the budget has "
            "6 left.") in result.explanation
    assert not any(c.candidate.strategy == STRATEGY for c in result.candidates)
    assert result.calls <= 50


class Cut(Exception):
    """Stands for a crash in the middle of taking the winner apart."""


async def test_a_run_cut_off_while_taking_the_winner_apart_resumes_without_paying_twice(
    fake_openai: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_scripted(monkeypatch, [prompt(MOOD, demos=DEMOS, operator="demos")])

    def world() -> None:
        fake_openai.reset()
        fake_openai.configure(rules=with_demos(MOOD) + with_demos(ORIGINAL),
                              reply="fixed:no idea")

    def bodies() -> list[str]:
        return [json.dumps(r["body"], sort_keys=True) for r in fake_openai.requests()]

    task = split_task(10, 12, 10)
    world()
    reference = await tune(task, settings_for(fake_openai, tmp_path / "ref"))
    want = bodies()
    assert len(set(want)) == len(want)
    world()
    settings = settings_for(fake_openai, tmp_path, **{"tune.concurrency": 1})
    attributed: list[str] = []

    def crash(event: Event) -> None:
        if isinstance(event, CandidateProposed) and event.operator in (INSTRUCTION_ONLY, DEMOS_ONLY):
            attributed.append(event.candidate_id)
        if isinstance(event, ExampleScored) and event.candidate_id in attributed and event.done >= 5:
            raise Cut
    with pytest.raises(Cut):
        await tune(task, settings, on_event=crash, run_id="cut-short")
    before = len(bodies())
    assert 24 < before < len(want)  # cut off after the search, during the attribution
    resumed = await resume("cut-short", settings)
    sent = bodies()
    assert set(sent) == set(want)
    twice = [b for b, count in Counter(sent).items() if count > 1]
    assert len(twice) <= 1  # at most the one in flight when it was cut off
    assert resumed.explanation == reference.explanation.replace(reference.run_id, "cut-short")


async def test_a_tight_budget_takes_the_winner_apart_on_part_of_dev(
    fake_openai: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the budget left after the search cannot score both parts on all of dev, they are
    scored on as many dev examples as it affords (16 at least), and the sentence says how many."""
    use_scripted(monkeypatch, [prompt(MOOD, demos=DEMOS, operator="demos")])
    fake_openai.configure(rules=with_demos(MOOD) + with_demos(ORIGINAL), reply="fixed:no idea")
    result = await tune(split_task(4, 30, 6), settings_for(fake_openai, tmp_path,
                                                           **{"budget.max_calls": 110}))
    found = re.search(r"carry the gain \(on (\d+) dev examples\)", result.explanation)
    assert found is not None, result.explanation
    assert 16 <= int(found.group(1)) < result.splits["dev"]
    assert result.calls <= 110
