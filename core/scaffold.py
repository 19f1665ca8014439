"""A new task file from a prompt and (optionally) a data file of examples: ``prompt-tuner init``.

What it infers, each step a small function:

- which columns fill which ``{{ slot }}`` (:func:`map_slots`): a slot takes the column of the same
  name, or the one whose name reads the same as an identifier (``Review Text`` -> ``review_text``);
  a prompt with no slot gets the input columns appended;
- which column holds the expected answer (:func:`expected_column`);
- how answers are scored (:func:`choose_metric`): the rule of ``metric: auto``
  (:meth:`core.task.Task.resolved_metric`) refined by what the answers look like — JSON, numbers,
  a few short labels (:func:`core.answers.answer_space`) — and the judge when there are none.

The task is written in the documented form (``dataset:`` and ``metrics:``) with comments, and
checked by the loader itself before anything is written (:func:`scaffold_task`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from .answers import answer_space
from .datasets import read_records
from .errors import TaskError
from .jsonio import load_json
from .models.base import Message
from .splits import AUTO_FRACTIONS
from .task import Example, MetricSpec, Task, parse_document, task_from_dict
from .templates import prompt_slots
from .yamlio import load_yaml

EXPECTED_COLUMNS = ("expected", "label", "answer")
ID_COLUMNS = frozenset({"id", "idx", "index", "uid", "uuid", "meta"})  # never appended to a prompt
AUTO_SPLIT_MIN = 30  # the engine splits a task with this many examples and no `splits`


@dataclass(frozen=True)
class Scaffold:
    """A task to write: the fields of the task file, and what was inferred on the way."""

    name: str
    description: str
    prompt: str
    metric: dict[str, Any]
    data_file: str | None = None  # relative to the task file, with / separators
    inputs: dict[str, str] = field(default_factory=dict)  # slot -> column
    expected: str | None = None
    meta: tuple[str, ...] = ()
    n_examples: int = 0
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The task file's data, as the loader reads it."""
        data: dict[str, Any] = {"name": self.name, "description": self.description, "prompt": self.prompt}
        if self.data_file is not None:
            dataset: dict[str, Any] = {"file": self.data_file, "inputs": dict(self.inputs)}
            if self.expected is not None:
                dataset["expected"] = self.expected
            if self.meta:
                dataset["meta"] = list(self.meta)
            data["dataset"] = dataset
        data["metrics"] = [dict(self.metric)]
        return data


def identifier(column: str) -> str:
    """The slot name a column reads as: lower case, runs of other characters as ``_``."""
    name = re.sub(r"\W+", "_", column.strip().lower(), flags=re.ASCII).strip("_")
    return f"_{name}" if not name or name[0].isdigit() else name


def slug(text: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in text.lower()).split()
    return "-".join(words[:6]) or "task"


def columns_of(records: Sequence[Any], where: str) -> list[str]:
    """Every field name of the records, in order of first appearance."""
    seen: dict[str, None] = {}
    for record in records:
        if not isinstance(record, dict):
            raise TaskError(f"{where}: an example must be a mapping of fields, got {type(record).__name__}",
                            "write one object (or one row) per example")
        seen.update((str(k), None) for k in record)
    return list(seen)


def _find(columns: Sequence[str], wanted: str) -> str | None:
    if wanted in columns:
        return wanted
    return next((c for c in columns if c.lower() == wanted.lower()), None)


def expected_column(columns: Sequence[str], flag: str | None, where: str) -> str | None:
    """``--expected``'s column (an error if absent), else the first of expected/label/answer."""
    if flag is not None:
        found = _find(columns, flag)
        if found is None:
            raise TaskError(f"{where}: no column '{flag}' for --expected",
                            f"choose one of: {', '.join(columns)}")
        return found
    return next((c for name in EXPECTED_COLUMNS if (c := _find(columns, name)) is not None), None)


