"""``tune --interactive``: a person steps in between rounds — drops candidates, edits one, adds
their own, stops — and the run's store records exactly what they did. Driven three ways: the
engine with a scripted reviewer, the terminal reviewer with scripted input, and the real CLI in a
pseudo-terminal."""

from __future__ import annotations

import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest
from rich.console import Console

from core import load_settings, load_task, resume, tune
from core.cli.interactive import TerminalReviewer
from core.metrics.stats import Estimate
from core.review import ReviewEntry, RoundDecision, RoundReview
from tests.fakes.films import N, film_task, label, review
from tests.fakes.fixtures import StartFakeServer
from tests.fakes.harness import FakeServer

ROOT = Path(__file__).resolve().parents[1]
CLI = "import sys; from core.cli import main; sys.exit(main())"
MINE = "Say positive or negative: {{ text }}"
WHOLE = "[system]\nLabel film reviews as positive or negative.\n[user]\nThe review:"
DECIDE = "Decide if the review is positive or negative: "
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def world(server: FakeServer) -> None:
    """The optimizer proposes DECIDE, right on every review; MINE is right too; the original is
    right on the "great" reviews only, and so is "Opinion:"."""
    rules = [["New prompt:", f"<<<\n{DECIDE}{{{{ text }}}}\n>>>"], ["Opinion: ", "positive"]]
    for i in range(N):
        rules.append([f"{DECIDE}{review(i)}", label(i)])
        rules.append([f"Say positive or negative: {review(i)}", label(i)])
        rules.append([f"Review: {review(i)}", "positive" if i % 2 else "no idea"])
    server.configure(rules=rules, reply="fixed:negative")


def rows(db: Path, sql: str, *args: Any) -> list[dict[str, Any]]:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(sql, args)]
    finally:
        con.close()


# -- the engine, with a scripted reviewer ------------------------------------------------------------


async def test_a_resumed_run_carries_out_the_reviews_on_record_instead_of_asking_again(
    fake_server: StartFakeServer, tmp_path: Path
) -> None:
    server = fake_server("openai")
    spec = f"openai:fake@{server.base_url}"
    task = load_task(film_task(tmp_path))
    edited = "Say positive or negative, in one word: {{ text }}"

    def settings(name: str) -> Any:
        return load_settings(flags={
            "models.target": spec, "models.optimizer": spec,
            "store_path": str(tmp_path / f"{name}.db"), "run_dir": str(tmp_path / name),
            "cache.enabled": False, "tune.strategy": "refine", "tune.rounds": 3,
            "tune.variations": 2, "tune.seed": 7, "tune.patience": 3}).settings

    def script(leave_in_round: int | None) -> Any:
        """Round 1: add a prompt, then edit that prompt (two steps), then accept; later rounds:
        accept — or leave (an error) in ``leave_in_round``."""
        def reviewer(rv: RoundReview) -> RoundDecision:
            if rv.round == leave_in_round:
                raise RuntimeError("the reviewer left")
            mine = [e for e in rv.entries if e.text == MINE]
            if rv.round == 1 and not mine:
                return RoundDecision(add=[MINE])
            if rv.round == 1 and not any(e.text == edited for e in rv.entries):
                return RoundDecision(edits=[(mine[0].id, edited)])
            return RoundDecision()
        return reviewer

    world(server)
    reference = await tune(task, settings("ref"), reviewer=script(None))
    want = sorted(json.dumps(r["body"], sort_keys=True) for r in server.requests())
    server.reset()
    world(server)

    with pytest.raises(RuntimeError, match="the reviewer left"):
        await tune(task, settings("run"), reviewer=script(2), run_id="r1")
    assert rows(tmp_path / "run.db", "select status from runs") == [{"status": "failed"}]
    resumed = await resume("r1", settings("run"))  # nobody to ask: round 1's review is on record

    sent = sorted(json.dumps(r["body"], sort_keys=True) for r in server.requests())
    assert sent == want  # the same requests as the uninterrupted run, none of them twice
    assert (resumed.best.id, resumed.improved) == (reference.best.id, reference.improved)
    assert {c.id for c in resumed.candidates} == {c.id for c in reference.candidates}
    human = rows(tmp_path / "run.db", "select messages_json, operator from candidates "
                 "where strategy = 'human' order by operator")
    assert [(json.loads(r["messages_json"])[0]["content"], r["operator"]) for r in human] == [
        (edited, "edit"), (MINE, "user")]
    stored = [json.loads(r["decision_json"] or "null") for r in
              rows(tmp_path / "run.db", "select decision_json from rounds order by round")]
    assert [len(d["steps"]) if d else 0 for d in stored] == [0, 3, 0, 0]


