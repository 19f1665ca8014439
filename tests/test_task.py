"""Task files, quick tasks, the auto metric, and prompt templates."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import Example, Task, TaskError, load_task, quick_task
from core.models.base import Message
from core.templates import prompt_slots, render_prompt

SENTIMENT_YAML = """\
name: movie-sentiment
description: Classify a review.
prompt: |
  Review: {{ text }}
metric: label
labels: [positive, negative]
examples:
  - {text: "A joy from start to finish.", expected: positive}
  - {text: "Dull and far too long.", expected: negative}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def load_error(path: Path) -> str:
    with pytest.raises(TaskError) as info:
        load_task(path)
    return str(info.value)


# -- valid task files -----------------------------------------------------------------------------


def test_yaml_task_with_inline_examples(tmp_path: Path) -> None:
    task = load_task(write(tmp_path / "t.tune.yaml", SENTIMENT_YAML))
    assert task.name == "movie-sentiment"
    assert task.description == "Classify a review."
    assert task.messages == (Message("user", "Review: {{ text }}\n"),)
    assert task.examples == (
        Example(inputs={"text": "A joy from start to finish."}, expected="positive"),
        Example(inputs={"text": "Dull and far too long."}, expected="negative"),
    )
    assert task.metric == "label"
    assert task.labels == ("positive", "negative")
    assert task.slots() == frozenset({"text"})
    assert task.source == str(tmp_path / "t.tune.yaml")


def test_examples_file_is_read_relative_to_the_task_file(tmp_path: Path) -> None:
    # the cwd (tmp_path) has no data.jsonl; only the task's folder does
    folder = tmp_path / "tasks"
    write(folder / "data.jsonl", jsonl([
        {"text": "great", "expected": "positive"},
        {"text": "awful", "expected": "negative", "meta": {"id": 7}},
    ]))
    task = load_task(write(folder / "t.yaml",
                           "name: t\nprompt: 'Say: {{ text }}'\nexamples_file: data.jsonl\n"))
    assert [e.inputs for e in task.examples] == [{"text": "great"}, {"text": "awful"}]
    assert [e.expected for e in task.examples] == ["positive", "negative"]
    assert task.examples[1].meta == {"id": 7}
    assert "meta" not in task.examples[1].inputs


def test_inline_examples_come_before_examples_file_records(tmp_path: Path) -> None:
    write(tmp_path / "more.jsonl", jsonl([{"text": "from file", "expected": "b"}]))
    task = load_task(write(tmp_path / "t.yaml", (
        "name: t\nprompt: '{{ text }}'\nmetric: exact\n"
        "examples:\n  - {text: inline, expected: a}\nexamples_file: more.jsonl\n")))
    assert [e.inputs["text"] for e in task.examples] == ["inline", "from file"]


def test_json_task_file(tmp_path: Path) -> None:
    data = {"name": "j", "prompt": "Q: {{ q }}", "metric": "exact",
            "examples": [{"q": "1+1", "expected": 2}]}
    task = load_task(write(tmp_path / "t.json", json.dumps(data)))
    assert task.name == "j"
    assert task.examples[0].inputs == {"q": "1+1"}
    # a numeric expected answer is kept as text
    assert task.examples[0].expected == "2"


def test_prompt_as_a_list_of_role_messages(tmp_path: Path) -> None:
    task = load_task(write(tmp_path / "t.yaml", (
        "name: chat\nprompt:\n"
        "  - {role: system, content: 'You label reviews.'}\n"
        "  - {role: user, content: 'Review: {{ text }}'}\n"
        "examples:\n  - {text: fine, expected: positive}\n")))
    assert task.messages == (Message("system", "You label reviews."),
                             Message("user", "Review: {{ text }}"))
    assert task.slots() == frozenset({"text"})


def test_examples_with_explicit_inputs_mapping(tmp_path: Path) -> None:
    task = load_task(write(tmp_path / "t.yaml", (
        "name: t\nprompt: '{{ text }}'\n"
        "examples:\n  - {inputs: {text: hi, expected: not-the-answer}, expected: ok}\n")))
    ex = task.examples[0]
    assert ex.inputs == {"text": "hi", "expected": "not-the-answer"}
    assert ex.expected == "ok"


def test_task_models_are_read(tmp_path: Path) -> None:
    task = load_task(write(tmp_path / "t.yaml",
                           "name: t\nprompt: hi\nmodels: {target: 'ollama:small'}\n"))
    assert task.models.target == "ollama:small"
    assert task.models.optimizer is None


# -- task file errors -----------------------------------------------------------------------------


