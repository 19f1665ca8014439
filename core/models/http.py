"""What every HTTP adapter shares: one pooled httpx transport per endpoint, error mapping, timing.

Requests are httpx ``Request``/``Response`` objects with typed ``httpx.Timeout``s, sent through
httpx's transport API to aiohttp's connection pool (``httpx-aiohttp``). Two measured reasons
(bench/overhead.py, 2,000 requests, 20 ms latency, 32 in flight, ratio to the ideal wall time):
- httpx's own pool (httpcore) re-scans every waiting request against every connection on each
  state change: ~4 ms of CPU a request at 32 in flight, ratio 9.2;
- ``AsyncClient.send``'s per-request pipeline (auth flow, redirects, cookies, event hooks — none
  of which a JSON API call uses) cost +18% over a bare aiohttp loop; calling the transport
  directly costs +4% (ratio ~1.2, where the bare loop itself reaches ~1.17 on 2 cores).

A provider module subclasses :class:`HttpAdapter` and writes only ``path``, ``headers``,
``body`` and ``parse`` (and ``adapt``, when a model may refuse a body field with a 400 that says
which); status codes, timeouts, dropped connections and unreadable bodies are turned into the
error classes the retry layer understands here, once.
"""

from __future__ import annotations

import email.utils
import functools
import json
import re
import ssl
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import certifi
import httpx
from httpx_aiohttp import AiohttpTransport

from ..errors import (
    ConnectionFailed,
    ContextLengthExceeded,
    MalformedResponse,
    ModelError,
    ModelTimeout,
    RateLimited,
    RequestRejected,
    ServerError,
)
from ..jsonio import load_json
from .base import Completion, Request, estimate_tokens


@dataclass(frozen=True)
class Timeouts:
    """HTTP timeouts in seconds (see httpx.Timeout); ``total`` bounds one whole attempt."""

    connect: float = 10.0
    read: float = 120.0
    write: float = 30.0
    pool: float = 30.0
    total: float = 180.0

    def to_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)


MAX_ADAPTATIONS = 4  # re-sends after a 400 that ``adapt`` understood, per request

CONTEXT_MARKERS = (
    "maximum context length",
    "context length",
    "context_length_exceeded",
    "prompt is too long",
    "too many tokens",
    "exceeds the context",
    "input validation error: `inputs` tokens",
)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=certifi.where())


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_text(response: httpx.Response) -> str:
    """The human part of an error body, whatever the provider's error shape, as one printable
    line (it goes into messages on a terminal, in Slack and in the editor)."""
    try:
        data = load_json(response.text, as_written=False)
    except ValueError:
        return server_line(response.text)
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            return server_line(str(err.get("message") or err.get("type") or err))
        return server_line(str(err))
    return server_line(str(data))


MAX_SERVER_TEXT = 300
_ANSI_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-_])")


def server_line(text: str, limit: int = MAX_SERVER_TEXT) -> str:
    """Text a server chose, fit for a one-line message: terminal escape sequences and other
    control or format characters dropped, every run of whitespace (line breaks, NEL, U+2028
    included) one space, at most ``limit`` characters. A longer text is cut between words, so
    no part of a word is kept: a key the server echoes is redacted later only when it is whole."""
    clipped = len(text) > limit * 4  # a long body: only its start is looked at
    words = _ANSI_ESCAPE.sub("", text[: limit * 4]).split()
    if clipped and words:
        words.pop()  # it may be cut short
    flat = "".join(ch for ch in " ".join(words) if ch.isprintable())
    if len(flat) <= limit and not clipped:
        return flat
    if len(flat) < limit:
        return flat + "…"
    cut = flat[:limit]
    return cut.rpartition(" ")[0] + "…" if " " in cut else "…"


