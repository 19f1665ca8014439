"""prompt-tuner's core: the public API that every front (CLI, Slack bot, language server) uses.

```python
import asyncio
from pathlib import Path
from core import load_settings, load_task, open_store, tune

loaded = load_settings(flags={"tune.variations": 6})
events = lambda e: print(e.kind, getattr(e, "phase", ""))
task = load_task(Path("examples/sentiment.tune.yaml"))
result = asyncio.run(tune(task, loaded.settings, secrets=loaded.secrets,
                          on_event=events))
print(result.best_prompt, result.best.estimate.fmt(), result.p_value)
store = open_store(loaded.settings)
print(store.versions("movie-sentiment"))  # every version tried for the task
```

Fronts import from here only; everything else is internal.
"""

from __future__ import annotations

from .ab import DEFAULT_SEEDS as AB_DEFAULT_SEEDS
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
from .candidate import Candidate, messages_text
from .choices import Choice, run_choices
from .config import (
    PROFILES,
    LoadedSettings,
    Secrets,
    Settings,
    describe_settings,
    load_settings,
    resolve_models,
)
from .datasets import is_file as is_regular_file
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
    Phase,
    PhaseStarted,
    Progress,
    RoundFinished,
    RunFinished,
    RunWarning,
)
from .extras import EXTRAS, missing_extra, require_extra
from .gate import EXIT_INTERNAL, Gate, compare_gate, eval_gate
from .history import (
    EXPORT_FIELDS,
    CandidateView,
    RoundView,
    RunSummary,
    RunView,
    VersionView,
    best_so_far,
    export_rows,
    list_runs,
    load_run,
    resolve_run_id,
    task_versions,
)
from .insights import Gain, Insight
from .insights import gains as insight_gains
from .insights import group as group_gains
from .jsonio import load_json
from .lineage import Node as LineageNode
from .lineage import candidate_text, find_version, resolve_candidate, word_diff
from .lineage import extras_of as candidate_extras
from .lineage import lineage as run_lineage
from .lineage import parents_of as candidate_parents
from .lineage import walk as walk_lineage
from .metrics import JudgeConsistency, MetricContext, MetricType, metric_types, register_metric
from .metrics.base import Score
from .metrics.custom_ref import CustomRef, custom_metric_refs
from .metrics.stats import Estimate, PairedComparison, compare_paired
from .models import Completion, Message, Model, ModelHub, Request, ResponseCache, known_kinds
from .models.base import Adapter
from .models.cache import CacheStats
from .models.registry import ModelSpec
from .plan import answer_tokens, fit_dev, plan_calls
from .plugins import KINDS as PLUGIN_KINDS
from .plugins import Command as PluginCommand
from .plugins import Plugin, Register, hookimpl, registered, registered_checks
from .plugins import commands as plugin_commands
from .plugins import plugins as loaded_plugins
from .predictor import calibration as predictor_calibration
from .predictor import describe as describe_calibration
from .processors import (
    Processor,
    ProcessorContext,
    processor_code_refs,
    processor_names,
    register_processor,
)
from .promptfile import load_prompt, parse_prompt_text
from .report import FORMATS as REPORT_FORMATS
from .report import Format as ReportFormat
from .report import render_run
from .report.gate_markdown import render_gate_markdown
from .report.safety import safety_facts, safety_summary
from .result import CandidateResult, TuneResult
from .review import ReviewEntry, Reviewer, RoundDecision, RoundReview, check_slots
from .review import is_whole as is_whole_prompt
from .safety import find_injection, injection_matches
from .scaffold import Scaffold, scaffold_name, scaffold_task
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
from .textdiff import prompt_diff
from .trust import NamedEndpoint, bound_key_names, endpoint_note, spec_place, task_endpoints
from .viewer import ViewError
from .viewer import make_server as make_view_server
from .viewer import server_url as view_url
from .yamlio import compose_yaml, load_yaml, yaml_problem

