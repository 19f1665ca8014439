"""The run's choices (``core.run_choices``) and how the language server offers them: the winner,
the shortest prompt that scores like it and the cheapest one, each a titled replacement.

The editor test starts the real server in a subprocess whose ``scripted`` strategy proposes four
prompts (``tests/fakes/scripted.py``), and the loopback fake model server answers each of them
a fixed way, so one run has three distinct choices:

* BEST: right on all 8 examples, long, with chatty answers (the run's winner);
* SHORT: right on 6, the shortest prompt whose score lies within BEST's 95% interval;
* MID: right on 6, longer than SHORT but with one-word answers, so at the configured price
  (output tokens cost 100 times the prompt's) the cheapest per answer;
* TINY: right on 4, shorter than all, but outside BEST's interval: never offered.
"""

from __future__ import annotations

import ast
import asyncio
import re
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient, client_capabilities, make_test_lsp_client

from core import (
    Candidate,
    Choice,
    Estimate,
    Message,
    Store,
    load_run,
    load_settings,
    load_task,
    run_choices,
    tune,
)
from core.choices import Measure, choose
from tests.fakes.harness import FakeServer
from tests.fakes.scripted import use_scripted
from tests.test_lsp_e2e import (
    MARKER,
    ORIGINAL,
    REPO,
    REVIEWS,
    SLOT,
    WRONG,
    apply,
    code_actions,
    edits_of,
    execute,
    open_doc,
    options,
    read_code_actions_whole,
    task_yaml,
)

BEST = (f"{MARKER} Read the whole review carefully, then answer with one word, positive or "
        f"negative.\nReview: {SLOT}")
MID = f"{MARKER} Answer with one word, positive or negative.\nReview: {SLOT}"
SHORT = f"{MARKER} One word.\nReview: {SLOT}"
TINY = f"{MARKER}\nReview: {SLOT}"
RIGHT = {BEST: 8, MID: 6, SHORT: 6, TINY: 4}   # examples each answers right, of the 8
TERSE = {MID, TINY}                             # one-word answers; the others chat
PRICES = {"prices.fake.input_per_mtok": 1.0, "prices.fake.output_per_mtok": 100.0}

# the server, with the scripted strategy proposing the four prompts above
LAUNCH = f"""
import sys
sys.path.insert(0, {str(REPO)!r})
import core.plugins
from core import Candidate, Message
from tests.fakes.scripted import Scripted
made = [Candidate((Message("user", text),)) for text in {[BEST, MID, SHORT, TINY]!r}]
core.plugins.load().items["strategy"]["scripted"] = lambda: Scripted(made)
from lsp_server.cli import main
raise SystemExit(main())
"""
COMMAND = [sys.executable, "-c", LAUNCH]


def answer(prompt: str, i: int, label: str) -> str:
    other = "negative" if label == "positive" else "positive"
    said = label if i < RIGHT[prompt] else other
    return said if prompt in TERSE else f"The review is {said}, without any doubt at all."


def choices_world() -> dict[str, Any]:
    rules = [[f"{prompt.replace(SLOT, text)}", answer(prompt, i, label)]
             for prompt in (BEST, MID, SHORT, TINY)
             for i, (text, label) in enumerate(REVIEWS.items())]
    return {"rules": rules, "reply": f"fixed:{WRONG}"}


def choices_options(server: FakeServer, tmp_path: Path, **more: Any) -> dict[str, Any]:
    opts = options(server, tmp_path, **more)
    opts["settings"].update({"tune.strategy": "scripted", "tune.rounds": 1, "tune.variations": 4,
                             "tune.faithfulness": "off", **PRICES})
    return opts


async def start_scripted(tmp_path: Path, init: dict[str, Any]) -> LanguageClient:
    client = make_test_lsp_client()
    read_code_actions_whole(client)
    await client.start_io(*COMMAND, cwd=str(tmp_path))
    await client.initialize_session(lsp.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=tmp_path.as_uri(),
        initialization_options=init,
        workspace_folders=[lsp.WorkspaceFolder(uri=tmp_path.as_uri(), name="w")]))
    return client


def stored_choices(tmp_path: Path, run_id: str) -> list[Choice]:
    store = Store(tmp_path / "store.db", read_only=True)
    try:
        return run_choices(load_run(store, run_id), store)
    finally:
        store.close()


def text_of(choice: Choice) -> str:
    (message,) = choice.messages
    return message.content


# -- the editor ----------------------------------------------------------------------------------


