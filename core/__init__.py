"""prompt-tuner's core: the public API that every front (CLI, Slack bot, language server) uses.

    import asyncio
    from core import load_settings, load_task, tune

    loaded = load_settings()
    result = asyncio.run(tune(load_task(Path("examples/sentiment.tune.yaml")), loaded.settings))
    print(result.best_prompt, result.best.estimate.fmt())

Fronts import from here only; everything else is internal.
"""

from __future__ import annotations

from .budget import BudgetLimits, Usage
from .candidate import Candidate
from .config import (
    PROFILES,
    LoadedSettings,
    Secrets,
    Settings,
    describe_settings,
    load_settings,
    resolve_models,
)
from .engine import new_run_id, resume, tune
from .errors import (
    BudgetExhausted,
    ConfigError,
    ModelError,
    ModelSpecError,
    ModelUnavailable,
    PromptTunerError,
    ReportNotWritten,
    TaskError,
    first_user_error,
)
from .evaluate import ComparisonReport, EvalReport, ExampleOutcome, Matchup, compare_prompts, evaluate_prompt
from .events import (
    CandidateProposed,
    EvaluationDone,
    Event,
    EventHandler,
    ExampleScored,
    ModelCalled,
    PhaseStarted,
    Progress,
    RoundFinished,
    RunFinished,
    RunWarning,
)
from .history import (
    EXPORT_FIELDS,
    CandidateView,
    RoundView,
    RunSummary,
    RunView,
    VersionView,
    export_rows,
    list_runs,
    load_run,
    resolve_run_id,
    task_versions,
)
from .metrics import JudgeConsistency, MetricContext, MetricType, metric_types, register_metric
from .metrics.custom_ref import CustomRef, custom_metric_refs
from .metrics.stats import Estimate, PairedComparison, compare_paired
from .models import Completion, Message, Model, ModelHub, Request, ResponseCache, known_kinds
from .models.cache import CacheStats
from .plan import answer_tokens, fit_dev, plan_calls
from .promptfile import load_prompt, parse_prompt_text
from .result import CandidateResult, TuneResult
from .review import ReviewEntry, Reviewer, RoundDecision, RoundReview
from .sqlitedb import (
    StorageBusy,
    StorageCorrupt,
    StorageError,
    StorageFull,
    StorageReadOnly,
    open_database,
)
from .sqlitedb import migrate as migrate_database
from .store import Store
from .strategies import strategy_names
from .task import Example, MetricSpec, Task, load_task, quick_task, task_schema
from .templates import prompt_slots
from .trust import NamedEndpoint, bound_key_names, endpoint_note, spec_place, task_endpoints
from .yamlio import compose_yaml, load_yaml, yaml_problem

__version__ = "0.1.0"

__all__ = [
    "EXPORT_FIELDS",
    "PROFILES",
    "BudgetExhausted",
    "BudgetLimits",
    "CacheStats",
    "Candidate",
    "CandidateProposed",
    "CandidateResult",
    "CandidateView",
    "ComparisonReport",
    "Completion",
    "ConfigError",
    "CustomRef",
    "Estimate",
    "EvalReport",
    "EvaluationDone",
    "Event",
    "EventHandler",
    "Example",
    "ExampleOutcome",
    "ExampleScored",
    "JudgeConsistency",
    "LoadedSettings",
    "Matchup",
    "Message",
    "MetricContext",
    "MetricSpec",
    "MetricType",
    "Model",
    "ModelCalled",
    "ModelError",
    "ModelHub",
    "ModelSpecError",
    "ModelUnavailable",
    "NamedEndpoint",
    "PairedComparison",
    "PhaseStarted",
    "Progress",
    "PromptTunerError",
    "ReportNotWritten",
    "Request",
    "ResponseCache",
    "ReviewEntry",
    "Reviewer",
    "RoundDecision",
    "RoundFinished",
    "RoundReview",
    "RoundView",
    "RunFinished",
    "RunSummary",
    "RunView",
    "RunWarning",
    "Secrets",
    "Settings",
    "StorageBusy",
    "StorageCorrupt",
    "StorageError",
    "StorageFull",
    "StorageReadOnly",
    "Store",
    "Task",
    "TaskError",
    "TuneResult",
    "Usage",
    "VersionView",
    "__version__",
    "answer_tokens",
    "bound_key_names",
    "compare_paired",
    "compare_prompts",
    "compose_yaml",
    "custom_metric_refs",
    "describe_settings",
    "endpoint_note",
    "evaluate_prompt",
    "export_rows",
    "first_user_error",
    "fit_dev",
    "known_kinds",
    "list_runs",
    "load_prompt",
    "load_run",
    "load_settings",
    "load_task",
    "load_yaml",
    "metric_types",
    "migrate_database",
    "new_run_id",
    "open_cache",
    "open_database",
    "open_store",
    "parse_prompt_text",
    "plan_calls",
    "prompt_slots",
    "quick_task",
    "register_metric",
    "resolve_models",
    "resolve_run_id",
    "resume",
    "spec_place",
    "strategy_names",
    "task_endpoints",
    "task_schema",
    "task_versions",
    "tune",
    "yaml_problem",
]


def open_store(settings: Settings, *, read_only: bool = False) -> Store:
    """The run and version history (read it for reports, history, the editor and the bot);
    ``read_only``: never create or write it (see ``core.store``)."""
    return Store(settings.store_file(), read_only=read_only)


def open_cache(settings: Settings, *, discard_corrupt: bool = False) -> ResponseCache:
    """``discard_corrupt``: start a damaged cache file again, empty (``cache clear``)."""
    return ResponseCache(settings.cache_file(), ttl_s=settings.cache.ttl_s,
                         discard_corrupt=discard_corrupt)
