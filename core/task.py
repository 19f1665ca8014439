"""Tasks: the prompt to improve, what it is for, examples, and how answers are scored.

A task file (YAML or JSON)::

    name: movie-sentiment
    description: Classify a movie review as positive or negative.
    prompt: |                      # a string (one user message) or a list of {role, content}
      Review: {{ text }}
    metric: label                  # auto | exact | contains | label | judge
    labels: [positive, negative]   # label metric; default: the distinct expected values
    examples:                      # inline, each a mapping of fields plus `expected`
      - {text: "A joy from start to finish.", expected: positive}
    examples_file: reviews.jsonl   # or/and a JSONL file of the same records, relative to the task

Every ``{{ slot }}`` in the prompt must be a field of every example; this is checked at load
time, with the file and the record that lacks it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import TaskError
from .models.base import Message
from .templates import prompt_slots
from .yamlio import load_yaml

MetricName = Literal["auto", "exact", "contains", "label", "judge"]
EXPECTED = "expected"


class Example(BaseModel):
    model_config = ConfigDict(frozen=True)

    inputs: dict[str, Any]
    expected: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class PromptMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str = Field(min_length=1)


class TaskModels(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: str | None = None
    optimizer: str | None = None
    judge: str | None = None


class TaskFile(BaseModel):
    """The schema of a task file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    prompt: str | list[PromptMessage]
    examples: list[dict[str, Any]] = Field(default_factory=list)
    examples_file: str | None = None
    metric: MetricName = "auto"
    labels: list[str] | None = None
    rubric: str | None = None
    models: TaskModels = TaskModels()

    @field_validator("prompt")
    @classmethod
    def _non_empty(cls, v: str | list[PromptMessage]) -> str | list[PromptMessage]:
        if isinstance(v, str) and not v.strip():
            raise ValueError("the prompt is empty")
        if isinstance(v, list) and not v:
            raise ValueError("the prompt has no messages")
        return v


