"""The benchmark suite under examples/benchmarks and bench/suite.py, without calling a model.

Every task loads and is big enough for held-out splits; the generator reproduces the checked-in
data byte for byte; each task is scored by the metric it is meant to exercise; the reference
answers are right (recomputed, schema-checked, and scored 1.0 by the task's own metrics); the
format checks tell a right shape from a wrong one; and the suite script fails cleanly on a bad
``--data`` folder and runs end to end against the fake model server.
"""

from __future__ import annotations

import ast
import datetime as dt
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest

from core import Example, MetricContext, Task, load_prompt, load_task, metric_types

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "examples" / "benchmarks"
SUITE = REPO / "bench" / "suite.py"

# task folder -> the metric types it must use
INTENDED = {
    "sentiment": ["label"],
    "intent": ["label"],
    "topic": ["label"],
    "yesno": ["label"],
    "arithmetic": ["numeric"],
    "cot-arithmetic": ["numeric"],
    "extract-json": ["json"],
    "format": ["custom"],
    "open-ended": ["judge"],
}
BALANCED = {"sentiment", "intent", "topic", "yesno"}


def _module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generate() -> ModuleType:
    return _module(BENCH / "generate.py", "bench_generate")


@pytest.fixture(scope="module")
def checks() -> ModuleType:
    return _module(BENCH / "format" / "checks.py", "bench_format_checks")


_TASKS: dict[str, Task] = {}


def task(name: str) -> Task:
    if name not in _TASKS:
        _TASKS[name] = load_task(BENCH / name / "task.yaml")
    return _TASKS[name]


def test_the_suite_has_every_intended_task() -> None:
    have = sorted(p.parent.name for p in BENCH.glob("*/task.yaml"))
    assert have == sorted(INTENDED)


@pytest.mark.parametrize("name", sorted(INTENDED))
def test_task_loads_with_splits_and_enough_examples(name: str) -> None:
    t = task(name)
    assert t.name == f"bench-{name}"
    assert t.description
    assert len(t.examples) >= 100
    assert set(t.split_names()) == {"train", "dev", "test"}
    assert len(t.split("test")) >= 40
    assert sum(len(t.split(s)) for s in t.split_names()) == len(t.examples)
    inputs = [json.dumps(e.inputs, sort_keys=True) for e in t.examples]
    assert len(set(inputs)) == len(inputs), "duplicate inputs"
    assert (BENCH / name / "data.jsonl").stat().st_size < 200_000


@pytest.mark.parametrize("name", sorted(INTENDED))
def test_task_uses_its_intended_metric(name: str) -> None:
    assert [spec.type for spec in task(name).metric_specs()] == INTENDED[name]


@pytest.mark.parametrize("name", sorted(BALANCED))
def test_labels_are_balanced_and_known(name: str) -> None:
    t = task(name)
    counts = Counter(e.expected for e in t.examples)
    assert set(counts) == set(t.label_set())
    assert len(set(counts.values())) == 1, counts
    test_counts = Counter(e.expected for e in t.split("test"))
    assert max(test_counts.values()) - min(test_counts.values()) <= 1, "the split is not stratified"


def test_generator_is_deterministic_and_matches_the_checked_in_files(
        generate: ModuleType, tmp_path: Path) -> None:
    for run in ("a", "b"):
        assert generate.main(["--out", str(tmp_path / run)]) == 0
    for name in INTENDED:
        first = (tmp_path / "a" / name / "data.jsonl").read_bytes()
        assert first == (tmp_path / "b" / name / "data.jsonl").read_bytes(), name
        assert first == (BENCH / name / "data.jsonl").read_bytes(), (
            f"{name}/data.jsonl is stale: run python examples/benchmarks/generate.py")


