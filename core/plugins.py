"""Plugins: one registry shape, one discovery path.

Whatever extends prompt-tuner — model providers, metric types, strategies, processors (request and
answer hooks), editor checks and CLI commands — is registered the same way: a plugin implements
hooks of the ``prompt_tuner`` pluggy project, and each ``register_*`` hook is handed a
``register(name, thing)`` callable. Plugins are found through the ``prompt_tuner`` entry-point
group; the built-ins are this package's own entry points (``core.builtins``,
``lsp_server.plugin``) and load through the same manager, first, so a plugin can add a name but
never silently replace one. A plugin that fails to import or to register is named in one warning
line and skipped; the rest load.

A plugin module looks like this (see ``examples/plugins/`` for a whole package)::

    from core.plugins import hookimpl

    @hookimpl
    def register_strategies(register):
        register("terse", TerseStrategy)

and is declared in its ``pyproject.toml``::

    [project.entry-points.prompt_tuner]
    terse = "my_package.plugin"

``observe(event)`` is the run-level hook: every event a run emits (``core.events``) reaches the
plugins that implement it.
"""

from __future__ import annotations

import argparse
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from importlib import import_module
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from rich.console import Console

    from .config import Settings

log = logging.getLogger(__name__)

PROJECT = "prompt_tuner"   # the pluggy project and the entry-point group
BUILTIN = "prompt-tuner"   # the package name the built-ins are listed under
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[[str, Any], None]

# kind -> the hook that registers it
KINDS: dict[str, str] = {
    "provider": "register_providers", "metric": "register_metrics",
    "strategy": "register_strategies", "processor": "register_processors",
    "check": "register_checks", "command": "register_commands",
}
# the built-ins' own entry points, for a source checkout that was never installed
_BUILTIN_MODULES = {"builtins": "core.builtins", "editor-checks": "lsp_server.plugin"}


class Specs:
    """The hooks a plugin may implement; each ``register_*`` hook gets ``register(name, thing)``."""

    @hookspec
    def register_providers(self, register: Register) -> None:
        """Model kinds: ``register(kind, factory(spec, settings, secrets) -> Adapter)``."""

    @hookspec
    def register_metrics(self, register: Register) -> None:
        """Metric types: ``register(name, core.MetricType)`` (its ``name`` is ``name``)."""

    @hookspec
    def register_strategies(self, register: Register) -> None:
        """Strategies: ``register(name, factory() -> Strategy)``."""

    @hookspec
    def register_processors(self, register: Register) -> None:
        """Request/answer hooks: ``register(name, Processor)`` (``core.processors``)."""

    @hookspec
    def register_checks(self, register: Register) -> None:
        """Editor checks: ``register(code, check(PromptFacts) -> Iterable[Finding])``."""

    @hookspec
    def register_commands(self, register: Register) -> None:
        """CLI subcommands: ``register(name, core.plugins.Command)``."""

    @hookspec
    def observe(self, event: Any) -> None:
        """Every event of every run (``core.events``), for observers; must not raise."""


@dataclass(frozen=True)
class Command:
    """A ``prompt-tuner`` subcommand: ``add_parser(sub, common)`` adds its parser (``common``
    adds --profile/--config/--store); ``run(args, out, settings)`` returns the exit code.

    ``reads_settings=False``: the command gets the defaults, and the settings files and
    environment are not read — so a broken ``prompt-tuner.yaml`` cannot stop ``init`` (which
    may be how it gets fixed) or ``completion``."""

    add_parser: Callable[[argparse._SubParsersAction[Any],
                          Callable[[argparse.ArgumentParser], None]], None]
    run: Callable[[argparse.Namespace, Console, Settings], int]
    reads_settings: bool = True


@dataclass
class Plugin:
    """A loaded plugin: where it came from and what it registered, or why it was skipped."""

    name: str
    package: str
    version: str
    registered: dict[str, list[str]] = field(default_factory=dict)
    error: str = ""

    @property
    def builtin(self) -> bool:
        return self.package == BUILTIN

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "package": self.package, "version": self.version,
                "builtin": self.builtin, "registered": self.registered, "error": self.error}