def test_missing_task_file(tmp_path: Path) -> None:
    text = load_error(tmp_path / "nope.yaml")
    assert "nope.yaml" in text
    assert "not found" in text


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.yaml",
                 "name: t\nprompt: hi\nexamples:\n  - {text: a, expected: b}\n   bad: [\n")
    text = load_error(path)
    assert "bad.yaml" in text
    assert "line 5" in text


def test_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    text = load_error(write(tmp_path / "bad.json", '{"name": "t",\n "prompt": }\n'))
    assert "bad.json" in text
    assert "line 2" in text


@pytest.mark.parametrize(("name", "text", "fragment"), [
    ("t.yaml", "name: t\nprompt: hi\npromtp: typo\n", "t.yaml line 3: unknown field 'promtp'"),
    ("t.yaml", "name: t\nprompt: hi\nmetrics:\n  - type: label\n    weight: -1\n",
     "t.yaml line 5: field 'metrics.0.weight'"),
    ("t.yaml", "name: t\nprompt: hi\nmetrics:\n  - {weight: 2}\n", "t.yaml line 4: missing required field"),
    ("t.json", '{"name": "t",\n "prompt": "hi",\n "metric": "fancy"}', "t.json line 3: field 'metric'"),
])
def test_schema_errors_name_the_line(tmp_path: Path, name: str, text: str, fragment: str) -> None:
    assert fragment in load_error(write(tmp_path / name, text))


# (case, other files, task file, its text, what the one-line error must name)
TASK_FILE_ERRORS: list[tuple[str, dict[str, str], str, str, list[str]]] = [
    ("unknown field", {}, "t.yaml", "name: t\nprompt: hi\npromtp: typo\n", ["t.yaml", "promtp"]),
    ("missing prompt", {}, "t.yaml", "name: t\n", ["t.yaml", "prompt", "missing"]),
    ("not a mapping", {}, "t.yaml", "- just\n- a list\n", ["t.yaml"]),
    ("empty prompt", {}, "t.yaml", "name: t\nprompt: '   '\n", ["t.yaml", "prompt"]),
    ("inline example lacks a slot field", {}, "t.yaml",
     "name: t\nprompt: '{{ text }} / {{ title }}'\nmetric: judge\n"
     "examples:\n  - {text: a, title: b}\n  - {text: c}\n", ["t.yaml", "examples[1]", "title"]),
    ("jsonl record lacks a slot field", {"d.jsonl": jsonl([{"text": "a"}, {"txt": "typo"}])},
     "t.yaml", "name: t\nprompt: '{{ text }}'\nexamples_file: d.jsonl\n",
     ["d.jsonl line 2", "text"]),
    ("slot but no examples", {}, "t.yaml", "name: t\nprompt: 'Hi {{ name }}'\n",
     ["t.yaml", "name"]),
    ("bad jsonl line", {"d.jsonl": '{"text": "a"}\n\n{"text": oops}\n'}, "t.yaml",
     "name: t\nprompt: '{{ text }}'\nexamples_file: d.jsonl\n", ["d.jsonl line 3"]),
    ("empty jsonl", {"d.jsonl": "\n  \n"}, "t.yaml",
     "name: t\nprompt: hi\nexamples_file: d.jsonl\n", ["d.jsonl", "no examples"]),
    ("missing examples file", {}, "t.yaml", "name: t\nprompt: hi\nexamples_file: absent.jsonl\n",
     ["absent.jsonl"]),
    ("jsonl record not an object", {"d.jsonl": '{"text": "a"}\n["x"]\n'}, "t.yaml",
     "name: t\nprompt: hi\nexamples_file: d.jsonl\n", ["d.jsonl line 2"]),
    ("label metric without expected answers", {}, "t.yaml",
     "name: t\nprompt: '{{ text }}'\nmetric: label\n"
     "examples:\n  - {text: a, expected: x}\n  - {text: b}\n",
     ["t.yaml", "examples[1]", "expected"]),
    ("exact metric with no examples", {}, "t.yaml", "name: t\nprompt: hi\nmetric: exact\n",
     ["t.yaml", "expected"]),
    ("non-text expected", {}, "t.yaml",
     "name: t\nprompt: '{{ text }}'\nexamples:\n  - {text: a, expected: [1, 2]}\n",
     ["examples[0]", "expected"]),
]


@pytest.mark.parametrize(("files", "name", "text", "fragments"),
                         [case[1:] for case in TASK_FILE_ERRORS],
                         ids=[case[0] for case in TASK_FILE_ERRORS])
