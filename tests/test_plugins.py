"""Plugins (core.plugins): one discovery path for the built-ins and installed packages.

The installed example package (examples/plugins, a real ``pip install``) is exercised in
tests/test_plugin_package.py; here the entry points are the package's own plus test modules
named through ``importlib.metadata.EntryPoint`` — a broken one, one that clashes with a built-in
and observes runs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import pytest

from core import plugins as plugins_module
from core import strategy_names
from core.cli import main
from core.strategies import get_strategy, register_strategy
from tests.fakes import plugin_clashing
from tests.fakes.harness import FakeServer
from tests.fakes.tuned_run import tune_films


def _with(monkeypatch: pytest.MonkeyPatch, *extra: tuple[str, str]) -> None:
    own = list(entry_points(group=plugins_module.PROJECT))
    more = [EntryPoint(name, value, plugins_module.PROJECT) for name, value in extra]
    monkeypatch.setattr(plugins_module, "entry_points", lambda group: [*own, *more])
    plugins_module.reset()


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    plugins_module.reset()
    plugin_clashing.seen.clear()
    yield
    plugins_module.reset()


def test_the_builtins_load_through_the_entry_point_group() -> None:
    found = {p.name: p for p in plugins_module.plugins()}
    builtins = found["builtins"]
    assert builtins.builtin and not builtins.error
    assert {"embedded", "openai", "anthropic", "huggingface"} <= set(builtins.registered["provider"])
    assert {"exact", "label", "judge", "custom"} <= set(builtins.registered["metric"])
    assert {"auto", "refine", "fewshot"} <= set(builtins.registered["strategy"])
    assert {"insights", "plugins"} <= set(builtins.registered["command"])
    assert "injection" in found["editor-checks"].registered["check"]


def test_a_broken_plugin_is_one_warning_and_the_rest_load(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    _with(monkeypatch, ("broken", "tests.fakes.plugin_broken"),
          ("clashing", "tests.fakes.plugin_clashing"))
    with caplog.at_level(logging.WARNING, logger="core.plugins"):
        found = {p.name: p for p in plugins_module.plugins()}
    assert "needs a package that is not installed" in found["broken"].error
    assert not found["broken"].registered
    skipped = [r.getMessage() for r in caplog.records if "broken" in r.getMessage()]
    assert len(skipped) == 1 and "\n" not in skipped[0]
    # a name a built-in holds is not replaced; the plugin's own name is added
    assert found["clashing"].registered == {"strategy": ["also-refine"]}
    assert any("'refine' is registered already (by builtins)" in r.getMessage()
               for r in caplog.records)
    assert type(get_strategy("refine")).__name__ == "Refine"
    assert "also-refine" in strategy_names()


def test_in_process_registration_never_replaces_a_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    register_strategy("refine", lambda: get_strategy("opro"))
    assert type(get_strategy("refine")).__name__ == "Refine"
    register_strategy("mine", lambda: get_strategy("opro"))
    register_strategy("mine", lambda: get_strategy("evolve"))  # in-process may replace itself
    assert type(get_strategy("mine")).__name__ == "Evolve"


def test_observers_see_every_event_and_a_failing_one_is_switched_off(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        fake_openai: FakeServer, tmp_path: Path) -> None:
    _with(monkeypatch, ("clashing", "tests.fakes.plugin_clashing"))
    with caplog.at_level(logging.WARNING, logger="core.plugins"):
        result = tune_films(fake_openai, tmp_path).result
    assert result.status == "finished"
    assert len(plugin_clashing.seen) == 1  # the first event, then switched off
    assert sum("observer failed" in r.getMessage() for r in caplog.records) == 1


def test_plugins_command_lists_packages_versions_and_failures(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _with(monkeypatch, ("broken", "tests.fakes.plugin_broken"))
    assert main(["plugins", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    by_name: dict[str, Any] = {p["name"]: p for p in doc["plugins"]}
    assert by_name["builtins"]["package"] == "prompt-tuner" and by_name["builtins"]["builtin"]
    assert by_name["broken"]["error"].startswith("ImportError")
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "builtins" in out and "prompt-tuner" in out and "[failed] ImportError" in out