def test_generator_uses_only_the_standard_library() -> None:
    tree = ast.parse((BENCH / "generate.py").read_text(encoding="utf-8"))
    roots = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
    roots |= {node.module.split(".")[0] for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert roots <= set(sys.stdlib_module_names) | {"__future__"}, roots


async def _score(t: Task, answer: str, example: Example) -> dict[str, float]:
    out = {}
    for spec in t.metric_specs():
        kind = metric_types()[spec.type]
        metric = kind.build(kind.params.model_validate(spec.params()), MetricContext(t, None, None))
        out[spec.label] = (await metric.score(answer, example)).value
    return out


@pytest.mark.parametrize("name", sorted(n for n, m in INTENDED.items() if m != ["judge"]))
async def test_reference_answers_score_full_marks(name: str) -> None:
    t = task(name)
    for example in t.examples:
        assert example.expected is not None
        scores = await _score(t, example.expected, example)
        assert all(v == 1.0 for v in scores.values()), (example, scores)


async def test_a_wrong_answer_scores_zero() -> None:
    cases = {
        "sentiment": ("positive", "negative"),
        "yesno": ("yes", "no"),
        "intent": ("balance", "dispute"),
        "topic": ("world", "tech"),
    }
    for name, (a, b) in cases.items():
        t = task(name)
        example = next(e for e in t.examples if e.expected == a)
        assert await _score(t, f"The answer is: {b}.", example) == {"label": 0.0}
    arithmetic = task("arithmetic").examples[0]
    wrong = str(int(arithmetic.expected or "0") + 1)
    assert await _score(task("arithmetic"), f"So it is {wrong}.", arithmetic) == {"numeric": 0.0}


def _evaluate(expression: str) -> int:
    node = ast.parse(expression, mode="eval")
    allowed = (ast.Expression, ast.BinOp, ast.Constant, ast.Add, ast.Sub, ast.Mult, ast.Div)
    assert all(isinstance(n, allowed) for n in ast.walk(node)), expression
    value = eval(compile(node, "<equation>", "eval"))  # only numbers and + - * /, checked above
    assert value == int(value), f"{expression} is not a whole number"
    return int(value)


@pytest.mark.parametrize("name", ["arithmetic", "cot-arithmetic"])
def test_arithmetic_answers_are_correct(name: str) -> None:
    kinds: Counter[str] = Counter()
    for e in task(name).examples:
        equation = e.meta["equation"]
        if equation.startswith("days("):
            start, end = (dt.date.fromisoformat(x.strip()) for x in equation[5:-1].split(","))
            value = (end - start).days
            assert start.strftime("%B") in str(e.inputs["question"])
        else:
            value = _evaluate(equation)
            numbers = [int(x) for x in re.findall(r"\d+", equation)]
            assert all(str(x) in str(e.inputs["question"]) for x in numbers), (equation, e.inputs)
        assert value >= 0 and e.expected == str(value), (e.inputs, equation)
        kinds[e.meta.get("kind") or f"ops={e.meta['ops']}"] += 1
    if name == "arithmetic":
        assert kinds == {"ops=1": 80, "ops=2": 80}
    else:
        assert set(kinds) == {"story", "days"}


def test_json_answers_fit_the_schema_and_the_text() -> None:
    t = task("extract-json")
    (spec,) = t.metric_specs()
    schema = spec.params()["schema"]
    jsonschema.Draft202012Validator.check_schema(schema)
    for e in t.examples:
        value = json.loads(e.expected or "")
        jsonschema.validate(value, schema)
        assert set(value) == set(spec.params()["fields"])
        text = str(e.inputs["text"])
        assert value["name"] in text and value["city"] in text
    hard = [e for e in t.examples if e.meta["difficulty"] == "hard"]
    assert len(hard) >= 30


WORD_CASES = [
    ("words", 5, "Coffee is hot and bitter.", True),
    ("words", 5, "Coffee is hot, bitter, strong and aromatic.", False),
    ("words", 3, "Winter is cold — brrr", False),
    ("words", 3, "Winter is cold —", True),  # a lone dash is not a word
    ("bullets", 3, "- Track spending\n- Cook at home\n- Cancel subscriptions", True),
    ("bullets", 3, "Here are three tips:\n* Track spending\n* Cook at home\n* Cancel subscriptions", True),
    ("bullets", 3, "- Track spending\n- Cook at home", False),
    ("bullets", 2, "- Track spending\n- Cook at home\nGood luck with that!", False),
    ("bullets", 2, "1. Track spending\n2. Cook at home", False),
    ("numbered", 3, "1. Apple\n2. Pear\n3. Plum", True),
    ("numbered", 3, "1) Apple\n2) Pear\n3) Plum", True),
    ("numbered", 3, "1. Apple\n2. Pear\n4. Plum", False),
    ("numbered", 3, "1. Apple\n2. Pear\n3. Plum\n4. Kiwi", False),
    ("numbered", 3, "Apple, pear, plum", False),
    ("commas", 4, "oak, birch, maple, pine", True),
    ("commas", 4, "oak, birch, maple, pine.", True),
    ("commas", 4, "oak, birch, maple", False),
    ("commas", 4, "oak, birch,\nmaple, pine", False),
    ("commas", 4, "oak, , maple, pine", False),
    ("words", 4, "", False),
]


@pytest.mark.parametrize(("kind", "n", "answer", "ok"), WORD_CASES)
def test_format_checks_hand_made_answers(checks: ModuleType, kind: str, n: int, answer: str,
                                         ok: bool) -> None:
    score, reason = checks.check_format(answer, {"inputs": {}, "expected": None,
                                                 "meta": {"kind": kind, "n": n}})
    assert score == (1.0 if ok else 0.0), reason


def test_format_reference_answers_pass_and_off_by_one_fails(checks: ModuleType) -> None:
    kinds: Counter[str] = Counter()
    for e in task("format").examples:
        record: dict[str, Any] = {"inputs": e.inputs, "expected": e.expected, "meta": e.meta}
        assert checks.check_format(e.expected or "", record)[0] == 1.0, e
        shifted = {**record, "meta": {**e.meta, "n": e.meta["n"] + 1}}
        assert checks.check_format(e.expected or "", shifted)[0] == 0.0, e
        kinds[e.meta["kind"]] += 1
    assert kinds == {"words": 30, "bullets": 30, "numbered": 30, "commas": 30}


def test_open_ended_has_a_named_rubric_and_references() -> None:
    t = task("open-ended")
    (spec,) = t.metric_specs()
    rubric = spec.params()["rubric"]
    assert isinstance(rubric, dict) and len(rubric) >= 3
    assert t.uses_judge()
    assert all(e.expected and e.expected.count(".") == 1 for e in t.examples)


def test_sentiment_demo_prompts() -> None:
    t = task("sentiment")
    weak = load_prompt(str(BENCH / "sentiment" / "prompts" / "weak.txt"), t)
    assert [m.role for m in weak] == ["user"] and "{{ text }}" in weak[0].content
    fewshot = load_prompt(str(BENCH / "sentiment" / "prompts" / "fewshot.txt"), t)
    assert [m.role for m in fewshot] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert {fewshot[2].content, fewshot[4].content} == {"positive", "negative"}
    assert "{{ text }}" in fewshot[-1].content
    shots = {fewshot[1].content.removeprefix("Review: "), fewshot[3].content.removeprefix("Review: ")}
    assert not shots & {str(e.inputs["text"]) for e in t.examples}, "a worked example is in the data"


# -- bench/suite.py --------------------------------------------------------------------------------


def _suite(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SUITE), *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})}, cwd=REPO)