async def test_one_run_offers_the_best_the_shortest_and_the_cheapest_as_titled_replacements(
    tmp_path: Path, fake_openai: FakeServer
) -> None:
    fake_openai.configure(**choices_world())
    client = await start_scripted(tmp_path, choices_options(fake_openai, tmp_path))
    try:
        (tmp_path / "sentiment.tune.yaml").write_text(task_yaml(), encoding="utf-8")
        source = ("# prompt-tuner: task=sentiment.tune.yaml\n"
                  f"SYSTEM_PROMPT = {ORIGINAL!r}\n")
        uri = open_doc(client, tmp_path / "app.py", source, "python")
        result = await execute(client, "promptTuner.optimize", [{"uri": uri, "key": "SYSTEM_PROMPT"}])
        assert result["significant"] and result["improved"], result

        choices = stored_choices(tmp_path, result["runId"])
        assert [(text_of(c), c.roles) for c in choices] == [
            (BEST, ("best",)), (SHORT, ("shortest",)), (MID, ("cheapest",))]
        best, short, mid = choices
        # what they measured: the scores, the fake server's tokens (characters // 4 + 1) and cost
        assert [(c.dev.mean, c.dev.n) for c in choices] == [(1.0, 8), (0.75, 8), (0.75, 8)]
        assert short.tokens < mid.tokens < best.tokens
        assert short.tokens == pytest.approx(sum(len(SHORT.replace(SLOT, t)) // 4 + 1
                                                 for t in REVIEWS) / 8)
        assert mid.cost is not None and short.cost is not None and best.cost is not None
        assert mid.cost < short.cost < best.cost

        replaced = [a for a in await code_actions(client, uri, line=1)
                    if isinstance(a, lsp.CodeAction) and a.title.startswith("Replace with")]
        assert [a.title for a in replaced] == [c["title"] for c in result["choices"]]
        assert len(replaced) == 3 and all(a.edit is not None for a in replaced)
        assert re.fullmatch(rf"Replace with v{best.version} \(best\): 0% → 100% \(p=0\.008\), "
                            rf"100% \[68, 100\] dev, {best.tokens:.0f} prompt tokens, "
                            rf"\${best.cost * 1000:.4f} per 1,000 answers", replaced[0].title)
        for action, choice in zip(replaced[1:], (short, mid), strict=True):
            assert choice.cost is not None
            assert action.title == (
                f"Replace with v{choice.version} ({choice.roles[0]}): 75% [41, 93] dev, "
                f"{choice.tokens:.0f} prompt tokens, ${choice.cost * 1000:.4f} per 1,000 answers")
        assert replaced[0].is_preferred and not replaced[1].is_preferred
        for action, prompt in zip(replaced, (BEST, SHORT, MID), strict=True):
            assert action.edit is not None
            (edit,) = edits_of(action.edit)
            assign = ast.parse(apply(source, edit)).body[0]
            assert isinstance(assign, ast.Assign) and ast.literal_eval(assign.value) == prompt
        assert not any(c["newText"] == TINY for c in result["choices"])
    finally:
        await client.shutdown_session()


async def test_a_run_without_a_significant_gain_offers_its_choices_disabled(
    tmp_path: Path, fake_openai: FakeServer
) -> None:
    fake_openai.configure(**choices_world())
    client = await start_scripted(tmp_path, choices_options(fake_openai, tmp_path, alpha=0.001))
    try:
        (tmp_path / "sentiment.tune.yaml").write_text(task_yaml(), encoding="utf-8")
        uri = open_doc(client, tmp_path / "app.py", "# prompt-tuner: task=sentiment.tune.yaml\n"
                       f"PROMPT = {ORIGINAL!r}\n", "python")
        result = await execute(client, "promptTuner.optimize", [{"uri": uri, "key": "PROMPT"}])
        assert result["improved"] and not result["significant"] and result["edit"] is None

        offered = [a for a in await code_actions(client, uri, line=1)
                   if isinstance(a, lsp.CodeAction) and a.title.startswith("Replace anyway")]
        assert len(offered) == 3
        assert all(a.edit is None and a.disabled is not None for a in offered)
        assert "(shortest)" in offered[1].title and "(cheapest)" in offered[2].title
    finally:
        await client.shutdown_session()


# -- run_choices: the definition -----------------------------------------------------------------


def m(cid: str, mean: float, low: float, high: float, tokens: float,
      cost: float | None = None, n: int = 10) -> Measure:
    return Measure(cid, Estimate(mean, low, high, n), tokens, cost)


