"""prompt-tuner's core: the public API that every front (CLI, Slack bot, language server) uses.

    import asyncio
    from core import load_settings, load_task, tune

    loaded = load_settings()
    result = asyncio.run(tune(load_task(Path("examples/sentiment.tune.yaml")), loaded.settings))
    print(result.best_prompt, result.best.estimate.fmt())

Fronts import from here only; everything else is internal.
"""

from __future__ import annotations

from .ab import (
    ABError,
    ABReport,
    ABRun,
    PairVerdict,
    StrategySummary,
    check_ab,
    compare_strategies,
    run_ab,
)
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
from .metrics.base import Score
from .metrics.custom_ref import CustomRef, custom_metric_refs
from .metrics.stats import Estimate, PairedComparison, compare_paired
from .models import Completion, Message, Model, ModelHub, Request, ResponseCache, known_kinds
from .models.base import Adapter
from .models.cache import CacheStats
from .models.registry import ModelSpec
from .plan import answer_tokens, fit_dev, plan_calls
from .plugins import Command as PluginCommand
from .plugins import Plugin, Register, hookimpl, registered, registered_checks
from .plugins import plugins as loaded_plugins
from .processors import (
    Processor,
    ProcessorContext,
    processor_code_refs,
    processor_names,
    register_processor,
)
from .promptfile import load_prompt, parse_prompt_text
from .report.safety import safety_summary
from .result import CandidateResult, TuneResult
from .review import ReviewEntry, Reviewer, RoundDecision, RoundReview
from .safety import find_injection, injection_matches
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
from .strategies import Scored, Strategy, StrategyContext, strategy_names
from .task import Example, MetricSpec, Task, load_task, quick_task, task_schema
from .templates import prompt_slots
from .trust import NamedEndpoint, bound_key_names, endpoint_note, spec_place, task_endpoints
from .yamlio import compose_yaml, load_yaml, yaml_problem

__version__ = "0.1.0"

__all__ = [
    "EXPORT_FIELDS",
    "PROFILES",
    "ABError",
    "ABReport",
    "ABRun",
    "Adapter",
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
    "ModelSpec",
    "ModelSpecError",
    "ModelUnavailable",
    "NamedEndpoint",
    "PairVerdict",
    "PairedComparison",
    "PhaseStarted",
    "Plugin",
    "PluginCommand",
    "Processor",
    "ProcessorContext",
    "Progress",
    "PromptTunerError",
    "Register",
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
    "Score",
    "Scored",
    "Secrets",
    "Settings",
    "StorageBusy",
    "StorageCorrupt",
    "StorageError",
    "StorageFull",
    "StorageReadOnly",
    "Store",
    "Strategy",
    "StrategyContext",
    "StrategySummary",
    "Task",
    "TaskError",
    "TuneResult",
    "Usage",
    "VersionView",
    "__version__",
    "answer_tokens",
    "bound_key_names",
    "check_ab",
    "compare_paired",
    "compare_prompts",
    "compare_strategies",
    "compose_yaml",
    "custom_metric_refs",
    "describe_settings",
    "endpoint_note",
    "evaluate_prompt",
    "export_rows",
    "find_injection",
    "first_user_error",
    "fit_dev",
    "hookimpl",
    "injection_matches",
    "known_kinds",
    "list_runs",
    "load_prompt",
    "load_run",
    "load_settings",
    "load_task",
    "load_yaml",
    "loaded_plugins",
    "metric_types",
    "migrate_database",
    "new_run_id",
    "open_cache",
    "open_database",
    "open_store",
    "parse_prompt_text",
    "plan_calls",
    "processor_code_refs",
    "processor_names",
    "prompt_slots",
    "quick_task",
    "register_metric",
    "register_processor",
    "registered",
    "registered_checks",
    "resolve_models",
    "resolve_run_id",
    "resume",
    "run_ab",
    "safety_summary",
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
