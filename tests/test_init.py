"""`prompt-tuner init`: a task file from a prompt and a data file, in the documented form, that
loads, validates against the schema and tunes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import load_task, load_yaml, task_schema
from core.cli import main
from core.scaffold import _flow, scalar

pytestmark = pytest.mark.usefixtures("cli_console")

REVIEWS = [
    ("A joy from start to finish.", "positive"), ("Two hours I will never get back.", "negative"),
    ("The best film this year.", "positive"), ("Wooden acting and no plot.", "negative"),
    ("Gorgeous and moving.", "positive"), ("I walked out halfway.", "negative"),
    ("A delight for the whole family.", "positive"), ("Dull, long and loud.", "negative"),
]


def write_csv(path: Path, header: str = "id,review,label") -> Path:
    rows = [header] + [f'{i},"{text}",{label}' for i, (text, label) in enumerate(REVIEWS)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def init(*args: str) -> int:
    return main(["init", *args])


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert err.startswith("prompt-tuner: error: ")
    return err


def test_init_from_csv_writes_the_documented_form_with_a_label_metric(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_csv(tmp_path / "reviews.csv")
    (tmp_path / "tasks").mkdir()
    assert init("Classify the review: {{ review }}", "--examples", "reviews.csv",
                "--output", "tasks/movies.tune.yaml", "--description", "Positive or negative?") == 0
    out = capsys.readouterr().out
    assert "prompt-tuner tune tasks/movies.tune.yaml" in out
    path = tmp_path / "tasks" / "movies.tune.yaml"
    data = load_yaml(path.read_text(encoding="utf-8"))
    jsonschema.validate(data, task_schema())
    assert data["dataset"] == {"file": "../reviews.csv", "inputs": {"review": "review"},
                               "expected": "label", "meta": ["id"]}
    assert data["metrics"] == [{"type": "label", "labels": ["negative", "positive"]}]
    assert not {"metric", "labels", "examples_file"} & data.keys()  # not the old shorthand
    task = load_task(path)
    assert len(task.examples) == len(REVIEWS)
    assert task.examples[0].inputs == {"review": REVIEWS[0][0]} and task.examples[0].expected == "positive"
    assert task.examples[0].meta == {"id": "0"}
    assert task.description == "Positive or negative?"
    assert "# splits: {train: 0.4, dev: 0.3, test: 0.3, seed: 0}" in path.read_text(encoding="utf-8")


@pytest.mark.parametrize(("answers", "metric"), [
    (["4", "12", "7", "1,024", "3.5", "-2"], {"type": "numeric"}),
    (['{"city": "Paris"}', '{"city": "Rome"}', '{"city": "Oslo"}'], {"type": "json"}),
    (["The capital of France.", "A large river in Egypt.", "Mount Everest, in Nepal."], {"type": "exact"}),
    (["yes", "no", "yes", "no", "no", "yes"], {"type": "label", "labels": ["no", "yes"]}),
])
def test_init_from_jsonl_picks_the_metric_the_answers_fit(
        tmp_path: Path, answers: list[str], metric: dict[str, object]) -> None:
    rows: list[dict[str, object]] = [{"question": f"Question {i}?", "answer": a}
                                     for i, a in enumerate(answers)]
    write_jsonl(tmp_path / "qa.jsonl", rows)
    assert init("Answer the question.\n\n{{ question }}", "--examples", "qa.jsonl") == 0
    path = tmp_path / "qa.tune.yaml"  # named after the data file
    data = load_yaml(path.read_text(encoding="utf-8"))
    jsonschema.validate(data, task_schema())
    assert data["metrics"] == [metric]
    assert data["dataset"]["expected"] == "answer"
    task = load_task(path)
    assert task.name == "qa" and [e.expected for e in task.examples] == answers


def test_a_prompt_without_a_slot_gets_the_input_column_appended(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_csv(tmp_path / "data.csv", header="id,Review Text,label")
    assert init("Is this review positive or negative?", "--examples", "data.csv", "-o", "t.yaml") == 0
    assert "{{ review_text }} was appended" in capsys.readouterr().out
    task = load_task(tmp_path / "t.yaml")
    assert task.messages[0].content == "Is this review positive or negative?\n\n{{ review_text }}"
    assert task.examples[1].inputs == {"review_text": REVIEWS[1][0]}


def test_expected_column_given_by_flag(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", [{"text": t, "gold": g, "label": "x"} for t, g in REVIEWS])
    assert init("Sentiment of: {{ text }}", "--examples", "d.jsonl", "--expected", "gold") == 0
    task = load_task(tmp_path / "d.tune.yaml")
    assert [e.expected for e in task.examples] == [g for _, g in REVIEWS]
    assert task.examples[0].meta == {"label": "x"}


def test_a_slot_without_a_column_is_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_csv(tmp_path / "reviews.csv")
    assert init("Classify: {{ text }}", "--examples", "reviews.csv") == 2
    err = one_error_line(capsys)
    assert "{{ text }}" in err and "id, review, label" in err
    assert not (tmp_path / "reviews.tune.yaml").exists()


def test_a_slot_naming_the_expected_column_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_csv(tmp_path / "reviews.csv")
    assert init("{{ review }} is {{ label }}", "--examples", "reviews.csv") == 2
    assert "expected answer" in one_error_line(capsys)


def test_an_unknown_expected_column_is_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_csv(tmp_path / "reviews.csv")
    assert init("{{ review }}", "--examples", "reviews.csv", "--expected", "gold") == 2
    assert "no column 'gold' for --expected" in one_error_line(capsys)


def test_init_refuses_to_overwrite_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_csv(tmp_path / "reviews.csv")
    target = tmp_path / "task.tune.yaml"
    target.write_text("mine\n", encoding="utf-8")
    assert init("{{ review }}", "--examples", "reviews.csv", "-o", "task.tune.yaml") == 2
    err = one_error_line(capsys)
    assert "already exists" in err and "--force" in err
    assert target.read_text(encoding="utf-8") == "mine\n"
    assert init("{{ review }}", "--examples", "reviews.csv", "-o", "task.tune.yaml", "--force") == 0
    assert len(load_task(target).examples) == len(REVIEWS)


def test_init_without_examples_writes_a_judged_task(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert init("Write a haiku about the sea.", "--description", "A haiku: three lines, 5-7-5.") == 0
    out = capsys.readouterr().out
    path = tmp_path / "write-a-haiku-about-the-sea.tune.yaml"
    assert f"prompt-tuner tune {path.name}" in out
    data = load_yaml(path.read_text(encoding="utf-8"))
    jsonschema.validate(data, task_schema())
    assert data["metrics"] == [{"type": "judge", "rubric": "A haiku: three lines, 5-7-5."}]
    task = load_task(path)
    assert task.examples == () and task.uses_judge()


def test_init_without_a_description_writes_the_default_rubric_that_reads_back(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the default rubric has a comma, which ends a plain scalar inside the flow mapping it is
    # written in: it used to read back as two keys, and init failed with an internal error
    assert init("Write a haiku about the sea.") == 0
    data = load_yaml((tmp_path / "write-a-haiku-about-the-sea.tune.yaml").read_text("utf-8"))
    jsonschema.validate(data, task_schema())
    [metric] = data["metrics"]
    assert metric["type"] == "judge" and ", " in metric["rubric"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30))
def test_a_written_scalar_reads_back_in_block_and_flow_places(value: str) -> None:
    assert load_yaml(f"k: {scalar(value)}") == {"k": value}
    assert load_yaml(f"k: {_flow({'a': value, value: [value, 'x']})}") == \
        {"k": {"a": value, value: [value, "x"]}}


@pytest.mark.parametrize("args", [["init", "Rate this: {{ x }}", "--examples", "rows.jsonl"],
                                  ["completion", "bash"], ["plugins"]])
def test_a_broken_settings_file_does_not_stop_commands_that_read_no_settings(
        tmp_path: Path, args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "prompt-tuner.yaml").write_text("tune: [oops\n", encoding="utf-8")
    write_jsonl(tmp_path / "rows.jsonl", [{"x": "a", "expected": "yes"}, {"x": "b", "expected": "no"}])
    assert main(args) == 0, capsys.readouterr().err
    assert main(["runs"]) == 2  # a command that reads settings still says what is wrong
    assert "prompt-tuner.yaml line 2" in capsys.readouterr().err


def test_init_without_examples_but_with_a_slot_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert init("Summarize: {{ article }}") == 2
    assert "--examples" in one_error_line(capsys)
    assert list(tmp_path.glob("*.yaml")) == []


@pytest.mark.parametrize("prompt", [
    "Line one: {{ review }}\n  indented line\n\nlast line with a # hash\n",
    "  leading spaces, a \"quote\" and a tab\there: {{ review }}",
    "ends with blank lines {{ review }}\n\n\n",
    "- looks like a list: {{ review }}",
])
def test_any_prompt_text_reads_back_exactly(tmp_path: Path, prompt: str) -> None:
    write_csv(tmp_path / "reviews.csv")
    assert init(prompt, "--examples", "reviews.csv", "--name", "odd: name #1") == 0
    task = load_task(tmp_path / "odd-name-1.tune.yaml")
    assert task.messages[0].content == prompt and task.name == "odd: name #1"


@pytest.mark.slow
def test_an_initialized_task_tunes_on_the_embedded_model(tmp_path: Path) -> None:
    write_csv(tmp_path / "reviews.csv")
    cli = "import sys; from core.cli import main; sys.exit(main())"
    made = subprocess.run([sys.executable, "-c", cli, "init", "Review: {{ review }}", "--examples",
                           "reviews.csv", "-o", "movies.tune.yaml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    tuned = subprocess.run([sys.executable, "-c", cli, "tune", "movies.tune.yaml", "--max-calls", "30",
                            "--profile", "quick", "--variations", "2", "--rounds", "1", "--no-warm-start",
                            "--json", "-q", "--store", "s.db", "--run-dir", "runs"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=280,
                           env={**os.environ, "PROMPT_TUNER_EMBEDDED__N_THREADS": "1"})
    assert tuned.returncode == 0, tuned.stderr
    result = json.loads(tuned.stdout)
    assert 0 < result["calls"] <= 30 and result["baseline_score"] is not None
