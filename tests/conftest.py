"""Shared fixtures: loopback fake model servers and an isolated settings environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.fixtures import fake_openai, fake_server  # noqa: F401

ENV_KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HF_TOKEN")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No test reads the developer's config, cache, store or API keys."""
    import os

    for key in list(os.environ):
        if key.startswith("PROMPT_TUNER_") or key in ENV_KEYS:
            monkeypatch.delenv(key, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.chdir(tmp_path)
    yield tmp_path


@pytest.fixture
def cli_console(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """For tests that call ``core.cli.main``: wide output so tables do not wrap, and the root
    logger (which main() reconfigures) given back afterwards."""
    import logging

    monkeypatch.setenv("COLUMNS", "240")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