def test_suite_missing_data_folder_is_one_line_and_exit_2() -> None:
    done = _suite("--target", "embedded", "--data", "/nonexistent")
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "/nonexistent" in lines[0]


def test_suite_malformed_data_folder_is_one_line_and_exit_2(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "bad" / "sst2").mkdir(parents=True)
    (tmp_path / "bad" / "sst2" / "test.tsv").write_text("no header here\n", encoding="utf-8")
    (tmp_path / "badjson" / "gsm8k").mkdir(parents=True)
    (tmp_path / "badjson" / "gsm8k" / "test.jsonl").write_text('{"question": "x"\n', encoding="utf-8")
    for folder, tasks in ((empty, "sentiment"), (tmp_path / "bad", "sentiment"),
                          (tmp_path / "badjson", "cot-arithmetic")):
        done = _suite("--target", "embedded", "--data", str(folder), "--tasks", tasks)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
        assert "Traceback" not in done.stderr


def test_suite_runs_every_task_on_a_fake_model_and_swaps_in_public_data(
        fake_server: Any, tmp_path: Path) -> None:
    server = fake_server("openai", reply="fixed:positive")
    data = tmp_path / "datasets" / "sst2"
    data.mkdir(parents=True)
    rows = [f"a {'fine' if i % 2 else 'dull'} film number {i} .\t{i % 2}" for i in range(40)]
    (data / "test.tsv").write_text("sentence\tlabel\r\n" + "\r\n".join(rows) + "\r\n", encoding="utf-8")
    spec = f"openai:fake@{server.base_url}"
    done = _suite("--target", spec, "--judge", spec, "--limit", "4", "--json",
                  "--data", str(tmp_path / "datasets"), env={"OPENAI_API_KEY": "test"})
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    by_task = {t["task"]: t for t in out["tasks"]}
    assert set(by_task) == set(INTENDED)
    assert by_task["sentiment"]["data"] == "sst2"
    assert {by_task[n]["data"] for n in INTENDED if n != "sentiment"} == {"bundled"}
    sentiment = by_task["sentiment"]["report"]
    assert sentiment["n"] == 4
    assert all(w["inputs"]["text"].startswith("a ") for w in sentiment["worst"])
    assert 0.0 <= sentiment["aggregate"]["mean"] <= 1.0
    assert out["totals"]["n"] == 4 * len(INTENDED) and out["totals"]["failed"] == 0
    assert out["totals"]["calls"] >= 4 * len(INTENDED)

    # the same answers again come from the cache: the hits column counts them
    table = _suite("--target", spec, "--judge", spec, "--limit", "4", "--tasks", "sentiment,format",
                   "--data", str(tmp_path / "datasets"), env={"OPENAI_API_KEY": "test"})
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["task", "data", "metric(s)", "n", "mean", "[95%", "CI]", "calls", "hits",
                                "p50", "s", "p95", "s", "cost", "$", "secs"]
    assert lines[2].startswith("sentiment") and "sst2" in lines[2]
    assert lines[3].startswith("format") and "bundled" in lines[3]
    assert lines[-1].startswith("TOTAL (2 tasks)")
    calls, hits = lines[2].split()[-6:-4]
    assert (calls, hits) == ("0", "4")
