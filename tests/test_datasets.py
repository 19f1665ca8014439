"""Datasets in task files: formats, column mapping, splits, metric settings, and clear errors."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import TaskError, load_task, task_schema
from core.cli import main
from core.datasets import MAX_RECORD_BYTES
from core.splits import assign_splits

pytestmark = pytest.mark.usefixtures("cli_console")


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def reviews(n: int) -> list[dict[str, Any]]:
    return [{"review": f"review {i}", "label": "positive" if i % 3 else "negative", "src": f"s{i}"}
            for i in range(n)]


TASK = """\
name: t
prompt: "Review: {{ text }}"
dataset: {file: data.FMT, inputs: {text: review}, expected: label, meta: [src]}
metrics:
  - {type: label, labels: [positive, negative]}
"""


# -- formats and mapping ---------------------------------------------------------------------------


def _as_csv(rows: list[dict[str, Any]], delimiter: str) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), delimiter=delimiter)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "tsv"])
def test_every_format_loads_with_the_column_mapping(tmp_path: Path, fmt: str) -> None:
    rows = reviews(6)
    text = {"jsonl": jsonl(rows), "json": json.dumps(rows), "csv": _as_csv(rows, ","),
            "tsv": _as_csv(rows, "\t")}[fmt]
    write(tmp_path / f"data.{fmt}", text)
    task = load_task(write(tmp_path / "t.yaml", TASK.replace("FMT", fmt)))
    assert [e.inputs for e in task.examples] == [{"text": r["review"]} for r in rows]
    assert [e.expected for e in task.examples] == [r["label"] for r in rows]
    assert [e.meta for e in task.examples] == [{"src": r["src"]} for r in rows]


def test_json_file_may_wrap_examples(tmp_path: Path) -> None:
    write(tmp_path / "data.json", json.dumps({"examples": reviews(3)}))
    assert len(load_task(write(tmp_path / "t.yaml", TASK.replace("FMT", "json"))).examples) == 3


def test_csv_quoted_newlines_and_commas(tmp_path: Path) -> None:
    write(tmp_path / "data.csv", 'review,label,src\n"line one\nline two, still",positive,a\n'
                                 'plain,negative,b\n')
    task = load_task(write(tmp_path / "t.yaml", TASK.replace("FMT", "csv")))
    assert task.examples[0].inputs["text"] == "line one\nline two, still"
    assert task.examples[1].expected == "negative"


def test_default_mapping_uses_every_column_but_expected_and_meta(tmp_path: Path) -> None:
    write(tmp_path / "d.csv", "q,context,expected,id\nIs it?,It is.,yes,1\nIs it?,No.,no,2\n")
    task = load_task(write(tmp_path / "t.yaml", (
        "name: t\nprompt: '{{ context }} {{ q }}'\n"
        "dataset: {file: d.csv, meta: [id]}\nmetric: label\n")))
    assert task.examples[0].inputs == {"q": "Is it?", "context": "It is."}
    assert task.examples[1].meta == {"id": "2"}


# -- splits ----------------------------------------------------------------------------------------


def test_splits_are_seeded_disjoint_complete_and_stratified(tmp_path: Path) -> None:
    write(tmp_path / "data.jsonl", jsonl(reviews(90)))
    text = TASK.replace("FMT", "jsonl") + "splits: {train: 0.5, dev: 0.2, test: 0.3, seed: 4}\n"
    task = load_task(write(tmp_path / "t.yaml", text))
    again = load_task(tmp_path / "t.yaml")
    assert task.splits == again.splits
    sizes = {k: len(v) for k, v in task.splits.items()}
    assert sizes == {"train": 45, "dev": 18, "test": 27}
    every = sorted(i for idx in task.splits.values() for i in idx)
    assert every == list(range(90))
    whole = Counter(e.expected for e in task.examples)
    for name in ("train", "dev", "test"):
        part = Counter(e.expected for e in task.split(name))
        share = part["positive"] / sum(part.values())
        assert abs(share - whole["positive"] / 90) < 0.05, name
    other = load_task(write(tmp_path / "t2.yaml", text.replace("seed: 4", "seed: 5")))
    assert other.splits["test"] != task.splits["test"]


def test_split_files_are_added_to_their_split(tmp_path: Path) -> None:
    write(tmp_path / "data.jsonl", jsonl(reviews(10)))
    write(tmp_path / "held.jsonl", jsonl(reviews(4)))
    task = load_task(write(tmp_path / "t.yaml", TASK.replace("FMT", "jsonl")
                           + "splits: {files: {test: held.jsonl}}\n"))
    assert len(task.split("train")) == 10
    assert len(task.split("test")) == 4
    assert len(task.split("all")) == 14


def test_unknown_split_names_the_choices(tmp_path: Path) -> None:
    write(tmp_path / "data.jsonl", jsonl(reviews(10)))
    task = load_task(write(tmp_path / "t.yaml", TASK.replace("FMT", "jsonl")))
    with pytest.raises(TaskError, match="no split named 'test'"):
        task.split("test")


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 300), train=st.integers(0, 10), dev=st.integers(0, 10),
       seed=st.integers(0, 5), labels=st.integers(1, 4))
def test_assign_splits_partitions_every_index(n: int, train: int, dev: int, seed: int,
                                              labels: int) -> None:
    test = 10 - min(10, train + dev)
    total = min(10, train + dev) + test
    shares = {"train": min(train, 10) / total, "dev": (min(10, train + dev) - min(train, 10)) / total,
              "test": test / total}
    strata = [f"l{i % labels}" for i in range(n)]
    got = assign_splits(n, shares, seed=seed, strata=strata)
    flat = sorted(i for idx in got.values() for i in idx)
    assert flat == list(range(n))
    assert got == assign_splits(n, shares, seed=seed, strata=strata)


# -- round trip ------------------------------------------------------------------------------------

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=30)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(texts, st.sampled_from(["yes", "no"])), min_size=1, max_size=10),
       fmt=st.sampled_from(["jsonl", "json", "csv", "tsv"]))
def test_datasets_round_trip_in_every_format(rows: list[tuple[str, str]], fmt: str) -> None:
    records = [{"review": r, "label": lab, "src": str(i)} for i, (r, lab) in enumerate(rows)]
    if fmt in ("csv", "tsv") and any(not r["review"].strip() or "\r" in r["review"] for r in records):
        records = [{**r, "review": r["review"].replace("\r", " ").strip() or "x"} for r in records]
    text = {"jsonl": lambda: jsonl(records), "json": lambda: json.dumps(records),
            "csv": lambda: _as_csv(records, ","), "tsv": lambda: _as_csv(records, "\t")}[fmt]()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write(folder / f"data.{fmt}", text)
        task = load_task(write(folder / "t.yaml", TASK.replace("FMT", fmt)
                               .replace("[positive, negative]", "[yes, no]")))
    assert [e.inputs["text"] for e in task.examples] == [r["review"] for r in records]
    assert [e.expected for e in task.examples] == [r["label"] for r in records]


# -- metrics in the task file ----------------------------------------------------------------------


def test_metric_vector_with_weights_loads(tmp_path: Path) -> None:
    task = load_task(write(tmp_path / "t.yaml", (
        "name: t\nprompt: '{{ q }}'\nexamples:\n  - {q: a, expected: '4'}\n"
        "metrics:\n  - {type: numeric, tolerance: 0.5, weight: 3}\n"
        "  - {type: regex, pattern: '^\\d+$', name: bare, weight: 1}\n")))
    assert [(s.label, s.weight) for s in task.metric_specs()] == [("numeric", 3.0), ("bare", 1.0)]


def test_schema_describes_the_task_file() -> None:
    schema = task_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    for key in ("name", "prompt", "dataset", "splits", "metrics", "examples"):
        assert key in schema["properties"]
    assert schema["required"] == ["name", "prompt"]


def test_schema_command_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "task"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "prompt-tuner task file"


# -- malformed input: one line naming file, line and field; exit 2 ---------------------------------

BASE = "name: t\nprompt: '{{ text }}'\nmetric: label\nlabels: [a, b]\n"
ROW = '{"text": "x", "expected": "a"}\n'

# (case, data file name, its content, task file text, fragments the error line must contain)
BAD: list[tuple[str, str, str | bytes, str, list[str]]] = [
    ("bad JSON line", "d.jsonl", ROW + '{"text": "y", "expected": }\n', BASE + "examples_file: d.jsonl\n",
     ["d.jsonl line 2", "not valid JSON"]),
    ("missing field", "d.jsonl", ROW + '{"txt": "y", "expected": "a"}\n', BASE + "examples_file: d.jsonl\n",
     ["d.jsonl line 2", "'text'"]),
    ("wrong type", "d.jsonl", ROW + ROW + '{"text": {"a": 1}, "expected": "a"}\n',
     BASE + "examples_file: d.jsonl\n", ["d.jsonl line 3", "'text'", "dict"]),
    ("wrong type of expected", "d.jsonl", '{"text": "y", "expected": [1]}\n',
     BASE + "examples_file: d.jsonl\n", ["d.jsonl line 1", "'expected'"]),
    ("empty file", "d.jsonl", "", BASE + "examples_file: d.jsonl\n", ["d.jsonl", "empty"]),
    ("50 MB line", "d.jsonl", ROW.encode() + b'{"text": "' + b"x" * (50 << 20) + b'"}\n',
     BASE + "examples_file: d.jsonl\n", ["d.jsonl line 2", "longer than"]),
    ("csv ragged row", "d.csv", "text,expected\nx,a\ny,a,extra\n",
     BASE + "dataset: {file: d.csv}\n", ["d.csv line 3", "3 columns"]),
    ("csv missing mapped column", "d.csv", "review,expected\nx,a\n",
     BASE + "dataset: {file: d.csv, inputs: {text: body}}\n", ["d.csv line 2", "'body'"]),
    ("missing expected column", "d.csv", "text,answer\nx,a\n",
     BASE + "dataset: {file: d.csv, expected: label}\n", ["d.csv line 2", "'label'"]),
    ("unknown data format", "d.xlsx", "x", BASE + "dataset: {file: d.xlsx}\n", ["d.xlsx", ".jsonl"]),
    ("not UTF-8", "d.jsonl", b'{"text": "\xff\xfe", "expected": "a"}\n',
     BASE + "examples_file: d.jsonl\n", ["d.jsonl line 1", "UTF-8"]),
    ("splits do not add up", "d.jsonl", ROW, BASE + "examples_file: d.jsonl\n"
     "splits: {train: 0.5, test: 0.6}\n", ["t.yaml", "splits", "1.1"]),
    ("unknown metric type", "d.jsonl", ROW, "name: t\nprompt: '{{ text }}'\nexamples_file: d.jsonl\n"
     "metrics: [{type: fuzzy}]\n", ["t.yaml", "metrics[0]", "fuzzy"]),
    ("bad metric setting", "d.jsonl", ROW, "name: t\nprompt: '{{ text }}'\nexamples_file: d.jsonl\n"
     "metrics: [{type: numeric, tolerance: -1}]\n", ["t.yaml", "metrics[0].tolerance"]),
    ("unknown metric setting", "d.jsonl", ROW, "name: t\nprompt: '{{ text }}'\nexamples_file: d.jsonl\n"
     "metrics: [{type: regex, patern: x}]\n", ["t.yaml", "metrics[0].patern"]),
    ("regex that does not compile", "d.jsonl", ROW, "name: t\nprompt: '{{ text }}'\n"
     "examples_file: d.jsonl\nmetrics: [{type: regex, pattern: '(unclosed'}]\n", ["regex"]),
    ("both metric and metrics", "d.jsonl", ROW, "name: t\nprompt: '{{ text }}'\nexamples_file: d.jsonl\n"
     "metric: label\nmetrics: [{type: exact}]\n", ["t.yaml", "metric"]),
    ("alias to an unknown label", "d.jsonl", ROW, "name: t\nprompt: '{{ text }}'\nexamples_file: d.jsonl\n"
     "metrics: [{type: label, labels: [a, b], aliases: {x: c}}]\n", ["alias", "'c'"]),
]


@pytest.mark.parametrize(("data_name", "content", "task_text", "fragments"),
                         [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_malformed_datasets_give_one_clear_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data_name: str, content: str | bytes,
    task_text: str, fragments: list[str],
) -> None:
    write(tmp_path / data_name, content)
    task = write(tmp_path / "t.yaml", task_text)
    assert main(["eval", str(task), "--store", str(tmp_path / "s.db")]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_record_cap_is_generous_for_real_examples() -> None:
    assert MAX_RECORD_BYTES >= 1 << 20
