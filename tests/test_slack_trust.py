"""Trust boundaries of the Slack bot, tried as an attacker would: signed requests to the real Bolt
app on 127.0.0.1 that name a URL, a model file or a task file pointing elsewhere get one
ephemeral refusal and contact nothing (a loopback "attacker" server counts every connection);
an alias the operator configured works end to end; keys never reach a thread; every failure of a
background run is one line; blank credentials stop the bot from starting."""

from __future__ import annotations

import asyncio
import http.server
import json
import logging
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from core import Candidate, Message, ModelError, ModelUnavailable, Store
from tests.fakes.fixtures import StartFakeServer
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.slack_harness import (
    ORIGINAL,
    REVIEWS,
    TASK,
    Paths,
    Running,
    running_bot,
    world,
    write_world,
)

CHANNEL = "C0001"
KEY = "sk-test-SERVERKEY-0123456789abcdef"  # the server's OpenAI key: must never leave


class Attacker(http.server.ThreadingHTTPServer):
    """A loopback server standing for HOST in ``--target openai:x@http://HOST/v1``: it counts
    every connection and request, and answers like an OpenAI server would."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[dict[str, str]] = []
        super().__init__(("127.0.0.1", 0), _AttackerHandler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.connections += 1
        return True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _AttackerHandler(http.server.BaseHTTPRequestHandler):
    server: Attacker

    def do_POST(self) -> None:
        self.server.requests.append(dict(self.headers))
        body = json.dumps({"error": {"message": "internal service says hello"}}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def attacker() -> Iterator[Attacker]:
    server = Attacker()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def slack_api() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as api:
        yield api


@pytest.fixture(autouse=True)
def server_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bot's host holds an OpenAI key (the one an attacker wants)."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def block_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks)


def write_task(paths: Paths, name: str, models: dict[str, str]) -> None:
    examples = [{"text": t, "expected": e} for t, e in REVIEWS.items()]
    (paths.tasks / f"{name}.tune.yaml").write_text(json.dumps({
        "name": name, "prompt": ORIGINAL, "metric": "label", "labels": ["positive", "negative"],
        "examples": examples, "models": models}), encoding="utf-8")


async def refused(bot: Running, text: str) -> str:
    """Send ``text``; assert it got exactly one ephemeral line and nothing was posted."""
    response = await bot.slack.command(text)
    assert response.status_code == 200
    reply = response.json()
    assert reply["response_type"] == "ephemeral"
    assert len(reply["text"].splitlines()) == 1 and "Traceback" not in reply["text"]
    await asyncio.sleep(0.5)  # a background run would have started by now
    assert bot.api.calls("chat.postMessage") == [] and not bot.bot.runs.active
    return str(reply["text"])


# -- 1. a member cannot choose where the server's keys go -------------------------------------------

@pytest.mark.parametrize("target", [
    "openai:gpt-4o-mini@{url}",
    "openai:gpt-4o-mini@{url}/chat/completions",
    "anthropic:claude-3-haiku@{url}",
    "hf:some/model@{url}",
    "embedded:/etc/passwd",
    "embedded:../../models/secret.gguf",
    "openai:gpt-4o",          # a raw spec without a place: still only the operator's aliases
])
async def test_a_target_that_is_not_an_operator_alias_gets_one_refusal_and_contacts_nothing(
    fake_server: StartFakeServer, slack_api: FakeSlackApi, attacker: Attacker, tmp_path: Path,
    target: str
) -> None:
    model = fake_server()
    model.configure(**world())
    paths = write_world(tmp_path, model)
    spec = target.format(url=attacker.url)
    async with running_bot(paths, slack_api, targets={"small": f"openai:small@{model.base_url}"}) as bot:
        quick = await refused(bot, f"Write a haiku --target {spec}")
        named = await refused(bot, f"task:{TASK} --target={spec}")
    for text in (quick, named):
        assert "`default`" in text and "`small`" in text  # the aliases a member may use
        assert model.base_url not in text  # the operator's endpoints are not shown
    assert attacker.connections == 0 and attacker.requests == []
    assert model.requests() == []
    assert not (Path(paths.store).exists() and Store(paths.store).runs())


async def test_task_files_naming_an_endpoint_or_a_foreign_model_are_refused_for_tune_and_compare(
    fake_server: StartFakeServer, slack_api: FakeSlackApi, attacker: Attacker, tmp_path: Path
) -> None:
    model = fake_server()
    model.configure(**world())
    paths = write_world(tmp_path, model)
    write_task(paths, "evil", {"target": f"openai:gpt-4o-mini@{attacker.url}"})
    write_task(paths, "sneaky", {"judge": "embedded:/etc/shadow"})
    write_task(paths, "pricey", {"optimizer": "openai:gpt-4o"})
    store = Store(paths.store)
    for name in ("evil", "pricey"):
        for text in (ORIGINAL, ORIGINAL + "\nBe brief."):
            messages = [{"role": "user", "content": text}]
            store.save_version(name, messages=messages, parents=[], author="U1",
                               candidate_id=Candidate((Message("user", text),)).id)
    store.close()
    async with running_bot(paths, slack_api) as bot:
        evil = await refused(bot, "task:evil")
        sneaky = await refused(bot, "task:sneaky --target default")
        pricey = await refused(bot, "task:pricey")
        evil_ab = await refused(bot, "compare evil v1 v2")
        pricey_ab = await refused(bot, "compare pricey v1 v2")
    assert "names a model endpoint for its target" in evil and "`default`" in evil
    assert "names a model endpoint for its judge" in sneaky
    assert "`openai:gpt-4o`" in pricey and "not one of this bot's models" in pricey
    assert "names a model endpoint" in evil_ab and "not one of this bot's models" in pricey_ab
    assert attacker.url not in evil  # the refusal does not repeat the place
    assert attacker.connections == 0 and model.requests() == []


def test_a_task_files_plain_specs_are_taken_when_the_operator_configured_them() -> None:
    from core import Settings, Task
    from slack_bot.commands import UsageError
    from slack_bot.trust import ModelPolicy

    core = Settings.model_validate({"models": {"target": "openai:gpt-4o-mini",
                                               "optimizer": "anthropic:claude-x", "judge": "embedded"}})
    policy = ModelPolicy(core, {"big": "openai:gpt-4o"})

    base = Task(name="t", messages=(Message("user", "hi"),))

    def task(**models: str) -> Task:
        return base.model_copy(update={"models": base.models.model_copy(update=models)})

    policy.check_task(task(target="openai:gpt-4o", optimizer="openai:gpt-4o-mini"), "t")
    policy.check_task(task(judge="anthropic:claude-x", target=" embedded "), "t")
    with pytest.raises(UsageError, match="not one of this bot's models"):
        policy.check_task(task(target="openai:o1"), "t")
    with pytest.raises(UsageError, match="names a model endpoint for its target"):
        policy.check_task(task(target="openai:gpt-4o-mini@http://127.0.0.1:9/v1"), "t")
    assert policy.target(" BIG ") == "openai:gpt-4o" and policy.target("default") == "openai:gpt-4o-mini"
    with pytest.raises(UsageError, match="`big`, `default`"):
        policy.target("openai:gpt-4o")


async def test_an_operator_alias_at_the_fake_model_server_runs_end_to_end(
    fake_server: StartFakeServer, slack_api: FakeSlackApi, attacker: Attacker, tmp_path: Path
) -> None:
    model = fake_server()
    model.configure(**world())
    paths = write_world(tmp_path, model)
    alias_spec = f"openai:fast-model@{model.base_url}"
    async with running_bot(paths, slack_api, targets={"Fast": alias_spec}) as bot:
        reply = (await bot.slack.command(f"task:{TASK} --target FAST")).json()
        assert "Started run" in reply["text"]
        parent = await slack_api.until(
            lambda a: next((m for m in a.posts(CHANNEL) if m.thread_ts is None), None), 10)
        await slack_api.until(
            lambda a: next((m for m in a.thread(CHANNEL, parent.ts)
                            if "Tuning report" in block_text(m.blocks)), None), 60, "the report")
    thread = slack_api.thread(CHANNEL, parent.ts)
    assert len(thread) >= 2  # the progress message and the report, in the run's thread
    store = Store(paths.store)
    (run,) = store.runs()
    store.close()
    assert json.loads(run["settings_json"])["models"]["target"] == alias_spec
    asked = {r.get("model") or (r.get("body") or {}).get("model") for r in model.requests()}
    assert "fast-model" in asked  # the alias's model answered
    assert attacker.connections == 0


# -- 2. blank credentials ------------------------------------------------------------------------------

@pytest.mark.parametrize(("env", "says"), [
    ({"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": ""}, "SLACK_SIGNING_SECRET is not set"),
    ({"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": "  \t"}, "SLACK_SIGNING_SECRET is not set"),
    ({"SLACK_BOT_TOKEN": " ", "SLACK_SIGNING_SECRET": "abc123abc123"}, "SLACK_BOT_TOKEN is not set"),
])
def test_blank_credentials_count_as_missing_and_the_bot_does_not_start(
    env: dict[str, str], says: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from slack_bot.app import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["--port", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0] and err[0].startswith("prompt-tuner-slack: error:")


def test_docker_compose_requires_the_slack_credentials() -> None:
    compose = yaml.safe_load((Path(__file__).parents[1] / "docker-compose.yml").read_text(encoding="utf-8"))
    env = compose["services"]["bot"]["environment"]
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
        value = env[name]
        assert value.startswith(f"${{{name}:?"), f"{name} must be required: {value}"


# -- 4. Windows: no add_signal_handler -----------------------------------------------------------------

def test_the_stop_event_falls_back_when_the_loop_cannot_watch_signals(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from slack_bot import app

    def unsupported(self: Any, sig: int, callback: Any, *args: Any) -> None:
        raise NotImplementedError

    installed: dict[int, Any] = {}
    monkeypatch.setattr(signal, "signal", lambda sig, handler: installed.setdefault(sig, handler))

    async def scenario() -> bool:
        loop = asyncio.get_running_loop()
        monkeypatch.setattr(loop, "add_signal_handler", unsupported.__get__(loop))
        stop = app.stop_event()
        installed[signal.SIGTERM](signal.SIGTERM, None)  # as the OS would call it
        await asyncio.wait_for(stop.wait(), 2)
        return stop.is_set()

    assert asyncio.run(scenario())
    assert set(installed) == {signal.SIGTERM, signal.SIGINT}


# -- 5. keys never reach a thread ----------------------------------------------------------------------

class EchoingServer(Attacker):
    """An operator's model server that echoes the key it was sent (or the one it knows) in its
    error body, as some servers do."""

    def __init__(self) -> None:
        super().__init__()
        self.RequestHandlerClass = _EchoHandler


class _EchoHandler(_AttackerHandler):
    def do_POST(self) -> None:
        self.server.requests.append(dict(self.headers))
        body = json.dumps({"error": {"message": f"Incorrect API key provided: {KEY}"}}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


async def test_a_key_in_a_model_error_is_redacted_in_the_thread(
    slack_api: FakeSlackApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    anthropic_key = "sk-ant-OTHERKEY-9876543210"
    monkeypatch.setenv("ANTHROPIC_API_KEY", anthropic_key)
    paths = write_world(tmp_path, None)

    async def leaky_tune(*args: Any, **kwargs: Any) -> Any:
        raise ModelError(f"openai:fake at http://x/v1 said 401: bad key {KEY}; "
                         f"also tried {anthropic_key}", "check the key")

    monkeypatch.setattr("slack_bot.runs.tune", leaky_tune)
    async with running_bot(paths, slack_api) as bot:
        await bot.slack.command("Write a haiku --task 'a haiku'")
        parent = await slack_api.until(
            lambda a: next((m for m in a.posts(CHANNEL) if m.thread_ts is None), None), 10)
        line = await slack_api.until(
            lambda a: next((m for m in a.thread(CHANNEL, parent.ts) if "stopped" in m.text), None),
            20, "the failure line")
    assert "[redacted]" in line.text and "bad key" in line.text
    sent = json.dumps([c.body for c in slack_api.calls()]) + caplog.text
    assert KEY not in sent and anthropic_key not in sent


async def test_a_key_echoed_by_a_model_server_never_reaches_slack(
    slack_api: FakeSlackApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    echo = EchoingServer()
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    try:
        paths = write_world(tmp_path, None)
        config = json.loads(paths.config.read_text(encoding="utf-8"))
        config["models"] = {role: f"openai:echo@{echo.url}" for role in ("target", "optimizer", "judge")}
        paths.config.write_text(json.dumps(config), encoding="utf-8")
        async with running_bot(paths, slack_api) as bot:
            await bot.slack.command(f"task:{TASK}")
            parent = await slack_api.until(
                lambda a: next((m for m in a.posts(CHANNEL) if m.thread_ts is None), None), 10)
            line = await slack_api.until(
                lambda a: next((m for m in a.thread(CHANNEL, parent.ts) if "stopped" in m.text),
                               None), 30, "the failure line")
    finally:
        echo.shutdown()
        echo.server_close()
    assert echo.requests  # the operator's server was asked
    assert len(line.text.splitlines()) == 1 and "Traceback" not in line.text
    sent = json.dumps([c.body for c in slack_api.calls()]) + caplog.text
    assert KEY not in sent


# -- 6. every failure of a background run is one line --------------------------------------------------

def seed_versions(paths: Paths) -> None:
    store = Store(paths.store)
    for text in (ORIGINAL, ORIGINAL + "\nAnswer in one word."):
        store.save_version(TASK, messages=[{"role": "user", "content": text}], parents=[],
                           author="U1", candidate_id=Candidate((Message("user", text),)).id)
    store.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def ab_failure(bot: Running) -> str:
    reply = (await bot.slack.command(f"compare {TASK} v1 v2")).json()
    assert "Started the A/B test" in reply["text"], reply["text"]
    api = bot.api
    parent = await api.until(
        lambda a: next((m for m in a.posts(CHANNEL) if m.thread_ts is None), None), 10)
    line = await api.until(
        lambda a: next((m for m in a.thread(CHANNEL, parent.ts) if "stopped" in m.text), None),
        60, "the failure line")
    return str(line.text)


async def test_an_ab_test_against_a_model_server_that_is_down_fails_in_one_line(
    slack_api: FakeSlackApi, tmp_path: Path
) -> None:
    paths = write_world(tmp_path, None)
    config = json.loads(paths.config.read_text(encoding="utf-8"))
    url = f"http://127.0.0.1:{closed_port()}/v1"
    config["models"] = {role: f"openai:gone@{url}" for role in ("target", "optimizer", "judge")}
    paths.config.write_text(json.dumps(config), encoding="utf-8")
    seed_versions(paths)
    async with running_bot(paths, slack_api) as bot:
        text = await ab_failure(bot)
    assert len(text.splitlines()) == 1 and "Traceback" not in text
    assert "internal error" not in text.lower() and "ExceptionGroup" not in text
    assert "gone" in text  # the model's name, from the core's one-line error


@pytest.mark.parametrize(("group", "says"), [
    (ExceptionGroup("unhandled errors in a TaskGroup", [
        ModelUnavailable("openai:fake did not answer after 2 attempts", "is the server up?"),
        ModelUnavailable("openai:fake did not answer after 2 attempts", "is the server up?")]),
     "openai:fake did not answer after 2 attempts"),
    (ExceptionGroup("outer", [ExceptionGroup("inner", [TimeoutError()])]), "timed out"),
    (ExceptionGroup("outer", [ExceptionGroup("a", [ValueError("a detail")]),  # the core's rule
                              ExceptionGroup("b", [ModelUnavailable("openai:fake is down", "start it")])]),
     "openai:fake is down (start it)"),
    (ExceptionGroup("outer", [ConnectionRefusedError(111, "Connection refused")]),
     "could not reach a model (ConnectionRefusedError"),
    (ValueError("a bug\nwith two lines"), "unexpected ValueError: a bug with two lines"),
])
async def test_every_error_of_a_background_run_is_one_line_in_its_thread(
    fake_server: StartFakeServer, slack_api: FakeSlackApi, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, group: BaseException, says: str
) -> None:
    model = fake_server()
    paths = write_world(tmp_path, model)
    seed_versions(paths)

    async def failing(*args: Any, **kwargs: Any) -> Any:
        raise group

    monkeypatch.setattr("slack_bot.runs.compare_prompts", failing)
    async with running_bot(paths, slack_api) as bot:
        text = await ab_failure(bot)
    assert says in text and len(text.splitlines()) == 1
    assert "internal error" not in text.lower() and "Traceback" not in text


def test_the_bots_own_usage_error_is_found_the_cores_way() -> None:
    from slack_bot.commands import UsageError
    from slack_bot.failures import cause, failure_line

    usage = UsageError("give one task name")
    group = ExceptionGroup("outer", [ExceptionGroup("a", [ValueError("a bug")]),
                                     ExceptionGroup("b", [usage])])
    assert cause(group) is usage and failure_line(group) == "give one task name"
    bug = ValueError("only a bug")
    assert cause(ExceptionGroup("g", [ExceptionGroup("h", [bug])])) is bug
    assert cause(usage) is usage  # not a group: itself


async def test_a_task_files_data_file_outside_the_task_folder_is_refused_unread(
    fake_server: StartFakeServer, slack_api: FakeSlackApi, tmp_path: Path
) -> None:
    """A task file in the bot's folder may not read a data file elsewhere on the server (its
    rows would be quoted back into the thread)."""
    model = fake_server()
    model.configure(**world())
    paths = write_world(tmp_path, model)
    outside = tmp_path / "private.csv"
    outside.write_text("secret_column_name,label\nx,positive\n", encoding="utf-8")
    (paths.tasks / "leaky.tune.yaml").write_text(json.dumps({
        "name": "leaky", "prompt": "Classify: {{ text }}", "metric": "label",
        "labels": ["positive", "negative"], "dataset": {"file": str(outside)}}), encoding="utf-8")
    async with running_bot(paths, slack_api) as bot:
        line = await refused(bot, "task:leaky")
    assert "outside" in line and "secret_column_name" not in line
    assert model.requests() == []
