"""Strategies propose candidates; each lives in its own module and registers here."""

from __future__ import annotations

from ..errors import ConfigError
from .base import Strategy, StrategyContext, extract_prompt, repair_slots
from .refine import Refine

_registry: dict[str, type] = {"refine": Refine}

__all__ = ["Strategy", "StrategyContext", "extract_prompt", "get_strategy", "register_strategy",
           "repair_slots"]


def register_strategy(name: str, cls: type) -> None:
    _registry[name] = cls


def get_strategy(name: str) -> Strategy:
    if name not in _registry:
        raise ConfigError(f"unknown strategy '{name}'", f"use one of: {', '.join(sorted(_registry))}")
    strategy: Strategy = _registry[name]()
    return strategy
