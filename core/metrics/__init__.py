"""Metrics: the Metric protocol, the registry of built-ins, scorers, and statistics."""

from __future__ import annotations

from ..models.base import Model
from ..task import Task
from ..templates import TemplateLibrary
from .base import Metric, Score
from .judge import Judge, JudgeConsistency, parse_judgement
from .match import Contains, ExactMatch, LabelMatch, normalize
from .registry import MetricContext, MetricType, metric_types, register_metric
from .scoring import Scorer, VectorScore, Weighted
from .stats import Estimate, estimate

__all__ = ["Contains", "Estimate", "ExactMatch", "Judge", "JudgeConsistency", "LabelMatch", "Metric",
           "MetricContext", "MetricType", "Score", "Scorer", "VectorScore", "Weighted", "estimate",
           "make_scorer", "metric_types", "normalize", "parse_judgement", "register_metric"]


def make_scorer(task: Task, judge: Model | None, templates: TemplateLibrary, seed: int = 0) -> Scorer:
    """Every metric of the task, built and weighted."""
    from .registry import make_metrics

    return Scorer([Weighted(spec.label, spec.weight, metric)
                   for spec, metric in make_metrics(task, judge, templates, seed)])


def judges_of(scorer: Scorer) -> list[Judge]:
    return [m.metric for m in scorer.metrics if isinstance(m.metric, Judge)]