def test_task_file_errors_name_the_file_record_and_field(
    tmp_path: Path, files: dict[str, str], name: str, text: str, fragments: list[str]
) -> None:
    for other, content in files.items():
        write(tmp_path / other, content)
    error = load_error(write(tmp_path / name, text))
    for fragment in fragments:
        assert fragment in error


def test_jinja_syntax_error_in_prompt_names_the_file(tmp_path: Path) -> None:
    text = load_error(write(tmp_path / "t.yaml", (
        "name: t\nprompt: 'Review: {{ text }'\nexamples:\n  - {text: a, expected: b}\n")))
    assert "t.yaml" in text
    assert "line 1" in text


def test_bad_metric_name_names_the_field(tmp_path: Path) -> None:
    text = load_error(write(tmp_path / "t.yaml", "name: t\nprompt: hi\nmetric: fuzzy\n"))
    assert "t.yaml" in text
    assert "metric" in text


# -- quick tasks ----------------------------------------------------------------------------------


def test_quick_task_is_judged_and_named_from_the_prompt() -> None:
    task = quick_task("Summarise the text in one line!", "summaries")
    assert task.metric == "judge"
    assert task.resolved_metric() == "judge"
    assert task.messages == (Message("user", "Summarise the text in one line!"),)
    assert task.description == "summaries"
    assert task.name == "summarise-the-text-in-one-line"
    assert task.examples == ()


def test_quick_task_with_a_slot_is_an_error() -> None:
    with pytest.raises(TaskError, match="x"):
        quick_task("Translate {{ x }} to French")


def test_quick_task_with_empty_prompt_is_an_error() -> None:
    with pytest.raises(TaskError, match="empty"):
        quick_task("  \n")


# -- the auto metric ------------------------------------------------------------------------------


def make_task(expected: list[str | None], metric: str = "auto") -> Task:
    examples = tuple(Example(inputs={"t": str(i)}, expected=e) for i, e in enumerate(expected))
    return Task(name="t", messages=(Message("user", "{{ t }}"),), examples=examples,
                metric=metric)  # type: ignore[arg-type]


def test_auto_metric_is_label_for_short_repeated_answers() -> None:
    task = make_task(["positive", "negative", "positive", "negative", "positive"])
    assert task.resolved_metric() == "label"
    assert task.label_set() == ("negative", "positive")


def test_auto_metric_is_exact_for_long_answers() -> None:
    task = make_task(["the answer is four", "the answer is six", "the answer is four"])
    assert task.resolved_metric() == "exact"


def test_auto_metric_is_exact_when_short_answers_are_all_different() -> None:
    task = make_task(["paris", "rome", "berlin", "madrid", "lisbon", "oslo"])
    assert task.resolved_metric() == "exact"


def test_auto_metric_is_judge_without_expected_answers() -> None:
    assert make_task([None, None]).resolved_metric() == "judge"


def test_explicit_metric_is_not_second_guessed() -> None:
    task = make_task(["positive", "negative", "positive"], metric="contains")
    assert task.resolved_metric() == "contains"


def test_auto_metric_from_a_loaded_file_is_label(tmp_path: Path) -> None:
    task = load_task(write(tmp_path / "t.yaml", SENTIMENT_YAML.replace("metric: label\n", "")))
    assert task.metric == "auto"
    assert task.resolved_metric() == "label"


# -- property: JSONL round trip -------------------------------------------------------------------

RESERVED = {"expected", "meta", "inputs", "text"}
field_names = st.text(min_size=1, max_size=12).filter(lambda k: k not in RESERVED)
records = st.lists(
    st.tuples(
        st.text(max_size=40),
        st.dictionaries(field_names, st.text(max_size=40), max_size=4),
        st.none() | st.text(max_size=20),
    ),
    min_size=1, max_size=8,
)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=records)
def test_jsonl_examples_round_trip(records: list[tuple[str, dict[str, str], str | None]]) -> None:
    rows: list[dict[str, Any]] = []
    for text, extra, expected in records:
        row: dict[str, Any] = {"text": text, **extra}
        if expected is not None:
            row["expected"] = expected
        rows.append(row)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write(folder / "data.jsonl", jsonl(rows))
        task = load_task(write(folder / "t.yaml", (
            "name: t\nprompt: 'Input: {{ text }}'\nmetric: judge\nexamples_file: data.jsonl\n")))
    assert len(task.examples) == len(rows)
    for row, example in zip(rows, task.examples, strict=True):
        assert example.expected == row.get("expected")
        assert example.inputs == {k: v for k, v in row.items() if k != "expected"}


# -- prompt templates -----------------------------------------------------------------------------


