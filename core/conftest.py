"""The core's examples as tests: ``pytest`` (``core`` is among the ``testpaths``) collects the
``>>>`` examples of every module here, as ``--doctest-modules`` would, without looking for
doctests in ``tests/`` (whose fakes include a module that must fail to import).

Every example runs from the repository's root (so ``examples/sentiment.tune.yaml`` is found),
with an empty home of its own and its temporary folders inside pytest's: the settings, store,
response cache and API keys of the person running the tests are never read or written. The
response cache is shared by the examples of one session, as a person's is by their runs, so an
example that repeats another's model calls gets them back from it. The embedded model runs on one
thread, as in the tests' real-model runs: llama.cpp's threads wait for each other by spinning,
many times slower on a machine that is busy with other work. What an example registers (a
metric, a processor) is forgotten afterwards.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from _pytest.doctest import DoctestModule

from core import plugins

ENV_KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HF_TOKEN")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> DoctestModule | None:
    if file_path.suffix != ".py" or file_path.name == "conftest.py":
        return None
    if parent.config.getoption("doctestmodules"):
        return None  # pytest's own doctest collection is on: it collects them
    return DoctestModule.from_parent(parent, path=file_path)


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("doctest-cache")


@pytest.fixture(autouse=True)
def doctest_home(request: pytest.FixtureRequest, tmp_path: Path, shared_cache: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty home for the example, run from the repository's root."""
    for key in list(os.environ):
        if key.startswith("PROMPT_TUNER_") or key in ENV_KEYS:
            monkeypatch.delenv(key, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared_cache))
    monkeypatch.setenv("PROMPT_TUNER_EMBEDDED__N_THREADS", "1")
    monkeypatch.chdir(request.config.rootpath)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the examples' mkdtemp() folders
    yield home
    plugins.reset()