class Task(BaseModel):
    name: str
    description: str = ""
    messages: tuple[Message, ...]
    examples: tuple[Example, ...] = ()
    metric: MetricName = "auto"
    labels: tuple[str, ...] | None = None
    rubric: str | None = None
    models: TaskModels = TaskModels()
    source: str | None = None

    def slots(self) -> frozenset[str]:
        out: set[str] = set()
        for m in self.messages:
            out |= prompt_slots(m.content)
        return frozenset(out)

    def resolved_metric(self) -> MetricName:
        """``auto``: a label metric for short categorical answers, exact match for other
        expected outputs, the judge when there are none."""
        if self.metric != "auto":
            return self.metric
        expected = [e.expected for e in self.examples if e.expected is not None]
        if not expected:
            return "judge"
        distinct = set(expected)
        if all(len(x.split()) <= 3 for x in distinct) and len(distinct) <= max(2, len(expected) // 2):
            return "label"
        return "exact"

    def label_set(self) -> tuple[str, ...]:
        if self.labels:
            return self.labels
        return tuple(sorted({e.expected for e in self.examples if e.expected is not None}))


def _example(record: Any, where: str) -> Example:
    if not isinstance(record, dict):
        raise TaskError(f"{where}: an example must be a mapping of fields",
                        "write e.g. {text: ..., expected: ...}")
    if "inputs" in record and isinstance(record["inputs"], dict):
        inputs = dict(record["inputs"])
        expected = record.get(EXPECTED)
        meta = record.get("meta") or {}
    else:
        inputs = {k: v for k, v in record.items() if k not in (EXPECTED, "meta")}
        expected = record.get(EXPECTED)
        meta = record.get("meta") or {}
    if expected is not None and not isinstance(expected, str | int | float | bool):
        raise TaskError(f"{where}: field 'expected' must be text, got {type(expected).__name__}",
                        "write the expected answer as a string")
    return Example(inputs=inputs, expected=None if expected is None else str(expected),
                   meta=meta if isinstance(meta, dict) else {"value": meta})


def _read_jsonl(path: Path) -> list[tuple[Any, str]]:
    if not path.is_file():
        raise TaskError(f"examples file not found: {path}", "check examples_file in the task")
    out = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                out.append((json.loads(line), f"{path} line {lineno}"))
            except ValueError as exc:
                raise TaskError(f"{path} line {lineno}: not valid JSON ({exc.args[0][:60]})",
                                "write one JSON object per line") from None
    if not out:
        raise TaskError(f"{path}: no examples in the file", "add one JSON object per line")
    return out


def _load_data(path: Path) -> Any:
    if not path.is_file():
        raise TaskError(f"task file not found: {path}", "check the path, or give a prompt in quotes")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskError(f"cannot read task file {path}: {exc}", "check the file") from None
    try:
        return json.loads(text) if path.suffix == ".json" else load_yaml(text)
    except json.JSONDecodeError as exc:
        raise TaskError(f"{path} line {exc.lineno}: not valid JSON: {exc.msg}",
                        "fix the syntax") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise TaskError(f"{path}{where}: not valid YAML: {problem}", "fix the syntax") from None


def _validation_error(path: Path | str, exc: ValidationError) -> TaskError:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    if err["type"] == "extra_forbidden":
        return TaskError(f"{path}: unknown field '{loc}'",
                         "allowed: name, description, prompt, examples, examples_file, metric, "
                         "labels, rubric, models")
    if err["type"] == "missing":
        return TaskError(f"{path}: missing required field '{loc}'", "add it to the task file")
    return TaskError(f"{path}: field '{loc}': {err['msg']}", "fix that field")


def task_from_dict(data: Any, source: Path | str, base_dir: Path | None = None) -> Task:
    if not isinstance(data, dict):
        raise TaskError(f"{source}: a task file must be a mapping (name, prompt, examples…)",
                        "see examples/sentiment.tune.yaml")
    try:
        spec = TaskFile.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(source, exc) from None
    if isinstance(spec.prompt, str):
        messages: tuple[Message, ...] = (Message("user", spec.prompt),)
    else:
        messages = tuple(Message(m.role, m.content) for m in spec.prompt)
    records: list[tuple[Any, str]] = [
        (r, f"{source} examples[{i}]") for i, r in enumerate(spec.examples)
    ]
    if spec.examples_file:
        records += _read_jsonl((base_dir or Path.cwd()) / spec.examples_file)
    examples = tuple(_example(r, where) for r, where in records)
    task = Task(name=spec.name, description=spec.description, messages=messages,
                examples=examples, metric=spec.metric,
                labels=tuple(spec.labels) if spec.labels else None, rubric=spec.rubric,
                models=spec.models, source=str(source))
    check_task(task, [where for _, where in records])
    return task


def check_task(task: Task, wheres: list[str] | None = None) -> None:
    """Load-time checks: every slot is filled by every example; metrics have what they need."""
    try:
        slots = task.slots()
    except TaskError as exc:  # a template syntax error: say which file it is in
        raise TaskError(f"{task.source}: {exc.message}", exc.hint) from None
    if slots and not task.examples:
        raise TaskError(f"{task.source}: the prompt has slot {{{{ {sorted(slots)[0]} }}}} "
                        "but the task has no examples to fill it",
                        "add examples with that field, or remove the slot")
    for i, ex in enumerate(task.examples):
        missing = sorted(slots - ex.inputs.keys())
        if missing:
            where = wheres[i] if wheres else f"example {i}"
            raise TaskError(f"{where}: no field '{missing[0]}' for the prompt slot "
                            f"{{{{ {missing[0]} }}}}", "add the field or rename the slot")
    metric = task.resolved_metric()
    if metric in ("exact", "contains", "label"):
        lacking = [i for i, e in enumerate(task.examples) if e.expected is None]
        if not task.examples or lacking:
            where = (wheres[lacking[0]] if wheres and lacking else str(task.source))
            raise TaskError(f"{where}: metric '{metric}' needs an 'expected' answer on every "
                            "example", "add expected answers, or use metric: judge")


def load_task(path: Path) -> Task:
    data = _load_data(path)
    return task_from_dict(data, path, base_dir=path.parent)


def quick_task(prompt: str, description: str | None = None) -> Task:
    """The quick form: just a prompt (and what it is for), scored by the judge."""
    if not prompt.strip():
        raise TaskError("the prompt is empty", "give the prompt text in quotes")
    task = Task(name=_slug(prompt), description=description or "", messages=(Message("user", prompt),),
                metric="judge", source="(command line)")
    check_task(task)
    return task


def _slug(text: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in text.lower()).split()
    return "-".join(words[:6]) or "prompt"
