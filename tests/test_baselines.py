"""Chance and majority-label baselines of label tasks, computed from stored evaluations without a
model call, and the proposals a faithfulness check rejected, as the reports and ``show`` tell them.
The run is real (``refine`` against the fake OpenAI server); rejected proposals are written into
its store the way the engine stores them (status ``rejected``, note ``rejected: <reason>``)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from core import Example, Message, Store, Task, load_run
from core.baselines import compute_baselines, constant_scores, train_examples
from core.cli.show import print_show
from core.report import render_html, render_markdown_view, run_document
from core.task import MetricSpec
from tests.fakes.films import label, review
from tests.fakes.tuned_run import TunedRun, shared_run


def _task(metric: str, train: list[str], held: list[str], **extra: Any) -> Task:
    answers = train + held
    examples = tuple(Example(inputs={"text": f"t{i}"}, expected=a) for i, a in enumerate(answers))
    return Task(name="t", messages=(Message("user", "{{ text }}"),), examples=examples,
                metrics=(MetricSpec(type=metric, **extra),),
                splits={"train": tuple(range(len(train))),
                        "test": tuple(range(len(train), len(answers)))})


def _rows(held: list[str], scores: list[float]) -> list[dict[str, Any]]:
    return [{"example_index": i, "inputs_json": json.dumps({"text": f"h{i}"}), "expected": e,
             "score": s} for i, (e, s) in enumerate(zip(held, scores, strict=True))]


TRAIN = ["positive", "positive", "positive", "negative"]
HELD = ["positive"] * 12 + ["negative"] * 8      # always "positive": 60%


def test_a_winner_no_better_than_the_majority_label_is_called_that() -> None:
    task = _task("label", TRAIN, HELD)
    # the winner gets 13 of 20 right: the 12 positives wrong on two, one negative right more
    won = [1.0] * 10 + [0.0] * 2 + [1.0] * 3 + [0.0] * 5
    b = compute_baselines(task, {}, "test", _rows(HELD, won), "w1", _rows(HELD, won))
    assert b is not None
    assert (b.majority_label, b.majority.mean, b.chance) == ("positive", 0.6, 0.5)
    assert b.majority_train_share == 0.75 and b.answers == ("negative", "positive")
    assert b.beats_majority is False
    assert b.verdict().startswith("`w1` (65%) is not significantly better than always answering "
                                  "`positive` (60%) (p=")
    assert b.verdict().endswith(" on 20 held-out examples); chance is 50%.")
    assert b.to_json()["beats_majority"] is False and b.to_json()["comparison"]["n"] == 20


def test_a_winner_well_above_the_majority_label_is_significant() -> None:
    task = _task("label", TRAIN, HELD)
    won = [1.0] * 20
    b = compute_baselines(task, {}, "test", _rows(HELD, won), "w1", _rows(HELD, won))
    assert b is not None and b.beats_majority is True
    assert b.verdict().startswith("`w1` (100%) is significantly better than always answering "
                                  "`positive` (60%): +40.0 pts, p=")


def test_the_majority_comes_from_train_and_is_scored_by_the_task_metric() -> None:
    # dev/test are mostly "no", train mostly "yes": the baseline answers "yes", as a person
    # holding only the train split would
    task = _task("exact", ["yes", "yes", "no"], ["no", "no", "yes"])
    b = compute_baselines(task, {}, "test", _rows(["no", "no", "yes"], [0, 0, 0]), None, [])
    assert b is not None and b.majority_label == "yes" and b.comparison is None
    assert abs(b.majority.mean - 1 / 3) < 1e-9
    assert b.verdict() == ("Baseline: always answering `yes` (33%) on held-out examples; "
                           "chance is 50%.")
    # the metric's own semantics: exact match folds case and punctuation, "yes" is "Yes."
    assert constant_scores(_task("exact", ["yes"], []), "yes",
                           [Example(inputs={}, expected="Yes."), Example(inputs={}, expected="no")]
                           ) == [1.0, 0.0]


def test_open_answers_and_model_metrics_have_no_baseline() -> None:
    many = _task("exact", [f"answer {i}" for i in range(13)], ["x"])
    assert compute_baselines(many, {}, "test", _rows(["x"], [1.0]), None, []) is None
    judged = _task("judge", TRAIN, HELD)
    assert compute_baselines(judged, {}, "test", _rows(HELD, [1.0] * 20), None, []) is None
    no_train = _task("exact", [], ["yes", "no"])
    assert compute_baselines(no_train, {}, "test", _rows(["yes", "no"], [1, 0]), None, []) is None


def test_a_task_without_splits_uses_the_engine_s_seeded_train_split() -> None:
    examples = tuple(Example(inputs={"text": f"t{i}"}, expected="a" if i % 3 else "b")
                     for i in range(40))
    task = Task(name="t", messages=(Message("user", "{{ text }}"),), examples=examples,
                metric="label")
    train = train_examples(task, {"tune": {"seed": 3, "auto_split_min": 30}})
    texts = [e.inputs["text"] for e in train]
    assert len(train) == 16 and len(set(texts)) == 16
    assert sum(e.expected == "b" for e in train) == 6   # stratified: 14 of 40 are "b"
    assert train != train_examples(task, {"tune": {"seed": 4, "auto_split_min": 30}})
    assert train_examples(task, {"tune": {"auto_split_min": 41}}) == ()


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TunedRun]:
    with shared_run(tmp_path_factory) as run:
        yield run


@pytest.fixture
def with_rejected(tuned: TunedRun, tmp_path: Path) -> Iterator[tuple[Store, str]]:
    """A copy of the run's store with three rejected proposals (two reasons)."""
    path = tmp_path / "store.db"
    shutil.copy(tuned.store, path)
    store = Store(path)
    reasons = ["off task: about rewriting emails", "off task: about rewriting emails",
               "the meta-prompt's own worked example"]
    for i, reason in enumerate(reasons):
        cid = f"rej{i}"
        store.add_candidate(tuned.run_id, "films", candidate_id=cid,
                            messages=[{"role": "user", "content": f"Rewrite {i}: {{{{ text }}}}"}],
                            parents=[], strategy="refine", operator="refine", generation=1,
                            note=f"rejected: {reason}", round=1)
        store.set_candidate_status(tuned.run_id, cid, "rejected")
    yield store, tuned.run_id
    store.close()


