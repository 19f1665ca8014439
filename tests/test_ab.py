"""Strategies A/B (core/ab.py, core/cli/ab.py, ``/tune ab``): the statistics and verdicts on
made-up runs, then real runs against the loopback OpenAI fake in tests/fakes/tuned_run.py's world
(there ``refine`` walks the prompt to a much better one; ``fewshot`` and ``opro`` find nothing
better, so they hand back the original) through the CLI and through the real Slack bot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import ABError, ABRun, compare_strategies, load_settings, load_task, quick_task
from core.ab import check_strategies, heldout_problem, paired_scores
from core.cli import main
from core.metrics.stats import holm
from tests.fakes.fixtures import StartFakeServer
from tests.fakes.harness import FakeServer
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.slack_harness import running_bot, write_world
from tests.fakes.tuned_run import P4, rules, task_file
from tests.test_slack_bot import CHANNEL, block_text


def made_run(strategy: str, seed: int, scores: list[float], calls: int = 10) -> ABRun:
    return ABRun(strategy=strategy, seed=seed, run_id=f"{strategy}-{seed}", status="finished",
                 best_id="c", best_prompt="p", improved=False, heldout=bool(scores), calls=calls,
                 duration_s=1.0, scores=dict(enumerate(scores)))


# -- statistics and verdicts -----------------------------------------------------------------------

def test_a_clear_winner_beats_the_others_and_is_the_one_to_use() -> None:
    n = 20
    runs = [made_run(s, seed, [1.0] * n if s == "refine" else [0.0] * n)
            for seed in (0, 1) for s in ("fewshot", "refine", "opro")]
    report = compare_strategies("t", runs, ["fewshot", "refine", "opro"], [0, 1])
    by = {(p.a, p.b): p for p in report.pairs}
    win = by[("fewshot", "refine")]
    assert win.winner == "refine" and win.comparison.n == 2 * n
    assert win.verdict.startswith("refine beats fewshot by +100 points [100, 100], p=")
    assert "after Holm (n=40)" in win.verdict
    assert by[("refine", "opro")].winner == "refine"  # refine listed first: the sign turns
    assert "refine beats opro by +100 points" in by[("refine", "opro")].verdict
    assert by[("fewshot", "opro")].winner is None
    assert report.overall == "Use refine: it beats every other strategy on held-out examples."
    s = {x.strategy: x for x in report.summaries}
    assert s["refine"].estimate.mean == 1.0 and s["refine"].estimate.n == 40
    assert s["fewshot"].estimate.high < 0.15 and s["refine"].calls == 20


def test_a_tie_is_no_detectable_difference_and_names_the_cheapest() -> None:
    scores = [1.0, 0.0, 0.5, 1.0, 0.0, 0.75] * 3
    runs = [made_run("auto", 0, scores, calls=50), made_run("cot", 0, scores, calls=30)]
    report = compare_strategies("t", runs, ["auto", "cot"], [0])
    (pair,) = report.pairs
    assert pair.winner is None and pair.p_holm == 1.0
    assert pair.verdict == ("no detectable difference between auto and cot: cot − auto = +0 "
                            "points [0, 0], p=1 after Holm (n=18)")
    assert report.overall.startswith("No strategy separates from the others")
    assert "cot spent the fewest calls (30)" in report.overall


def test_holm_turns_two_raw_wins_into_no_verdict() -> None:
    """B is right on six examples where A and C are wrong: exact p = 2/2**6 ≈ 0.031 for both of
    B's pairs, below 0.05 uncorrected; Holm over the three pairs makes them 0.094."""
    a = [0.0] * 6 + [1.0] * 4
    b = [1.0] * 10
    runs = [made_run("a", 0, a), made_run("b", 0, b), made_run("c", 0, a)]
    report = compare_strategies("t", runs, ["a", "b", "c"], [0])
    raw = [p.comparison.p_value for p in report.pairs]
    assert raw == pytest.approx([2 / 64, 1.0, 2 / 64])
    assert all(p.comparison.significant for p in report.pairs if p.comparison.p_value < 0.05)
    assert [p.p_holm for p in report.pairs] == pytest.approx(holm(raw))
    assert [p.p_holm for p in report.pairs] == pytest.approx([3 / 32, 1.0, 3 / 32])
    assert all(p.winner is None for p in report.pairs)
    assert "p=0.094 after Holm" in report.pairs[0].verdict
    assert report.overall.startswith("No strategy separates")
    # with two strategies only, the same pair is one test: no correction, a verdict
    two = compare_strategies("t", runs[:2], ["a", "b"], [0])
    assert two.pairs[0].winner == "b" and two.overall.startswith("Use b")


