"""Model specs, provider defaults and how the hub wires each model's call stack."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from core import load_settings
from core.config import Secrets, Settings
from core.errors import ConfigError, ModelSpecError, PromptTunerError
from core.models import ModelHub
from core.models.pool import Pool
from core.models.providers import (
    LMSTUDIO_URL,
    OLLAMA_URL,
    AnthropicAdapter,
    HuggingFaceAdapter,
    OpenAIAdapter,
)
from core.models.registry import build_adapter, known_kinds, parse_spec


@pytest.mark.parametrize(("spec", "kind", "model", "urls"), [
    ("embedded", "embedded", "", ()),
    ("embedded:/models/x.gguf", "embedded", "/models/x.gguf", ()),
    ("openai:gpt-4o-mini", "openai", "gpt-4o-mini", ()),
    ("openai:qwen@http://a:8000/v1,http://b:8000/v1/", "openai", "qwen",
     ("http://a:8000/v1", "http://b:8000/v1")),
    ("ollama:qwen2.5:0.5b", "ollama", "qwen2.5:0.5b", ()),
    ("hf:HuggingFaceTB/SmolLM2-360M-Instruct", "huggingface",
     "HuggingFaceTB/SmolLM2-360M-Instruct", ()),
])
def test_specs_parse_into_kind_model_and_urls(
    spec: str, kind: str, model: str, urls: tuple[str, ...]
) -> None:
    parsed = parse_spec(spec)
    assert (parsed.kind, parsed.model, parsed.urls) == (kind, model, urls)


@pytest.mark.parametrize(("spec", "fragment"), [
    ("nosuch:model", "unknown model kind 'nosuch'"),
    ("openai:", "names no model"),
    ("openai:m@ftp://x", "bad base URL"),
    ("openai:m@localhost:8080", "bad base URL"),
    ("", "empty model spec"),
])
def test_bad_specs_say_what_is_wrong(spec: str, fragment: str) -> None:
    with pytest.raises(ModelSpecError, match=fragment):
        parse_spec(spec)


def test_unknown_kinds_list_the_known_ones() -> None:
    with pytest.raises(ModelSpecError) as err:
        parse_spec("nosuch:m")
    assert all(kind in err.value.hint for kind in known_kinds())


def test_hosted_defaults_need_a_key_but_local_servers_do_not() -> None:
    settings = load_settings().settings
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        build_adapter("openai:gpt-4o-mini", settings, Secrets())
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        build_adapter("anthropic:claude", settings, Secrets())
    with pytest.raises(ConfigError, match="HF_TOKEN"):
        build_adapter("huggingface:m", settings, Secrets())
    keyed = Secrets(OPENAI_API_KEY=SecretStr("sk-x"))
    assert isinstance(build_adapter("openai:gpt-4o-mini", settings, keyed), OpenAIAdapter)
    assert isinstance(build_adapter("anthropic:m@http://127.0.0.1:1", settings, Secrets()),
                      AnthropicAdapter)
    assert isinstance(build_adapter("hf:m@http://127.0.0.1:1/v1", settings, Secrets()),
                      HuggingFaceAdapter)
    assert build_adapter("lmstudio:m", settings, Secrets()).endpoint == LMSTUDIO_URL
    assert build_adapter("ollama:m", settings, Secrets()).endpoint == OLLAMA_URL


async def test_several_urls_make_a_pool_with_the_configured_cool_down() -> None:
    settings = load_settings(flags={"pool.cooldown_s": 7, "pool.max_failures": 2}).settings
    adapter = build_adapter("openai:m@http://127.0.0.1:1/v1,http://127.0.0.1:2/v1", settings,
                            Secrets())
    assert isinstance(adapter, Pool)
    assert (adapter.cooldown_s, adapter.max_failures) == (7, 2)
    assert adapter.identity["base_urls"] == ["http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"]
    await adapter.aclose()


async def test_the_hub_builds_one_stack_per_spec_with_its_own_limits() -> None:
    settings = load_settings(flags={
        "cache.enabled": False, "limits.max_in_flight": 3,
        "model_limits": {"openai:fast@http://127.0.0.1:1/v1": {"max_in_flight": 9, "rpm": 60}},
        "retry.attempts": 7, "timeouts.total": 12.5,
    }).settings
    hub = ModelHub(settings, Secrets())
    slow = hub.get("openai:slow@http://127.0.0.1:1/v1")
    fast = hub.get("openai:fast@http://127.0.0.1:1/v1")
    assert hub.get("openai:slow@http://127.0.0.1:1/v1") is slow
    assert slow.limiter.limits.max_in_flight == 3
    assert (fast.limiter.limits.max_in_flight, fast.limiter.limits.rpm) == (9, 60)
    assert slow.retry.attempts == 7 and slow.attempt_timeout_s == 12.5
    embedded = hub.get("embedded")
    assert embedded.attempt_timeout_s is None  # an in-process call cannot be interrupted
    await hub.aclose()


# -- any text at all ----------------------------------------------------------------------------------

URLISH = "abcnxAZ09.-_~:/@[]%?#\\ \t\n\x00é,"
spec_texts = st.one_of(
    st.text(),
    st.builds(lambda kind, model, urls: f"{kind}:{model}@{urls}",
              st.sampled_from([*known_kinds(), "hf", "OpenAI", "x"]),
              st.text(alphabet=URLISH, max_size=12),
              st.text(alphabet=URLISH + "htps", max_size=40)),
    st.builds(lambda kind, host, port, path: f"{kind}:m@http://{host}:{port}{path}",
              st.sampled_from(["openai", "anthropic", "huggingface"]),
              st.text(alphabet=URLISH, max_size=12), st.text(alphabet="0123456789-+ x", max_size=7),
              st.text(alphabet=URLISH, max_size=12)),
)


@settings(max_examples=400, deadline=None)
@given(spec_texts)
def test_any_spec_text_parses_or_raises_a_model_spec_error(text: str) -> None:
    try:
        spec = parse_spec(text)
    except ModelSpecError as exc:
        assert "\n" not in str(exc)
        return
    try:  # what parses can be built, or fails as a user error: never an internal error
        adapter = build_adapter(text, Settings(), Secrets())
    except PromptTunerError as exc:
        assert "\n" not in str(exc)
        return
    assert adapter.kind in (spec.kind, "openai")


@pytest.mark.parametrize("spec", [
    "openai:x@http://[::1", "openai:x@http://h:99999/v1", "openai:x@http://h:0/v1",
    "openai:x@http://h:-1/v1", "openai:x@http://h:8a/v1", "openai:x@http://[zz]/v1",
    "openai:x@http://", "openai:x@,,", "openai:x\ny@http://h/v1", "anthropic:x@http://h/v1#top",
    "openai:x@https://xn--/v1", "openai:x@https://xn--api.openai.com/v1",
])
def test_odd_urls_are_one_line_spec_errors(spec: str) -> None:
    with pytest.raises(ModelSpecError) as err:
        parse_spec(spec)
    assert "\n" not in str(err.value)


def test_an_unreadable_model_file_is_a_config_error() -> None:
    for spec in ("embedded:~no-such-user-here/x.gguf", "embedded:/" + "x" * 5000):
        with pytest.raises(ConfigError):
            build_adapter(spec, Settings(), Secrets())