def roles(got: list[tuple[Measure, tuple[str, ...]]]) -> list[tuple[str, tuple[str, ...]]]:
    return [(measure.id, r) for measure, r in got]


def test_the_best_that_is_also_the_shortest_is_one_choice_with_both_roles() -> None:
    best = m("best", 0.9, 0.6, 0.98, tokens=40)
    longer = m("longer", 0.85, 0.55, 0.96, tokens=90)

    assert roles(choose(best, [longer])) == [("best", ("best", "shortest", "cheapest"))]


def test_a_shorter_prompt_outside_the_best_interval_is_not_offered() -> None:
    best = m("best", 0.9, 0.6, 0.98, tokens=200)
    inside = m("inside", 0.7, 0.4, 0.9, tokens=120)
    outside = m("outside", 0.5, 0.2, 0.8, tokens=20)

    assert roles(choose(best, [outside, inside])) == [("best", ("best", "cheapest")),
                                                      ("inside", ("shortest",))]
    assert roles(choose(best, [outside])) == [("best", ("best", "shortest", "cheapest"))]


def test_a_shorter_prompt_no_better_than_the_original_or_scored_on_fewer_examples_is_not_offered(
) -> None:
    best = m("best", 0.9, 0.6, 0.98, tokens=200)
    as_original = m("same", 0.7, 0.4, 0.9, tokens=20)
    raced_out = m("raced", 0.75, 0.3, 0.95, tokens=10, n=4)

    got = choose(best, [as_original, raced_out], original=Estimate(0.7, 0.4, 0.9, 10))

    assert roles(got) == [("best", ("best", "shortest", "cheapest"))]


def test_without_a_price_there_is_no_cheapest_but_with_one_the_cheapest_is_offered() -> None:
    best = m("best", 0.9, 0.6, 0.98, tokens=200)
    short = m("short", 0.8, 0.5, 0.95, tokens=60)
    mid = m("mid", 0.8, 0.5, 0.95, tokens=100)

    assert roles(choose(best, [short, mid])) == [("best", ("best", "cheapest")),
                                                 ("short", ("shortest",))]
    priced = choose(m("best", 0.9, 0.6, 0.98, 200, cost=3e-4),
                    [m("short", 0.8, 0.5, 0.95, 60, cost=2e-4), m("mid", 0.8, 0.5, 0.95, 100, 1e-4)])
    assert roles(priced) == [("best", ("best",)), ("short", ("shortest",)),
                             ("mid", ("cheapest",))]
    # the same cost for all: the best keeps the role, nothing cheaper is offered
    even = choose(m("best", 0.9, 0.6, 0.98, 200, cost=1e-4), [m("short", 0.8, 0.5, 0.95, 60, 1e-4)])
    assert roles(even) == [("best", ("best", "cheapest")), ("short", ("shortest",))]


def test_run_choices_of_a_stored_run_match_what_the_core_measured(
    tmp_path: Path, fake_openai: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real run in process (scripted proposals, no price): the shortest and the best, the
    numbers those of the run's stored candidates, and nothing for a run that kept the original."""
    fake_openai.configure(**choices_world())
    use_scripted(monkeypatch, [Candidate((Message("user", t),)) for t in (BEST, MID, SHORT, TINY)])
    (tmp_path / "t.tune.yaml").write_text(task_yaml(), encoding="utf-8")
    spec = f"openai:fake@{fake_openai.base_url}"
    settings = load_settings(flags={
        "models.target": spec, "models.optimizer": spec, "store_path": str(tmp_path / "store.db"),
        "run_dir": str(tmp_path / "runs"), "cache.enabled": False, "tune.strategy": "scripted",
        "tune.rounds": 1, "tune.variations": 4, "tune.faithfulness": "off",
        "tune.max_examples": 8}).settings
    result = asyncio.run(tune(load_task(tmp_path / "t.tune.yaml"), settings))
    choices = stored_choices(tmp_path, result.run_id)

    assert [(text_of(c), c.roles) for c in choices] == [(BEST, ("best", "cheapest")),
                                                        (SHORT, ("shortest",))]
    assert all(c.cost is None for c in choices)
    db = sqlite3.connect(tmp_path / "store.db")
    stored = dict(db.execute("select id, score from candidates where run_id = ?", [result.run_id]))
    db.close()
    assert [c.dev.mean for c in choices] == [stored[c.id] for c in choices]