def test_pairs_are_the_seeds_and_examples_both_scored_and_a_run_without_them_is_named() -> None:
    runs = [made_run("x", 0, [1.0, 0.0, 1.0]), made_run("y", 0, [0.0, 0.0]),
            made_run("x", 1, [1.0]), made_run("y", 1, [])]
    assert paired_scores(runs, "x", "y") == ([1.0, 0.0], [0.0, 0.0])
    report = compare_strategies("t", runs, ["x", "y"], [0, 1])
    assert report.pairs[0].comparison.n == 2
    (warning,) = report.warnings
    assert warning.startswith("y, seed 1 (run y-1): no held-out scores")
    doc = json.loads(json.dumps(report.to_json()))
    assert doc["pairs"][0]["n"] == 2 and doc["runs"][3]["heldout_n"] == 0


def test_one_undominated_strategy_that_does_not_beat_all_is_still_named() -> None:
    n = 12
    runs = [made_run("a", 0, [1.0] * n), made_run("b", 0, [1.0] * (n - 1) + [0.0]),
            made_run("c", 0, [0.0] * n)]
    report = compare_strategies("t", runs, ["a", "b", "c"], [0])
    assert report.overall == ("No single winner: a and b are not separated from each other, and "
                              "c loses to at least one of them; of those left, a spent the "
                              "fewest calls (10).")


def test_mistakes_are_refused_before_any_run(tmp_path: Path) -> None:
    with pytest.raises(ABError, match="unknown strategy 'nosuch'"):
        check_strategies(["refine", "nosuch"])
    with pytest.raises(ABError, match="at least two"):
        check_strategies(["refine"])
    with pytest.raises(ABError, match="named twice"):
        check_strategies(["refine", "opro", "refine"])
    settings = load_settings().settings
    for sub in ("few", "many"):
        (tmp_path / sub).mkdir()
    assert heldout_problem(load_task(task_file(tmp_path)), settings) is None
    few = heldout_problem(load_task(task_file(tmp_path / "few", n=20, heldout=False)), settings)
    assert few is not None and "20 examples and no splits" in str(few) and "test" in few.hint
    many = load_task(task_file(tmp_path / "many", n=40, heldout=False))
    assert heldout_problem(many, settings) is None  # the engine's 40/30/30 split holds 12 out
    quick = heldout_problem(quick_task("Write a haiku about rain", "a haiku"), settings)
    assert quick is not None and "no examples" in str(quick)


# -- the CLI against the fake server -----------------------------------------------------------------

def cli_args(server: FakeServer, folder: Path) -> list[str]:
    spec = f"openai:fake@{server.base_url}"
    config = folder / "config.json"
    config.write_text(json.dumps({"tune": {"refine_top": 2, "patience": 3}}))
    return ["--max-calls", "300", "--rounds", "3", "--variations", "2", "--seed", "7",
            "--target", spec, "--optimizer", spec, "--judge", spec, "--config", str(config),
            "--store", str(folder / "store.db"), "--run-dir", str(folder / "runs")]


@pytest.fixture
def world(fake_openai: FakeServer, tmp_path: Path) -> Iterator[tuple[FakeServer, Path]]:
    fake_openai.configure(rules=rules(), reply="fixed:no idea")
    (tmp_path / "w").mkdir()
    yield fake_openai, tmp_path / "w"