async def test_the_engine_carries_out_drops_edits_additions_and_a_stop_and_stores_them(
    fake_server: StartFakeServer, tmp_path: Path
) -> None:
    server = fake_server("openai")
    world(server)
    spec = f"openai:fake@{server.base_url}"
    store = tmp_path / "store.db"
    settings = load_settings(flags={
        "models.target": spec, "models.optimizer": spec, "store_path": str(store),
        "run_dir": str(tmp_path / "runs"), "cache.enabled": False, "tune.strategy": "refine",
        "tune.rounds": 3, "tune.variations": 2, "tune.seed": 7}).settings
    seen: list[RoundReview] = []

    def reviewer(rv: RoundReview) -> RoundDecision:
        seen.append(rv)
        if len(seen) > 1:
            return RoundDecision(stop=True)
        original = next(e for e in rv.entries if e.is_original)
        decide = next(e for e in rv.entries if e.text.startswith("Decide"))
        return RoundDecision(drop=[decide.id, original.id],
                             edits=[(original.id, "Opinion: {{ text }}")],
                             add=[MINE, "Label the film review.", "Use {{ title }}", WHOLE])

    result = await tune(load_task(film_task(tmp_path)), settings, reviewer=reviewer)

    first, again = seen
    assert (first.round, again.round, first.inputs) == (1, 1, ("text",))
    original = next(e for e in first.entries if e.is_original)
    decide = next(e for e in first.entries if e.text.startswith("Decide"))
    assert decide.is_new and decide.parent_id == original.id and decide.answers == 12
    # the second look shows the person's prompts scored on all 12 dev examples, not the dropped one
    assert decide.id not in {e.id for e in again.entries}
    theirs = {e.text: e for e in again.entries if e.strategy == "human"}
    assert set(theirs) == {"Opinion: {{ text }}", MINE,  # inputs left out are appended:
                           "Label the film review.\n\ntext: {{ text }}",
                           "[system]\nLabel film reviews as positive or negative.\n\n[user]\n"
                           "The review:\n\ntext: {{ text }}"}
    assert all(e.is_new and e.answers == 12 and e.status == "evaluated" for e in theirs.values())
    assert theirs[MINE].estimate.mean == 1.0 and theirs["Opinion: {{ text }}"].estimate.mean == 0.5
    assert (theirs["Opinion: {{ text }}"].operator, theirs[MINE].operator) == ("edit", "user")

    cands = {r["id"]: r for r in rows(store, "select * from candidates")}
    assert cands[decide.id]["status"] == "dropped" and cands[original.id]["status"] == "evaluated"
    human = {r["messages_json"]: r for r in cands.values() if r["strategy"] == "human"}
    assert len(human) == 4 and all(r["round"] == 1 for r in human.values())
    # an edit or a new main message descends from the original; a prompt written whole does not
    assert sorted(json.loads(r["parents_json"]) for r in human.values()) == [
        [], [original.id], [original.id], [original.id]]
    assert max(r["round"] for r in cands.values()) == 1  # stopped: no round 2
    (rnd0, rnd1) = rows(store, "select * from rounds order by round")
    assert (rnd0["round"], rnd1["round"], rnd0["decision_json"]) == (0, 1, None)
    stored = json.loads(rnd1["decision_json"])
    first_step = {
        "drop": [decide.id, original.id], "edits": [[original.id, "Opinion: {{ text }}"]],
        "add": [MINE, "Label the film review.", "Use {{ title }}", WHOLE], "stop": False}
    assert stored == {**first_step, "stop": True, "steps": [
        first_step, {"drop": [], "edits": [], "add": [], "stop": True}]}
    asks = [r for r in server.requests() if "New prompt:" in json.dumps(r["body"])]
    assert len(asks) == 2  # the two round-1 variations; nothing proposed after the stop
    assert any("original prompt cannot be dropped" in w for w in result.warnings)
    assert any("{{ title }} is not an input" in w for w in result.warnings)
    # the search's best is the person's prompt (the dropped one never competes), confirmed held out
    assert result.status == "finished" and result.heldout and result.improved
    assert result.best.candidate.text() == MINE
    assert next(c for c in result.candidates if c.id == decide.id).dropped


# -- the terminal reviewer, with scripted input ------------------------------------------------------


def entry(cid: str, text: str, mean: float, *, original: bool = False,
          status: str = "evaluated") -> ReviewEntry:
    return ReviewEntry(
        id=cid, text=text, main=text, estimate=Estimate(mean, mean / 2, min(1.0, mean * 1.5), 12),
        answers=12, operator="original" if original else "vary",
        strategy="original" if original else "refine", parent_id=None if original else "0a1b2c3d4e5f",
        parent_text=None if original else "Review: {{ text }}", round=0 if original else 1,
        status=status, is_original=original, is_new=not original)


