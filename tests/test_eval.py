"""`prompt-tuner eval` and `compare` against the loopback fake model server.

The fake answers by substring rules, so every test decides exactly which answers are right and
checks the numbers the commands print: means, intervals, n, usage, verdicts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core import Completion, Example, Message, Request, Task
from core.cli import main
from core.metrics import Judge
from core.templates import TemplateLibrary
from tests.fakes.harness import FakeServer
from tests.fakes.raw_http import STALL, RawServer, closed_port

pytestmark = pytest.mark.usefixtures("cli_console")


N = 40


def sentiment_task(tmp_path: Path, extra: str = "") -> Path:
    rows = [{"text": f"film {i} was {'great' if i % 2 else 'awful'}",
             "expected": "positive" if i % 2 else "negative"} for i in range(N)]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = tmp_path / "task.yaml"
    path.write_text("name: fake-sentiment\nprompt: 'Review: {{ text }}'\n"
                    "dataset: {file: data.jsonl}\nmetric: label\nlabels: [positive, negative]\n"
                    + extra)
    return path


def flags(server: FakeServer, tmp_path: Path) -> list[str]:
    return ["--target", f"openai:fake@{server.base_url}", "--judge",
            f"openai:judge@{server.base_url}", "--store", str(tmp_path / "s.db")]


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, Any]:
    code = main([*argv, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data: dict[str, Any] = json.loads(captured.out)
    return data


def world(server: FakeServer, *, good: str = "Decide", judge: list[list[str]] | None = None) -> None:
    """Prompts starting "Decide:" answer right on every review; the task's own prompt is right on
    the "great" reviews only and rambles on the rest (no label found); anything else: no idea."""
    rules = []
    for i in range(N):
        right = "positive" if i % 2 else "negative"
        text = f"film {i} was {'great' if i % 2 else 'awful'}"
        rules.append([f"{good}: {text}", f"The answer: {right}."])
        rules.append([f"Review: {text}", "positive" if i % 2 else "I could not say."])
    server.configure(rules=(judge or []) + rules, reply="fixed:no idea")


def test_eval_prints_means_intervals_n_usage_and_worst(
    fake_openai: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world(fake_openai)
    code = main(["eval", str(sentiment_task(tmp_path)), *flags(fake_openai, tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "n=40" in out
    assert "50.0%" in out                       # 20 of 40 right
    assert "[35.2%, 64.8%]" in out              # Wilson interval for 20/40
    assert "no_label 20" in out and "ok 20" in out
    assert "40 answers (40 calls, 0 cache hits)" in out
    assert "Worst answers" in out and "I could not say." in out


def test_eval_json_has_every_number_and_reruns_from_the_cache(
    fake_openai: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world(fake_openai)
    argv = ["eval", str(sentiment_task(tmp_path)), *flags(fake_openai, tmp_path)]
    first = run_json(capsys, argv)
    assert first["n"] == 40 and first["split"] == "all"
    assert first["aggregate"]["mean"] == pytest.approx(0.5)
    assert first["aggregate"]["low"] == pytest.approx(0.352, abs=1e-3)
    assert first["metrics"]["label"]["n"] == 40
    assert first["usage"]["calls"] == 40
    assert first["usage"]["latency_p50_s"] is not None
    assert first["outcomes"] == {"ok": 20, "no_label": 20}
    assert len(first["worst"]) == 5 and first["worst"][0]["score"] == 0.0
    second = run_json(capsys, argv)
    assert second["usage"]["calls"] == 0 and second["usage"]["cache_hits"] == 40
    assert second["aggregate"] == first["aggregate"]
    assert len(fake_openai.requests()) == 40


def test_eval_on_a_split_and_with_a_prompt_file(
    fake_openai: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world(fake_openai)
    task = sentiment_task(tmp_path, "splits: {train: 0.5, test: 0.5, seed: 1}\n")
    (tmp_path / "good.txt").write_text("Decide: {{ text }}")
    data = run_json(capsys, ["eval", str(task), "--split", "test", "--prompt",
                             str(tmp_path / "good.txt"), *flags(fake_openai, tmp_path)])
    assert data["split"] == "test" and data["n"] == 20
    assert data["aggregate"]["mean"] == 1.0
    assert data["prompt"] == [{"role": "user", "content": "Decide: {{ text }}"}]


def test_eval_repeat_samples_and_reports_per_repeat_means(
    fake_openai: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world(fake_openai)
    data = run_json(capsys, ["eval", str(sentiment_task(tmp_path)), "--repeat", "3", "--limit", "10",
                             *flags(fake_openai, tmp_path)])
    assert data["repeats"] == 3 and data["n"] == 10
    assert len(data["repeat_means"]) == 3
    bodies = [r["body"] for r in fake_openai.requests()]
    assert len(bodies) == 30
    assert sorted({(b.get("temperature"), b.get("seed")) for b in bodies}) == [
        (0.0, 0), (0.7, 1), (0.7, 2)]


def test_compare_finds_the_better_prompt_and_says_so(
    fake_openai: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world(fake_openai)
    task = sentiment_task(tmp_path)
    (tmp_path / "good.txt").write_text("Decide: {{ text }}")
    code = main(["compare", str(task), "task", str(tmp_path / "good.txt"), *flags(fake_openai, tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "Verdict: B is better" in out
    assert "difference +50.0%" in out
    assert "McNemar" in out
    reverse = run_json(capsys, ["compare", str(task), str(tmp_path / "good.txt"), "task",
                                *flags(fake_openai, tmp_path)])
    (matchup,) = reverse["comparisons"]
    assert matchup["verdict"] == "A is better"
    assert matchup["overall"]["diff"] == pytest.approx(-0.5)
    assert matchup["overall"]["p_value"] < 0.001
    assert matchup["overall"]["a_wins"] == 20 and matchup["overall"]["ties"] == 20
    assert reverse["n"] == 40


def test_compare_a_prompt_with_itself_is_no_significant_difference(
    fake_openai: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world(fake_openai)
    data = run_json(capsys, ["compare", str(sentiment_task(tmp_path)), "task", "task",
                             *flags(fake_openai, tmp_path)])
    (matchup,) = data["comparisons"]
    assert matchup["verdict"].startswith("no significant difference")
    assert matchup["overall"]["p_value"] == 1.0
    assert len(fake_openai.requests()) == 40  # the same requests are sent once


def test_pairwise_judge_agrees_across_orders(
    fake_openai: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a fair judge prefers the answer that states one, wherever it is shown
    world(fake_openai, judge=[["Answer B: The answer", "Winner: B - states it"],
                              ["Answer A: The answer", "Winner: A - states it"]])
    (tmp_path / "good.txt").write_text("Decide: {{ text }}")
    data = run_json(capsys, ["compare", str(sentiment_task(tmp_path)), "task",
                             str(tmp_path / "good.txt"), "--pairwise", *flags(fake_openai, tmp_path)])
    pair = data["comparisons"][0]["pairwise"]
    assert pair == {"pairs": 40, "b_wins": 40, "a_wins": 0, "ties": 0, "inconsistent": 0,
                    "swap_agreement": 1.0, "p_value": pytest.approx(2 * 0.5 ** 40), "consistent": True}


def test_pairwise_judge_that_follows_the_order_is_flagged(
    fake_openai: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world(fake_openai, judge=[["Answer B:", "Winner: A"]])  # always the first one shown
    (tmp_path / "good.txt").write_text("Decide: {{ text }}")
    code = main(["compare", str(sentiment_task(tmp_path)), "task", str(tmp_path / "good.txt"),
                 "--pairwise", *flags(fake_openai, tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "orders disagreed 40" in out and "position-swap agreement 0%" in out
    assert "INCONSISTENT" in out


def test_compare_several_prompts_is_holm_corrected(
    fake_openai: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world(fake_openai)
    (tmp_path / "good.txt").write_text("Decide: {{ text }}")
    (tmp_path / "meh.txt").write_text("Hmm: {{ text }}")
    data = run_json(capsys, ["compare", str(sentiment_task(tmp_path)), "task",
                             str(tmp_path / "good.txt"), str(tmp_path / "meh.txt"),
                             *flags(fake_openai, tmp_path)])
    good, meh = data["comparisons"]
    assert good["verdict"] == "B is better"
    assert meh["verdict"] == "A is better"  # "no idea" everywhere: worse than 50%
    assert good["p_adjusted"] >= good["overall"]["p_value"]


def test_metric_vector_and_judge_rubric_with_repeats(
    fake_openai: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "task.yaml").write_text(
        "name: pitch\nprompt: 'Pitch {{ thing }} in one line.'\n"
        "examples:\n" + "".join(f"  - {{thing: item{i}}}\n" for i in range(6)) +
        "metrics:\n"
        "  - {type: judge, rubric: {clear: easy to read, short: one line}, repeats: 3, weight: 2}\n"
        "  - {type: regex, pattern: '^\\S+( \\S+){0,11}$', name: words, weight: 1}\n")
    fake_openai.configure(rules=[["Dimensions:", "clear: 8/10\nshort: 6/10\nScore: 7/10 - fine"],
                                 ["Pitch item", "A tidy thing for tidy people."]])
    data = run_json(capsys, ["eval", str(tmp_path / "task.yaml"), *flags(fake_openai, tmp_path)])
    assert data["metrics"]["judge"]["mean"] == pytest.approx(0.7)
    assert data["metrics"]["judge.clear"]["mean"] == pytest.approx(0.8)
    assert data["metrics"]["judge.short"]["mean"] == pytest.approx(0.6)
    assert data["metrics"]["words"]["mean"] == 1.0
    assert data["aggregate"]["mean"] == pytest.approx((2 * 0.7 + 1.0) / 3)
    (consistency,) = data["judge_consistency"]
    assert consistency["repeats"] == 3 and consistency["answers"] == 6
    assert consistency["mad"] == pytest.approx(0.0, abs=1e-12) and consistency["consistent"] is True
    judged = [r for r in fake_openai.requests() if r["body"]["model"] == "judge"]
    assert len(judged) == 18


class SeedJudge:
    """A judge model whose score depends on the sampling seed only: it disagrees with itself.
    (An in-process stand-in: the consistency maths needs replies that vary by seed.)"""

    name = "seed-judge"

    async def complete(self, request: Request) -> Completion:
        value = (request.seed or 0) * 7 % 11 if request.temperature > 0 else 5
        return Completion(text=f"Score: {min(value, 10)}/10 - ok")


async def test_a_judge_that_disagrees_with_itself_is_flagged() -> None:
    task = Task(name="t", messages=(Message("user", "Pitch {{ thing }}."),),
                examples=tuple(Example(inputs={"thing": f"i{i}"}) for i in range(8)))
    steady = Judge(SeedJudge(), TemplateLibrary(), task, repeats=1)
    shaky = Judge(SeedJudge(), TemplateLibrary(), task, repeats=3)
    for i, ex in enumerate(task.examples):
        await steady.score(f"answer {i}", ex)
        shaky.seed = i * 3  # each answer's repeats draw different seeds
        await shaky.score(f"answer {i}", ex)
    assert steady.consistency().consistent
    report = shaky.consistency()
    assert not report.consistent
    assert report.repeats == 3 and report.answers == 8 and report.mad > 0.15
    assert "INCONSISTENT" in report.describe()


def test_eval_unknown_split_and_bad_prompt_file_are_one_line_errors(
    fake_openai: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = sentiment_task(tmp_path)
    assert main(["eval", str(task), "--split", "test", *flags(fake_openai, tmp_path)]) == 2
    assert "no split named 'test'" in capsys.readouterr().err
    (tmp_path / "p.txt").write_text("Say {{ nope }}")
    assert main(["compare", str(task), "task", str(tmp_path / "p.txt"), *flags(fake_openai, tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "p.txt" in err and "'nope'" in err and len(err.strip().splitlines()) == 1
    assert main(["compare", str(task), "task", "missing.txt", *flags(fake_openai, tmp_path)]) == 2
    assert "prompt file not found: missing.txt" in capsys.readouterr().err
    assert fake_openai.requests() == []


# -- a model server that is down or stalls: one line, like tune -----------------------------------


def fast_failing_config(tmp_path: Path) -> Path:
    """One attempt per request and a short read timeout, so a dead server fails in a second."""
    path = tmp_path / "fast.yaml"
    path.write_text("retry: {attempts: 1, initial_s: 0, jitter_s: 0}\n"
                    "timeouts: {connect: 1, read: 0.5, total: 1}\n")
    return path


def down_server_argv(command: str, tmp_path: Path, base_url: str) -> list[str]:
    task = str(sentiment_task(tmp_path))
    prompts = ["task", "task"] if command == "compare" else []
    return [command, task, *prompts, "--target", f"openai:fake@{base_url}", "--limit", "3",
            "--store", str(tmp_path / "s.db"), "--config", str(fast_failing_config(tmp_path)),
            "--no-cache"]


@pytest.mark.parametrize("command", ["eval", "compare"])
def test_eval_and_compare_against_a_closed_port_fail_in_one_line(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    url = f"http://127.0.0.1:{closed_port()}/v1"
    assert main(down_server_argv(command, tmp_path, url)) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("prompt-tuner: error: ")
    assert "ExceptionGroup" not in err and "internal error" not in err
    assert "127.0.0.1" in err  # it says which endpoint is down


@pytest.mark.parametrize("command", ["eval", "compare"])
def test_eval_and_compare_against_a_stalling_server_time_out_in_one_line(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with RawServer(lambda request: STALL) as server:
        assert main(down_server_argv(command, tmp_path, server.base_url)) == 2
        assert server.requests  # it was asked, and said nothing
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("prompt-tuner: error: ")
    assert "ExceptionGroup" not in err and "internal error" not in err


def test_first_user_error_digs_through_nested_groups() -> None:
    from core.errors import ModelUnavailable, first_user_error

    wanted = ModelUnavailable("m at http://x is down")
    nested = ExceptionGroup("outer", [ExceptionGroup("a", [ValueError("bug")]),
                                      ExceptionGroup("b", [ExceptionGroup("c", [wanted])])])
    assert first_user_error(nested) is wanted  # a user error anywhere beats a bug listed first
    bug = ValueError("bug")
    assert first_user_error(ExceptionGroup("g", [ExceptionGroup("h", [bug])])) is bug