def test_reports_and_show_count_rejected_proposals_by_reason(
    with_rejected: tuple[Store, str]
) -> None:
    store, run_id = with_rejected
    view = load_run(store, run_id)
    assert view.rejected() == [("off task: about rewriting emails", 2),
                               ("the meta-prompt's own worked example", 1)]
    md = render_markdown_view(view)
    assert "## Rejected proposals\n\n3 proposals were rejected before any target call:\n" \
           "- off task: about rewriting emails (2)\n- the meta-prompt's own worked example (1)\n" in md
    assert "| — (rejected before scoring) | — |" in md
    html = render_html(view, store)
    assert "3 proposals rejected before any target call:" in html
    assert "off task: about rewriting emails (2); the meta-prompt&#39;s own worked example (1)" in html
    assert "· 3 rejected" in html
    doc = run_document(view, store)
    assert doc["rejected"]["count"] == 3
    console = Console(width=100, record=True, color_system=None)
    print_show(console, view)
    shown = console.export_text()
    assert "rejected before scoring: 3 proposals — off task: about rewriting emails (2); the" in shown


def test_reports_and_show_state_the_baselines_and_zero_rejections(tuned: TunedRun) -> None:
    store = Store(tuned.store)
    try:
        view = load_run(store, tuned.run_id)
        assert view.rejected() == []
        b = view.baselines
        assert b is not None and b.split == "test" and b.majority_label == "negative"
        assert b.winner_id == tuned.result.best.id and b.beats_majority is True
        md = render_markdown_view(view)
        assert "Baselines (held-out): chance 50% (2 answers) · always answering `negative`" in md
        assert "Rejected proposals" not in md
        html = render_html(view, store)
        assert "Baselines on held-out examples:</b> chance 50% (2 answers)" in html
        assert "rejected before any target call" not in html
        console = Console(width=100, record=True, color_system=None)
        print_show(console, view)
        shown = console.export_text()
        assert "baselines (held-out): chance 50% (2 answers) · always `negative` 50%" in shown
        assert "is significantly better than always answering `negative` (50%)" in shown
        saved = json.loads(Path(tuned.result.json_path).read_text(encoding="utf-8"))
        assert saved["baselines"]["majority_label"] == "negative"
        assert saved["rejected"] == {"count": 0, "reasons": []}
    finally:
        store.close()


def test_the_verdict_says_plainly_when_the_winner_does_not_beat_the_majority(
    tuned: TunedRun
) -> None:
    store = Store(tuned.store)
    try:
        view = load_run(store, tuned.run_id)
        won = [1.0] * 10 + [0.0] * 2 + [1.0] * 3 + [0.0] * 5
        view.baselines = compute_baselines(_task("label", TRAIN, HELD), {}, "test",
                                           _rows(HELD, won), "w1", _rows(HELD, won))
        html = render_html(view, store)
        assert ('<section class="verdict warn">\n    <h2>The tuned prompt is not significantly '
                'better than always answering `positive` (60%)</h2>') in html
        md = render_markdown_view(view)
        assert "**`w1` (65%) is not significantly better than always answering `positive` (60%)" in md
    finally:
        store.close()


def test_the_quality_bench_shows_the_majority_label_and_the_reference_prompt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    from tests.fakes.harness import FakeServer
    from tests.fakes.tuned_run import rules, task_file

    spec = importlib.util.spec_from_file_location(
        "quality", Path(__file__).resolve().parents[1] / "bench" / "quality.py")
    assert spec is not None and spec.loader is not None
    quality = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(quality)
    (tmp_path / "bench" / "films").mkdir(parents=True)
    task_file(tmp_path / "bench" / "films")
    reference = ("Review: {{ text }}\nAnswer with exactly one of these words and nothing else: "
                 "positive, negative.")
    with FakeServer("openai") as server:
        # the reference prompt answers every review right but one in four (left unanswered)
        extra = [[reference.replace("{{ text }}", review(i)), label(i) if i % 4 else "hmm"]
                 for i in range(60)]
        server.configure(rules=extra + rules(), reply="fixed:no idea")
        model = f"openai:fake@{server.base_url}"
        code = quality.main(["--target", model, "--optimizer", model, "--bench",
                             str(tmp_path / "bench"), "--work", str(tmp_path / "work"),
                             "--strategies", "refine", "--rounds", "3", "--max-calls", "400",
                             "--json"])
        out = capsys.readouterr().out
    assert code == 0
    row = json.loads(out)[0]
    assert row["majority_label"] == "negative" and row["majority"]["n"] == 18
    assert row["vs_majority"]["p"] < 0.05 and row["vs_majority"]["significant"]
    assert row["reference_prompt"] == reference
    assert 0.6 < row["reference"]["mean"] < 0.9 and row["reference_calls"] == 18
    assert set(row["vs_reference"]) == {"diff", "diff_low", "diff_high", "p", "significant"}
    text = quality.table([row])
    assert "majority" in text.splitlines()[0] and "tuned-reference" in text.splitlines()[0]
    assert f"reference for films: {reference.replace(chr(10), ' / ')}" in text
