"""Tasks: the prompt to improve, what it is for, examples, splits, and how answers are scored.

A task file (YAML or JSON)::

    name: movie-sentiment
    description: Classify a movie review as positive or negative.
    prompt: |                      # a string (one user message) or a list of {role, content}
      Review: {{ text }}
    examples:                      # inline, each a mapping of fields plus `expected`
      - {text: "A joy from start to finish.", expected: positive}
    dataset:                       # and/or a data file (.jsonl .json .csv .tsv), relative to the task
      file: reviews.csv
      inputs: {text: review}       # slot -> column (default: every column but expected/meta)
      expected: label              # the column with the expected answer (default: expected)
      meta: [source]               # columns kept as per-example metadata
    splits: {train: 0.5, dev: 0.2, test: 0.3, seed: 0}   # stratified by label; or files: {test: t.jsonl}
    metrics:                       # one or more, weighted; or the shorthand `metric: label`
      - {type: label, labels: [positive, negative], aliases: {pos: positive}}
      - {type: regex, pattern: '^\\w+$', weight: 0.2}

Every ``{{ slot }}`` in the prompt must be a field of every example, and every metric's settings
must be valid; both are checked at load time, with the file and the record at fault.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .datasets import Record, is_file, read_records
from .errors import TaskError
from .jsonio import load_json
from .models.base import Message
from .processors.spec import ProcessorSpec
from .scalars import WrittenFloat
from .splits import SPLIT_NAMES, assign_splits
from .templates import prompt_slots
from .yamlio import MAX_YAML_CHARS, line_of, load_yaml, yaml_problem

MetricName = Literal["auto", "exact", "contains", "label", "judge"]
EXPECTED = "expected"
SplitName = Literal["train", "dev", "test"]
SCALARS = (str, int, float, bool)


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


class DatasetSpec(BaseModel):
    """Where examples come from and which columns mean what."""

    model_config = ConfigDict(extra="forbid")

    file: str = Field(min_length=1, description="a .jsonl, .json, .csv or .tsv file, relative to the task")
    inputs: dict[str, str] | None = Field(
        default=None, description="prompt slot -> column; default: every column but expected and meta")
    expected: str = Field(default=EXPECTED, description="the column with the expected answer")
    meta: list[str] = Field(default_factory=list, description="columns kept as example metadata")


class SplitSpec(BaseModel):
    """Train/dev/test: fractions of the examples (seeded, stratified by label), and/or files."""

    model_config = ConfigDict(extra="forbid")

    train: float | None = Field(default=None, ge=0, le=1)
    dev: float | None = Field(default=None, ge=0, le=1)
    test: float | None = Field(default=None, ge=0, le=1)
    seed: int = 0
    stratify: bool | None = Field(default=None, description="default: when answers are labels")
    files: dict[SplitName, str] = Field(default_factory=dict,
                                        description="split -> data file read like `dataset`")

    def fractions(self) -> dict[str, float]:
        return {n: f for n in SPLIT_NAMES if (f := getattr(self, n))}

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitSpec:
        fr = self.fractions()
        if fr and abs(sum(fr.values()) - 1.0) > 1e-6:
            raise ValueError(f"the split fractions add up to {sum(fr.values()):g}, not 1")
        return self


class MetricSpec(BaseModel):
    """One metric of the score vector: its type, settings (by type), name and weight."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str = Field(min_length=1, description="exact | contains | label | regex | numeric | json | "
                                                "similarity | judge | custom, or a registered one")
    name: str | None = Field(default=None, description="default: the type")
    weight: float = Field(default=1.0, gt=0)

    @property
    def label(self) -> str:
        return self.name or self.type

    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class TaskFile(BaseModel):
    """The schema of a task file."""

    model_config = ConfigDict(extra="forbid", title="prompt-tuner task file")

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    prompt: str | list[PromptMessage]
    examples: list[dict[str, Any]] = Field(default_factory=list)
    examples_file: str | None = Field(default=None, description="shorthand for dataset.file (JSONL)")
    dataset: DatasetSpec | None = None
    splits: SplitSpec | None = None
    metric: MetricName = Field(default="auto", description="shorthand for one metric")
    metrics: list[MetricSpec] = Field(default_factory=list)
    labels: list[str] | None = None
    rubric: str | None = None
    models: TaskModels = TaskModels()
    processors: list[ProcessorSpec] = Field(default_factory=list, description=(
        "hooks on the target's calls, after the settings' processors: names (strip-think, "
        "first-line, final-answer, trim, redact), {name: aliases, map: {...}} entries, or "
        "pkg.mod:fn / file.py:fn"))

    @field_validator("prompt")
    @classmethod
    def _non_empty(cls, v: str | list[PromptMessage]) -> str | list[PromptMessage]:
        if isinstance(v, str) and not v.strip():
            raise ValueError("the prompt is empty")
        if isinstance(v, list) and not v:
            raise ValueError("the prompt has no messages")
        return v

    @model_validator(mode="after")
    def _one_metric_form(self) -> TaskFile:
        if self.metrics and self.metric != "auto":
            raise ValueError("give either `metric` or `metrics`, not both")
        if self.examples_file and self.dataset:
            raise ValueError("give either `examples_file` or `dataset`, not both")
        return self


