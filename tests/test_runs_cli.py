"""Run history in the terminal: ``runs``, ``show``, ``export`` and ``versions`` on a store of real
runs (two tasks, four runs: improved, original kept, out of budget, interrupted) made once with
the loopback fake model server, plus the charts they are drawn with."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from core import Store, Task, TuneResult, load_settings, load_task, tune
from core.cli import main
from core.cli.runs import run as runs_run
from core.cli.runs import runs_table, write_rows
from core.cli.termcharts import emit, score_bar, sparkline
from core.history import EXPORT_FIELDS, RunSummary, list_runs, load_run, resolve_run_id
from core.metrics.stats import Estimate
from core.review import RoundReview
from tests.fakes.films import film_task, label, review
from tests.fakes.harness import FakeServer

pytestmark = pytest.mark.usefixtures("cli_console")

DECIDE = "Decide if this film review is positive or negative"
CAREFUL = "Carefully decide if this film review is positive or negative"
LABEL = "Label this film review for me"
ANSWER = "Answer positive or negative for the review"
SORT = "Sort the review into positive or negative"


def configure(server: FakeServer, n: int, proposals: list[tuple[str, str]],
              right: Callable[[str, int], bool]) -> None:
    """The optimizer answers a meta-prompt that contains ``key`` with ``prompt: {{ text }}`` (the
    first matching key wins); the target answers a rendered prompt right when ``right(prompt, i)``,
    and the original ("Review: …") right on the odd (positive) reviews only."""
    rules = [[key, f"<<<\n{prompt}: {{{{ text }}}}\n>>>"] for key, prompt in proposals]
    for _, prompt in proposals:
        for i in range(n):
            rules.append([f"{prompt}: {review(i)}", label(i) if right(prompt, i) else "no idea"])
    rules += [[f"Review: {review(i)}", "positive" if i % 2 else "no idea"] for i in range(n)]
    server.configure(rules=rules, reply="fixed:no idea")


@dataclass
class History:
    store: Path
    films_file: Path
    improved: TuneResult     # films: two rounds, each a new best; significant on held-out
    kept: TuneResult         # films: the variation is worse; the original is kept
    budget: TuneResult       # reviews: stopped by --max-calls; no held-out split (20 examples)
    interrupted: str         # reviews: cancelled after round 1's candidates were scored

    @property
    def ids(self) -> list[str]:
        """Newest first."""
        return [self.interrupted, self.budget.run_id, self.kept.run_id, self.improved.run_id]


def _stop(review: RoundReview) -> Any:
    raise asyncio.CancelledError  # as a Ctrl-C between rounds would


def build_history(root: Path) -> History:
    server = FakeServer("openai").start()
    try:
        spec = f"openai:fake@{server.base_url}"

        def run(task: Task, **flags: Any) -> TuneResult:
            reviewer = flags.pop("reviewer", None)
            settings = load_settings(flags={
                "models.target": spec, "models.optimizer": spec, "cache.enabled": False,
                "store_path": str(root / "store.db"), "run_dir": str(root / "runs"),
                "tune.strategy": "refine", "tune.rounds": 2, "tune.variations": 2,
                # each run is a kind of its own: none begins from, or skips by, another's history,
                # and the world's one-word refinement ("Carefully …") is measured, not deduplicated
                "tune.seed": 7, "tune.warm_start": False, "tune.predictor": False,
                "tune.duplicate_threshold": 1.01,
                **flags}).settings
            return asyncio.run(tune(task, settings, reviewer=reviewer))

        (root / "films").mkdir()
        (root / "reviews").mkdir()
        films_file = film_task(root / "films", "films")
        films, reviews = load_task(films_file), load_task(film_task(root / "reviews", "reviews",
                                                                    n=20))
        configure(server, 40, [(f"Old prompt: {DECIDE}", CAREFUL), ("New prompt:", DECIDE)],
                  lambda p, i: p == CAREFUL or i % 4 != 0)
        improved = run(films)
        configure(server, 40, [("New prompt:", LABEL)], lambda p, i: False)
        kept = run(films)
        configure(server, 20, [("New prompt:", ANSWER)], lambda p, i: True)
        budget = run(reviews, **{"budget.max_calls": 42})
        configure(server, 20, [("New prompt:", SORT)], lambda p, i: True)
        with pytest.raises(asyncio.CancelledError):
            run(reviews, reviewer=_stop)
    finally:
        server.stop()
    store = Store(root / "store.db")
    try:
        interrupted = resolve_run_id(store, "last")
        store.add_review("films", improved.best.id, reviewer="ana", verdict="approve")
    finally:
        store.close()
    return History(root / "store.db", films_file, improved, kept, budget, interrupted)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    """Built once for the module, with no config, cache or key of the developer's in reach."""
    root = tmp_path_factory.mktemp("history")
    with pytest.MonkeyPatch.context() as mp:
        import os

        for key in list(os.environ):
            if key.startswith("PROMPT_TUNER_") or key.endswith("_API_KEY"):
                mp.delenv(key)
        home = root / "home"
        mp.setenv("HOME", str(home))
        for var, sub in (("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache"),
                         ("XDG_CONFIG_HOME", "config")):
            mp.setenv(var, str(home / sub))
        yield build_history(root)