def map_slots(prompt: str, columns: Sequence[str], expected: str | None,
              where: str) -> tuple[str, dict[str, str], list[str]]:
    """(the prompt, slot -> column, notes). A slot no column fills is a TaskError; a prompt with
    no slot gets ``{{ column }}`` appended for each input column (not the expected one, nor ids)."""
    inputs = [c for c in columns if c != expected]
    slots = sorted(prompt_slots(prompt))
    if not slots:
        shown = [c for c in inputs if c.lower() not in ID_COLUMNS] or inputs
        if not shown:
            raise TaskError(f"{where}: every example has only the expected answer ('{expected}')",
                            "add a column with the input the prompt is given")
        mapping = _unique_slots(shown)
        if len(mapping) == 1:
            added = "\n\n{{ " + next(iter(mapping)) + " }}"
        else:
            added = "\n\n" + "\n".join(f"{col}: {{{{ {slot} }}}}" for slot, col in mapping.items())
        note = "the prompt had no {{ slot }}, so " + ", ".join(
            f"{{{{ {s} }}}}" for s in mapping) + " was appended; edit where the input goes"
        return prompt.rstrip() + added, mapping, [note]
    mapping = {}
    for slot in slots:
        column = slot if slot in inputs else next((c for c in inputs if identifier(c) == slot), None)
        if column is None:
            if slot == expected:
                raise TaskError(f"the prompt's slot {{{{ {slot} }}}} is the expected answer's column",
                                "the model must not be shown the answer; use another column")
            raise TaskError(f"{where}: no column for the prompt's slot {{{{ {slot} }}}}",
                            f"rename the slot or the column; the columns are: {', '.join(columns)}")
        mapping[slot] = column
    return prompt, mapping, []


