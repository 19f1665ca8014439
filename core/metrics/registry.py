"""The metric registry: a type name → its settings schema and a builder.

A task's ``metrics:`` entries are checked against this registry when the task loads (unknown
type, bad settings, a regex that does not compile, a custom function that cannot be imported),
so a mistake is reported before any model is called. Plugins add types with ``register_metric``.
A type whose builder runs user code (``custom``) also has a ``check`` that validates without
running it, for fronts that load untrusted task files (the editor: ``import_code=False``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .. import plugins
from ..errors import TaskError
from ..models.base import Model
from ..task import MetricSpec, Task
from ..templates import TemplateLibrary
from .base import Metric


@dataclass(frozen=True)
class MetricContext:
    task: Task
    judge: Model | None
    templates: TemplateLibrary | None
    seed: int = 0

    @property
    def base_dir(self) -> Path | None:
        return self.task.base_dir()


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


Normalizer = Literal["case", "whitespace", "punctuation", "quotes", "accents"]
DEFAULT_NORMALIZERS: list[Normalizer] = ["case", "whitespace", "punctuation", "quotes"]


class ExactParams(NoParams):
    normalizers: list[Normalizer] = Field(default_factory=lambda: list(DEFAULT_NORMALIZERS))


class LabelParams(NoParams):
    labels: list[str] | None = Field(default=None, description="default: the distinct expected answers")
    aliases: dict[str, str] = Field(default_factory=dict, description="other word -> label")


class RegexParams(NoParams):
    pattern: str | None = Field(default=None, description="default: each example's expected value")
    mode: Literal["search", "fullmatch"] = "search"
    flags: str = Field(default="", pattern=r"^[imsx]*$")


class NumericParams(NoParams):
    tolerance: float = Field(default=1e-6, ge=0)
    relative: bool = False


class JsonParams(NoParams):
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    fields: list[str] | None = None


class SimilarityParams(NoParams):
    threshold: float | None = Field(default=None, ge=0, le=1)


class JudgeParams(NoParams):
    rubric: str | dict[str, str] | None = Field(
        default=None, description="what a good answer has, or named dimensions -> what each means")
    repeats: int = Field(default=1, ge=1, le=10, description="judgements per answer (agreement)")


class CustomParams(NoParams):
    function: str = Field(pattern=r"^[^:]+:[A-Za-z_][A-Za-z0-9_]*$",
                          description="module:function or path/to/file.py:function")


Builder = Callable[[Any, MetricContext], Metric]
Checker = Callable[[Any, MetricContext], None]


@dataclass(frozen=True)
class MetricType:
    name: str
    params: type[BaseModel]
    build: Builder
    needs_expected: bool = False
    needs_judge: bool = False
    description: str = ""
    check: Checker | None = None  # validates without running user code; None: building runs none


def register_metric(kind: MetricType) -> None:
    """Add a metric type from code in this process; a package adds one through its plugin's
    ``register_metrics`` hook (``core.plugins``).

    Examples:
        A metric scores one answer in [0, 1]; its type says which settings a task gives it
        (``params``, checked when the task loads) and how to build it from them:

        >>> import asyncio, tempfile
        >>> from pathlib import Path
        >>> from pydantic import BaseModel, ConfigDict
        >>> from core import Example, MetricType, Score, load_task, metric_types, register_metric
        >>> class Brief:
        ...     name = "brief"
        ...     def __init__(self, words: int) -> None:
        ...         self.words = words
        ...     async def score(self, answer: str, example: Example) -> Score:
        ...         ok = len(answer.split()) <= self.words
        ...         return Score(1.0 if ok else 0.0, "" if ok else f"over {self.words} words")
        >>> class BriefParams(BaseModel):
        ...     model_config = ConfigDict(extra="forbid")
        ...     words: int = 3
        >>> register_metric(MetricType("brief", BriefParams, lambda params, ctx: Brief(params.words),
        ...                            description="at most `words` words"))
        >>> "brief" in metric_types()
        True
        >>> asyncio.run(Brief(3).score("positive, I think", Example(inputs={})))
        Score(value=1.0, reason='', outcome='')

        A task file may now use it; its settings are checked when the task loads:

        >>> path = Path(tempfile.mkdtemp()) / "brief.yaml"
        >>> _ = path.write_text("{name: b, prompt: Say hi, metrics: [{type: brief, words: 5}]}")
        >>> load_task(path).metric_specs()[0].params()
        {'words': 5}
        >>> _ = path.write_text("{name: b, prompt: Say hi, metrics: [{type: brief, wordz: 5}]}")
        >>> load_task(path)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        core.errors.TaskError: ...wordz...
    """
    plugins.add("metric", kind.name, kind)


def metric_types() -> dict[str, MetricType]:
    """Every metric type a task may name, by name: the built-ins, the plugins' and those
    registered in this process.

    Examples:
        >>> from core import metric_types
        >>> kinds = metric_types()
        >>> sorted(k for k in kinds if k in ("exact", "label", "judge", "regex"))
        ['exact', 'judge', 'label', 'regex']
        >>> kinds["judge"].needs_judge, kinds["label"].needs_expected
        (True, True)
    """
    return plugins.registered("metric")


def builtin_metrics() -> list[MetricType]:
    from .custom import CustomMetric
    from .custom_ref import check_custom_ref, parse_custom_ref
    from .extract import JsonMatch, NumericMatch, RegexMetric
    from .judge import Judge
    from .match import Contains, ExactMatch, LabelMatch
    from .similarity import Similarity

    def judge(p: JudgeParams, ctx: MetricContext) -> Metric:
        if ctx.judge is None or ctx.templates is None:
            raise TaskError("the judge metric needs a judge model", "set --judge")
        return Judge(ctx.judge, ctx.templates, ctx.task, rubric=p.rubric, repeats=p.repeats,
                     seed=ctx.seed)

    def label(p: LabelParams, ctx: MetricContext) -> Metric:
        labels = tuple(p.labels) if p.labels else ctx.task.label_set()
        if not labels:
            raise TaskError(f"{ctx.task.source}: the label metric needs labels",
                            "add `labels:` or expected answers")
        unknown = sorted(set(p.aliases.values()) - set(labels))
        if unknown:
            raise TaskError(f"{ctx.task.source}: alias target '{unknown[0]}' is not a label",
                            f"aliases must map to one of: {', '.join(labels)}")
        return LabelMatch(labels, aliases=dict(p.aliases))

    return [
        MetricType("exact", ExactParams, lambda p, c: ExactMatch(normalizers=tuple(p.normalizers)),
                   needs_expected=True, description="the answer equals the expected one (normalized)"),
        MetricType("contains", NoParams, lambda p, c: Contains(), needs_expected=True,
                   description="the expected answer appears in the answer"),
        MetricType("label", LabelParams, label, needs_expected=True,
                   description="the first label (or alias) in the answer is the expected one"),
        MetricType("regex", RegexParams,
                   lambda p, c: RegexMetric(p.pattern, mode=p.mode, flags=p.flags),
                   description="the answer matches a pattern (default: the expected value)"),
        MetricType("numeric", NumericParams,
                   lambda p, c: NumericMatch(tolerance=p.tolerance, relative=p.relative),
                   needs_expected=True, description="the final number equals the expected one"),
        MetricType("json", JsonParams,
                   lambda p, c: JsonMatch(schema=p.schema_,
                                          fields=tuple(p.fields) if p.fields else None),
                   description="parses as JSON, fits the schema, fields match the expected JSON"),
        MetricType("similarity", SimilarityParams, lambda p, c: Similarity(threshold=p.threshold),
                   needs_expected=True, description="embedding cosine with the expected answer"),
        MetricType("judge", JudgeParams, judge, needs_judge=True,
                   description="an LLM judge with a rubric, 0-10 per dimension"),
        MetricType("custom", CustomParams,
                   lambda p, c: CustomMetric(p.function, c.base_dir),
                   description="your function(answer, example) -> score",
                   check=lambda p, c: check_custom_ref(parse_custom_ref(p.function, c.base_dir))),
    ]


def _kind(spec: MetricSpec, where: str) -> MetricType:
    types = metric_types()
    kind = types.get(spec.type)
    if not isinstance(kind, MetricType):
        raise TaskError(f"{where}: unknown metric type '{spec.type}'",
                        f"use one of: {', '.join(sorted(types))}")
    return kind


def _params(kind: MetricType, spec: MetricSpec, where: str) -> BaseModel:
    try:
        return kind.params.model_validate(spec.params())
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(["type", "name", "weight", *kind.params.model_fields]) \
                .replace("schema_", "schema")
            return_msg = f"{where}.{loc}: unknown setting for metric '{kind.name}'"
            raise TaskError(return_msg, f"allowed: {allowed}") from None
        raise TaskError(f"{where}.{loc}: {err['msg'].removeprefix('Value error, ')}",
                        "fix that setting") from None


def build_metric(spec: MetricSpec, ctx: MetricContext, where: str = "metrics") -> Metric:
    kind = _kind(spec, where)
    return kind.build(_params(kind, spec, where), ctx)


def check_metrics(task: Task, wheres: list[str] | None = None, *, import_code: bool = True) -> None:
    """Validate every metric of a task at load time (everything but calling a model). With
    ``import_code=False``, metrics that run user code are checked without importing it."""
    specs = task.metric_specs()
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        where = f"{task.source}: metrics[{i}]" if task.metrics else f"{task.source}: metric"
        kind = _kind(spec, where)
        params = _params(kind, spec, where)
        if spec.label in seen:
            raise TaskError(f"{where}: the name '{spec.label}' is used twice",
                            "give each metric a distinct `name`")
        seen.add(spec.label)
        if kind.needs_expected:
            lacking = [j for j, e in enumerate(task.examples) if e.expected is None]
            if not task.examples or lacking:
                at = (wheres[lacking[0]] if wheres and lacking else str(task.source))
                raise TaskError(f"{at}: metric '{spec.type}' needs an 'expected' answer on every "
                                "example", "add expected answers, or use metric: judge")
        if not kind.needs_judge:
            ctx = MetricContext(task, None, None)
            try:
                if kind.check is not None and not import_code:
                    kind.check(params, ctx)
                else:
                    kind.build(params, ctx)
            except TaskError as exc:
                if str(task.source) in exc.message:
                    raise
                raise TaskError(f"{where}: {exc.message}", exc.hint) from None


def make_metrics(task: Task, judge: Model | None, templates: TemplateLibrary,
                 seed: int = 0) -> list[tuple[MetricSpec, Metric]]:
    ctx = MetricContext(task, judge, templates, seed)
    return [(spec, build_metric(spec, ctx)) for spec in task.metric_specs()]