REVIEW = RoundReview("run-1", 1, 3, (
    entry("7f3e9a1c2b4d", "Decide if this review is positive or negative.\nReview: {{ text }}", 0.9),
    entry("0a1b2c3d4e5f", "Review: {{ text }}", 0.5, original=True),
    entry("c4d5e6f7a8b9", "Is it positive? Review: {{ text }}", 0.25, status="pruned"),
), "7f3e9a1c2b4d", 38, 200, ("text",))


def ask(script: str, editor: list[str] | None = None) -> tuple[RoundDecision, str]:
    out = io.StringIO()
    reviewer = TerminalReviewer(Console(file=out, width=120), stdin=io.StringIO(script),
                                editor=editor)
    return reviewer(REVIEW), out.getvalue()


def test_the_review_ranks_candidates_with_their_ci_and_shows_what_the_new_ones_changed() -> None:
    _, shown = ask("a\n")
    lines = shown.splitlines()
    assert re.search(r"1\s+7f3e9a1c2b4d\s+refine vary ← #2\s+90% \[45%, 100%\]\s+12\s+evaluated\s+NEW",
                     shown)
    assert re.search(r"2\s+0a1b2c3d4e5f\s+original\s+50% \[25%, 75%\]\s+12\s+evaluated\s*$",
                     shown, re.MULTILINE)
    assert re.search(r"3\s+c4d5e6f7a8b9 .* pruned\s+NEW", shown)
    assert "Round 1 of 3 · scores on the dev examples · 38 of 200 calls spent" in shown
    assert "{+Decide if this review is positive or negative." in shown  # plain: diff markers
    assert "    {+Is it positive? +}Review: {{ text }}" in lines  # indented under its title


def test_actions_pile_up_until_accept_and_a_mistake_only_costs_a_message() -> None:
    decision, shown = ask("d 1\nd 2\nd zz\nfrobnicate\nd 3\nu\nd c4d5\nn\nWhich is it?\n.\na\n")
    assert decision == RoundDecision(drop=["7f3e9a1c2b4d", "c4d5e6f7a8b9"], edits=[],
                                     add=["Which is it?"], stop=False)
    assert "#2 is the original: it stays" in shown
    assert "'zz' matches no candidate" in shown and "unknown command 'frobnicate'" in shown
    assert "undone: drop of #3" in shown
    assert "it leaves out {{ text }}: a line with each is appended" in shown
    assert "round 1 · 2 pending > " in shown and "round 1 · 3 pending > " in shown
    assert "dropping 2; scoring your 1 prompt; then you see the table again" in shown


def test_end_of_input_stops_and_finalizes_with_what_is_pending() -> None:
    decision, shown = ask("d 1\n")
    assert decision == RoundDecision(drop=["7f3e9a1c2b4d"], stop=True)
    assert "end of input: stopping after this round" in shown


def test_a_prompt_with_an_input_no_example_has_is_refused_before_it_reaches_the_run() -> None:
    decision, shown = ask("n\nUse {{ title }}\n.\na\n")
    assert decision == RoundDecision()
    assert "{{ title }} is not an input of this task (the inputs are: {{ text }})" in shown


def test_edit_opens_the_editor_on_the_main_message_and_keeps_what_it_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "editor.py"
    script.write_text("import pathlib, sys\np = pathlib.Path(sys.argv[1])\n"
                      "p.write_text(p.read_text().replace('Review:', 'Film review:'))\n")
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    decision, shown = ask("e 2\nn -e\ns\n")
    assert decision == RoundDecision(edits=[("0a1b2c3d4e5f", "Film review: {{ text }}")],
                                     add=["Film review: {{ text }}"], stop=True)
    assert "your edit of #2 is pending" in shown


def test_an_editor_that_changes_nothing_or_fails_adds_nothing() -> None:
    decision, shown = ask("e 1\ne 2\na\n", editor=["true"])
    assert decision == RoundDecision() and shown.count("unchanged: nothing to do") == 2
    decision, shown = ask("e 1\na\n", editor=["false"])
    assert decision == RoundDecision() and "the editor exited with status 1" in shown
    decision, shown = ask("e 1\na\n", editor=["no-such-editor-here"])
    assert decision == RoundDecision() and "could not start the editor no-such-editor-here" in shown
    invents = [sys.executable, "-c", "import sys; open(sys.argv[1], 'w').write('Use {{ title }}')"]
    decision, shown = ask("e 1\ny\nn\na\n", editor=invents)  # try again, then give up
    assert decision == RoundDecision() and shown.count("edit it again? [Y/n]") == 2


