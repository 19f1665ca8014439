"""``prompt-tuner report``: a stored run as Markdown, HTML, JSON or CSV, and the reports a run
writes when it ends. The run is real: three rounds of ``refine`` against the fake OpenAI server."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import Store, load_run
from core.cli import main
from core.report import CSV_FIELDS, render_run
from tests.fakes.harness import FakeServer
from tests.fakes.tuned_run import P0, P4, TunedRun, shared_run, tune_films

CHARTS = ("rounds", "leaderboard", "pareto", "metrics", "lineage", "cost")


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TunedRun]:
    """One real run shared by the module's tests (they only read it)."""
    with shared_run(tmp_path_factory) as run:
        yield run


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    got = capsys.readouterr()
    return code, got.out, got.err


def chart(html: str, name: str) -> str:
    found = re.search(rf'<svg[^>]*data-chart="{name}".*?</svg>', html, re.S)
    assert found, f"no {name} chart"
    return found.group(0)


def test_a_finished_run_writes_a_self_contained_html_report_next_to_the_markdown(
    tuned: TunedRun
) -> None:
    folder = tuned.runs / tuned.run_id
    assert tuned.result.report_path == str(folder / "report.md")
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert tuned.run_id in html and "report.md" not in html
    for name in CHARTS:
        assert 'class="pt' in chart(html, name), name
    # nothing to fetch: no scripts, stylesheets, fonts or images from anywhere
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\(|@font-face", html, re.I)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.I)
    # the report is drawn from the stored run, with the result the engine was finishing
    assert "The tuned prompt is better, and the gain is significant" in html
    assert tuned.result.best.id in html


def test_report_prints_markdown_json_and_csv_of_a_stored_run(
    tuned: TunedRun, capsys: pytest.CaptureFixture[str], cli_console: None
) -> None:
    store = str(tuned.store)
    code, md, _ = cli(capsys, "report", tuned.run_id[:10], "--store", store)
    assert code == 0
    assert md.startswith(f"# prompt-tuner run {tuned.run_id}\n")
    assert "(held out)\n- Status: finished" in md and "## Candidates" in md
    assert f"| **returned** | `{tuned.result.best.id}` |" in md

    code, out, _ = cli(capsys, "report", "last", "--format", "json", "--store", store)
    assert code == 0
    doc = json.loads(out)
    assert doc["run"]["id"] == tuned.run_id and doc["run"]["status"] == "finished"
    assert doc["result"]["best_id"] == tuned.result.best.id
    assert {c["id"] for c in doc["candidates"]} == {c.id for c in tuned.result.candidates}
    assert [r["round"] for r in doc["rounds"]] == [0, 1, 2, 3]
    assert doc["totals"]["calls"] == tuned.result.calls
    assert {m["name"] for m in doc["metrics"]} == {"label", "exact"}
    assert [c["inputs"] for c in doc["changes"]["broken"]] == [{"text": "film 31 was great"}]
    assert len(doc["changes"]["fixed"]) == 11

    code, out, _ = cli(capsys, "report", tuned.run_id, "-f", "csv", "--store", store)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert tuple(rows[0].keys()) == CSV_FIELDS
    assert len(rows) == len(tuned.result.candidates) == 5
    best, = (r for r in rows if r["returned"] == "1")
    assert best["id"] == tuned.result.best.id and best["rank"] == "1"
    assert best["text"] == P4 and best["test_n"] == "18" and best["dev_score"] == "1.0000"
    original, = (r for r in rows if r["original"] == "1")
    assert original["text"] == P0 and original["round"] == "0"
    assert {r["status"] for r in rows} == {"evaluated", "pruned"}


def test_report_writes_html_to_the_run_folder_or_to_output(
    tuned: TunedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str], cli_console: None,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = tmp_path / "runs"
    monkeypatch.setenv("PROMPT_TUNER_RUN_DIR", str(runs))
    code, out, err = cli(capsys, "report", "last", "--format", "html", "--store", str(tuned.store))
    assert (code, err) == (0, "")
    written = runs / tuned.run_id / "report.html"
    assert str(written) in out and written.read_text(encoding="utf-8").startswith("<!doctype html>")

    target = tmp_path / "out" / "r.md"
    code, out, _ = cli(capsys, "report", "last", "-o", str(target), "--store", str(tuned.store))
    assert code == 0 and str(target) in out
    assert target.read_text(encoding="utf-8").startswith("# prompt-tuner run")


@pytest.mark.parametrize(("args", "message"), [
    (["report", "nosuchrun"], "prompt-tuner: error: no run nosuchrun in "),
    (["report", "last", "--format", "pdf"], "prompt-tuner: error: argument --format/-f: "
                                            "invalid choice: 'pdf'"),
    (["report", "last", "-o", "/proc/no/such/dir/r.md"], "prompt-tuner: error: cannot write "),
])
def test_report_mistakes_are_one_line_errors(
    tuned: TunedRun, capsys: pytest.CaptureFixture[str], cli_console: None, args: list[str],
    message: str
) -> None:
    code, out, err = cli(capsys, *args, "--store", str(tuned.store))
    assert code == 2 and out == ""
    assert err.startswith(message) and err.count("\n") == 1, err


def test_report_without_a_store_says_where_it_looked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cli_console: None
) -> None:
    code, _, err = cli(capsys, "report", "last", "--store", str(tmp_path / "none.db"))
    assert code == 2 and err.startswith("prompt-tuner: error: no store at ")


