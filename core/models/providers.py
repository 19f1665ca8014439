"""The hosted and self-hosted HTTP providers: OpenAI-compatible, Anthropic, Hugging Face.

OpenAI's reasoning models (o1, o3, o4-mini, gpt-5 …) refuse ``max_tokens`` (they take
``max_completion_tokens``, which also bounds their hidden reasoning), ``stop``, and any
``temperature``/``top_p`` but the default. Rather than guess from model names — which miss Azure
deployment names, proxies' aliases and next year's families — the OpenAI adapter learns from the
API's own answer: a 400 whose ``error.param`` is one of those and whose ``error.code`` is
``unsupported_parameter``/``unsupported_value`` makes it rewrite (``max_tokens`` →
``max_completion_tokens``) or drop that field for the rest of the run and send again at once.
A 400 costs nothing and happens at most once per field and endpoint (a few times when several
requests are in flight at the start). Dropping ``temperature`` means the model samples at its
default; the cache key still holds the temperature that was asked for. ``max_completion_tokens``
also pays for the hidden reasoning: a label-sized budget can leave such a model no room to
answer (an empty reply that finished on 'length'), so give it room with ``tune.answer_max_tokens``.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from .base import Completion, Request, normalize_finish
from .http import HttpAdapter, loads_or_none

OPENAI_URL = "https://api.openai.com/v1"
LMSTUDIO_URL = "http://localhost:1234/v1"
OLLAMA_URL = "http://localhost:11434/v1"
ANTHROPIC_URL = "https://api.anthropic.com"
HUGGINGFACE_URL = "https://router.huggingface.co/v1"
ANTHROPIC_VERSION = "2023-06-01"
# Body fields a model may refuse, and what to send instead (None: leave the field out).
REFUSABLE: dict[str, str | None] = {
    "max_tokens": "max_completion_tokens", "temperature": None, "top_p": None, "stop": None,
}
REFUSAL_CODES = frozenset({"unsupported_parameter", "unsupported_value"})

log = logging.getLogger(__name__)


def refused_field(response: httpx.Response) -> str | None:
    """The body field an OpenAI-style 400 says this model does not take, or None."""
    data = loads_or_none(response.text)
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict) or error.get("code") not in REFUSAL_CODES:
        return None
    param = error.get("param")
    return param if isinstance(param, str) and param in REFUSABLE else None


class OpenAIAdapter(HttpAdapter):
    """Chat Completions: OpenAI, LM Studio, Ollama, vLLM, llama.cpp, TGI's Messages API."""

    kind = "openai"
    path = "/chat/completions"
    refused: frozenset[str] = frozenset()  # fields this endpoint's model said it does not take

    def body(self, request: Request) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.stop:
            body["stop"] = list(request.stop)
        for name, instead in REFUSABLE.items():
            if name in self.refused and name in body:
                value = body.pop(name)
                if instead is not None:
                    body[instead] = value
        body.update(dict(request.extra))
        return body

    def adapt(self, response: httpx.Response) -> bool:
        name = refused_field(response)
        if name is None or name in self.refused:
            return False
        self.refused = self.refused | {name}
        instead = REFUSABLE[name]
        log.info("%s at %s does not take '%s': %s from now on", self.model, self.endpoint, name,
                 f"sending '{instead}'" if instead else "leaving it out")
        return True

    def parse(self, data: Any, latency: float) -> Completion:
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        content = choice["message"].get("content")
        if not isinstance(content, str):
            raise TypeError("choices[0].message.content is not text")
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        return Completion(
            text=content,
            prompt_tokens=prompt_tokens,
            completion_tokens=int(usage.get("completion_tokens") or 0),
            latency_s=latency,
            finish_reason=normalize_finish(choice.get("finish_reason")),
            model=self.model,
            endpoint=self.endpoint,
            cached_prompt_tokens=reused_prompt_tokens(data, prompt_tokens),
        )


class HuggingFaceAdapter(OpenAIAdapter):
    """Hugging Face Inference Providers / TGI / Inference Endpoints (Messages API).

    Differs from OpenAI in its defaults, its error shape and its 503 'model is loading' reply,
    which carries ``estimated_time``: we wait that long before the retry.
    """

    kind = "huggingface"

    def retry_after_from_body(self, response: httpx.Response) -> float | None:
        data = loads_or_none(response.text)
        if isinstance(data, dict) and isinstance(data.get("estimated_time"), int | float):
            return float(data["estimated_time"])
        return None


class AnthropicAdapter(HttpAdapter):
    """Anthropic Messages API."""

    kind = "anthropic"
    path = "/v1/messages"

    def headers(self) -> dict[str, str]:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if self._api_key:
            headers["x-api-key"] = self._api_key
        return headers

    def body(self, request: Request) -> dict[str, Any]:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "messages": [
                {"role": m.role, "content": m.content}
                for m in request.messages
                if m.role != "system"
            ],
            "temperature": min(request.temperature, 1.0),
        }
        if request.top_p < 1.0:
            body["top_p"] = request.top_p
        if system:
            body["system"] = system
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        body.update(dict(request.extra))
        return body

    def parse(self, data: Any, latency: float) -> Completion:
        parts = [block["text"] for block in data["content"] if block.get("type") == "text"]
        usage = data.get("usage") or {}
        return Completion(
            text="".join(parts),
            prompt_tokens=int(usage.get("input_tokens") or 0),
            completion_tokens=int(usage.get("output_tokens") or 0),
            latency_s=latency,
            finish_reason=normalize_finish(data.get("stop_reason")),
            model=self.model,
            endpoint=self.endpoint,
        )


def reused_prompt_tokens(data: Any, prompt_tokens: int) -> int:
    """How many prompt tokens an OpenAI-format server says it reused rather than computed:
    ``usage.prompt_tokens_details.cached_tokens`` (OpenAI, vLLM, recent llama.cpp), else
    llama.cpp's ``timings.prompt_n`` (the tokens it computed). A server's word: anything that is
    not a count within the prompt counts as nothing reused.

    Examples:
        >>> reused_prompt_tokens({"usage": {"prompt_tokens_details": {"cached_tokens": 90}}}, 100)
        90
        >>> reused_prompt_tokens({"timings": {"prompt_n": 12}}, 100)
        88
        >>> reused_prompt_tokens({"usage": {"prompt_tokens_details": {"cached_tokens": 1e9}}}, 100)
        0
    """
    usage = data.get("usage") if isinstance(data, dict) else None
    details = usage.get("prompt_tokens_details") if isinstance(usage, dict) else None
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if cached is None and isinstance(data, dict) and isinstance(data.get("timings"), dict):
        computed = data["timings"].get("prompt_n")
        if type(computed) is int and 0 <= computed <= prompt_tokens:
            cached = prompt_tokens - computed
    if type(cached) is int and 0 <= cached <= prompt_tokens:
        return cached
    return 0
