"""A loopback fake LLM server for tests and benchmarks.

It speaks three wire formats: OpenAI Chat Completions, Anthropic Messages and Hugging Face
TGI's Messages API (OpenAI-shaped bodies, HF-shaped errors). It answers with an echo of the last
user message, a fixed text, or a reply picked by substring rules, and it injects faults (rate
limits, server errors, hangs, malformed bodies, dropped connections, cut streams) queued through
a small JSON control API under ``/_``. Run it as its own process, from the repository root::

    python -m tests.fakes.model_server --flavor openai --host 127.0.0.1 --port 0 --latency 0.02

Once it listens it prints exactly one line, ``READY <port>``, and serves until SIGTERM/SIGINT.

Control API:

* ``POST /_faults`` ``{"faults": [{"kind": "429", "retry_after": 1.0}, ...]}`` queues faults;
  each model request pops the next one and suffers it instead of a normal answer.
* ``POST /_config`` ``{"latency": 0.1, "reply": "fixed:ok", "rules": [["2+2", "4"]],
  "down": false, "echo_auth": false}`` changes any of these settings; ``GET /_config`` shows
  them. ``echo_auth`` plays a careless (or hostile) server: every answer and every error message
  ends with the credential header it received (``Authorization`` or ``x-api-key``).
* ``GET /_log`` ``{"requests": [...], "peak_in_flight": int, "count": int,
  "faults_pending": int}``; requests are sorted by arrival (``t_start``).
* ``POST /_reset`` clears the log, the fault queue and the peak counter, and restores the
  settings given on the command line.

A dropped request is logged with status 0; one whose client went away first, with 499.

The OpenAI flavor treats models named like OpenAI's reasoning models (``o1``, ``o3-mini``,
``o4-mini``, ``gpt-5`` …) as the real API does: ``max_tokens`` and ``stop`` are unsupported
parameters, and ``temperature``/``top_p`` other than 1 are unsupported values (HTTP 400 with
``param`` and ``code`` set).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import importlib.util
import inspect
import itertools
import json
import re
import signal
import sys
import time
from collections import deque
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

JSON = dict[str, Any]

FLAVORS: Final = ("openai", "anthropic", "huggingface")
FAULT_KINDS: Final = frozenset(
    {"429", "500", "503", "529", "400", "context", "401", "hang", "malformed", "drop", "cut_stream"}
)
CONFIG_KEYS: Final = frozenset({"latency", "reply", "rules", "down", "echo_auth"})
REASONING_MODEL: Final = re.compile(r"(o\d|gpt-5)")
LOGGED_HEADERS: Final = ("authorization", "x-api-key", "anthropic-version")
CONTEXT_LIMIT: Final = 4096
LOG_LIMIT: Final = 100_000
STATUS_DROPPED: Final = 0
STATUS_CLIENT_GONE: Final = 499
DEFAULT_MODEL: Final = "fake-model"
MAX_BODY_BYTES: Final = 64 * 1024 * 1024
PIECE: Final = re.compile(r"\s*\S+\s*")
# Events sent before a ``cut_stream`` fault closes the connection: the first one carrying text.
CUT_AFTER: Final = {"openai": 1, "huggingface": 1, "anthropic": 3}
MALFORMED_BODY: Final = {
    "openai": '{"choices": [',
    "huggingface": '{"choices": [',
    "anthropic": '{"content": [',
}


# -- settings and state ---------------------------------------------------------------------


@dataclass
class Config:
    """The settings that shape every answer; changed at run time through ``POST /_config``."""

    latency: float = 0.0
    reply: str = "echo"
    rules: list[tuple[str, str]] = field(default_factory=list)
    down: bool = False
    echo_auth: bool = False

    def copy(self) -> Config:
        return dataclasses.replace(self, rules=list(self.rules))

    def to_json(self) -> JSON:
        return {
            "latency": self.latency,
            "reply": self.reply,
            "rules": [list(rule) for rule in self.rules],
            "down": self.down,
            "echo_auth": self.echo_auth,
        }


def check_reply(value: object) -> str:
    """A valid reply mode: ``echo`` or ``fixed:TEXT``."""
    if not isinstance(value, str) or not (value == "echo" or value.startswith("fixed:")):
        raise ValueError("reply must be 'echo' or 'fixed:TEXT'")
    return value


def check_latency(value: object) -> float:
    """A valid latency: a non-negative number of seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError("latency must be a non-negative number")
    return float(value)


