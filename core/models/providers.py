"""The hosted and self-hosted HTTP providers: OpenAI-compatible, Anthropic, Hugging Face."""

from __future__ import annotations

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


class OpenAIAdapter(HttpAdapter):
    """Chat Completions: OpenAI, LM Studio, Ollama, vLLM, llama.cpp, TGI's Messages API."""

    kind = "openai"
    path = "/chat/completions"

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
        body.update(dict(request.extra))
        return body

    def parse(self, data: Any, latency: float) -> Completion:
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        content = choice["message"].get("content")
        if not isinstance(content, str):
            raise TypeError("choices[0].message.content is not text")
        return Completion(
            text=content,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            latency_s=latency,
            finish_reason=normalize_finish(choice.get("finish_reason")),
            model=self.model,
            endpoint=self.endpoint,
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