def test_render_prompt_fills_slots() -> None:
    assert render_prompt("Review: {{ text }}!", {"text": "nice"}) == "Review: nice!"


def test_render_prompt_inserts_values_as_data_not_templates() -> None:
    values = {"text": "{{ secret }} {% for x in y %}x{% endfor %}", "secret": "LEAK"}
    out = render_prompt("Review: {{ text }}", values)
    assert out == "Review: {{ secret }} {% for x in y %}x{% endfor %}"
    assert "LEAK" not in out


def test_render_prompt_does_not_escape_html() -> None:
    assert render_prompt("{{ t }}", {"t": "<b>&"}) == "<b>&"


def test_render_prompt_missing_slot_is_a_task_error() -> None:
    with pytest.raises(TaskError, match="title"):
        render_prompt("{{ text }} {{ title }}", {"text": "a"})


def test_prompt_slots_lists_undeclared_variables_only() -> None:
    text = "{% set n = 1 %}{{ a }} {% for i in items %}{{ i }}{% endfor %} {{ n }}"
    assert prompt_slots(text) == frozenset({"a", "items"})


def test_prompt_syntax_error_is_a_task_error_with_line() -> None:
    with pytest.raises(TaskError, match="line 2"):
        prompt_slots("ok\n{{ broken }\n")


@pytest.mark.parametrize("template", [
    "{{ ''.__class__.__mro__ }}",
    "{{ text.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ text.upper.__globals__ }}",
    "{{ text.__class__ }}",
])
def test_sandbox_blocks_attribute_escapes(template: str) -> None:
    with pytest.raises(TaskError):
        render_prompt(template, {"text": "a"})


def test_undefined_attribute_of_a_slot_is_a_task_error() -> None:
    with pytest.raises(TaskError):
        render_prompt("{{ text.nosuch }}", {"text": "a"})


def test_yes_no_answers_stay_text_in_yaml_tasks(tmp_path: Path) -> None:
    path = tmp_path / "yn.tune.yaml"
    path.write_text(
        "name: yn\nprompt: 'Is it raining? {{ q }}'\nlabels: [yes, no]\n"
        "examples:\n  - {q: a, expected: yes}\n  - {q: b, expected: no}\n  - {q: c, expected: yes}\n",
        encoding="utf-8")
    task = load_task(path)
    assert [e.expected for e in task.examples] == ["yes", "no", "yes"]
    assert task.label_set() == ("yes", "no")


# -- data files within given folders (the editor's workspace) ----------------------------------------

WITHIN_TASK = "name: t\nprompt: \"Review: {{ text }}\"\n"


@pytest.mark.parametrize(("field", "names"), [
    ("dataset", "dataset:\n  file: \"{f}\"\n"),
    ("examples_file", "examples_file: \"{f}\"\n"),
    ("splits", "examples: [{{text: a, expected: b}}]\nsplits:\n  files: {{test: \"{f}\"}}\n"),
])
@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_a_data_file_outside_the_given_folders_is_refused_unread(
    tmp_path: Path, field: str, names: str, how: str
) -> None:
    ws, outside = tmp_path / "ws", tmp_path / "outside"
    secret = write(outside / "data.jsonl", jsonl([{"text": "OUTSIDE-ROW", "expected": "x"}]))
    ws.mkdir()
    (ws / "link.jsonl").symlink_to(secret)
    ref = {"dotdot": "../outside/data.jsonl", "absolute": str(secret), "symlink": "link.jsonl"}[how]
    path = write(ws / "t.tune.yaml", WITHIN_TASK + names.format(f=ref))
    assert load_task(path).examples  # without `within`, read as before (the CLI)
    with pytest.raises(TaskError) as info:
        load_task(path, within=[ws])
    message = str(info.value)
    assert "is outside the folder(s)" in message and str(ws) in message and ref in message
    assert f"{path} line " in message and field in message  # where the task names it
    assert "OUTSIDE-ROW" not in message


def test_data_files_inside_the_given_folders_are_read(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    write(ws / "data" / "rows.jsonl", jsonl([{"text": "in", "expected": "x"}]))
    write(ws / "data" / "test.jsonl", jsonl([{"text": "held", "expected": "y"}]))
    path = write(ws / "tasks" / "t.tune.yaml", WITHIN_TASK + "dataset: {file: ../data/rows.jsonl}\n"
                 "splits: {files: {test: ../data/test.jsonl}}\n")
    task = load_task(path, within=[tmp_path / "elsewhere", ws])
    assert [e.inputs["text"] for e in task.examples] == ["in", "held"]