def check_rules(value: object) -> list[tuple[str, str]]:
    """Valid rules: a list of ``[substring, reply]`` string pairs."""
    if not isinstance(value, list):
        raise ValueError("rules must be a list of [substring, reply] pairs")
    rules: list[tuple[str, str]] = []
    for rule in value:
        if not (isinstance(rule, list | tuple) and len(rule) == 2
                and all(isinstance(part, str) for part in rule)):
            raise ValueError(f"bad rule {rule!r}: want [substring, reply]")
        rules.append((rule[0], rule[1]))
    return rules


def updated_config(config: Config, changes: object) -> Config:
    """``config`` with ``changes`` applied; ValueError names the first bad setting."""
    if not isinstance(changes, dict):
        raise ValueError("config body must be a JSON object")
    unknown = set(changes) - CONFIG_KEYS
    if unknown:
        raise ValueError(f"unknown config keys: {sorted(unknown)}")
    new = config.copy()
    if "latency" in changes:
        new.latency = check_latency(changes["latency"])
    if "reply" in changes:
        new.reply = check_reply(changes["reply"])
    if "rules" in changes:
        new.rules = check_rules(changes["rules"])
    if "down" in changes:
        if not isinstance(changes["down"], bool):
            raise ValueError("down must be true or false")
        new.down = changes["down"]
    if "echo_auth" in changes:
        if not isinstance(changes["echo_auth"], bool):
            raise ValueError("echo_auth must be true or false")
        new.echo_auth = changes["echo_auth"]
    return new


def check_faults(value: object) -> list[JSON]:
    """The ``faults`` list of a ``POST /_faults`` body, each with a known ``kind``."""
    if not isinstance(value, dict) or not isinstance(value.get("faults"), list):
        raise ValueError('body must be {"faults": [...]}')
    faults: list[JSON] = value["faults"]
    for fault in faults:
        if not isinstance(fault, dict) or fault.get("kind") not in FAULT_KINDS:
            raise ValueError(f"bad fault {fault!r}: kind must be one of {sorted(FAULT_KINDS)}")
    return faults


@dataclass
class State:
    """Everything the server remembers: settings, queued faults, the request log, counters."""

    flavor: str
    defaults: Config
    config: Config = field(init=False)
    faults: deque[JSON] = field(default_factory=deque)
    log: deque[JSON] = field(default_factory=lambda: deque(maxlen=LOG_LIMIT))
    in_flight: int = 0
    peak_in_flight: int = 0
    ids: Iterator[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.config = self.defaults.copy()

    def enter(self) -> None:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def leave(self) -> None:
        self.in_flight -= 1

    def next_fault(self) -> JSON | None:
        return self.faults.popleft() if self.faults else None

    def next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self.ids):012x}"

    def reset(self) -> None:
        self.config = self.defaults.copy()
        self.faults.clear()
        self.log.clear()
        self.peak_in_flight = self.in_flight


STATE: Final = web.AppKey("state", State)


# -- reading requests -----------------------------------------------------------------------


def content_text(content: object) -> str:
    """The text of a message content: a string, or a list of ``{"type": "text"}`` blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            block["text"] for block in content
            if isinstance(block, dict) and isinstance(block.get("text"), str)
        )
    return ""


def messages_of(body: object) -> list[JSON]:
    """The well-formed messages of a request body (none if the body is not usable)."""
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return []
    return [m for m in body["messages"] if isinstance(m, dict)]


def last_user_text(body: object) -> str:
    """The text of the last ``user`` message, or ``""``."""
    for message in reversed(messages_of(body)):
        if message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def prompt_tokens(body: object) -> int:
    """Fake prompt token count: all message characters (and a system prompt) // 4 + 1."""
    chars = sum(len(content_text(m.get("content"))) for m in messages_of(body))
    if isinstance(body, dict):
        chars += len(content_text(body.get("system")))
    return chars // 4 + 1


def completion_tokens(text: str) -> int:
    """Fake completion token count: characters // 4 + 1."""
    return len(text) // 4 + 1


