"""Strategies propose candidates; each lives in its own module and registers here."""

from __future__ import annotations

from collections.abc import Callable

from .. import plugins
from ..errors import ConfigError
from .auto import Auto
from .base import (
    Scored,
    Strategy,
    StrategyContext,
    extract_prompt,
    format_instruction,
    repair_slots,
    with_format,
)
from .cot import ChainOfThought
from .evolve import Evolve
from .fewshot import FewShot
from .opro import Opro
from .refine import Refine

BUILTIN_STRATEGIES: dict[str, Callable[[], Strategy]] = {
    "auto": Auto, "refine": Refine, "opro": Opro, "evolve": Evolve, "fewshot": FewShot,
    "cot": ChainOfThought,
}

__all__ = ["BUILTIN_STRATEGIES", "Scored", "Strategy", "StrategyContext", "extract_prompt",
           "format_instruction", "get_strategy", "register_strategy", "repair_slots",
           "strategy_names", "with_format"]


def register_strategy(name: str, factory: Callable[[], Strategy]) -> None:
    """Add a strategy from code in this process; a package adds one through its plugin's
    ``register_strategies`` hook (``core.plugins``)."""
    plugins.add("strategy", name, factory)


def strategy_names() -> list[str]:
    """The strategies ``tune.strategy`` (``--strategy``) may name, sorted.

    Examples:
        >>> from core import strategy_names
        >>> [name for name in strategy_names() if name in ("auto", "cot", "fewshot", "refine")]
        ['auto', 'cot', 'fewshot', 'refine']
    """
    return sorted(plugins.registered("strategy"))


def get_strategy(name: str) -> Strategy:
    found = plugins.registered("strategy")
    if name not in found:
        raise ConfigError(f"unknown strategy '{name}'",
                          f"use one of: {', '.join(strategy_names())}")
    return found[name]()  # type: ignore[no-any-return]