def _unique_slots(columns: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for column in columns:
        name, n = identifier(column), 2
        while name in out:
            name, n = f"{identifier(column)}_{n}", n + 1
        out[name] = column
    return out


def choose_metric(expected: Sequence[str], description: str) -> dict[str, Any]:
    """How to score answers like ``expected``: the judge when there are none; ``json`` when every
    one is a JSON object or array; ``numeric`` when every one is a number; ``label`` for a few
    short labels (``metric: auto``'s rule, capped as the answer space caps labels); else ``exact``."""
    if not expected:
        rubric = description.strip() or "it does what the prompt asks, correctly and concisely"
        return {"type": "judge", "rubric": rubric}
    if all(_is_json(v) for v in expected):
        return {"type": "json"}
    examples = tuple(Example(inputs={}, expected=v) for v in expected)
    probe = Task(name="probe", messages=(Message("user", "probe"),), examples=examples)
    space = answer_space(probe.model_copy(update={"metrics": (MetricSpec(type="exact"),)}), examples)
    if space.kind == "numeric":
        return {"type": "numeric"}
    if probe.resolved_metric() == "label" and space.kind == "labels":
        return {"type": "label", "labels": list(space.labels)}
    return {"type": "exact"}


def _is_json(text: str) -> bool:
    try:
        return isinstance(load_json(text.strip()), dict | list)
    except ValueError:
        return False


def relative_path(target: Path, start: Path) -> str:
    """``target`` as the task file at ``start`` names it: relative where it can be, with ``/``."""
    try:
        return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        return target.resolve().as_posix()


def scaffold_name(prompt: str, examples: Path | None = None) -> str:
    """A new task's default name: the data file's, else the prompt's first words.

    Examples:
        >>> from pathlib import Path
        >>> from core import scaffold_name
        >>> scaffold_name("Summarize the ticket for support"), scaffold_name("x", Path("data/Reviews.csv"))
        ('summarize-the-ticket-for-support', 'reviews')
    """
    return slug(examples.stem) if examples is not None else slug(prompt)


def scaffold_task(prompt: str, task_path: Path, *, examples: Path | None = None, name: str | None = None,
                  description: str = "", expected: str | None = None) -> tuple[Scaffold, str]:
    """The task to write at ``task_path`` and its commented YAML text, which the loader has read
    back and checked: any TaskError here is the user's to fix, and nothing was written.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from core import load_task, scaffold_task
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "reviews.csv").write_text(
        ...     "review,label\\nGreat fun,positive\\nDull,negative\\nLoved it,positive\\n")
        >>> task, text = scaffold_task("Positive or negative? {{ review }}", folder / "r.tune.yaml",
        ...                            examples=folder / "reviews.csv")
        >>> task.metric, task.inputs, task.expected
        ({'type': 'label', 'labels': ['negative', 'positive']}, {'review': 'review'}, 'label')
        >>> _ = (folder / "r.tune.yaml").write_text(text)
        >>> len(load_task(folder / "r.tune.yaml").examples)
        3
    """
    if not prompt.strip():
        raise TaskError("the prompt is empty", "give the prompt text in quotes")
    prompt_slots(prompt)  # a template syntax error first, in one line
    name = name or scaffold_name(prompt, examples)
    if examples is None:
        slots = sorted(prompt_slots(prompt))
        if slots:
            raise TaskError(f"the prompt has slot {{{{ {slots[0]} }}}} but no examples fill it",
                            f"give --examples FILE with a '{slots[0]}' column, or remove the slot")
        task = Scaffold(name=name, description=description, prompt=prompt,
                        metric=choose_metric([], description))
        return task, _checked(task, task_path)
    records = read_records(examples)
    columns = columns_of([r.data for r in records], str(examples))
    column = expected_column(columns, expected, str(examples))
    full_prompt, inputs, notes = map_slots(prompt, columns, column, str(examples))
    used = set(inputs.values()) | {column}
    task = Scaffold(name=name, description=description, prompt=full_prompt, metric={"type": "judge"},
                    data_file=relative_path(examples, task_path.parent), inputs=inputs,
                    expected=column, meta=tuple(c for c in columns if c not in used),
                    n_examples=len(records), notes=tuple(notes))
    loaded = task_from_dict(task.to_dict(), task_path, base_dir=task_path.parent)
    answers = [e.expected for e in loaded.examples if e.expected is not None and e.expected.strip()]
    if column is not None and answers and len(answers) < len(loaded.examples):
        raise TaskError(f"{examples}: {len(loaded.examples) - len(answers)} of {len(loaded.examples)} "
                        f"examples have no '{column}'", "fill them in, or choose the column with --expected")
    metric = choose_metric(answers, description)
    if not answers and column is not None:
        notes.append(f"the column '{column}' is empty, so the judge scores the answers")
        task = replace(task, expected=None, meta=(*task.meta, column))
    task = replace(task, metric=metric, notes=tuple(notes))
    return task, _checked(task, task_path)


def _checked(task: Scaffold, task_path: Path) -> str:
    text = render(task)
    data = parse_document(text, task_path, json_format=False)
    if data != task.to_dict():  # the writer and the reader disagree: a bug, never the user's
        raise AssertionError(f"the written task reads back differently: {data!r}")
    task_from_dict(data, task_path, base_dir=task_path.parent)
    return text


# -- writing ---------------------------------------------------------------------------------------


def scalar(value: Any) -> str:
    """``value`` as a YAML 1.2 flow scalar: plain where that reads back the same, else quoted."""
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9_][\w .,/()+-]*", value) \
            and not value.endswith(" "):
        try:
            # plain only where it reads back the same in both places it is written: after a
            # block key, and inside a flow collection, where a comma ends it
            if load_yaml(f"k: {value}") == {"k": value} and load_yaml(f"[{value}]") == [value]:
                return value
        except yaml.YAMLError:
            pass
    return _quoted(value) if isinstance(value, str) else json.dumps(value)


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar: printable characters as they are, the rest escaped by code
    point (JSON's surrogate pairs for characters beyond U+FFFF are not valid YAML escapes)."""
    def esc(ch: str) -> str:
        if ch in _ESCAPES:
            return _ESCAPES[ch]
        if ch.isprintable():
            return ch
        code = ord(ch)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 \
            else f"\\U{code:08x}"
    return '"' + "".join(esc(ch) for ch in text) + '"'


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return scalar(value)


def _block(key: str, text: str) -> str:
    """``key: |`` and the text indented, when a literal block holds it exactly; else quoted."""
    plain = all(line.isprintable() for line in text.split("\n")) and not text[:1].isspace()
    if not plain or ("\n" not in text.rstrip("\n") and len(text) < 60):
        return f"{key}: {scalar(text)}"
    if not text.endswith("\n"):
        chomp, body = "-", text
    else:
        chomp, body = ("+" if text.endswith("\n\n") else ""), text[:-1]
    return f"{key}: |{chomp}\n" + "\n".join(f"  {line}" if line else "" for line in body.split("\n"))


_HEADER = """\
# A prompt-tuner task, written by `prompt-tuner init`: edit it freely.
# The format: README, "Task files"; `prompt-tuner schema task` prints its JSON Schema.
"""


def render(task: Scaffold) -> str:
    """The task file's text, commented for someone editing it for the first time."""
    parts = [_HEADER, f"name: {scalar(task.name)}\n",
             "# What the prompt is for, in a sentence or two: the optimizer writes from it, and every\n"
             "# prompt it proposes is checked against it.\n",
             f"description: {scalar(task.description)}\n",
             "# The prompt to improve: {{ slot }} is filled from each example's column.\n",
             _block("prompt", task.prompt) + "\n"]
    if task.data_file is None:
        parts.append("# No examples yet: the judge model scores every answer 0-10. To score against\n"
                     "# expected answers, add a data file (.jsonl .json .csv .tsv) with an `expected`\n"
                     "# column:  dataset: {file: examples.jsonl}\n")
    else:
        parts.append(_dataset(task))
        parts.append(_splits(task))
    parts.append(_metrics(task))
    return "".join(parts)


def _dataset(task: Scaffold) -> str:
    lines = [f"# The examples ({task.n_examples}): a data file, relative to this task file.",
             "dataset:", f"  file: {scalar(task.data_file)}",
             _noted(f"  inputs: {_flow(task.inputs)}", "prompt slot -> column")]
    if task.expected is not None:
        lines.append(_noted(f"  expected: {scalar(task.expected)}", "the column with the expected answer"))
    if task.meta:
        lines.append(_noted(f"  meta: {_flow(list(task.meta))}", "kept with each example, not shown"))
    return "\n".join(lines) + "\n"


def _noted(line: str, comment: str) -> str:
    return f"{line.ljust(30)}  # {comment}"


def _splits(task: Scaffold) -> str:
    shares = "/".join(f"{round(f * 100)}" for f in AUTO_FRACTIONS.values())
    by = ", stratified by label" if task.metric["type"] == "label" else ""
    fractions = ", ".join(f"{k}: {v}" for k, v in AUTO_FRACTIONS.items())
    return (f"# Splits: with {AUTO_SPLIT_MIN} or more examples and no `splits`, a run makes a seeded "
            f"{shares}\n# train/dev/test split{by}; a smaller task is searched and reported on "
            "the same\n# examples. To choose the shares yourself:\n"
            f"# splits: {{{fractions}, seed: 0}}\n")


_METRIC_NOTES = {
    "label": "the first of the labels an answer mentions is its answer",
    "exact": "the answer must equal the expected one (case, spaces and punctuation aside)",
    "numeric": "the answer's final number must equal the expected one",
    "json": "the answer's JSON must match the expected JSON, field by field",
    "judge": "the judge model scores each answer 0-10; the rubric says what a good answer is",
}


def _metrics(task: Scaffold) -> str:
    kind = str(task.metric["type"])
    return (f"# How answers are scored ({kind}: {_METRIC_NOTES[kind]}).\n"
            "# Other types: exact, contains, label, regex, numeric, json, similarity, judge, custom;\n"
            "# several may be listed, each with a `weight` (README, \"Metrics\").\n"
            f"metrics:\n  - {_flow(task.metric)}\n")