def validation_problem(flavor: str, body: object) -> str | None:
    """Why the provider would reject this body with a 400, or None if it is acceptable."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: must be a non-empty list"
    if not all(isinstance(m, dict) for m in messages):
        return "messages: every message must be an object"
    max_tokens = body.get("max_tokens")
    if flavor == "anthropic" and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)):
        return "max_tokens: Field required"
    return None


def reasoning_problem(flavor: str, body: JSON) -> tuple[str, str, str] | None:
    """(param, code, message) of the 400 OpenAI gives a reasoning model's request, or None."""
    if flavor != "openai" or not REASONING_MODEL.match(str(body.get("model") or "")):
        return None
    for param in ("max_tokens", "stop"):
        if param in body:
            return (param, "unsupported_parameter", f"Unsupported parameter: '{param}' is not "
                    "supported with this model." + (" Use 'max_completion_tokens' instead."
                                                    if param == "max_tokens" else ""))
    for param in ("temperature", "top_p"):
        if param in body and body[param] != 1:
            return (param, "unsupported_value", f"Unsupported value: '{param}' does not support "
                    f"{body[param]} with this model. Only the default (1) value is supported.")
    return None


def reasoning_response(problem: tuple[str, str, str]) -> web.Response:
    param, code, message = problem
    return web.json_response({"error": {"message": message, "type": "invalid_request_error",
                                        "param": param, "code": code}}, status=400)


def credential_echo(request: web.Request, config: Config) -> str:
    """What ``echo_auth`` appends: the credential header the request carried, or ``""``."""
    if not config.echo_auth:
        return ""
    sent = request.headers.get("authorization") or request.headers.get("x-api-key") or "none"
    return f" [you sent: {sent}]"


def reply_text(config: Config, body: object) -> str:
    """The answer: the first matching rule's reply, else the echo or fixed text."""
    user = last_user_text(body)
    for substring, reply in config.rules:
        if substring in user:
            return reply
    if config.reply.startswith("fixed:"):
        return config.reply.removeprefix("fixed:")
    return "echo: " + user


async def read_json(request: web.Request) -> Any:
    """The parsed request body, or None when it is not JSON."""
    try:
        return await request.json()
    except ValueError:
        return None


def new_entry(request: web.Request) -> JSON:
    """A log entry for a model request, to be completed when the request ends."""
    headers = {name: request.headers[name] for name in LOGGED_HEADERS if name in request.headers}
    return {
        "t_start": time.time(), "t_end": None, "path": request.path, "body": None,
        "status": None, "fault": None, "headers": headers,
    }


# -- answers --------------------------------------------------------------------------------


def pieces(text: str) -> list[str]:
    """The text split into word-sized stream chunks that join back to it exactly."""
    return PIECE.findall(text) or [text]


def openai_completion(cid: str, model: str, text: str, p: int, c: int) -> JSON:
    """A non-streaming Chat Completions reply."""
    return {
        "id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c},
    }


def anthropic_message(mid: str, model: str, text: str, p: int, c: int) -> JSON:
    """A non-streaming Messages reply."""
    return {
        "id": mid, "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": p, "output_tokens": c},
    }


