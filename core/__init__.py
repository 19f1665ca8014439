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
from .engine import new_run_id, tune
from .errors import (
    BudgetExhausted,
    ConfigError,
    ModelError,
    ModelSpecError,
    ModelUnavailable,
    PromptTunerError,
    TaskError,
)
from .events import (
    CandidateProposed,
    EvaluationDone,
    Event,
    EventHandler,
    ExampleScored,
    PhaseStarted,
    RoundFinished,
    RunFinished,
    RunWarning,
)
from .metrics.stats import Estimate
from .models import Completion, Message, Model, ModelHub, Request, ResponseCache, known_kinds
from .models.cache import CacheStats
from .plan import plan_calls
from .result import CandidateResult, TuneResult
from .store import Store
from .task import Example, Task, load_task, quick_task

__version__ = "0.1.0"

__all__ = [
    "PROFILES",
    "BudgetExhausted",
    "BudgetLimits",
    "CacheStats",
    "Candidate",
    "CandidateProposed",
    "CandidateResult",
    "Completion",
    "ConfigError",
    "Estimate",
    "EvaluationDone",
    "Event",
    "EventHandler",
    "Example",
    "ExampleScored",
    "LoadedSettings",
    "Message",
    "Model",
    "ModelError",
    "ModelHub",
    "ModelSpecError",
    "ModelUnavailable",
    "PhaseStarted",
    "PromptTunerError",
    "Request",
    "ResponseCache",
    "RoundFinished",
    "RunFinished",
    "RunWarning",
    "Secrets",
    "Settings",
    "Store",
    "Task",
    "TaskError",
    "TuneResult",
    "Usage",
    "__version__",
    "describe_settings",
    "known_kinds",
    "load_settings",
    "load_task",
    "new_run_id",
    "open_cache",
    "open_store",
    "plan_calls",
    "quick_task",
    "resolve_models",
    "tune",
]


def open_store(settings: Settings) -> Store:
    """The run and version history (read it for reports, history, the editor and the bot)."""
    return Store(settings.store_file())


def open_cache(settings: Settings) -> ResponseCache:
    return ResponseCache(settings.cache_file(), ttl_s=settings.cache.ttl_s)