def test_cli_ab_prints_the_table_the_verdicts_and_json(
        world: tuple[FakeServer, Path], capsys: pytest.CaptureFixture[str]) -> None:
    server, folder = world
    task = str(task_file(folder))
    args = ["ab", task, "--strategies", "refine,fewshot,opro", "--seeds", "2",
            *cli_args(server, folder)]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "ab: 3 strategies x 2 seeds = 6 runs of films" in err
    assert err.count("refine seed ") == 2 and "[6/6] opro seed 8" in err
    assert "A/B of strategies on films · 2 seeds (7, 8) · 300 calls a run" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.split()
            and line.split()[0] in ("refine", "fewshot", "opro")}
    assert "93% [" in rows["refine"] and "n=36" in rows["refine"] and "2/2" in rows["refine"]
    assert "44% [" in rows["fewshot"] and "0/2" in rows["fewshot"]
    assert "• refine beats fewshot by +48 points [" in out
    assert "after Holm (n=36)" in out
    assert "• no detectable difference between fewshot and opro" in out
    assert "Overall: Use refine: it beats every other strategy on held-out examples." in out

    # every run is an ordinary run in the store, its winner's held-out answers there
    assert main([*args, "--json", "-q"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    doc = json.loads(out)
    assert doc["strategies"] == ["refine", "fewshot", "opro"] and doc["seeds"] == [7, 8]
    assert doc["max_calls"] == 300 and len(doc["runs"]) == 6
    refine = [r for r in doc["runs"] if r["strategy"] == "refine"]
    assert all(r["best_prompt"] == P4 and r["heldout_n"] == 18 for r in refine)
    assert all(r["calls"] <= 300 for r in doc["runs"])
    pairs = {(p["a"], p["b"]): p for p in doc["pairs"]}
    assert pairs[("refine", "fewshot")]["winner"] == "refine"
    assert pairs[("refine", "fewshot")]["diff"] == pytest.approx(-0.4815, abs=1e-3)
    assert pairs[("refine", "fewshot")]["p_holm"] < 0.05
    assert pairs[("fewshot", "opro")]["winner"] is None
    assert doc["overall"].startswith("Use refine")
    summary = {s["strategy"]: s for s in doc["summaries"]}
    assert summary["refine"]["heldout"]["n"] == 36 and summary["refine"]["improved_runs"] == 2
    assert summary["opro"]["calls"] == sum(r["calls"] for r in doc["runs"]
                                           if r["strategy"] == "opro")
    # no run learned from the A/B's earlier runs: no warm-start candidates in the store
    from core import Store

    store = Store(folder / "store.db")
    try:
        assert len(store.runs()) == 12
        assert not any(c["strategy"] == "warm" for r in store.runs()
                       for c in store.candidates(r["id"]))
    finally:
        store.close()


@pytest.mark.parametrize(("strategies", "task_kind", "expected"), [
    ("refine,nosuch", "heldout", "unknown strategy 'nosuch'"),
    ("refine", "heldout", "give at least two"),
    ("refine,fewshot", "few", "20 examples and no splits"),
])
def test_cli_ab_mistakes_are_one_line_and_exit_2_without_a_call(
        world: tuple[FakeServer, Path], capsys: pytest.CaptureFixture[str], strategies: str,
        task_kind: str, expected: str) -> None:
    server, folder = world
    task = task_file(folder, n=20, heldout=False) if task_kind == "few" else task_file(folder)
    assert main(["ab", str(task), "--strategies", strategies, *cli_args(server, folder)]) == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("prompt-tuner: error: ") and out == ""
    assert expected in lines[0]
    assert server.requests() == []


# -- Slack: /tune ab ---------------------------------------------------------------------------------

@pytest.fixture
def slack_api() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as api:
        yield api


async def test_slack_ab_posts_the_table_and_the_verdicts_in_its_thread(
        fake_server: StartFakeServer, slack_api: FakeSlackApi, tmp_path: Path) -> None:
    model = fake_server()
    model.configure(rules=rules(), reply="fixed:no idea")
    paths = write_world(tmp_path, model, seed=7, rounds=3, variations=2, refine_top=2,
                        patience=3, max_examples=30)
    task_file(paths.tasks)  # task.yaml (the films, 18 held out) beside the world's reviews task
    async with running_bot(paths, slack_api) as bot:
        refused = (await bot.slack.command("ab reviews --strategies refine,fewshot")).json()
        assert refused["response_type"] == "ephemeral"
        assert "6 examples and no splits" in refused["text"]
        one = (await bot.slack.command("ab task --strategies refine")).json()
        assert "2 to 4 different strategies" in one["text"]
        assert slack_api.posts(CHANNEL) == [] and model.requests() == []

        ack = (await bot.slack.command(
            "ab task --strategies refine,fewshot --seeds 2 --budget 300")).json()
        assert ack["response_type"] == "ephemeral"
        assert "4 tunes of up to 300 calls each" in ack["text"]
        parent = await slack_api.until(
            lambda a: next((m for m in a.posts(CHANNEL) if m.thread_ts is None), None), 10,
            "the parent")
        assert "strategies A/B" in parent.text
        verdicts = await slack_api.until(
            lambda a: next((m for m in a.thread(CHANNEL, parent.ts)
                            if "Verdicts" in block_text(m.blocks)), None), 120, "the verdicts")
    shown = block_text(verdicts.blocks)
    assert "Strategies A/B of films* · seeds 7, 8 · 300 calls a run" in shown
    assert "refine beats fewshot by +48 points [" in shown and "after Holm (n=36)" in shown
    assert "*Overall:* Use refine: it beats every other strategy" in shown
    table = shown.split("```")[1]
    assert table.splitlines()[0].split() == ["strategy", "held-out", "[95%", "CI]", "improved",
                                             "calls", "time"]
    assert "refine" in table and "n=36" in table and "2/2" in table
    # the progress line was edited once per finished tune, in the thread
    progress = slack_api.thread(CHANNEL, parent.ts)[0]
    assert progress.text.startswith(":hourglass_flowing_sand: 4/4 tunes done")
    assert len(slack_api.calls("chat.update")) == 4
    posts = slack_api.calls("chat.postMessage")
    assert [c.body.get("thread_ts") for c in posts[1:]] == [parent.ts] * (len(posts) - 1)