__version__ = "0.1.0"

__all__ = [
    "AB_DEFAULT_SEEDS",
    "EXIT_INTERNAL",
    "EXPORT_FIELDS",
    "EXTRAS",
    "PLUGIN_KINDS",
    "PROFILES",
    "REPORT_FORMATS",
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
    "Choice",
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
    "Gain",
    "Gate",
    "Insight",
    "JudgeConsistency",
    "LineageNode",
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
    "Phase",
    "PhaseStarted",
    "Plugin",
    "PluginCommand",
    "Processor",
    "ProcessorContext",
    "Progress",
    "PromptTunerError",
    "Register",
    "ReportFormat",
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
    "Scaffold",
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
    "ViewError",
    "__version__",
    "answer_tokens",
    "best_so_far",
    "bound_key_names",
    "candidate_extras",
    "candidate_parents",
    "candidate_text",
    "check_ab",
    "check_slots",
    "compare_gate",
    "compare_paired",
    "compare_prompts",
    "compare_strategies",
    "compose_yaml",
    "custom_metric_refs",
    "describe_calibration",
    "describe_settings",
    "endpoint_note",
    "eval_gate",
    "evaluate_prompt",
    "export_rows",
    "find_injection",
    "find_version",
    "first_user_error",
    "fit_dev",
    "group_gains",
    "hookimpl",
    "injection_matches",
    "insight_gains",
    "is_regular_file",
    "is_whole_prompt",
    "known_kinds",
    "list_runs",
    "load_json",
    "load_prompt",
    "load_run",
    "load_settings",
    "load_task",
    "load_yaml",
    "loaded_plugins",
    "make_view_server",
    "messages_text",
    "metric_types",
    "migrate_database",
    "missing_extra",
    "new_run_id",
    "open_cache",
    "open_database",
    "open_store",
    "parse_prompt_text",
    "plan_calls",
    "plugin_commands",
    "predictor_calibration",
    "processor_code_refs",
    "processor_names",
    "prompt_diff",
    "prompt_slots",
    "quick_task",
    "register_metric",
    "register_processor",
    "registered",
    "registered_checks",
    "render_gate_markdown",
    "render_run",
    "require_extra",
    "resolve_candidate",
    "resolve_models",
    "resolve_run_id",
    "resume",
    "run_ab",
    "run_choices",
    "run_lineage",
    "safety_facts",
    "safety_summary",
    "scaffold_name",
    "scaffold_task",
    "spec_place",
    "strategy_names",
    "task_endpoints",
    "task_schema",
    "task_versions",
    "tune",
    "view_url",
    "walk_lineage",
    "word_diff",
    "yaml_problem",
]


def open_store(settings: Settings, *, read_only: bool = False) -> Store:
    """The run and version history (read it for reports, history, the editor and the bot);
    ``read_only``: never create or write it (see ``core.store``).

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from core import load_settings, open_store
        >>> path = Path(tempfile.mkdtemp()) / "runs.db"
        >>> store = open_store(load_settings(flags={"store_path": str(path)}).settings)
        >>> store.path == path, path.exists()
        (True, True)
        >>> store.close()
    """
    return Store(settings.store_file(), read_only=read_only)


def open_cache(settings: Settings, *, discard_corrupt: bool = False) -> ResponseCache:
    """``discard_corrupt``: start a damaged cache file again, empty (``cache clear``).

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from core import Completion, load_settings, open_cache
        >>> path = Path(tempfile.mkdtemp()) / "responses.db"
        >>> cache = open_cache(load_settings(flags={"cache.path": str(path)}).settings)
        >>> cache.put("some-request-hash", Completion("positive", model="embedded"))
        >>> cache.get("some-request-hash").text, cache.stats().entries
        ('positive', 1)
        >>> cache.close()
    """
    return ResponseCache(settings.cache_file(), ttl_s=settings.cache.ttl_s,
                         discard_corrupt=discard_corrupt)