class HttpAdapter:
    """Base for adapters that POST JSON to one endpoint."""

    kind = "http"
    path = "/chat/completions"

    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        api_key: str | None = None,
        timeouts: Timeouts | None = None,
        context_size: int | None = None,
        max_connections: int = 100,
    ) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.context_size = context_size
        self._api_key = api_key
        self.timeouts = timeouts or Timeouts()
        def session() -> aiohttp.ClientSession:
            # Made inside the running loop on first use. trust_env: HTTP(S)_PROXY and NO_PROXY
            # apply, as they would with httpx's own client.
            connector = aiohttp.TCPConnector(limit=max_connections, ssl=_ssl_context())
            return aiohttp.ClientSession(connector=connector, trust_env=True)

        self._transport = AiohttpTransport(client=session)
        # Built once: parsing URLs and timeouts on every call is measurable at 1,000 calls/s.
        self._url = httpx.URL(self.base_url + self.path)
        self._headers = {"content-type": "application/json", "accept": "application/json"}
        self._timeout_ext = self.timeouts.to_httpx().as_dict()

    # -- what a provider writes -------------------------------------------------------------
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def body(self, request: Request) -> dict[str, Any]:
        raise NotImplementedError

    def parse(self, data: Any, latency: float) -> Completion:
        raise NotImplementedError

    def retry_after_from_body(self, response: httpx.Response) -> float | None:
        return None

    def adapt(self, response: httpx.Response) -> bool:
        """Called on an HTTP 400: change how this adapter writes requests and return True to
        send the same request again at once (a parameter this model does not take)."""
        return False

    # -- shared -----------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return self.base_url

    @property
    def identity(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model, "base_urls": [self.base_url]}

    def count_tokens(self, request: Request) -> int:
        return sum(estimate_tokens(m.content) + 4 for m in request.messages)

    async def send(self, request: Request) -> Completion:
        started = time.perf_counter()
        response = await self._post(request)
        for _ in range(MAX_ADAPTATIONS):
            if response.status_code != 400 or not self.adapt(response):
                break
            response = await self._post(request)
        latency = time.perf_counter() - started
        if response.status_code >= 400:
            raise self._status_error(response)
        try:
            data = load_json(response.text, as_written=False)
            completion = self.parse(data, latency)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise self._err(MalformedResponse,
                            f"unreadable reply body ({type(exc).__name__})") from exc
        return completion

    async def _post(self, request: Request) -> httpx.Response:
        content = json.dumps(self.body(request), ensure_ascii=False).encode("utf-8")
        http_request = httpx.Request("POST", self._url, content=content,
                                     headers={**self._headers, **self.headers()},
                                     extensions={"timeout": self._timeout_ext})
        try:
            response = await self._transport.handle_async_request(http_request)
            try:
                await response.aread()
            finally:
                await response.aclose()
        except httpx.TransportError as exc:
            if _is_timeout(exc):
                raise self._err(ModelTimeout, f"no reply within the timeout ({_name(exc)})") from exc
            raise self._err(ConnectionFailed, f"connection failed: {_name(exc)}") from exc
        except httpx.DecodingError as exc:
            # The body is not what its Content-Encoding says (e.g. "gzip" over plain text).
            raise self._err(MalformedResponse, "unreadable reply: the body does not decode as its "
                            f"Content-Encoding says ({server_line(str(exc), 120)})") from exc
        except aiohttp.ClientResponseError as exc:
            # aiohttp's parser refused the reply's framing: a bad status line, not HTTP at all,
            # a wrong or negative Content-Length, broken chunking, too many or too long headers,
            # data after the end of the reply. Some other server (or a proxy) answered, or it
            # answered badly: retrying may help, like any garbled reply.
            raise self._err(MalformedResponse, f"unreadable reply: {_framing(exc)}") from exc
        except aiohttp.ClientError as exc:  # anything else aiohttp raises that the transport passes on
            raise self._err(ConnectionFailed, f"connection failed: {type(exc).__name__}: "
                            f"{server_line(str(exc), 120)}") from exc
        return response

    def _status_error(self, response: httpx.Response) -> ModelError:
        status = response.status_code
        text = error_text(response)
        if status == 429 or status == 529:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            return RateLimited(
                f"rate limited (HTTP {status}): {text}",
                model=self.model, endpoint=self.endpoint, status=status,
                retry_after=retry_after if retry_after is not None
                else self.retry_after_from_body(response),
            )
        if status >= 500:
            return ServerError(
                f"server error (HTTP {status}): {text}",
                model=self.model, endpoint=self.endpoint, status=status,
                retry_after=parse_retry_after(response.headers.get("retry-after"))
                or self.retry_after_from_body(response),
            )
        if any(marker in text.lower() for marker in CONTEXT_MARKERS):
            return ContextLengthExceeded(
                f"request longer than the model's context: {text}",
                "shorten the prompt or use a model with a longer context",
                model=self.model, endpoint=self.endpoint, status=status,
            )
        hint = {
            401: "check the API key for this provider",
            403: "check the API key's permissions",
            404: "check the model name and the base URL",
        }.get(status, "the request was refused; retrying will not help")
        return RequestRejected(
            f"{self.model} at {self.endpoint} refused the request (HTTP {status}): {text}",
            hint, model=self.model, endpoint=self.endpoint, status=status,
        )

    def _err(self, cls: type[ModelError], message: str) -> ModelError:
        return cls(message, model=self.model, endpoint=self.endpoint)

    async def aclose(self) -> None:
        await self._transport.aclose()


def _is_timeout(exc: httpx.TransportError) -> bool:
    """The aiohttp transport maps every dropped connection to ConnectTimeout; the cause tells."""
    cause = exc.__cause__
    if cause is not None:
        return isinstance(cause, TimeoutError)
    return isinstance(exc, httpx.TimeoutException)


def _name(exc: httpx.TransportError) -> str:
    cause = exc.__cause__ or exc
    text = server_line(str(cause), 160)
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__


def _framing(exc: aiohttp.ClientResponseError) -> str:
    """aiohttp's parser message without the quoted bytes and caret under them that follow it
    ("Bad status line:\n  Invalid status code:\n\n  b'HTTP/1.1 abc'\n  ^")."""
    head = re.split(r"\n\s*\n|\sb'|\sb\"", exc.message or "", maxsplit=1)[0]
    text = server_line(head, 120).rstrip(":. ")
    return f"malformed HTTP ({text})" if text else f"malformed HTTP ({type(exc).__name__})"


def loads_or_none(text: str) -> Any:
    try:
        return load_json(text, as_written=False)
    except ValueError:
        return None