class Registry:
    """Everything the plugins registered, by kind and name, with its plugin."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
        self.owner: dict[tuple[str, str], str] = {}

    def get(self, kind: str) -> dict[str, Any]:
        return dict(self.items[kind])


_lock = threading.RLock()
_manager: pluggy.PluginManager | None = None
_registry: Registry | None = None
_plugins: list[Plugin] = []
_observers_failed: set[str] = set()
IN_PROCESS = "in-process"   # the owner of what code registered directly (``register_provider``)


def _version(ep: EntryPoint) -> tuple[str, str]:
    dist = ep.dist
    if dist is None:
        return "?", "?"
    return dist.metadata["Name"] or dist.name, dist.version


def _found() -> list[tuple[str, str, str, Callable[[], Any]]]:
    """(name, package, version, load) of every plugin: the built-ins first."""
    out = []
    own: set[str] = set()
    for ep in entry_points(group=PROJECT):
        package, version = _version(ep)
        if ep.value in _BUILTIN_MODULES.values():
            own.add(ep.value)
            package = BUILTIN
        out.append((ep.name, package, version, ep.load))
    for name, module in _BUILTIN_MODULES.items():  # a source checkout that was never installed
        if module not in own:
            out.append((name, BUILTIN, _own_version(), partial(import_module, module)))
    out.sort(key=lambda p: (p[1] != BUILTIN, p[0]))
    return out


def _own_version() -> str:
    from . import __version__
    return __version__


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:200]


def load() -> Registry:
    """Discover and load every plugin once per process (later calls return the same registry)."""
    global _manager, _registry
    with _lock:
        if _registry is not None:
            return _registry
        manager = pluggy.PluginManager(PROJECT)
        manager.add_hookspecs(Specs)
        registry = _registry = Registry()  # a plugin registering at import time finds it
        plugins: list[Plugin] = []
        for name, package, version, loader in _found():
            plugin = Plugin(name, package, version)
            plugins.append(plugin)
            try:
                obj = loader()
                manager.register(obj, name=name)
            except Exception as exc:  # a broken plugin must not take the tool down
                plugin.error = _one_line(exc)
                log.warning("plugin %s (%s %s) skipped: %s", name, package, version, plugin.error)
                continue
            _register_all(manager, obj, plugin, registry)
        _manager = manager
        _plugins[:] = plugins
        return registry


def _register_all(manager: pluggy.PluginManager, obj: object, plugin: Plugin,
                  registry: Registry) -> None:
    for kind, hook in KINDS.items():
        impls = [i for i in getattr(manager.hook, hook).get_hookimpls() if i.plugin is obj]
        for impl in impls:
            def register(name: str, thing: Any, kind: str = kind) -> None:
                _add(registry, plugin, kind, name, thing)
            try:
                impl.function(register=register)
            except Exception as exc:
                plugin.error = _one_line(exc)
                log.warning("plugin %s (%s %s): its %s failed: %s", plugin.name, plugin.package,
                            plugin.version, hook, plugin.error)


def _add(registry: Registry, plugin: Plugin, kind: str, name: str, thing: Any) -> None:
    if not isinstance(name, str) or not name or not name.isprintable():
        raise ValueError(f"a {kind} needs a printable name, not {name!r}")
    owner = registry.owner.get((kind, name))
    if owner is not None:
        log.warning("plugin %s: %s '%s' is registered already (by %s); skipped", plugin.name,
                    kind, name, owner)
        return
    registry.items[kind][name] = thing
    registry.owner[(kind, name)] = plugin.name
    plugin.registered.setdefault(kind, []).append(name)


def add(kind: str, name: str, thing: Any) -> None:
    """Register from code in this process (``register_provider`` and its kin, tests, an
    embedding application): it replaces an earlier in-process registration of the name, never a
    plugin's."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: one of {', '.join(KINDS)}")
    registry = load()
    with _lock:
        owner = registry.owner.get((kind, name))
        if owner is not None and owner != IN_PROCESS:
            log.warning("%s '%s' is registered already (by plugin %s); kept", kind, name, owner)
            return
        registry.items[kind][name] = thing
        registry.owner[(kind, name)] = IN_PROCESS


def plugins() -> list[Plugin]:
    """Every plugin found, built-ins first, with what it registered or why it was skipped
    (``core.loaded_plugins``).

    Examples:
        >>> from core import loaded_plugins
        >>> builtins = loaded_plugins()[0]
        >>> builtins.name, builtins.builtin, builtins.error
        ('builtins', True, '')
        >>> "embedded" in builtins.registered["provider"], "label" in builtins.registered["metric"]
        (True, True)
    """
    load()
    return list(_plugins)


def registered(kind: str) -> dict[str, Any]:
    """Name -> thing for one kind (see ``KINDS``).

    Examples:
        >>> from core import registered
        >>> "refine" in registered("strategy"), "first-line" in registered("processor")
        (True, True)
        >>> registered("widget")
        Traceback (most recent call last):
        KeyError: 'widget'
    """
    return load().get(kind)


def registered_checks() -> dict[str, Any]:
    """The editor checks, by name: the built-ins first, then the plugins'.

    Examples:
        >>> from core import registered_checks
        >>> all(callable(check) for check in registered_checks().values())
        True
    """
    return registered("check")


def commands() -> dict[str, Command]:
    return {name: cmd for name, cmd in registered("command").items() if isinstance(cmd, Command)}


def observe(event: Any) -> None:
    """Hand a run's event to the observers; one that raises is logged once and never again."""
    load()
    manager = _manager
    if manager is None:
        return
    for impl in manager.hook.observe.get_hookimpls():
        if impl.plugin_name in _observers_failed:
            continue
        try:
            impl.function(event=event)
        except Exception as exc:
            _observers_failed.add(impl.plugin_name)
            log.warning("plugin %s: its observer failed and is switched off: %s",
                        impl.plugin_name, _one_line(exc))


def reset() -> None:
    """Forget what was loaded, in-process registrations too (after installing or removing a
    plugin in this process)."""
    global _manager, _registry
    with _lock:
        _manager, _registry = None, None
        _plugins.clear()
        _observers_failed.clear()


__all__ = ["BUILTIN", "KINDS", "Command", "Plugin", "Register", "Specs", "add", "commands",
           "hookimpl", "hookspec", "load", "observe", "plugins", "registered",
           "registered_checks", "reset"]