# -- the real CLI in a pseudo-terminal --------------------------------------------------------------


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PROMPT_TUNER_") and k not in ("VISUAL", "EDITOR")}
    env.update({"PROMPT_TUNER_CACHE__ENABLED": "false", "PYTHONPATH": str(ROOT),
                "TERM": "xterm-256color", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"})
    env.pop("NO_COLOR", None)
    return env


def spawn_tune(server: FakeServer, tmp_path: Path) -> pexpect.spawn:
    spec = f"openai:fake@{server.base_url}"
    args = ["-c", CLI, "tune", str(film_task(tmp_path)), "--target", spec, "--optimizer", spec,
            "--strategy", "refine", "--rounds", "3", "--variations", "2", "--seed", "7",
            "--store", str(tmp_path / "store.db"), "--run-dir", str(tmp_path / "runs"),
            "--interactive"]
    return pexpect.spawn(sys.executable, args, cwd=str(tmp_path), env=cli_env(),
                         encoding="utf-8", dimensions=(50, 160), timeout=60)


def test_a_person_drops_a_candidate_adds_a_prompt_and_stops_in_a_terminal(
    fake_server: StartFakeServer, tmp_path: Path
) -> None:
    server = fake_server("openai")
    world(server)
    child = spawn_tune(server, tmp_path)
    try:
        child.expect_exact("round 1 > ")
        screen = ANSI.sub("", child.before)
        # the table row of the optimizer's candidate: its id, who made it, its score
        decide = re.search(r"([0-9a-f]{12})\s+refine vary ← #\d\s+100%", screen)
        assert decide is not None, screen
        assert "NEW" in screen and "{+Decide" not in screen and DECIDE in screen  # a coloured diff
        child.sendline(f"d {decide.group(1)}")
        child.expect_exact("round 1 · 1 pending > ")
        child.sendline("n")
        child.expect_exact('only "."')
        child.sendline(MINE)
        child.sendline(".")
        child.expect_exact("your prompt is pending")
        child.expect_exact("round 1 · 2 pending > ")
        child.sendline("s")
        child.expect_exact("dropping 1; scoring your 1 prompt; then finalizing")
        child.expect(pexpect.EOF)
        final = ANSI.sub("", child.before)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, final
    assert "Best prompt" in final and MINE in final

    store = tmp_path / "store.db"
    ((run_id, status),) = [(r["id"], r["status"]) for r in rows(store, "select * from runs")]
    assert status == "finished"
    cands = rows(store, "select * from candidates where run_id = ?", run_id)
    assert {r["id"]: r["status"] for r in cands}[decide.group(1)] == "dropped"
    (human,) = [r for r in cands if r["strategy"] == "human"]
    assert json.loads(human["messages_json"]) == [{"role": "user", "content": MINE}]
    assert (human["operator"], human["status"], human["n"], human["round"]) == ("user", "evaluated",
                                                                                12, 1)
    dev = rows(store, "select * from evaluations where candidate_id = ? and split = 'dev'",
               human["id"])
    assert len(dev) == 12
    assert max(r["round"] for r in cands) == 1  # nothing was proposed after the stop
    assert [r["round"] for r in rows(store, "select * from rounds order by round")] == [0, 1]
    (decision,) = [json.loads(r["decision_json"]) for r in rows(store, "select * from rounds")
                   if r["decision_json"]]
    assert decision == {"drop": [decide.group(1)], "edits": [], "add": [MINE], "stop": True}


def test_ctrl_c_at_the_review_interrupts_the_run_so_it_can_be_resumed(
    fake_server: StartFakeServer, tmp_path: Path
) -> None:
    server = fake_server("openai")
    world(server)
    child = spawn_tune(server, tmp_path)
    try:
        child.expect_exact("round 1 > ")
        child.sendintr()
        child.expect(pexpect.EOF, timeout=20)  # one Ctrl-C ends it (before the fix: a hang)
        said = ANSI.sub("", child.before)
    finally:
        child.close(force=True)
    assert child.exitstatus == 130, said
    assert "tune --resume" in " ".join(said.split())
    (run,) = rows(tmp_path / "store.db", "select * from runs")
    assert run["status"] == "interrupted"


def test_interactive_without_a_terminal_is_a_one_line_error(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", CLI, "tune", "Summarize: {{ text }}",
                           "--interactive"], cwd=tmp_path, env=cli_env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "prompt-tuner: error: --interactive reads your answers from a terminal; stdin is not one "
        "(run it in a terminal, or drop --interactive)"]