def test_a_run_without_held_out_examples_reports_on_dev(tmp_path: Path) -> None:
    with FakeServer("openai") as server:
        tuned = tune_films(server, tmp_path, n=20, heldout=False)
    assert not tuned.result.heldout
    store = Store(tuned.store)
    try:
        view = load_run(store, tuned.run_id)
        html = render_run(view, store, "html")
        md = render_run(view, store, "md")
    finally:
        store.close()
    assert "Each metric on the dev examples" in html and "held-out check" not in html
    assert chart(html, "rounds").count('class="pt round"') == len(view.rounds)
    assert "| | prompt | score (95% CI) |" in md and "measured on the same examples" in md


def test_an_unfinished_single_candidate_run_says_there_is_nothing_to_plot(
    tmp_path: Path
) -> None:
    store = Store(tmp_path / "store.db")
    evil = "Judge </pre><script>alert('x')</script> & {{ text }}"
    store.create_run("r-unfinished", task_name="t", task={"description": "a <b>task</b>"},
                     settings={}, target="openai:m", optimizer="openai:m", judge="openai:m",
                     metric="exact")
    store.add_candidate("r-unfinished", "t", candidate_id="c0", parents=[], strategy="original",
                        operator="original", generation=0, round=0,
                        messages=[{"role": "user", "content": evil}])
    store.set_candidate_score("r-unfinished", "c0", score=0.5, low=0.2, high=0.8, n=4,
                              status="evaluated")
    try:
        view = load_run(store, "r-unf")
        out = {fmt: render_run(view, store, fmt) for fmt in ("md", "html", "json", "csv")}
    finally:
        store.close()
    html = out["html"]
    for name in ("rounds", "pareto", "metrics", "cost"):
        assert "Nothing to plot" in chart(html, name), name
    assert chart(html, "lineage").count('class="pt') == chart(html, "leaderboard").count(
        'class="pt') == 1
    assert "<script" not in html and "&lt;script&gt;alert(&#39;x&#39;)" in html
    assert "a &lt;b&gt;task&lt;/b&gt;" in html
    assert "This run has not finished (running)" in html
    assert json.loads(out["json"])["result"] is None
    assert "has not finished" in out["md"] and evil in out["md"]
    assert list(csv.reader(io.StringIO(out["csv"])))[1][1] == "c0"
