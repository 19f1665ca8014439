"""A plugin that registers a name a built-in holds, one of its own, and an observer that fails
on its first event (tests/test_plugins.py)."""

from __future__ import annotations

from typing import Any

from core import Register, hookimpl
from core.strategies import BUILTIN_STRATEGIES

seen: list[Any] = []


@hookimpl
def register_strategies(register: Register) -> None:
    register("refine", BUILTIN_STRATEGIES["opro"])  # taken: skipped with a warning
    register("also-refine", BUILTIN_STRATEGIES["refine"])


@hookimpl
def observe(event: Any) -> None:
    seen.append(event)
    if len(seen) == 1:
        raise RuntimeError("observer bug")