def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, store: Path,
        *argv: str, columns: int = 100) -> tuple[int, str, str]:
    """``prompt-tuner ARGV --store STORE`` as a user runs it, stdout a pipe ``columns`` wide."""
    monkeypatch.setenv("COLUMNS", str(columns))
    code = main([*argv, "--store", str(store)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def line_of(out: str, needle: str) -> str:
    found = [line for line in out.splitlines() if needle in line]
    assert len(found) == 1, (needle, out)
    return found[0]


# -- the store is what the tests think it is --------------------------------------------------------


def test_the_history_has_the_four_kinds_of_run(history: History) -> None:
    assert history.improved.improved and history.improved.heldout
    assert history.improved.comparison is not None and history.improved.comparison.significant
    assert not history.kept.improved and history.kept.best.id == history.kept.original.id
    assert history.budget.status == "budget_exhausted" and not history.budget.heldout
    store = Store(history.store)
    try:
        assert store.get_run(history.interrupted)["status"] == "interrupted"
        assert len(store.rounds(history.improved.run_id)) == 3
    finally:
        store.close()


# -- runs -------------------------------------------------------------------------------------------


def test_runs_lists_every_run_newest_first_with_its_outcome(
    history: History, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = cli(capsys, monkeypatch, history.store, "runs")
    assert code == 0 and err == ""
    rows = [line.split()[0] for line in out.splitlines() if line[:8].isdigit()]
    assert rows == history.ids
    improved = line_of(out, history.improved.run_id)
    assert "films" in improved and "openai:fake" in improved and "50% → 100%" in improved
    assert f"yes p={history.improved.p_value:.2g}" in improved
    assert f"{history.improved.calls}" in improved.split()[-1]
    assert "50% → 50%" in line_of(out, history.kept.run_id)
    assert "no gain" in line_of(out, history.kept.run_id)
    assert "100%*" in line_of(out, history.budget.run_id)  # not held out: marked
    interrupted = line_of(out, history.interrupted)
    assert "interrupted" in interrupted and "50% → 100%*" in interrupted  # dev so far
    assert "* dev scores" in out and "prompt-tuner show RUN_ID" in out


@pytest.mark.parametrize("columns", [80, 100, 140])
def test_runs_is_plain_in_a_pipe_and_fits_the_width(
    history: History, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    columns: int
) -> None:
    code, out, _ = cli(capsys, monkeypatch, history.store, "runs", columns=columns)
    assert code == 0 and "\x1b" not in out
    assert all(len(line) <= columns and line == line.rstrip() for line in out.splitlines())
    for run_id in history.ids:  # nothing squeezed out: every id and the calls column whole
        assert run_id in out
    assert "calls" in out.splitlines()[0] and "significant" in out.splitlines()[0]


def test_runs_filters_by_task_and_limits(
    history: History, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, out, _ = cli(capsys, monkeypatch, history.store, "runs", "--task", "films")
    assert history.improved.run_id in out and history.kept.run_id in out
    assert history.budget.run_id not in out and history.interrupted not in out
    _, out, _ = cli(capsys, monkeypatch, history.store, "runs", "--limit", "1")
    assert history.interrupted in out and history.budget.run_id not in out
    _, out, _ = cli(capsys, monkeypatch, history.store, "runs", "--task", "nothing-here")
    assert out.startswith("no runs of task 'nothing-here'")


def test_runs_json_is_one_list_of_summaries(
    history: History, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = cli(capsys, monkeypatch, history.store, "runs", "--json")
    data = json.loads(out)
    assert code == 0 and [d["id"] for d in data] == history.ids
    improved = data[3]
    assert improved["significant"] is True and improved["heldout"] is True
    assert improved["p_value"] == history.improved.p_value
    assert improved["baseline"]["mean"] == history.improved.original.estimate.mean
    assert improved["best"]["n"] == history.improved.best.estimate.n == 12
    assert improved["calls"] == history.improved.calls
    interrupted = data[0]
    assert interrupted["status"] == "interrupted" and interrupted["significant"] is None
    assert interrupted["baseline"]["mean"] == 0.5 and interrupted["best"]["mean"] == 1.0
    assert interrupted["calls"] > 20  # the baseline and the round's candidates were paid for


@pytest.mark.parametrize("width", [80, 100, 120])
def test_a_paid_run_with_long_names_keeps_every_number_in_the_width(width: int) -> None:
    est = Estimate(0.5, 0.3, 0.7, 20)
    paid = RunSummary("20260101-120000-abcdef", "2026-01-01 12:00", "support-ticket-routing-v2",
                      "openai:gpt-4o-mini@https://api.openai.com/v1", "finished", est,
                      Estimate(0.75, 0.6, 0.9, 20), True, True, 0.004, True, 1040, 0.0712, 12)
    out = Console(file=io.StringIO(), width=width)
    with out.capture() as got:
        emit(out, runs_table([paid], width))
    lines = got.get().splitlines()
    assert all(len(line) <= width for line in lines)
    row = lines[2]
    for cell in ("20260101-120000-abcdef", "50% → 75%", "yes p=0.004", "1,040", "$0.07"):
        assert cell in row
    assert ("2026-01-01" in row) == (width >= 110)  # the date goes before any number does
    assert "supp" in row


# -- show -------------------------------------------------------------------------------------------


def test_show_a_finished_run_has_every_section(
    history: History, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    res = history.improved
    code, out, err = cli(capsys, monkeypatch, history.store, "show", res.run_id)
    assert code == 0 and err == ""
    assert out.startswith(f"run {res.run_id} · films · finished\n")
    assert line_of(out, "started ").startswith("started    20")
    assert "strategy refine" in out and "metric label" in out
    assert "held-out: examples the search never saw" in out
    assert "50% [25%, 75%] n=12" in line_of(out, f"original  {res.original.id}")
    best_line = line_of(out, f"best      {res.best.id}")
    assert res.best.estimate.fmt().replace(" (n=12)", " n=12") in best_line
    assert "★ returned" in best_line
    assert f"p={res.p_value:.3g}" in out and "significant at 0.05: the best prompt is returned" in out
    # the rounds: 0 the original, 1 the variation (new best), 2 its rewrite (new best)
    chart = out[out.index("Best score by round"):out.index("Leaderboard")]
    assert [line.split()[0] for line in chart.splitlines()[3:6]] == ["0", "1", "2"]
    assert chart.count("▲") == 3  # two new bests and the legend
    assert res.best.id in chart.splitlines()[5]
    board = out[out.index("Leaderboard"):out.index("Winning prompt")]
    ranks = [line.split() for line in board.splitlines() if line[:1].isdigit()]
    assert ranks[0][1] == res.best.id and len(ranks) == 3
    assert ranks[-1][1] == res.original.id and ranks[-1][2] == "original"
    assert f"Winning prompt  {res.best.id} · refine of " in out
    assert f"{CAREFUL}: {{{{ text }}}}" in out
    assert f"{res.calls} calls · {res.cache_hits} cache hits" in out


def test_show_a_run_that_kept_the_original(
    history: History, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    res = history.kept
    _, out, _ = cli(capsys, monkeypatch, history.store, "show", res.run_id)
    assert "★ returned" in line_of(out, f"original  {res.original.id}")
    assert "the original is kept" in out
    assert f"Returned prompt  {res.original.id} · the original: nothing beat it" in out
    assert "Review: {{ text }}" in out


def test_show_an_unfinished_run_gives_its_best_so_far_and_how_to_go_on(
    history: History, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = cli(capsys, monkeypatch, history.store, "show", history.interrupted)
    assert code == 0
    assert "interrupted by the user" in out
    assert "none: the run is interrupted; best so far on the dev examples" in out
    assert "100% [84%, 100%] n=20" in line_of(out, "best so far  ")
    assert f"continue it with `prompt-tuner tune --resume {history.interrupted}`" in out
    assert "Best prompt so far" in out and f"{SORT}: {{{{ text }}}}" in out
    assert "★ returned" not in out


def test_show_a_budget_run_says_it_was_judged_on_the_search_examples(
    history: History, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, out, _ = cli(capsys, monkeypatch, history.store, "show", history.budget.run_id)
    assert "budget_exhausted" in out.splitlines()[0]
    assert "on the search's own examples (too few to hold any out)" in out
    assert "warning: stopped early" in out


@pytest.mark.parametrize("columns", [80, 100])
def test_show_fits_the_width_in_plain_text(
    history: History, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    columns: int
) -> None:
    for run_id in history.ids:
        _, out, _ = cli(capsys, monkeypatch, history.store, "show", run_id, columns=columns)
        assert "\x1b" not in out and "…" not in out.split("Leaderboard")[1].split("\n\n")[0]
        assert all(len(line) <= columns and line == line.rstrip() for line in out.splitlines())


def test_show_takes_a_prefix_or_last(
    history: History, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, out, _ = cli(capsys, monkeypatch, history.store, "show", "last")
    assert out.startswith(f"run {history.interrupted} ")
    unique = history.kept.run_id  # ids share their time prefix: the whole id always works
    _, out, _ = cli(capsys, monkeypatch, history.store, "show", unique[:-1])
    assert out.startswith(f"run {unique} ")


def test_show_in_a_terminal_is_coloured(history: History) -> None:
    buf = io.StringIO()
    out = Console(file=buf, width=100, force_terminal=True, color_system="standard")
    args = _args("show", history.improved.run_id, "--store", str(history.store))
    assert runs_run(args, out, _settings(args)) == 0
    assert "\x1b[" in buf.getvalue() and "█" in buf.getvalue()


def _args(*argv: str) -> Any:
    from core.cli import build_parser

    return build_parser().parse_args(list(argv))


def _settings(args: Any) -> Any:
    from core.cli.app import _load

    return _load(args).settings


# -- export -----------------------------------------------------------------------------------------


def test_export_csv_is_every_scored_answer(
    history: History, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = history.improved.run_id
    code, out, _ = cli(capsys, monkeypatch, history.store, "export", run_id)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and tuple(rows[0].keys()) == EXPORT_FIELDS
    store = Store(history.store)
    try:
        stored = store.evaluations(run_id)
    finally:
        store.close()
    assert len(rows) == len(stored) > 0
    assert {r["split"] for r in rows} == {"dev", "test"}  # the held-out answers too
    by_key = {(r["candidate_id"], r["split"], int(r["example_index"])): r for r in rows}
    for e in stored:
        row = by_key[(e["candidate_id"], e["split"], e["example_index"])]
        assert float(row["score"]) == e["score"] and row["answer"] == e["answer"]
        assert json.loads(row["inputs"]) == json.loads(e["inputs_json"])
    best_test = [r for r in rows if r["candidate_id"] == history.improved.best.id
                 and r["split"] == "test"]
    assert sum(float(r["score"]) for r in best_test) / len(best_test) == \
        history.improved.best.estimate.mean


def test_export_jsonl_to_a_file_takes_the_format_from_its_suffix(
    history: History, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path
) -> None:
    target = tmp_path / "answers.jsonl"
    code, out, _ = cli(capsys, monkeypatch, history.store, "export", history.interrupted,
                       "--output", str(target))
    lines = target.read_text(encoding="utf-8").splitlines()
    assert code == 0
    assert out.strip() == f"wrote {len(lines)} evaluations of run {history.interrupted} to " \
        f"{target} (jsonl)"
    records = [json.loads(line) for line in lines]
    assert all(tuple(r) == EXPORT_FIELDS for r in records)
    assert {r["run_id"] for r in records} == {history.interrupted}
    assert all(r["model"].startswith("openai:fake@") and r["prompt_tokens"] > 0 for r in records)
    # --format wins over the suffix
    cli(capsys, monkeypatch, history.store, "export", history.interrupted, "--output",
        str(target), "--format", "csv")
    assert target.read_text(encoding="utf-8").startswith(",".join(EXPORT_FIELDS))


def test_export_into_a_closed_pipe_stops_quietly(history: History) -> None:
    class Closed(io.StringIO):
        def write(self, s: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    out = Console(file=Closed(), width=100)
    args = _args("export", history.improved.run_id, "--store", str(history.store))
    assert runs_run(args, out, _settings(args)) == 0


def test_write_rows_quotes_what_csv_needs() -> None:
    buf = io.StringIO()
    row = dict.fromkeys(EXPORT_FIELDS, "") | {"answer": 'a "quoted",\nanswer', "score": 0.5}
    assert write_rows([row], "csv", buf) == 1
    back = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert back[0]["answer"] == 'a "quoted",\nanswer' and back[0]["score"] == "0.5"


# -- versions ---------------------------------------------------------------------------------------


def test_versions_number_every_prompt_of_a_task_with_its_parent(
    history: History, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = cli(capsys, monkeypatch, history.store, "versions", "films")
    assert code == 0 and out.startswith("task films · 4 versions in ")
    table = [line.split() for line in out.splitlines() if line[:1].isdigit()]
    assert [r[0] for r in table] == ["1", "2", "3", "4"]
    v1, v2, v3, v4 = table
    # under 120 columns a score reads "mean (n=N)", two words; then the runs
    assert v1[3:5] == ["—", "original"] and v1[7] == "2"  # tried in both films runs
    assert v2[3:5] == ["v1", "vary"] and v3[3:5] == ["v2", "refine"] and v4[3:5] == ["v1", "vary"]
    assert v3[5:7] == ["100%", "(n=12)"] and "✓1" in v3  # the winner, approved once
    assert "Carefully decide" in " ".join(v3)
    assert f"v3 ({history.improved.best.id}) returned by {history.improved.run_id}" in out
    assert f"v1 ({history.kept.original.id}) returned by {history.kept.run_id}" in out


def test_versions_of_a_task_file_use_its_name(
    history: History, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, by_name, _ = cli(capsys, monkeypatch, history.store, "versions", "films", "--json")
    _, by_file, _ = cli(capsys, monkeypatch, history.store, "versions",
                        str(history.films_file), "--json")
    assert by_name == by_file
    data = json.loads(by_name)
    winner = next(v for v in data if v["id"] == history.improved.best.id)
    assert winner["returned_by"] == [history.improved.run_id] and winner["approvals"] == 1
    assert winner["parent_version"] == 2 and winner["latest_verdict"] == "approve"
    assert winner["text"] == f"{CAREFUL}: {{{{ text }}}}"


# -- mistakes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "needle"), [
    (["show", "nope"], "no run nope in"),
    (["show", "2026"], "is ambiguous"),
    (["export", "nope"], "no run nope in"),
    (["export", "last", "--format", "xml"], "invalid choice: 'xml'"),
    (["export", "last", "--output", "/no/such/dir/x.csv"], "cannot write /no/such/dir/x.csv"),
    (["versions", "nope"], "no versions of task 'nope'"),
    (["versions", "missing.yaml"], "no task file missing.yaml"),
    (["runs", "--limit", "0"], "0 must be at least 1"),
    (["show", "last", "--top", "x"], "'x' is not a whole number"),
])
def test_mistakes_are_one_line_and_exit_2(
    history: History, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    argv: list[str], needle: str
) -> None:
    if argv == ["show", "2026"]:
        argv = ["show", history.improved.run_id[:4]]
    code, out, err = cli(capsys, monkeypatch, history.store, *argv)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("prompt-tuner: error: ")
    assert needle in err and "Traceback" not in err


@pytest.mark.parametrize("command", [["runs"], ["show", "last"], ["export", "last"],
                                     ["versions", "films"]])
def test_a_missing_store_is_an_error_and_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    command: list[str]
) -> None:
    code, _, err = cli(capsys, monkeypatch, tmp_path / "none.db", *command)
    assert code == 2 and "no store at" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "none.db").exists()


# -- history details --------------------------------------------------------------------------------


def _tiny_store(path: Path, ids: list[str]) -> Store:
    store = Store(path)
    for i, run_id in enumerate(ids):
        store.create_run(run_id, task_name="t", task={}, settings={}, target="x", optimizer="x",
                         judge="x", metric="label")
        store.db.table("runs").update(run_id, {"created_at": 1000.0 + i})
    return store


def test_a_run_id_prefix_is_literal_not_a_pattern(tmp_path: Path) -> None:
    store = _tiny_store(tmp_path / "s.db", ["ab_c-1", "abxc-2"])
    try:
        assert resolve_run_id(store, "ab_") == "ab_c-1"  # `_` is not "any character"
        assert resolve_run_id(store, "abx") == "abxc-2"
        with pytest.raises(Exception, match="no run a%"):
            resolve_run_id(store, "a%")
    finally:
        store.close()


def test_people_s_versions_are_not_runs_however_many(tmp_path: Path) -> None:
    store = _tiny_store(tmp_path / "s.db", ["run-1"])
    try:
        for i in range(8):  # newer than the run
            store.save_version(f"task-{i}", messages=[{"role": "user", "content": "x {{ a }}"}],
                               candidate_id=f"c{i}", parents=[], author="ana")
        assert resolve_run_id(store, "last") == "run-1"
        assert [s.id for s in list_runs(store, limit=3)] == ["run-1"]
    finally:
        store.close()


def test_an_unfinished_run_counts_only_fully_scored_candidates(history: History) -> None:
    store = Store(history.store)
    try:
        view = load_run(store, history.interrupted)
    finally:
        store.close()
    from core.history import best_so_far

    best = best_so_far(view)
    assert best is not None and best.dev is not None and best.dev.n == 20
    assert not view.heldout and view.result is None


# -- charts -----------------------------------------------------------------------------------------


def test_score_bar_shades_the_interval_around_the_score() -> None:
    assert score_bar(Estimate(0.6, 0.45, 0.8, 40), 20).plain == "█████████▓▓▓░░░░····"
    assert score_bar(Estimate(1.0, 1.0, 1.0, 5), 10).plain == "█" * 10
    assert score_bar(Estimate(0.0, 0.0, 0.3, 5), 10).plain == "░░░·······"
    assert score_bar(None, 8).plain == "········"
    assert score_bar(Estimate(0.5, 0.2, 0.9, 0), 8).plain == "········"  # n=0: no score
    # a score outside its rounded interval still draws a bar that is exactly `width` long
    assert len(score_bar(Estimate(0.55, 0.56, 0.54, 3), 7).plain) == 7


def test_sparkline_is_one_block_a_value_on_a_fixed_scale() -> None:
    assert sparkline([0.0, 0.5, 1.0, None, 1.5]).plain == "▁▅█ █"
