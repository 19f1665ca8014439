"""Where API keys may go, and that no key comes back out of what a server says.

The "attacker" is a loopback fake model server that records every header it receives and, with
``echo_auth``, repeats the credential it got in its answers and error bodies.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
import yarl
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from core import load_settings
from core.cli import main
from core.config import Secrets, describe_settings
from core.errors import ConfigError, ModelSpecError, TaskError
from core.models import ModelHub, Request
from core.models.base import Message
from core.models.registry import api_key_for, parse_spec
from core.redact import Redactor, protect_logs
from core.task import load_task
from core.trust import NamedEndpoint, endpoint_note
from tests.fakes.fixtures import StartFakeServer
from tests.fakes.harness import FakeServer

OPENAI_KEY = "sk-test-openai-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-test-0123456789abcdef"
HF_KEY = "hf_test_0123456789abcdef"
LOCAL_KEY = "local-test-key-0123456789"
SECRETS = Secrets(openai_api_key=SecretStr(OPENAI_KEY))


def key_for(url: str, bindings: dict[str, str] | None = None) -> str | None:
    settings = load_settings(flags={"key_bindings": bindings or {}}).settings
    secrets = SECRETS.with_bound((bindings or {}).values(), {"LOCAL_KEY": LOCAL_KEY,
                                                               "OTHER_KEY": "other-key-0123456"})
    spec = parse_spec(f"openai:m@{url}")
    assert len(spec.urls) == 1, url
    return api_key_for(spec.urls[0], spec, settings, secrets, "OPENAI_API_KEY")


# -- which URL gets which key -------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "https://api.openai.com/v1", "https://API.OpenAI.com/v1", "https://api.openai.com./v1",
    "https://api.openai.com:443/v1", "https://api.openai.com",
])
def test_the_provider_key_goes_to_the_providers_own_https_host(url: str) -> None:
    assert key_for(url) == OPENAI_KEY


@pytest.mark.parametrize("url", [
    "http://api.openai.com/v1",              # plain text
    "https://api.openai.com:8443/v1",        # another port
    "https://api.openai.com.evil.com/v1",    # a look-alike host
    "https://evilapi.openai.com/v1",
    "https://evil.com/api.openai.com/v1",    # the name in the path
    "http://127.0.0.1:9/v1",
])
def test_the_provider_key_goes_nowhere_else(url: str) -> None:
    assert key_for(url) is None


@pytest.mark.parametrize("url", [
    "https://api.openai.com@evil.com/v1",    # user info: the host is evil.com
    "https://evil.com\\@api.openai.com/v1",  # parsers disagree on backslashes
    "https://u:p@api.openai.com/v1",
    "https://api.openai.com/v1?x=1",
    "https://api.openai.com/%2e%2e/v1",
])
def test_urls_that_could_confuse_a_host_check_are_refused(url: str) -> None:
    with pytest.raises(ModelSpecError, match="bad base URL"):
        parse_spec(f"openai:m@{url}")


AUTHORITY_PARTS = ["api.openai.com", "API.OpenAI.COM", "evil.com", ".", "@", ":443", ":8443", "\\",
                   "%2e", "xn--", "[::1]", "\u0430", " "]
PATH_PARTS = ["/v1", "/", "..", "#", "?", "%2e", "\\", "@evil.com", "\t"]
URLS = st.builds(lambda scheme, authority, path: scheme + "".join(authority) + "".join(path),
                 st.sampled_from(["https://", "http://", "HTTPS://", "https:/", ""]),
                 st.lists(st.sampled_from(AUTHORITY_PARTS), min_size=1, max_size=4).flatmap(
                     lambda parts: st.sampled_from([parts, ["api.openai.com", *parts[1:]]])),
                 st.lists(st.sampled_from(PATH_PARTS), max_size=3))


@settings(max_examples=300, deadline=None)
@given(URLS)
def test_the_official_key_goes_only_where_the_transport_would_connect_to_the_official_host(
    url: str,
) -> None:
    try:
        spec = parse_spec(f"openai:m@{url}")
    except ModelSpecError:
        return
    assume(len(spec.urls) == 1)
    url = spec.urls[0]
    key = key_for(url)
    if key is not None:  # what aiohttp (yarl) will connect to, from the URL httpx hands it
        sent = yarl.URL(str(httpx.URL(url + "/chat/completions")))
        host = (sent.host or "").removesuffix(".")  # a fully qualified name: the same host
        assert (sent.scheme, host, sent.port) == ("https", "api.openai.com", 443), url


@pytest.mark.parametrize(("url", "expected"), [
    ("http://127.0.0.1:9000/v1", LOCAL_KEY),
    ("http://127.0.0.1:9000/v1/", LOCAL_KEY),
    ("http://127.0.0.1:9000/v1/deployments/x", LOCAL_KEY),
    ("http://127.0.0.1:9000/v1/a/../b", LOCAL_KEY),
    ("http://127.0.0.1:9000/v10", None),     # a sibling path, not under /v1
    ("http://127.0.0.1:9000/v1/../admin", None),
    ("http://127.0.0.1:9000", None),         # the parent
    ("http://127.0.0.1:9001/v1", None),      # another port
    ("https://127.0.0.1:9000/v1", None),     # another scheme
    ("http://localhost:9000/v1", None),      # another host name, even if it is the same machine
])
def test_a_bound_key_goes_to_its_endpoint_and_what_lies_under_it(url: str,
                                                                  expected: str | None) -> None:
    assert key_for(url, {"http://127.0.0.1:9000/v1": "LOCAL_KEY"}) == expected


def test_the_most_specific_binding_wins_and_may_override_the_official_key() -> None:
    bindings = {"http://h:1/v1": "OTHER_KEY", "http://h:1/v1/special": "LOCAL_KEY",
                "https://api.openai.com/v1": "LOCAL_KEY"}
    assert key_for("http://h:1/v1/x", bindings) == "other-key-0123456"
    assert key_for("http://h:1/v1/special/x", bindings) == LOCAL_KEY
    assert key_for("https://api.openai.com/v1", bindings) == LOCAL_KEY


def test_a_binding_to_an_unset_variable_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPT_TUNER_KEY_BINDINGS", json.dumps({"http://127.0.0.1:9/v1": "NOPE_KEY"}))
    loaded = load_settings()
    with pytest.raises(ConfigError, match="NOPE_KEY is not set") as err:
        ModelHub(loaded.settings, loaded.secrets, use_cache=False).get("openai:m@http://127.0.0.1:9/v1")
    assert "key_bindings" in err.value.hint


@pytest.mark.parametrize(("bindings", "fragment"), [
    ({"ftp://h/v1": "K"}, "bad base URL"),
    ({"http://u:p@h/v1": "K"}, "bad base URL"),
    ({"http://h/v1": "NOT A NAME"}, "not an environment variable name"),
])
def test_bad_key_bindings_are_config_errors(bindings: dict[str, str], fragment: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPT_TUNER_KEY_BINDINGS", json.dumps(bindings))
    with pytest.raises(ConfigError, match=fragment):
        load_settings()


def test_a_config_file_found_in_the_working_directory_cannot_bind_keys(tmp_path: Path) -> None:
    text = "key_bindings:\n  'http://127.0.0.1:9/v1': OPENAI_API_KEY\n"
    (tmp_path / "prompt-tuner.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="not trusted to send API keys") as err:
        load_settings(cwd=tmp_path)
    assert "--config" in err.value.hint
    profile = "profiles:\n  mine:\n    " + text.replace("\n  ", "\n      ")
    (tmp_path / "prompt-tuner.yaml").write_text(profile, encoding="utf-8")
    with pytest.raises(ConfigError, match="not trusted"):
        load_settings(cwd=tmp_path)
    (tmp_path / "prompt-tuner.yaml").write_text(text, encoding="utf-8")
    named = load_settings(config_file=tmp_path / "prompt-tuner.yaml")
    assert named.settings.key_bindings == {"http://127.0.0.1:9/v1": "OPENAI_API_KEY"}


def test_a_task_file_cannot_bind_keys(tmp_path: Path) -> None:
    path = tmp_path / "task.yaml"
    path.write_text("name: t\nprompt: 'Say {{ x }}'\nexamples: [{x: a, expected: a}]\n"
                    "key_bindings: {'http://127.0.0.1:9/v1': OPENAI_API_KEY}\n", encoding="utf-8")
    with pytest.raises(TaskError):
        load_task(path)


def test_config_show_lists_bindings_and_masks_bound_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPT_TUNER_KEY_BINDINGS", json.dumps({"http://h:1/v1": "LOCAL_KEY"}))
    monkeypatch.setenv("LOCAL_KEY", LOCAL_KEY)
    rows = {k: v for k, v, _ in describe_settings(load_settings())}
    assert json.loads(rows["key_bindings"]) == {"http://h:1/v1": "LOCAL_KEY"}
    assert rows["secrets.LOCAL_KEY"] == "'**********'"
    assert all(LOCAL_KEY not in v for v in rows.values())


# -- the attacker's server --------------------------------------------------------------------------

def attacker_servers(fake_server: StartFakeServer) -> dict[str, FakeServer]:
    return {flavor: fake_server(flavor) for flavor in ("openai", "anthropic", "huggingface")}


def specs_at(servers: dict[str, FakeServer]) -> list[tuple[str, FakeServer]]:
    o, a, h = servers["openai"], servers["anthropic"], servers["huggingface"]
    return [(f"openai:m@{o.base_url}", o), (f"lmstudio:m@{o.base_url}", o),
            (f"ollama:m@{o.base_url}", o), (f"anthropic:m@{a.base_url}", a),
            (f"huggingface:m@{h.base_url}", h)]


def use_every_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("OPENAI_API_KEY", OPENAI_KEY), ("ANTHROPIC_API_KEY", ANTHROPIC_KEY),
                        ("HF_TOKEN", HF_KEY)):
        monkeypatch.setenv(name, value)


async def ask_each(specs: list[tuple[str, FakeServer]]) -> None:
    loaded = load_settings(flags={"cache.enabled": False})
    hub = ModelHub(loaded.settings, loaded.secrets)
    try:
        for spec, _ in specs:
            await hub.get(spec).complete(Request.chat([Message("user", "hi")]))
    finally:
        await hub.aclose()


async def test_no_key_reaches_a_url_named_in_a_spec(
    fake_server: StartFakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_every_key(monkeypatch)
    servers = attacker_servers(fake_server)
    await ask_each(specs_at(servers))
    received = [r["headers"] for s in servers.values() for r in s.requests()]
    assert len(received) == 5
    assert all("authorization" not in h and "x-api-key" not in h for h in received), received


async def test_a_key_the_operator_bound_to_the_url_arrives(
    fake_server: StartFakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_every_key(monkeypatch)
    monkeypatch.setenv("LOCAL_KEY", LOCAL_KEY)
    servers = attacker_servers(fake_server)
    monkeypatch.setenv("PROMPT_TUNER_KEY_BINDINGS", json.dumps(
        {s.root_url: "LOCAL_KEY" for s in servers.values()}))
    await ask_each(specs_at(servers))
    for spec, server in specs_at(servers):
        headers = server.requests()[0]["headers"]
        sent = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
        assert sent == LOCAL_KEY, spec


# -- task files that name an endpoint -------------------------------------------------------------

TASK = """\
name: t
prompt: "Review: {{ text }}"
metric: label
examples:
  - {text: "lovely", expected: positive}
  - {text: "awful", expected: negative}
