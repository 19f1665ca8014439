"""What `tune` shows while it runs: a live panel on a terminal, plain lines without control codes
when piped, -q / -v / -vv, and --log-file as JSON lines."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.text import Text

from core.cli import main
from core.cli.progress import ProgressDisplay, RunState, setup_logging
from core.events import (
    CandidateProposed,
    EvaluationDone,
    Event,
    ExampleScored,
    ModelCalled,
    PhaseStarted,
    Progress,
    RoundFinished,
    RunFinished,
    RunWarning,
)
from core.metrics.stats import Estimate
from tests.fakes.films import N, film_task, label, review
from tests.fakes.fixtures import StartFakeServer
from tests.fakes.harness import FakeServer

ROOT = Path(__file__).resolve().parents[1]
# A child started from a background job inherits SIGINT ignored, and Python keeps it so: give the
# CLI the handler a terminal would (Ctrl-C raises KeyboardInterrupt) whatever ran the tests.
INTERRUPTIBLE = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                 "from core.cli import main; sys.exit(main())")
BETTER = "Decide whether this film review is positive or negative:"
ESC = "\x1b"


# -- tune in a subprocess, output piped ---------------------------------------------------------


def world(server: FakeServer, latency: float = 0.0) -> None:
    """The optimizer proposes BETTER, right on every review; the original is right on half."""
    rules = [["New prompt:", f"<<<\n{BETTER} {{{{ text }}}}\n>>>"]]
    for i in range(N):
        rules.append([f"{BETTER} {review(i)}", label(i)])
        rules.append([f"Review: {review(i)}", "positive" if i % 2 else "no idea"])
    server.configure(rules=rules, reply="fixed:no idea", latency=latency)


def start_tune(server: FakeServer, tmp: Path, *flags: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPT_TUNER_")
           and k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR")}
    env.update({"PROMPT_TUNER_CACHE__ENABLED": "false", "PYTHONPATH": str(ROOT),
                "TERM": "xterm-256color"})  # a capable terminal type: only the pipe says "plain"
    spec = f"openai:fake@{server.base_url}"
    return subprocess.Popen(
        [sys.executable, "-c", INTERRUPTIBLE, "tune",
         str(film_task(tmp)), "--target", spec, "--optimizer", spec, "--strategy", "refine",
         "--rounds", "2", "--variations", "2", "--seed", "7", "--concurrency", "2",
         "--max-calls", "500", "--store", str(tmp / "store.db"), "--run-dir", str(tmp / "runs"),
         *flags],
        cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_tune(server: FakeServer, tmp: Path, *flags: str) -> tuple[str, str]:
    proc = start_tune(server, tmp, *flags)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return out, err


def test_piped_tune_prints_plain_milestone_lines_without_control_codes(
    fake_server: StartFakeServer, tmp_path: Path
) -> None:
    server = fake_server("openai")
    world(server)
    out, err = run_tune(server, tmp_path)
    for stream in (out, err):
        assert ESC not in stream and "\r" not in stream
    lines = err.splitlines()
    assert lines[0].startswith("note: the task has no splits")
    assert "baseline: the original prompt (12 answers planned)" in lines
    assert any(line.startswith("round 1: refine: new candidates from ")
               and line.endswith(" (2 candidates planned)") for line in lines)
    assert any(line.startswith("round 1 · evaluate (") for line in lines)
    bests = [line for line in lines if re.fullmatch(r"round \d: best \w{12} \d+% \[.*\] \(n=12\)",
                                                     line)]
    assert len(bests) == 2 and "100% [76%, 100%]" in bests[-1]
    assert any(line.startswith("confirm: ") for line in lines)
    assert "finalize: report" in lines
    # each phase ends with a status line: work, spending against the budget, best
    status = [line for line in lines if line.startswith("  ")]
    assert status and all(" · calls " in line and " · cache hits " in line for line in status)
    assert "  baseline 12/12 answers (100%) · calls " in err
    assert re.search(r"calls \d+/500", status[-1]) and "best " in status[-1]
    # the result, on stdout only
    assert "Best prompt" in out and BETTER in out and "Best prompt" not in err


def test_quiet_tune_prints_only_the_result(fake_server: StartFakeServer, tmp_path: Path) -> None:
    server = fake_server("openai")
    world(server)
    out, err = run_tune(server, tmp_path, "-q")
    assert err == ""
    assert "Best prompt" in out and "Held-out" in out


def test_very_verbose_shows_one_line_per_model_call_and_no_echoes(
    fake_server: StartFakeServer, tmp_path: Path
) -> None:
    server = fake_server("openai")
    world(server)
    _, err = run_tune(server, tmp_path, "-vv")
    assert ESC not in err
    calls = [line for line in err.splitlines() if line.startswith("  call openai:fake ")]
    assert len(calls) == len(server.requests())
    assert any(f"'{BETTER} film " in line and "→ 'positive'" in line for line in calls)
    assert "  scored " in err and "  proposed " in err  # -v: each candidate and its score
    assert " tokens in " not in err  # the model stack's per-call debug line is not repeated
    assert err.count("the task has no splits") == 1  # nor the engine's echo of a note


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_log_file_gets_every_event_and_log_record_as_json_lines(
    fake_server: StartFakeServer, tmp_path: Path
) -> None:
    server = fake_server("openai")
    world(server)
    log = tmp_path / "run.jsonl"
    log.write_text('{"earlier": true}\n', encoding="utf-8")
    run_tune(server, tmp_path, "-v", "--log-file", str(log))
    rows = read_json_lines(log)
    assert rows[0] == {"earlier": True}  # appended, not overwritten
    events = [r for r in rows[1:] if "event" in r]
    kinds = {r["event"] for r in events}
    assert {"PhaseStarted", "Progress", "ModelCalled", "RoundFinished", "ExampleScored",
            "EvaluationDone", "RunFinished"} <= kinds
    assert all(r["ts"] and r["run_id"] for r in events)
    assert sum(r["event"] == "ModelCalled" for r in events) == len(server.requests())
    last = [r for r in events if r["event"] == "Progress"][-1]
    assert last["calls"] == len(server.requests()) and last["max_calls"] == 500
    rounds = [r for r in events if r["event"] == "RoundFinished"]
    assert [r["round"] for r in rounds] == [1, 2] and rounds[-1]["best"]["mean"] == 1.0
    assert events[-1]["event"] == "RunFinished"
    records = [r for r in rows[1:] if "logger" in r]
    assert records and all(set(r) == {"ts", "level", "logger", "message"} for r in records)
    assert {r["level"] for r in records} <= {"INFO", "WARNING", "ERROR"}  # -v: INFO and up
    assert any(r["logger"] == "core.engine" and "no splits" in r["message"] for r in records)


def test_log_file_is_whole_json_lines_after_ctrl_c(fake_server: StartFakeServer,
                                                   tmp_path: Path) -> None:
    server = fake_server("openai")
    world(server, latency=0.2)
    log = tmp_path / "run.jsonl"
    proc = start_tune(server, tmp_path, "--log-file", str(log))
    deadline = time.monotonic() + 30
    while len(server.requests()) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    rows = read_json_lines(log)
    assert sum(r.get("event") == "ModelCalled" for r in rows) >= 4
    assert not any(r.get("event") == "RunFinished" for r in rows)


@pytest.mark.usefixtures("cli_console")
@pytest.mark.parametrize("where", ["a folder", "a missing folder"])
def test_unwritable_log_file_is_a_one_line_error(tmp_path: Path, where: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path if where == "a folder" else tmp_path / "nowhere" / "run.jsonl"
    code = main(["tune", str(film_task(tmp_path)), "--log-file", str(target),
                 "--store", str(tmp_path / "store.db")])
    assert code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("prompt-tuner: error: --log-file ")
    assert ("directory" if where == "a folder" else "no such file") in lines[0]


# -- the display fed synthetic events ---------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def terminal(width: int = 120) -> Console:
    return Console(file=StringIO(), force_terminal=True, force_interactive=True, width=width,
                   color_system="truecolor")


def plain() -> Console:
    return Console(file=StringIO(), force_terminal=False, width=80)


def text_of(console: Console) -> str:
    file = console.file
    assert isinstance(file, StringIO)
    return file.getvalue()


def rendered(display: ProgressDisplay) -> str:
    console = Console(file=StringIO(), width=120, color_system=None)
    console.print(display.renderable())
    return text_of(console)


def spent(calls: int, elapsed: float, **kw: Any) -> Progress:
    return Progress("r", calls=calls, cache_hits=kw.get("hits", 3), retries=kw.get("retries", 2),
                    failures=0, prompt_tokens=1200, completion_tokens=300, cost=kw.get("cost", 0.0123),
                    elapsed_s=elapsed, max_calls=100, max_cost=1.0, max_tokens=50_000)


EST = Estimate(0.8, 0.62, 0.91, 20)


def feed(display: ProgressDisplay, clock: Clock, events: list[tuple[float, Event]]) -> None:
    for at, event in events:
        clock.now = 100.0 + at
        display(event)


def test_live_panel_shows_phase_bar_eta_spending_against_budget_and_best() -> None:
    clock, console = Clock(), terminal()
    display = ProgressDisplay(console, clock=clock)
    feed(display, clock, [
        (0, PhaseStarted("r", "baseline", 20, "the original prompt")),
        (1, Progress("r", 2, 0, 0, 0, 100, 20, 0.0, 1.0)),
        *[(1 + i, ExampleScored("r", "orig", i + 1, 20, 1.0)) for i in range(4)],
        (4, spent(24, 4.0)),
        (4, EvaluationDone("r", "abc123", EST)),
    ])
    assert display.is_live
    panel = rendered(display)
    for field in ("baseline", "the original prompt", "4/20 answers (20%)", "ETA 16s",
                  "calls 24/100 (7.3/s)", "tokens 1.5k/50.0k", "cost $0.0123/$1.00",
                  "cache hits 3", "retries 2", "4s elapsed", "best abc123 80% [62%, 91%] (n=20)"):
        assert field in panel, field
    assert "━" in panel  # the bar
    display.close()
    assert not display.is_live
    shown = text_of(console)
    assert "4/20 answers" in shown and ESC in shown  # it was drawn on the terminal, in place
    assert "baseline" in shown


def test_live_panel_labels_rounds_and_counts_proposals_then_answers() -> None:
    clock = Clock()
    display = ProgressDisplay(terminal(), clock=clock)
    feed(display, clock, [
        (0, PhaseStarted("r", "propose", 4, "refine: new candidates from abc123", round=2)),
        (1, CandidateProposed("r", "c1", "refine", ("abc123",))),
        (2, CandidateProposed("r", "c2", "refine", ("abc123",))),
        (2, ExampleScored("r", "c1", 1, 8)),  # not a proposal: not counted in this phase
    ])
    assert "round 2" in rendered(display) and "2/4 candidates (50%), ETA 2s" in rendered(display)
    feed(display, clock, [(3, PhaseStarted("r", "evaluate", 16)),
                          (4, ExampleScored("r", "c1", 1, 8))])
    assert "round 2 · evaluate" in rendered(display) and "1/16 answers" in rendered(display)
    feed(display, clock, [(5, RoundFinished("r", 2, "c1", EST))])
    assert "best c1 80% [62%, 91%] (n=20)" in rendered(display)
    display.close()


def test_stopped_panel_starts_again_at_the_next_event() -> None:
    clock, console = Clock(), terminal()
    display = ProgressDisplay(console, clock=clock)
    feed(display, clock, [(0, PhaseStarted("r", "baseline", 4))])
    assert display.is_live
    display.stop()  # e.g. the interactive reviewer asks something
    assert not display.is_live
    console.print("Accept these candidates? [y/n]", markup=False)
    feed(display, clock, [(1, PhaseStarted("r", "evaluate", 6, "after review"))])
    assert display.is_live
    display.stop()
    display.stop()  # twice is harmless
    shown = text_of(console)
    assert shown.index("Accept these candidates?") < shown.rindex("after review")
    display.close()


def test_run_finished_ends_the_panel() -> None:
    clock = Clock()
    display = ProgressDisplay(terminal(), clock=clock)
    feed(display, clock, [(0, PhaseStarted("r", "finalize", None, "report")),
                          (1, RunFinished("r", "finished", "abc123"))])
    assert not display.is_live
    display.close()


def test_plain_output_has_a_status_line_per_phase_and_at_most_every_5s() -> None:
    clock, console = Clock(), plain()
    display = ProgressDisplay(console, clock=clock)
    events: list[tuple[float, Event]] = [(0, PhaseStarted("r", "baseline", 40, "the original"))]
    for i in range(24):  # one answer every 0.5 s for 12 s
        events += [(0.5 * (i + 1), ExampleScored("r", "o", i + 1, 40)),
                   (0.5 * (i + 1), spent(i + 1, 0.5 * (i + 1)))]  # spending lags one answer
    events.append((12.5, PhaseStarted("r", "propose", 2, "refine", round=1)))
    feed(display, clock, events)
    lines = text_of(console).splitlines()
    assert lines[0] == "baseline: the original (40 answers planned)"
    status = [line for line in lines if line.startswith("  baseline ")]
    assert len(status) == 3  # at 5 s, at 10 s, and when the phase ended
    assert status[0].startswith("  baseline 10/40 answers (25%), ETA 15s · calls 9/100 (2.0/s)")
    assert status[-1].startswith("  baseline 24/40 answers (60%) · calls")  # no ETA: it ended
    assert lines[-1] == "round 1: refine (2 candidates planned)"
    assert not display.is_live and ESC not in text_of(console)
    display.close()


@pytest.mark.parametrize("verbosity", [0, 1, 2])
def test_verbosity_adds_candidates_then_model_calls(verbosity: int) -> None:
    clock, console = Clock(), plain()
    display = ProgressDisplay(console, verbosity=verbosity, clock=clock)
    feed(display, clock, [
        (0, PhaseStarted("r", "propose", 2, round=1)),
        (1, CandidateProposed("r", "c1", "refine", ("orig",))),
        (2, ModelCalled("r", "openai:tiny@http://127.0.0.1:1/v1", "k", 30, 2, 0.25, "stop",
                        "Review: it was [bold]great[/]", "positive")),
        (3, EvaluationDone("r", "c1", EST, partial=True)),
        (4, RoundFinished("r", 1, "c1", EST)),
    ])
    shown = text_of(console)
    assert "round 1: best c1 80% [62%, 91%] (n=20)" in shown
    assert ("  proposed c1 (refine from orig)" in shown) == (verbosity >= 1)
    assert ("  scored c1: 80% [62%, 91%] (n=20) (partial)" in shown) == (verbosity >= 1)
    call = "  call openai:tiny 30+2 tokens 0.25s stop: 'Review: it was [bold]great[/]' → 'positive'"
    assert (call in shown) == (verbosity >= 2)  # markup in answers is shown, not interpreted
    display.close()


def test_quiet_display_shows_warnings_only() -> None:
    clock, console = Clock(), terminal()
    display = ProgressDisplay(console, quiet=True, verbosity=2, clock=clock)
    feed(display, clock, [
        (0, PhaseStarted("r", "baseline", 4)),
        (1, ExampleScored("r", "o", 1, 4)),
        (2, RunWarning("r", "the task has no splits", level="info")),
        (3, RunWarning("r", "stopped early: the budget ran out")),
        (9, RoundFinished("r", 1, "o", EST)),
    ])
    assert not display.is_live
    shown = Text.from_ansi(text_of(console)).plain
    assert shown.strip() == "warning: stopped early: the budget ran out"
    display.close()


@pytest.mark.usefixtures("cli_console")
def test_logged_echoes_of_events_are_shown_once_and_filtering_ends_with_close() -> None:
    console = plain()
    setup_logging(2, console)
    display = ProgressDisplay(console, verbosity=2)
    engine, stack = logging.getLogger("core.engine"), logging.getLogger("core.models.stack")
    engine.warning("%s", "stopped early: out of calls")  # the engine logs each RunWarning…
    display(RunWarning("r", "stopped early: out of calls"))  # …and emits it
    stack.debug("%s: %d+%d tokens in %.3fs (%s)", "tiny", 3, 1, 0.1, "stop")  # = ModelCalled
    engine.info("pruned %s: %s", "c9", "worse than the incumbent")  # a log of its own
    display.close()
    engine.warning("%s", "after the run")
    lines = text_of(console).splitlines()
    assert lines == ["warning: stopped early: out of calls",
                     "info core.engine: pruned c9: worse than the incumbent",
                     "warning core.engine: after the run"]


@pytest.mark.usefixtures("cli_console")
def test_log_file_takes_events_and_records_at_the_chosen_level_until_closed(
    tmp_path: Path,
) -> None:
    setup_logging(1, plain())
    path = tmp_path / "log.jsonl"
    display = ProgressDisplay(plain(), verbosity=1, log_file=path)
    display(PhaseStarted("r", "baseline", 3))
    logging.getLogger("core.x").info("kept %d", 1)
    logging.getLogger("core.x").debug("below -v")
    display(RoundFinished("r", 1, "c1", EST))
    display.close()
    logging.getLogger("core.x").warning("after close")
    rows = read_json_lines(path)
    assert [r.get("event") or r["message"] for r in rows] == ["PhaseStarted", "kept 1",
                                                              "RoundFinished"]
    assert rows[1]["level"] == "INFO" and rows[1]["logger"] == "core.x"
    assert rows[2]["best"] == {"mean": 0.8, "low": 0.62, "high": 0.91, "n": 20}
    assert logging.getLogger().handlers and display.log is None


def test_calls_per_second_is_measured_over_the_recent_past() -> None:
    state = RunState()
    for t in range(0, 31):  # 1 call/s for 20 s, then 10 calls/s
        calls = t if t <= 20 else 20 + 10 * (t - 20)
        state.apply(spent(calls, float(t)), now=float(t))
    rate = state.calls_per_s()
    assert rate is not None and rate == pytest.approx(10.0)
    assert RunState().calls_per_s() is None


def test_every_front_names_every_phase_the_engine_emits_and_no_other() -> None:
    """Slack's words and the editor's progress bar cover exactly the engine's phases (they used
    to map ``propose``/``refine`` names the engine never sent, and miss ``confirm``)."""
    from core.events import PHASES
    from lsp_server.progress import PHASES as EDITOR
    from slack_bot.progress import PHASES as SLACK

    assert set(SLACK) - {"starting"} == set(PHASES)
    assert set(EDITOR) == set(PHASES)
