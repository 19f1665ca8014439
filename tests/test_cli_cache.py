"""The response cache from the command line: a repeated run is free, --no-cache is not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.cli import main
from tests.fakes.fixtures import StartFakeServer

pytestmark = pytest.mark.usefixtures("cli_console")

ROOT = Path(__file__).resolve().parents[1]


def run_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(args) == 0
    data: dict[str, object] = json.loads(capsys.readouterr().out)
    return data


def test_a_repeated_run_is_answered_from_the_cache_and_no_cache_sends_again(
    fake_server: StartFakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    # the same run again, not one that learns from the first (it would skip the first's losers
    # and ask the optimizer for others: new requests, tested in tests/test_earlier.py)
    monkeypatch.setenv("PROMPT_TUNER_TUNE__PREDICTOR", "false")
    server = fake_server("openai")
    server.configure(reply="fixed:positive")
    spec = f"openai:fake@{server.base_url}"
    args = ["tune", str(ROOT / "examples" / "sentiment.tune.yaml"), "--target", spec,
            "--optimizer", spec, "--examples", "4", "--variations", "1", "--json", "-q",
            "--no-warm-start",
            "--store", str(tmp_path / "s.db"), "--run-dir", str(tmp_path / "runs")]

    first = run_json(args, capsys)
    sent = len(server.requests())
    assert first["calls"] == sent > 0 and first["cache_hits"] == 0

    second = run_json(args, capsys)
    assert second["calls"] == 0 and second["cache_hits"] == sent
    assert len(server.requests()) == sent  # nothing new reached the server
    assert second["best_prompt"] == first["best_prompt"]

    third = run_json([*args, "--no-cache"], capsys)
    assert third["calls"] == sent and third["cache_hits"] == 0
    assert len(server.requests()) == 2 * sent
