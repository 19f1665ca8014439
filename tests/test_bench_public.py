"""bench/public.py: public labelled datasets as tuning tasks for bench/quality.py (on small
synthetic copies of their file formats: the real sets are never part of the project)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from core import load_task

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.public import TASKS, public_task  # noqa: E402
from bench.suite import SuiteError  # noqa: E402


def _quality() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quality_bench", ROOT / "bench" / "quality.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tsv(path: Path, rows: list[tuple[str, int]], header: str = "sentence") -> None:
    path.write_text(f"{header}\tlabel\r\n" + "".join(f"{t}\t{y}\r\n" for t, y in rows),
                    encoding="utf-8")


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    root = tmp_path / "datasets"
    for name, classes in (("sst2", 2), ("trec", 6), ("ag_news", 4)):
        folder = root / name
        folder.mkdir(parents=True)
        _tsv(folder / "train_16shot_seed42.tsv", [(f"{name} train {i}", i % classes) for i in range(8)])
        _tsv(folder / "dev_16shot_seed42.tsv", [(f"{name} dev {i}", i % classes) for i in range(8)])
        # the test file repeats a train sentence: it must not be drawn for the held-out sample
        _tsv(folder / "test.tsv", [(f"{name} test {i}", i % classes) for i in range(300)]
             + [(f"{name} train 0", 0)])
    (root / "sms_spam").mkdir()
    (root / "sms_spam" / "SMSSpamCollection").write_text(
        "".join(f"{'spam' if i % 7 == 0 else 'ham'}\tmessage {i}\n" for i in range(400)),
        encoding="utf-8")
    (root / "boolq").mkdir()
    (root / "boolq" / "dev.jsonl").write_text("".join(json.dumps(
        {"question": f"is {i} even", "title": "t", "answer": "True" if i % 2 == 0 else "False",
         "passage": f"Passage {i}."}) + "\n" for i in range(400)), encoding="utf-8")
    return root


def test_every_public_set_becomes_a_strict_label_task_with_disjoint_splits(
        data: Path, tmp_path: Path) -> None:
    for name, spec in TASKS.items():
        task = public_task(data, name, tmp_path / "work", train_n=20, test_n=50)
        sizes = {k: len(v) for k, v in task.splits.items()}
        few_shot = name in ("sst2", "trec", "ag_news")
        assert sizes == ({"train": 8, "dev": 8, "test": 50} if few_shot
                         else {"train": 20, "dev": 20, "test": 50}), name
        assert [m.type for m in task.metric_specs()] == ["exact"]
        assert task.labels == spec.labels
        inputs = {split: [json.dumps(task.examples[i].inputs, sort_keys=True) for i in idx]
                  for split, idx in task.splits.items()}
        assert not set(inputs["test"]) & (set(inputs["train"]) | set(inputs["dev"])), name
        expected = {task.examples[i].expected for i in task.splits["test"]}
        assert expected <= set(spec.labels), name
        assert "{{" in task.messages[-1].content
        # the files live under the work folder, and the same sample is drawn again
        again = public_task(data, name, tmp_path / "again", train_n=20, test_n=50)
        assert [e.inputs for e in again.examples] == [e.inputs for e in task.examples]
        assert str(task.source).startswith(str(tmp_path / "work"))


def test_labels_are_mapped_as_the_datasets_document(data: Path, tmp_path: Path) -> None:
    trec = public_task(data, "trec", tmp_path)
    by_text = {e.inputs["question"]: e.expected for e in trec.examples}
    assert [by_text[f"trec train {i}"] for i in range(6)] == [
        "description", "entity", "abbreviation", "human", "location", "number"]
    boolq = public_task(data, "boolq", tmp_path)
    answers = {e.inputs["question"]: e.expected for e in boolq.examples}
    assert answers.get("Is 2 even?", "yes") == "yes" and answers.get("Is 3 even?", "no") == "no"


def test_malformed_or_missing_data_is_one_line_and_exit_2(
        data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (data / "sms_spam" / "SMSSpamCollection").write_text("maybe\tnot a label\n", encoding="utf-8")
    with pytest.raises(SuiteError, match="line 1"):
        public_task(data, "sms_spam", tmp_path)
    quality = _quality()
    for argv in (["--data", str(data), "--public", "sms_spam", "--tasks", "none"],
                 ["--data", str(tmp_path / "nowhere"), "--public", "sst2", "--tasks", "none"],
                 ["--data", str(data), "--public", "imdb", "--tasks", "none"]):
        assert quality.main([*argv, "--work", str(tmp_path / "w")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: "), err


def test_label_metrics_are_made_strict_unless_asked_not_to() -> None:
    quality = _quality()
    task = load_task(ROOT / "examples" / "benchmarks" / "sentiment" / "task.yaml")
    assert [m.type for m in task.metric_specs()] == ["label"]
    strict = quality.strict(task)
    assert [m.type for m in strict.metric_specs()] == ["exact"]
    assert strict.messages == task.messages and strict.splits == task.splits
    fmt = load_task(ROOT / "examples" / "benchmarks" / "format" / "task.yaml")
    assert quality.strict(fmt) is fmt  # no label metric: left as it is


def test_rows_of_parallel_runs_print_as_one_table(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    quality = _quality()
    est = {"mean": 0.5, "low": 0.4, "high": 0.6, "n": 100}
    row = {"task": "sst2", "strategy": "auto", "n_test": 100, "original": est, "tuned": est,
           "diff": 0.0, "diff_low": -0.1, "diff_high": 0.1, "p": 1.0, "significant": False,
           "majority": est, "majority_label": "negative", "vs_majority": None,
           "reference": est, "reference_prompt": "Sentence: {{ text }}\nAnswer: positive or negative.",
           "vs_reference": None, "reference_calls": 100, "tuned_made_by": "fewshot/knn",
           "instruction": "Sentence: {{ text }}\nIs it positive or negative?", "demos": 8,
           "instruction_alone_dev": est, "attribution": "The demonstrations carry the gain.",
           "calls": 600, "seconds": 10.0}
    files = []
    for name in ("sst2", "trec"):
        f = tmp_path / f"{name}.json"
        f.write_text(json.dumps([{**row, "task": name}]), encoding="utf-8")
        files.append(str(f))
    assert quality.main(["--from-json", *files]) == 0
    out = capsys.readouterr().out
    assert "instr. alone (dev)" in out.splitlines()[0]
    assert "winner for sst2 (8 demos): Sentence: {{ text }} / Is it positive or negative?" in out
    assert "winner for trec (8 demos)" in out and "The demonstrations carry the gain." in out
    (tmp_path / "broken.json").write_text("[{", encoding="utf-8")
    assert quality.main(["--from-json", str(tmp_path / "broken.json")]) == 2
