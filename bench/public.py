"""Public labelled datasets as tuning tasks, for ``bench/quality.py --data DIR``.

Each dataset becomes a task the way a user would bring it: a plain question as the prompt (no
answer format: that is the tuner's job), a one-line description naming the answer words, and a
strict ``exact`` metric (one word, case and punctuation folded). The data stays where it is: the
task's files are written under the bench's work folder, never into the project.

Splits: the few-shot sets (sst2, trec, ag_news) keep their published 16-per-class train and dev
files; sms_spam and boolq get a seeded sample for train and dev. Every set is tested on a seeded
sample of ``test_n`` records of its test file that train and dev never contain.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.suite import SuiteError, _read_jsonl, _read_tsv
from core import Task, load_task

Row = tuple[dict[str, str], str]  # (inputs by prompt slot, expected answer)


@dataclass(frozen=True)
class PublicTask:
    name: str
    description: str
    prompt: str
    labels: tuple[str, ...]
    read: Callable[[Path], dict[str, list[Row]]]  # folder -> {"train"?, "dev"?, "test"}


def _tsv(path: Path, labels: dict[str, str], slot: str) -> list[Row]:
    out = []
    for i, rec in enumerate(_read_tsv(path), 2):
        if rec["label"] not in labels:
            raise SuiteError(f"{path} line {i}: unknown label {rec['label']!r}")
        out.append(({slot: rec["text"]}, labels[rec["label"]]))
    return out


def _few_shot(labels: dict[str, str], slot: str) -> Callable[[Path], dict[str, list[Row]]]:
    def read(folder: Path) -> dict[str, list[Row]]:
        return {split: _tsv(folder / file, labels, slot) for split, file in
                (("train", "train_16shot_seed42.tsv"), ("dev", "dev_16shot_seed42.tsv"),
                 ("test", "test.tsv"))}
    return read


def _sms(folder: Path) -> dict[str, list[Row]]:
    path = folder / "SMSSpamCollection"
    if not path.is_file():
        raise SuiteError(f"{path}: file not found")
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        label, sep, text = line.partition("\t")
        if not sep or label not in ("ham", "spam"):
            raise SuiteError(f"{path} line {lineno}: expected 'ham|spam<TAB>message'")
        rows.append(({"message": text.strip()}, label))
    return {"all": rows}


def _boolq(folder: Path) -> dict[str, list[Row]]:
    path = folder / "dev.jsonl"
    rows = []
    for i, rec in enumerate(_read_jsonl(path), 1):
        answer = str(rec.get("answer", "")).strip().lower()
        if answer not in ("true", "false") or "question" not in rec or "passage" not in rec:
            raise SuiteError(f"{path} record {i}: expected question, passage and answer True/False")
        question = str(rec["question"]).strip()
        question = question[:1].upper() + question[1:] + ("" if question.endswith("?") else "?")
        rows.append(({"passage": str(rec["passage"]).strip(), "question": question},
                     "yes" if answer == "true" else "no"))
    return {"all": rows}


TASKS: dict[str, PublicTask] = {t.name: t for t in (
    PublicTask("sst2", "Classify the sentiment of a sentence from a movie review. "
               "The answer is one word: positive or negative.",
               "Sentence: {{ text }}\nIs the sentiment of this sentence positive or negative?",
               ("negative", "positive"), _few_shot({"0": "negative", "1": "positive"}, "text")),
    PublicTask("trec", "Classify a question by the kind of answer it asks for. The answer is one "
               "word: description, entity, abbreviation, human, location or number.",
               "Question: {{ question }}\nWhat kind of answer does this question ask for?",
               ("description", "entity", "abbreviation", "human", "location", "number"),
               _few_shot({"0": "description", "1": "entity", "2": "abbreviation", "3": "human",
                          "4": "location", "5": "number"}, "question")),
    PublicTask("ag_news", "Classify a news article by its topic. The answer is one word: world, "
               "sports, business or tech.",
               "Article: {{ text }}\nWhat is this article about?",
               ("world", "sports", "business", "tech"),
               _few_shot({"0": "world", "1": "sports", "2": "business", "3": "tech"}, "text")),
    PublicTask("sms_spam", "Decide whether a text message is spam or an ordinary message. The "
               "answer is one word: spam or ham.",
               "Message: {{ message }}\nIs this message spam?", ("ham", "spam"), _sms),
    PublicTask("boolq", "Answer a yes/no question about a passage. The answer is one word: yes "
               "or no.", "{{ passage }}\n\nQuestion: {{ question }}", ("yes", "no"), _boolq),
)}


def _split(rows: dict[str, list[Row]], name: str, train_n: int, test_n: int) -> dict[str, list[Row]]:
    """train/dev/test: the given files (test sampled), or disjoint seeded samples of one pool."""
    rng = random.Random(f"quality:{name}")
    if "all" in rows:
        pool = list(rows["all"])
        rng.shuffle(pool)
        return {"train": pool[:train_n], "dev": pool[train_n:2 * train_n],
                "test": pool[2 * train_n:2 * train_n + test_n]}
    seen = {json.dumps(r[0], sort_keys=True) for split in ("train", "dev") for r in rows[split]}
    test = [r for r in rows["test"] if json.dumps(r[0], sort_keys=True) not in seen]
    return {"train": rows["train"], "dev": rows["dev"],
            "test": rng.sample(test, min(test_n, len(test)))}


def public_task(data: Path, name: str, work: Path, *, train_n: int = 64, test_n: int = 100) -> Task:
    """The public dataset ``name`` under ``data`` as a task whose files live under ``work``."""
    if name not in TASKS:
        raise SuiteError(f"no public task {name!r}; choose from: {', '.join(TASKS)}")
    spec = TASKS[name]
    folder = data / name
    if not folder.is_dir():
        raise SuiteError(f"--data {data}: no folder {name}/")
    splits = _split(spec.read(folder), name, train_n, test_n)
    out = work / "public" / name
    out.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        with (out / f"{split}.jsonl").open("w", encoding="utf-8") as fh:
            for inputs, expected in rows:
                fh.write(json.dumps({**inputs, "expected": expected}, ensure_ascii=False) + "\n")
    raw: dict[str, Any] = {
        "name": f"public-{name}", "description": spec.description, "prompt": spec.prompt,
        "labels": list(spec.labels), "dataset": {"file": "train.jsonl"},
        "splits": {"files": {"dev": "dev.jsonl", "test": "test.jsonl"}},
        "metrics": [{"type": "exact"}],
    }
    (out / "task.json").write_text(json.dumps(raw, indent=1), encoding="utf-8")
    return load_task(out / "task.json")
