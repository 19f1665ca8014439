"""Metrics: the Metric protocol, built-ins, and statistics."""

from __future__ import annotations

from ..errors import TaskError
from ..models.base import Model
from ..task import Task
from ..templates import TemplateLibrary
from .base import Metric, Score
from .judge import Judge, parse_judgement
from .match import Contains, ExactMatch, LabelMatch, normalize
from .stats import Estimate, estimate

__all__ = ["Contains", "Estimate", "ExactMatch", "Judge", "LabelMatch", "Metric", "Score",
           "estimate", "make_metric", "normalize", "parse_judgement"]


def make_metric(task: Task, judge: Model | None, templates: TemplateLibrary, seed: int = 0) -> Metric:
    name = task.resolved_metric()
    if name == "exact":
        return ExactMatch()
    if name == "contains":
        return Contains()
    if name == "label":
        labels = task.label_set()
        if not labels:
            raise TaskError(f"{task.source}: the label metric needs labels",
                            "add `labels:` or expected answers")
        return LabelMatch(labels)
    if judge is None:
        raise TaskError("the judge metric needs a judge model", "set --judge")
    return Judge(judge, templates, task, seed=seed)
