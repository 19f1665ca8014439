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
    from . import cli_ab, cli_completion, cli_init, cli_insights, cli_plugins, cli_summarize, cli_view
    register(cli_insights.COMMAND, Command(cli_insights.add_parsers, cli_insights.cmd_insights))
    register(cli_ab.COMMAND, Command(cli_ab.add_parsers, cli_ab.run))
    register(cli_plugins.COMMAND, Command(cli_plugins.add_parsers, cli_plugins.run, reads_settings=False))
    register(cli_summarize.COMMAND, Command(cli_summarize.add_parsers, cli_summarize.run))
    register(cli_init.COMMAND, Command(cli_init.add_parsers, cli_init.run, reads_settings=False))
    register(cli_completion.COMMAND, Command(cli_completion.add_parsers, cli_completion.run,
                                                     reads_settings=False))
    register(cli_view.COMMAND, Command(cli_view.add_parsers, cli_view.run))