def task_schema() -> dict[str, Any]:
    """The task file's JSON Schema (``prompt-tuner schema task``).

    Examples:
        >>> from core import task_schema
        >>> schema = task_schema()
        >>> schema["required"]
        ['name', 'prompt']
        >>> "examples" in schema["properties"] and "metrics" in schema["properties"]
        True
    """
    schema = TaskFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


class Task(BaseModel):
    """A loaded, checked task (:func:`load_task`, :func:`quick_task`): the prompt as messages,
    the examples, the splits as example indices, and how answers are scored.

    Examples:
        >>> from pathlib import Path
        >>> from core import load_task
        >>> task = load_task(Path("examples/sentiment.tune.yaml"))
        >>> task.messages[0].role, task.examples[0].expected, task.split_names()
        ('user', 'positive', ())
        >>> [(spec.type, spec.params()) for spec in task.metric_specs()]
        [('label', {'labels': ['positive', 'negative']})]
        >>> len(task.split("all")), task.base_dir()
        (40, PosixPath('examples'))
    """

    name: str
    description: str = ""
    messages: tuple[Message, ...]
    examples: tuple[Example, ...] = ()
    metric: MetricName = "auto"
    metrics: tuple[MetricSpec, ...] = ()
    labels: tuple[str, ...] | None = None
    rubric: str | None = None
    models: TaskModels = TaskModels()
    splits: dict[str, tuple[int, ...]] = Field(default_factory=dict)
    source: str | None = None
    processors: tuple[ProcessorSpec, ...] = ()

    def slots(self) -> frozenset[str]:
        out: set[str] = set()
        for m in self.messages:
            out |= prompt_slots(m.content)
        return frozenset(out)

    def base_dir(self) -> Path | None:
        if self.source is None or self.source.startswith("("):
            return None
        return Path(self.source).parent

    def resolved_metric(self) -> str:
        """The first metric's type. ``auto``: a label metric for short categorical answers,
        exact match for other expected outputs, the judge when there are none."""
        if self.metrics:
            return self.metrics[0].type
        if self.metric != "auto":
            return self.metric
        expected = [e.expected for e in self.examples if e.expected is not None]
        if not expected:
            return "judge"
        distinct = set(expected)
        if all(len(x.split()) <= 3 for x in distinct) and len(distinct) <= max(2, len(expected) // 2):
            return "label"
        return "exact"

    def metric_specs(self) -> tuple[MetricSpec, ...]:
        """The metrics that make up the score, with the shorthand fields folded in."""
        if self.metrics:
            return self.metrics
        kind = self.resolved_metric()
        params: dict[str, Any] = {}
        if kind == "label":
            params["labels"] = list(self.label_set())
        if kind == "judge" and self.rubric:
            params["rubric"] = self.rubric
        return (MetricSpec(type=kind, **params),)

    def uses_judge(self) -> bool:
        return any(spec.type == "judge" for spec in self.metric_specs())

    def label_set(self) -> tuple[str, ...]:
        if self.labels:
            return self.labels
        for spec in self.metrics:
            labels = spec.params().get("labels")
            if spec.type == "label" and isinstance(labels, list) and labels:
                return tuple(str(x) for x in labels)
        return tuple(sorted({e.expected for e in self.examples if e.expected is not None}))

    def split_names(self) -> tuple[str, ...]:
        return tuple(self.splits)

    def split(self, name: str | None) -> tuple[Example, ...]:
        """The examples of a split; ``None`` or ``all``: every example."""
        if name in (None, "all"):
            return self.examples
        if name not in self.splits:
            have = ", ".join(["all", *self.splits]) if self.splits else "all (the task has no splits)"
            raise TaskError(f"{self.source or self.name}: no split named '{name}'",
                            f"choose one of: {have}")
        return tuple(self.examples[i] for i in self.splits[name])


# -- loading -------------------------------------------------------------------------------------


def _value_type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _as_text(value: str | int | float | bool) -> str:
    """An expected answer as the file wrote it: ``true`` stays "true" (not Python's "True"), and
    numbers print as written (``1.50``, see :mod:`core.scalars`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _names(record: dict[Any, Any], most: int = 10) -> str:
    names = [str(k) for k in list(record)[:most]]
    return ", ".join(names) + (", …" if len(record) > most else "")


def _example(record: Any, where: str, mapping: DatasetSpec | None = None) -> Example:
    if not isinstance(record, dict):
        raise TaskError(f"{where}: an example must be a mapping of fields, got {_value_type(record)}",
                        "write e.g. {text: ..., expected: ...}")
    expected_key = mapping.expected if mapping else EXPECTED
    meta_keys = set(mapping.meta) if mapping else set()
    if mapping is None and "inputs" in record and isinstance(record["inputs"], dict):
        inputs = dict(record["inputs"])
        meta: Any = record.get("meta") or {}
    elif mapping is not None and mapping.inputs is not None:
        inputs = {}
        for slot, column in mapping.inputs.items():
            if column not in record:
                raise TaskError(f"{where}: no column '{column}' (dataset.inputs.{slot})",
                                f"add it, or map '{slot}' to one of: {_names(record)}")
            inputs[slot] = record[column]
        meta = {k: record[k] for k in meta_keys if k in record}
    else:
        skip = {expected_key, "meta", *meta_keys}
        inputs = {k: v for k, v in record.items() if k not in skip}
        meta = record.get("meta") or {}
        meta = ({**meta, **{k: record[k] for k in meta_keys if k in record}}
                if isinstance(meta, dict) else {"value": meta})
    if mapping is not None and mapping.expected != EXPECTED and expected_key not in record:
        raise TaskError(f"{where}: no column '{expected_key}' (dataset.expected)",
                        "add the expected answer, or point dataset.expected at its column")
    expected = record.get(expected_key)
    if expected is not None and not isinstance(expected, SCALARS):
        raise TaskError(f"{where}: field '{expected_key}' must be text, got {_value_type(expected)}",
                        "write the expected answer as a string")
    # a number that prints differently from how it was written (1.50) is kept as its text, so a
    # prompt shows what the file says, also after a resume reads the task back from the store
    inputs = {k: str(v) if isinstance(v, WrittenFloat) else v for k, v in inputs.items()}
    for part, fields in (("inputs", inputs), ("meta", meta)):
        odd = next((k for k in fields if not isinstance(k, str)), None) if isinstance(fields, dict) else None
        if odd is not None:
            raise TaskError(f"{where}: field name {odd!r} in {part} is not text",
                            "quote it, e.g. '1': ... instead of 1: ...")
    return Example(inputs=inputs, expected=None if expected is None else _as_text(expected),
                   meta=meta if isinstance(meta, dict) else {"value": meta})


MAX_TASK_FILE_BYTES = MAX_YAML_CHARS  # 8 MiB; examples beyond that belong in a data file


def read_text_file(path: Path, what: str) -> str:
    """A task or prompt file's text: at most :data:`MAX_TASK_FILE_BYTES`, UTF-8, or a TaskError
    naming the file (and the line of a bad byte)."""
    try:
        with path.open("rb") as fh:  # read at most one byte past the cap, whatever stat says
            raw = fh.read(MAX_TASK_FILE_BYTES + 1)
    except OSError as exc:
        raise TaskError(f"cannot read {what} {path}: {exc.strerror or exc}", "check the file") from None
    if len(raw) > MAX_TASK_FILE_BYTES:
        raise TaskError(f"{path}: the {what} is larger than {MAX_TASK_FILE_BYTES >> 20} MiB",
                        "put large example sets in a data file (dataset: {file: ...})")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise TaskError(f"{path} line {line}: not UTF-8 text", "save the file as UTF-8") from None


def parse_document(text: str, path: Path | str, json_format: bool) -> Any:
    """The data of a YAML or JSON file, within the limits of :mod:`core.yamlio` and
    :mod:`core.jsonio`; every problem is a one-line TaskError naming the file and line."""
    try:
        return load_json(text) if json_format else load_yaml(text)
    except json.JSONDecodeError as exc:
        raise TaskError(f"{path} line {exc.lineno}: not valid JSON: {exc.msg}",
                        "fix the syntax") from None
    except yaml.YAMLError as exc:
        line, problem, hint = yaml_problem(exc, text)
        where = f" line {line}" if line is not None else ""
        raise TaskError(f"{path}{where}: {problem}", hint) from None


def _load_data(path: Path) -> Any:
    if not is_file(path):
        raise TaskError(f"task file not found: {path}", "check the path, or give a prompt in quotes")
    text = read_text_file(path, "task file")
    data = parse_document(text, path, json_format=path.suffix.lower() == ".json")
    return _FileData(data, text) if isinstance(data, dict) else data


class _FileData(dict[str, Any]):
    """A task file's top-level mapping with the file's text, so a schema error can name its line."""

    def __init__(self, data: dict[str, Any], text: str) -> None:
        super().__init__(data)
        self.text = text


_FIELDS = "name, description, prompt, examples, examples_file, dataset, splits, metric, metrics, " \
          "labels, rubric, models, processors"


def _validation_error(path: Path | str, exc: ValidationError, data: Any = None) -> TaskError:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    at = err["loc"][:-1] if err["type"] == "missing" else err["loc"]  # a missing field: its parent
    line = line_of(data.text, at) if isinstance(data, _FileData) and at else None
    path = f"{path} line {line}" if line is not None else path
    if err["type"] == "extra_forbidden":
        hint = f"allowed: {_FIELDS}" if len(err["loc"]) == 1 else "check the spelling in the docs"
        return TaskError(f"{path}: unknown field '{loc}'", hint)
    if err["type"] == "missing":
        return TaskError(f"{path}: missing required field '{loc}'", "add it to the task file")
    msg = err["msg"].removeprefix("Value error, ")
    if loc == "(top level)":
        return TaskError(f"{path}: {msg}", "fix the task file")
    return TaskError(f"{path}: field '{loc}': {msg}", "fix that field")


def task_from_dict(data: Any, source: Path | str, base_dir: Path | None = None, *,
                   import_code: bool = True, within: Sequence[Path] | None = None) -> Task:
    if not isinstance(data, dict):
        raise TaskError(f"{source}: a task file must be a mapping (name, prompt, examples…)",
                        "see examples/sentiment.tune.yaml")
    try:
        spec = TaskFile.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(source, exc, data) from None
    base = base_dir or Path.cwd()
    if isinstance(spec.prompt, str):
        messages: tuple[Message, ...] = (Message("user", spec.prompt),)
    else:
        messages = tuple(Message(m.role, m.content) for m in spec.prompt)
    dataset = spec.dataset or (DatasetSpec(file=spec.examples_file) if spec.examples_file else None)
    pool: list[Record] = [Record(r, f"{source} examples[{i}]") for i, r in enumerate(spec.examples)]
    mappings: list[DatasetSpec | None] = [None] * len(pool)
    if dataset is not None:
        field = ("examples_file",) if spec.examples_file else ("dataset", "file")
        got = read_records(_data_file(base, dataset.file, field, source, data, within))
        pool += got
        mappings += [dataset] * len(got)
    fixed: dict[str, list[Record]] = {}
    for split_name, file in (spec.splits.files if spec.splits else {}).items():
        fixed[split_name] = read_records(
            _data_file(base, file, ("splits", "files", split_name), source, data, within))
    records = pool + [r for rs in fixed.values() for r in rs]
    mappings += [dataset] * (len(records) - len(pool))  # split files share the column mapping
    examples = tuple(_example(r.data, r.where, m) for r, m in zip(records, mappings, strict=True))
    task = Task(name=spec.name, description=spec.description, messages=messages,
                examples=examples, metric=spec.metric, metrics=tuple(spec.metrics),
                labels=tuple(spec.labels) if spec.labels else None, rubric=spec.rubric,
                models=spec.models, source=str(source), processors=tuple(spec.processors))
    if spec.splits is not None:
        task = task.model_copy(update={"splits": _splits(task, spec.splits, len(pool), fixed)})
    check_task(task, [r.where for r in records], import_code=import_code)
    return task


def _data_file(base: Path, name: str, field: tuple[str, ...], source: Path | str, data: Any,
               within: Sequence[Path] | None) -> Path:
    """The data file ``name`` (relative to ``base``) names; with ``within``, a TaskError unless
    it resolves (``..``, an absolute path and symlinks followed) inside one of those folders: a
    task file nobody vouched for must not make its reader show a file from elsewhere."""
    path = base / name
    if within is None:
        return path
    real = _resolved(path)
    roots = [r for r in (_resolved(f) for f in within) if r is not None]
    if real is not None and any(real == r or real.is_relative_to(r) for r in roots):
        return path
    line = line_of(data.text, field) if isinstance(data, _FileData) else None
    where = f"{source} line {line}" if line is not None else f"{source}"
    folders = ", ".join(str(r) for r in roots) or "(none)"
    raise TaskError(f"{where}: {'.'.join(field)} {name} is outside the folder(s) {folders}, so it "
                    "is not read", "move the data file into the workspace, beside the task file")


def _resolved(path: Path) -> Path | None:
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte, a name too long
        return None


def _splits(task: Task, spec: SplitSpec, n_pool: int,
            fixed: dict[str, list[Record]]) -> dict[str, tuple[int, ...]]:
    fractions = spec.fractions()
    if not fractions and not fixed:
        raise TaskError(f"{task.source}: `splits` gives neither fractions nor files",
                        "write e.g. splits: {train: 0.6, dev: 0.2, test: 0.2}")
    if not fractions:
        fractions = {"train": 1.0}  # the main examples train; the files hold the rest
    stratify = spec.stratify
    if stratify is None:
        stratify = task.resolved_metric() == "label"
    strata = [e.expected for e in task.examples[:n_pool]] if stratify else None
    out = assign_splits(n_pool, fractions, seed=spec.seed, strata=strata)
    start = n_pool
    for name, recs in fixed.items():
        own = tuple(range(start, start + len(recs)))
        out[name] = tuple(sorted(out.get(name, ()) + own))
        start += len(recs)
    return {name: out[name] for name in SPLIT_NAMES if name in out}


def check_task(task: Task, wheres: list[str] | None = None, *, import_code: bool = True) -> None:
    """Load-time checks: every slot is filled by every example, with a value that is text or a
    number; the metrics' settings are valid and they have what they need. ``import_code=False``
    checks custom metrics' references without importing them (see ``load_task``)."""
    try:
        slots = task.slots()
    except TaskError as exc:  # a template syntax error: say which file it is in
        raise TaskError(f"{task.source}: {exc.message}", exc.hint) from None
    if slots and not task.examples:
        raise TaskError(f"{task.source}: the prompt has slot {{{{ {sorted(slots)[0]} }}}} "
                        "but the task has no examples to fill it",
                        "add examples with that field, or remove the slot")
    check_examples(task.examples, slots, wheres)
    from .metrics.registry import check_metrics  # metrics import this module

    check_metrics(task, wheres, import_code=import_code)
    from .processors import check_specs

    try:
        check_specs(task.processors, task.base_dir(), import_code=import_code)
    except TaskError as exc:
        raise TaskError(f"{task.source}: {exc.message}", exc.hint) from None


def check_examples(examples: tuple[Example, ...] | list[Example], slots: frozenset[str],
                   wheres: list[str] | None = None, prompt_name: str = "the prompt") -> None:
    for i, ex in enumerate(examples):
        where = wheres[i] if wheres else f"example {i + 1}"
        missing = sorted(slots - ex.inputs.keys())
        if missing:
            raise TaskError(f"{where}: no field '{missing[0]}' for the slot "
                            f"{{{{ {missing[0]} }}}} in {prompt_name}",
                            "add the field or rename the slot")
        for slot in sorted(slots):
            value = ex.inputs[slot]
            if not isinstance(value, SCALARS):
                raise TaskError(f"{where}: field '{slot}' must be text or a number, got "
                                f"{_value_type(value)}", "write the value as a string")


def load_task(path: Path, *, import_code: bool = True, within: Sequence[Path] | None = None) -> Task:
    """Load and check a task file. A custom metric's code is imported to check it (the CLI: the
    user ran it); ``import_code=False`` only reads and parses it, for task files nobody vouched
    for (the editor's workspace), and a run imports it when it builds the metric. ``within``:
    the folders the task's data files (``dataset.file``, ``examples_file``, ``splits.files``) must
    resolve into, else a TaskError and nothing is read (the editor: the workspace folders).

    Examples:
        >>> from pathlib import Path
        >>> from core import load_task
        >>> task = load_task(Path("examples/sentiment.tune.yaml"))
        >>> task.name, len(task.examples), sorted(task.slots())
        ('movie-sentiment', 40, ['review'])
        >>> task.resolved_metric(), task.label_set()
        ('label', ('positive', 'negative'))

        A mistake in the file is one ``TaskError`` line that names the file, and a hint:

        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "bad.yaml").write_text("{name: x, prompt: 'Say {{ word }}'}")
        >>> load_task(folder / "bad.yaml")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        core.errors.TaskError: .../bad.yaml: the prompt has slot {{ word }} but the task has no examples ...
    """
    data = _load_data(path)
    return task_from_dict(data, path, base_dir=path.parent, import_code=import_code, within=within)


def quick_task(prompt: str, description: str | None = None) -> Task:
    """The quick form: just a prompt (and what it is for), scored by the judge.

    Examples:
        >>> from core import quick_task
        >>> task = quick_task("Write a poem about a cat", "short, rhyming")
        >>> task.name, task.resolved_metric(), task.examples
        ('write-a-poem-about-a-cat', 'judge', ())
        >>> task.messages[0].content
        'Write a poem about a cat'
    """
    if not prompt.strip():
        raise TaskError("the prompt is empty", "give the prompt text in quotes")
    task = Task(name=_slug(prompt), description=description or "", messages=(Message("user", prompt),),
                metric="judge", source="(command line)")
    check_task(task)
    return task


def _slug(text: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in text.lower()).split()
    return "-".join(words[:6]) or "prompt"
