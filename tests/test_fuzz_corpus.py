"""Replays every case in ``tests/fuzz_corpus/``: inputs that once ended in an internal error (found
by the fuzz tests or by hand). Each must now keep the fuzz property: exit 0, one ``error:`` line
with exit 2, or 130.

A case is one JSON file: ``argv`` (``$URL`` stands for the loopback model's base URL), ``files``
written into a fresh working directory (after a ``prompt-tuner.yaml`` that puts every model role on
the loopback model, which a case may replace), optional ``replies`` (raw HTTP responses the model
gives in turn, for server-reply cases; default: good answers), ``note`` (what failed, why) and,
while the fix is still to land elsewhere, ``open`` (where).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.fuzz import models_config, run_cli, workdir, write_files
from tests.fakes.fuzz_replies import scripted_model
from tests.fakes.raw_http import RawServer

CORPUS = Path(__file__).parent / "fuzz_corpus"
CASES = sorted(CORPUS.glob("*.json"))

pytestmark = pytest.mark.usefixtures("cli_console")


def replay(case: dict[str, Any], server: RawServer) -> None:
    def fill(text: str) -> str:
        return text.replace("$URL", server.base_url)

    with workdir() as root:
        files = {"prompt-tuner.yaml": models_config(server.base_url)}
        files.update({name: fill(text) for name, text in case.get("files", {}).items()})
        write_files(root, files)
        outcome = run_cli([fill(arg) for arg in case["argv"]])
        assert outcome.problem() is None, f"{outcome.problem()}\n{outcome.describe()}"


def _param(path: Path) -> Any:
    """A case marked ``open`` (its fix belongs to another module and has not landed) is an
    expected failure until it does; then the mark comes off, with its ``KNOWN_OPEN`` entry."""
    case = json.loads(path.read_text(encoding="utf-8"))
    marks = [pytest.mark.xfail(reason=case["open"], strict=False)] if case.get("open") else []
    return pytest.param(path, id=path.stem, marks=marks)


@pytest.mark.parametrize("path", [_param(p) for p in CASES])
def test_corpus_case_keeps_the_property(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fuzz")
    with scripted_model(case.get("replies")) as server:
        replay(case, server)


def test_the_corpus_is_not_empty() -> None:
    assert len(CASES) >= 10