def sse(data: JSON | str, event: str | None = None) -> bytes:
    """One server-sent event."""
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def openai_chunk(cid: str, model: str, delta: JSON, finish: str | None) -> JSON:
    """One ``chat.completion.chunk``."""
    return {
        "id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
        "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def openai_events(cid: str, model: str, text: str, usage: JSON | None) -> list[bytes]:
    """A Chat Completions stream: role and first words, more words, finish, [usage], [DONE]."""
    first, *rest = pieces(text)
    chunks = [openai_chunk(cid, model, {"role": "assistant", "content": first}, None)]
    chunks += [openai_chunk(cid, model, {"content": piece}, None) for piece in rest]
    chunks.append(openai_chunk(cid, model, {}, "stop"))
    if usage is not None:
        chunks.append({**openai_chunk(cid, model, {}, None), "choices": [], "usage": usage})
    return [sse(chunk) for chunk in chunks] + [sse("[DONE]")]


def anthropic_events(mid: str, model: str, text: str, p: int, c: int) -> list[bytes]:
    """A Messages stream: message_start, one text block of deltas, message_delta, stop."""
    start = {**anthropic_message(mid, model, "", p, 1), "content": [], "stop_reason": None}
    events = [
        sse({"type": "message_start", "message": start}, "message_start"),
        sse({"type": "content_block_start", "index": 0,
             "content_block": {"type": "text", "text": ""}}, "content_block_start"),
    ]
    events += [
        sse({"type": "content_block_delta", "index": 0,
             "delta": {"type": "text_delta", "text": piece}}, "content_block_delta")
        for piece in pieces(text)
    ]
    events += [
        sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        sse({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
             "usage": {"output_tokens": c}}, "message_delta"),
        sse({"type": "message_stop"}, "message_stop"),
    ]
    return events


def stream_events(state: State, body: JSON, text: str) -> list[bytes]:
    """The whole event stream for a ``"stream": true`` request."""
    model = str(body.get("model") or DEFAULT_MODEL)
    p, c = prompt_tokens(body), completion_tokens(text)
    if state.flavor == "anthropic":
        return anthropic_events(state.next_id("msg_"), model, text, p, c)
    options = body.get("stream_options")
    wants_usage = isinstance(options, dict) and options.get("include_usage") is True
    usage = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
    return openai_events(state.next_id("chatcmpl-"), model, text, usage if wants_usage else None)


def reply_payload(state: State, body: JSON, text: str) -> JSON:
    """The whole JSON reply for a non-streaming request."""
    model = str(body.get("model") or DEFAULT_MODEL)
    p, c = prompt_tokens(body), completion_tokens(text)
    if state.flavor == "anthropic":
        return anthropic_message(state.next_id("msg_"), model, text, p, c)
    return openai_completion(state.next_id("chatcmpl-"), model, text, p, c)


# -- errors ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorSpec:
    """How each flavor describes one kind of error."""

    status: int
    message: str
    openai_type: str
    openai_code: str | None
    anthropic_type: str
    hf_type: str


ERRORS: Final = {
    "429": ErrorSpec(429, "Rate limit reached for requests", "requests", "rate_limit_exceeded",
                     "rate_limit_error", "overloaded"),
    "500": ErrorSpec(500, "The server had an error while processing your request", "server_error",
                     None, "api_error", "generation"),
    "503": ErrorSpec(503, "The server is temporarily unavailable", "server_error", None,
                     "api_error", "overloaded"),
    "529": ErrorSpec(529, "Overloaded", "server_error", None, "overloaded_error", "overloaded"),
    "400": ErrorSpec(400, "Invalid value for 'temperature'", "invalid_request_error", None,
                     "invalid_request_error", "validation"),
    "context": ErrorSpec(400, "", "invalid_request_error", "context_length_exceeded",
                         "invalid_request_error", "validation"),
    "401": ErrorSpec(401, "Incorrect API key provided", "invalid_request_error",
                     "invalid_api_key", "authentication_error", "authentication"),
}
REASONS: Final = {529: "Overloaded"}


def error_payload(flavor: str, spec: ErrorSpec, message: str) -> JSON:
    """An error body in the flavor's own shape."""
    if flavor == "anthropic":
        return {"type": "error", "error": {"type": spec.anthropic_type, "message": message}}
    if flavor == "huggingface":
        return {"error": message, "error_type": spec.hf_type}
    return {"error": {"message": message, "type": spec.openai_type, "param": None,
                      "code": spec.openai_code}}


def context_message(flavor: str, body: object) -> str:
    """The flavor's wording for a prompt longer than the context window."""
    tokens = max(prompt_tokens(body), CONTEXT_LIMIT + 1)
    if flavor == "anthropic":
        return f"prompt is too long: {tokens} tokens > {CONTEXT_LIMIT} maximum"
    return (f"This model's maximum context length is {CONTEXT_LIMIT} tokens. However, your "
            f"messages resulted in {tokens} tokens. Please reduce the length of the messages.")


def header_seconds(value: object) -> str:
    """A Retry-After value: whole seconds as an integer, other numbers and dates verbatim."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def error_response(flavor: str, kind: str, message: str | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    """An HTTP error of ``kind`` (a key of ERRORS) in the flavor's shape."""
    spec = ERRORS[kind]
    payload = error_payload(flavor, spec, message or spec.message)
    return web.json_response(payload, status=spec.status, reason=REASONS.get(spec.status),
                             headers=headers)


def fault_response(flavor: str, fault: JSON, body: object, echo: str = "") -> web.Response:
    """The error reply for an HTTP-status fault (429, 500, 503, 529, 400, context, 401)."""
    kind = fault["kind"]
    headers = {}
    if "retry_after" in fault:
        headers["Retry-After"] = header_seconds(fault["retry_after"])
    if flavor == "huggingface" and kind == "503":
        payload = {"error": "Model is loading", "estimated_time": fault.get("estimated_time", 1.5)}
        return web.json_response(payload, status=503, headers=headers)
    message = context_message(flavor, body) if kind == "context" else ERRORS[kind].message
    return error_response(flavor, kind, message + echo, headers)


# -- broken connections ---------------------------------------------------------------------


def close_connection(request: web.Request) -> None:
    """Close the TCP connection under this request (the client sees it drop)."""
    transport = request.transport
    if transport is not None:
        transport.close()


def drop(request: web.Request, entry: JSON) -> web.StreamResponse:
    """Close the connection without a response; aiohttp then has nothing to send."""
    entry["status"] = STATUS_DROPPED
    close_connection(request)
    return web.Response()


async def send_stream(request: web.Request, events: Sequence[bytes],
                      cut_after: int | None = None) -> web.StreamResponse:
    """Send server-sent events; with ``cut_after``, close the connection after that many."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
    await response.prepare(request)
    for sent, event in enumerate(events, 1):
        await response.write(event)
        if sent == cut_after:
            close_connection(request)
            return response
    await response.write_eof()
    return response


async def send_partial(request: web.Request, data: bytes) -> web.StreamResponse:
    """Promise ``len(data)`` bytes, send half of them, then close the connection."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = len(data)
    await response.prepare(request)
    await response.write(data[: len(data) // 2])
    close_connection(request)
    return response


# -- model requests -------------------------------------------------------------------------


async def apply_fault(request: web.Request, state: State, fault: JSON, body: object,
                      entry: JSON) -> web.StreamResponse | None:
    """Suffer ``fault``; a response ends the request, None goes on to answer normally."""
    kind = fault["kind"]
    if kind == "drop":
        return drop(request, entry)
    if kind == "hang":
        await asyncio.sleep(float(fault.get("seconds", 30.0)))
        return None
    if kind == "malformed":
        return web.Response(text=MALFORMED_BODY[state.flavor], content_type="application/json")
    if kind == "cut_stream":
        return None
    return fault_response(state.flavor, fault, body, credential_echo(request, state.config))


async def answer(request: web.Request, state: State, body: JSON, cut: bool) -> web.StreamResponse:
    """The normal reply, after the configured latency; ``cut`` breaks it off halfway."""
    if state.config.latency > 0:
        await asyncio.sleep(state.config.latency)
    text = reply_text(state.config, body) + credential_echo(request, state.config)
    if body.get("stream") is True:
        cut_after = CUT_AFTER[state.flavor] if cut else None
        return await send_stream(request, stream_events(state, body, text), cut_after)
    payload = reply_payload(state, body, text)
    if cut:
        return await send_partial(request, json.dumps(payload).encode())
    return web.json_response(payload)


async def respond(request: web.Request, state: State, body: object,
                  entry: JSON) -> web.StreamResponse:
    """Decide what one model request gets: a drop, a fault, a 400 or an answer."""
    if state.config.down:
        entry["fault"] = "down"
        return drop(request, entry)
    fault = state.next_fault()
    if fault is not None:
        entry["fault"] = fault["kind"]
        early = await apply_fault(request, state, fault, body, entry)
        if early is not None:
            return early
    problem = validation_problem(state.flavor, body)
    if problem is not None or not isinstance(body, dict):
        return error_response(state.flavor, "400", problem)
    refused = reasoning_problem(state.flavor, body)
    if refused is not None:
        return reasoning_response(refused)
    cut = fault is not None and fault["kind"] == "cut_stream"
    return await answer(request, state, body, cut)


async def handle_model(request: web.Request) -> web.StreamResponse:
    """A chat/messages request: counted in flight, answered, and logged when it ends."""
    state = request.app[STATE]
    state.enter()
    entry = new_entry(request)
    try:
        entry["body"] = body = await read_json(request)
        response = await respond(request, state, body, entry)
        if entry["status"] is None:
            entry["status"] = response.status
        return response
    except asyncio.CancelledError:
        entry["status"] = STATUS_CLIENT_GONE
        raise
    finally:
        state.leave()
        entry["t_end"] = time.time()
        state.log.append(entry)


async def handle_models(request: web.Request) -> web.Response:
    """``GET /v1/models``: the one fake model, in the flavor's list shape."""
    model: JSON
    if request.app[STATE].flavor == "anthropic":
        model = {"type": "model", "id": DEFAULT_MODEL, "display_name": "Fake Model",
                 "created_at": "2024-01-01T00:00:00Z"}
        return web.json_response({"data": [model], "has_more": False,
                                  "first_id": DEFAULT_MODEL, "last_id": DEFAULT_MODEL})
    model = {"id": DEFAULT_MODEL, "object": "model", "created": 1704067200, "owned_by": "fake"}
    return web.json_response({"object": "list", "data": [model]})


# -- control API ----------------------------------------------------------------------------


def bad_request(message: str) -> web.Response:
    """A control-API 400 with the reason."""
    return web.json_response({"error": message}, status=400)


async def handle_faults(request: web.Request) -> web.Response:
    """``POST /_faults``: append faults to the queue."""
    state = request.app[STATE]
    try:
        faults = check_faults(await read_json(request))
    except ValueError as exc:
        return bad_request(str(exc))
    state.faults.extend(faults)
    return web.json_response({"faults_pending": len(state.faults)})


async def handle_config(request: web.Request) -> web.Response:
    """``POST /_config`` changes settings; ``GET /_config`` shows them."""
    state = request.app[STATE]
    if request.method == "POST":
        try:
            state.config = updated_config(state.config, await read_json(request))
        except ValueError as exc:
            return bad_request(str(exc))
    return web.json_response(state.config.to_json())


async def handle_log(request: web.Request) -> web.Response:
    """``GET /_log``: every finished model request, by arrival, and the counters."""
    state = request.app[STATE]
    requests = sorted(state.log, key=lambda entry: float(entry["t_start"]))
    return web.json_response({
        "requests": requests, "peak_in_flight": state.peak_in_flight, "count": len(requests),
        "faults_pending": len(state.faults),
    })


async def handle_reset(request: web.Request) -> web.Response:
    """``POST /_reset``: forget log, faults and peak; restore the command-line settings."""
    state = request.app[STATE]
    state.reset()
    return web.json_response(state.config.to_json())


# -- the server -----------------------------------------------------------------------------


def build_app(state: State) -> web.Application:
    """The aiohttp application for ``state.flavor``, with the control API."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[STATE] = state
    model_path = "/v1/messages" if state.flavor == "anthropic" else "/v1/chat/completions"
    app.router.add_post(model_path, handle_model)
    app.router.add_get("/v1/models", handle_models)
    app.router.add_post("/_faults", handle_faults)
    app.router.add_route("*", "/_config", handle_config)
    app.router.add_get("/_log", handle_log)
    app.router.add_post("/_reset", handle_reset)
    return app


def make_runner(app: web.Application) -> web.AppRunner:
    """A runner with no access log that cancels handlers whose client disconnected."""
    kwargs: dict[str, Any] = {"access_log": None, "handler_cancellation": True}
    if "shutdown_timeout" in inspect.signature(web.BaseRunner.__init__).parameters:
        kwargs["shutdown_timeout"] = 0.5  # aiohttp >= 3.10; older versions take it on the site
    return web.AppRunner(app, **kwargs)


def make_site(runner: web.AppRunner, host: str, port: int) -> web.TCPSite:
    """A TCP site with a deep accept backlog."""
    kwargs: dict[str, Any] = {"backlog": 1024}
    if "shutdown_timeout" not in inspect.signature(web.BaseRunner.__init__).parameters:
        kwargs["shutdown_timeout"] = 0.5
    return web.TCPSite(runner, host, port, **kwargs)


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT (installed before READY, so no signal is lost)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def serve(args: argparse.Namespace) -> None:
    """Bind, announce ``READY <port>`` on stdout, serve until a signal, shut down."""
    stop = stop_on_signals()
    defaults = Config(latency=args.latency, reply=args.reply)
    runner = make_runner(build_app(State(flavor=args.flavor, defaults=defaults)))
    await runner.setup()
    try:
        await make_site(runner, args.host, args.port).start()
        port = runner.addresses[0][1]
        sys.stdout.write(f"READY {port}\n")
        sys.stdout.flush()
        await stop.wait()
    finally:
        await runner.cleanup()


def run(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` on uvloop when it is installed, else on the default asyncio loop."""
    if importlib.util.find_spec("uvloop") is None:
        asyncio.run(coro)
        return
    uvloop: Any = importlib.import_module("uvloop")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(coro)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--flavor", choices=FLAVORS, default="openai")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--reply", type=check_reply_arg, default="echo",
                        help="'echo' (default) or 'fixed:TEXT'")
    return parser.parse_args(argv)


def check_reply_arg(value: str) -> str:
    """argparse type for ``--reply``."""
    try:
        return check_reply(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def main(argv: Sequence[str] | None = None) -> int:
    run(serve(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
