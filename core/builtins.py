"""The built-in providers, metric types, strategies, processors and commands, registered as a
plugin like any installed one (entry point ``builtins`` of the ``prompt_tuner`` group)."""

from __future__ import annotations

from .plugins import Command, Register, hookimpl


@hookimpl
def register_providers(register: Register) -> None:
    from .models.registry import builtin_providers
    for kind, factory in builtin_providers().items():
        register(kind, factory)


@hookimpl
def register_metrics(register: Register) -> None:
    from .metrics.registry import builtin_metrics
    for kind in builtin_metrics():
        register(kind.name, kind)


@hookimpl
def register_strategies(register: Register) -> None:
    from .strategies import BUILTIN_STRATEGIES
    for name, factory in BUILTIN_STRATEGIES.items():
        register(name, factory)


@hookimpl
def register_processors(register: Register) -> None:
    from .processors import BUILTIN_PROCESSORS
    for name, processor in BUILTIN_PROCESSORS.items():
        register(name, processor)


@hookimpl
def register_commands(register: Register) -> None:
    from .cli import ab, completion, init, insights, plugins, summarize, view
    register(insights.COMMAND, Command(insights.add_parsers, insights.cmd_insights))
    register(ab.COMMAND, Command(ab.add_parsers, ab.run))
    register(plugins.COMMAND, Command(plugins.add_parsers, plugins.run, reads_settings=False))
    register(summarize.COMMAND, Command(summarize.add_parsers, summarize.run))
    register(init.COMMAND, Command(init.add_parsers, init.run, reads_settings=False))
    register(completion.COMMAND, Command(completion.add_parsers, completion.run, reads_settings=False))
    register(view.COMMAND, Command(view.add_parsers, view.run))