"""


@pytest.mark.usefixtures("cli_console")
@pytest.mark.parametrize("command", ["tune", "eval", "compare"])
def test_a_task_naming_an_endpoint_warns_and_gets_no_key(
    command: str, fake_server: StartFakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    server = fake_server("openai", reply="fixed:positive")
    spec = f"openai:fake@{server.base_url}"
    task = tmp_path / "task.yaml"
    task.write_text(TASK + f"models: {{target: '{spec}', optimizer: '{spec}', judge: '{spec}'}}\n",
                    encoding="utf-8")
    args = {"tune": ["tune", str(task), "--variations", "1", "--rounds", "1", "-q"],
            "eval": ["eval", str(task)], "compare": ["compare", str(task), "task", "task"]}[command]
    code = main([*args, "--store", str(tmp_path / "s.db"), "--no-cache",
                 *(["--run-dir", str(tmp_path / "runs")] if command == "tune" else [])])
    err = capsys.readouterr().err
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("prompt-tuner: warning:")]
    roles = ("target", "optimizer", "judge")
    assert len(warnings) == len(roles), err
    for role, line in zip(roles, warnings, strict=True):
        assert f"models.{role} names {server.base_url};" in line and "key_bindings" in line
    assert server.requests()
    assert all("authorization" not in r["headers"] for r in server.requests())


@pytest.mark.usefixtures("cli_console")
def test_the_warning_says_when_the_operator_bound_a_key_to_the_task_endpoint(
    fake_server: StartFakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    server = fake_server("openai", reply="fixed:positive")
    monkeypatch.setenv("PROMPT_TUNER_KEY_BINDINGS", json.dumps({server.root_url: "OPENAI_API_KEY"}))
    task = tmp_path / "task.yaml"
    task.write_text(TASK + f"models: {{target: 'openai:fake@{server.base_url}'}}\n", encoding="utf-8")
    assert main(["eval", str(task), "--judge", "openai:fake@http://127.0.0.1:9/v1",
                 "--store", str(tmp_path / "s.db"), "--no-cache"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning") == 1 and "the key in OPENAI_API_KEY goes there" in err, err
    assert server.requests()[0]["headers"]["authorization"] == f"Bearer {OPENAI_KEY}"


def test_the_note_for_a_model_file_or_an_odd_url_is_one_line() -> None:
    file = endpoint_note(NamedEndpoint("target", "embedded:/m/x.gguf", "/m/x.gguf"), {})
    assert file == ("the task file's models.target names the model file /m/x.gguf, "
                    "which will be loaded and run")
    odd = endpoint_note(NamedEndpoint("judge", "openai:m@http://h/\nv1", "http://h/\nv1"), {})
    assert "\n" not in odd and "http://h/\\nv1" in odd and "no API key goes there" in odd


@pytest.mark.usefixtures("cli_console")
def test_no_warning_when_the_operator_overrides_the_task_endpoint(
    fake_server: StartFakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = fake_server("openai", reply="fixed:positive")
    task = tmp_path / "task.yaml"
    task.write_text(TASK + "models: {target: 'openai:x@http://127.0.0.1:9/v1'}\n", encoding="utf-8")
    code = main(["eval", str(task), "--target", f"openai:fake@{server.base_url}",
                 "--store", str(tmp_path / "s.db"), "--no-cache"])
    err = capsys.readouterr().err
    assert code == 0 and "warning" not in err, err


# -- what a server echoes back ------------------------------------------------------------------------

def files_holding(root: Path, secret: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.mark.usefixtures("cli_console")
def test_a_key_echoed_by_the_server_is_kept_nowhere(
    fake_server: StartFakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    for name, value in (("POOL__MAX_FAILURES", "1"), ("RETRY__INITIAL_S", "0.01"),
                        ("RETRY__JITTER_S", "0")):
        monkeypatch.setenv(f"PROMPT_TUNER_{name}", value)
    server = fake_server("openai", reply="fixed:positive")
    server.configure(echo_auth=True)
    monkeypatch.setenv("PROMPT_TUNER_KEY_BINDINGS", json.dumps({server.base_url: "OPENAI_API_KEY"}))
    # two URLs make a pool, whose "endpoint out" warning quotes the server's error
    spec = f"openai:fake@{server.base_url},{server.base_url}/"
    task = tmp_path / "task.yaml"
    task.write_text(TASK, encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    base = ["tune", str(task), "--target", spec, "--optimizer", spec, "--variations", "1",
            "--rounds", "1", "-v", "--store", str(out / "store.db"), "--run-dir", str(out / "runs"),
            "--log-file", str(out / "log.jsonl")]
    server.faults(*[{"kind": "500"}] * 3)  # retried: logged with the server's message
    assert main(base) == 0, capsys.readouterr().err
    server.faults(*[{"kind": "401"}] * 8)  # refused: the run fails with the server's message
    assert main([*base, "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert [r["headers"]["authorization"] for r in server.requests()][:1] == [f"Bearer {OPENAI_KEY}"]
    assert OPENAI_KEY not in err and "[redacted]" in err
    assert files_holding(out, OPENAI_KEY) == []
    assert files_holding(tmp_path / "home", OPENAI_KEY) == []  # the response cache
    kept = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert kept.count(b"[redacted]") >= 3  # the echoes did come back, masked
    log = (out / "log.jsonl").read_text(encoding="utf-8")
    assert "retry" in log and "out for" in log and "[redacted]" in log


def test_log_records_lose_registered_secrets_and_keep_their_shape_otherwise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "sk-logged-secret-0123456789"
    protect_logs(Redactor([secret, "short"]))
    log = logging.getLogger("tests.redaction")
    with caplog.at_level(logging.INFO, logger="tests.redaction"):
        log.info("server said: %s", f"bad key {secret}")
        log.info("%s calls", 3)
        log.info("short words stay")
        try:
            raise ModelSpecError(f"echo {secret}", f"hint {secret}")
        except ModelSpecError:
            log.exception("failed")
    first, second, third, fourth = caplog.records
    assert first.getMessage() == "server said: bad key [redacted]"
    assert (second.msg, second.args) == ("%s calls", (3,))  # filters may match on the format
    assert third.getMessage() == "short words stay"  # too short to be a key: not masked
    assert secret not in caplog.text and secret not in str(fourth.exc_info)
