"""What every HTTP adapter shares: one pooled aiohttp session per endpoint, error mapping, timing.

Requests go straight to aiohttp's connection pool. Measured reasons (bench/overhead.py, 20 ms
loopback server, ratio of wall time to the ideal N × latency ÷ in-flight):
- httpx's own pool (httpcore) re-scans every waiting request against every connection on each
  state change: ~4 ms of CPU a request at 32 in flight, ratio 9.2;
- ``AsyncClient.send``'s per-request pipeline (auth flow, redirects, cookies, event hooks — none
  of which a JSON API call uses) cost +18% over a bare aiohttp loop;
- httpx-aiohttp's transport under httpx's Request/Response objects still cost ~0.1 ms a request
  (headers built three times, the body read through two async generators, the charset guessed);
- aiohttp's ``trust_env`` looks up the proxy and ``~/.netrc`` again on every request, each in a
  worker thread: two thread hops a request, and every hop waits on the GIL while the event loop
  is busy (up to 5 ms each at a few hundred requests/s). The proxy (HTTP(S)_PROXY, NO_PROXY) and
  the netrc entry are looked up once, when the session opens, and applied to every request.

A reply is read as bytes; an ``httpx.Response`` is built from them only when it is needed: an
error status, a Content-Encoding to undo or a charset other than UTF-8. Providers keep seeing
``httpx.Response`` in ``adapt`` and ``retry_after_from_body``.

A provider module subclasses :class:`HttpAdapter` and writes only ``path``, ``headers``,
``body`` and ``parse`` (and ``adapt``, when a model may refuse a body field with a 400 that says
which); status codes, timeouts, dropped connections and unreadable bodies are turned into the
error classes the retry layer understands here, once.
"""

from __future__ import annotations

import contextlib
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
from aiohttp import hdrs
from aiohttp.helpers import basicauth_from_netrc, get_env_proxy_for_url, netrc_from_env
from yarl import URL

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
from ..jsonio import MAX_DEPTH, load_json
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
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None  # opened in the running loop
        # Built once: parsing URLs and timeouts on every call is measurable at 1,000 calls/s.
        self._url: URL | str = _url(self.base_url + self.path)
        self._headers = {"content-type": "application/json", "accept": "application/json",
                         **self.headers()}
        t = self.timeouts
        self._timeout = aiohttp.ClientTimeout(sock_connect=t.connect, sock_read=t.read,
                                              connect=t.pool)
        self._proxy: URL | None = None
        self._proxy_auth: aiohttp.BasicAuth | None = None
        self._auth: aiohttp.BasicAuth | None = None

    def _open(self) -> aiohttp.ClientSession:
        """The session, made inside the running loop on first use. The environment is read
        here, once, as aiohttp's ``trust_env`` would read it for every request: a proxy from
        HTTP(S)_PROXY unless NO_PROXY covers the host (with its ~/.netrc credentials), and
        ~/.netrc credentials for the host when the provider sends no Authorization header."""
        self._proxy, self._proxy_auth, self._auth = None, None, None
        url = self._url
        if isinstance(url, URL):  # else aiohttp refuses it on every request
            with contextlib.suppress(LookupError):
                self._proxy, self._proxy_auth = get_env_proxy_for_url(url)
            if url.host is not None and hdrs.AUTHORIZATION.lower() not in self._headers:
                with contextlib.suppress(LookupError):
                    self._auth = basicauth_from_netrc(netrc_from_env(), url.host)
        connector = aiohttp.TCPConnector(limit=self._max_connections, ssl=_ssl_context())
        # The headers are the session's: merged once, not on every request.
        self._session = aiohttp.ClientSession(connector=connector, headers=self._headers)
        return self._session

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
        reply = await self._post(request)
        for _ in range(MAX_ADAPTATIONS):
            if reply.status != 400 or not self.adapt(self._response(reply)):
                break
            reply = await self._post(request)
        latency = time.perf_counter() - started
        if reply.status >= 400:
            raise self._status_error(self._response(reply))
        try:
            data = _load_reply(reply.text() if reply.plain else self._response(reply).text)
            completion = self.parse(data, latency)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise self._err(MalformedResponse,
                            f"unreadable reply body ({type(exc).__name__})") from exc
        return completion

    async def _post(self, request: Request) -> _Reply:
        content = json.dumps(self.body(request), ensure_ascii=False).encode("utf-8")
        session = self._session or self._open()
        try:
            async with session.post(self._url, data=content, timeout=self._timeout,
                                    allow_redirects=False, auto_decompress=False, auth=self._auth,
                                    proxy=self._proxy, proxy_auth=self._proxy_auth) as response:
                body = await response.read()
                reply = _Reply(response.status, response.raw_headers, body,
                               _plain(response.headers))
        except aiohttp.ClientError as exc:
            raise self._client_error(exc) from exc
        if not reply.plain:
            self._response(reply)  # a body that does not decode as its Content-Encoding says
        return reply

    def _response(self, reply: _Reply) -> httpx.Response:
        """The reply as an ``httpx.Response`` (its body decoded as its headers say), made once."""
        if reply.response is None:
            try:
                reply.response = httpx.Response(reply.status, headers=reply.headers,
                                                content=reply.body)
            except httpx.DecodingError as exc:
                raise self._err(MalformedResponse, "unreadable reply: the body does not decode "
                                "as its Content-Encoding says "
                                f"({server_line(str(exc), 120)})") from exc
        return reply.response

    def _client_error(self, exc: aiohttp.ClientError) -> ModelError:
        """What aiohttp raised, as the retry layer's error classes."""
        if isinstance(exc, _TRANSPORT_ERRORS):
            if isinstance(exc, TimeoutError):
                return self._err(ModelTimeout, f"no reply within the timeout ({_name(exc)})")
            return self._err(ConnectionFailed, f"connection failed: {_name(exc)}")
        if isinstance(exc, aiohttp.ClientResponseError):
            # aiohttp's parser refused the reply's framing: a bad status line, not HTTP at all,
            # a wrong or negative Content-Length, broken chunking, too many or too long headers,
            # data after the end of the reply. Some other server (or a proxy) answered, or it
            # answered badly: retrying may help, like any garbled reply.
            return self._err(MalformedResponse, f"unreadable reply: {_framing(exc)}")
        return self._err(ConnectionFailed, f"connection failed: {type(exc).__name__}: "
                         f"{server_line(str(exc), 120)}")

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
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


# What aiohttp raises when the connection, not the reply's framing, failed: a timeout, a refused
# or dropped connection, a body cut short, a proxy that would not connect, a URL it cannot use.
_TRANSPORT_ERRORS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError,
                     aiohttp.ClientHttpProxyError, aiohttp.InvalidUrlClientError,
                     aiohttp.NonHttpUrlClientError)


@dataclass(slots=True)
class _Reply:
    """A reply read off the wire: status, raw headers, body bytes; ``plain`` when the body needs
    no decoding but UTF-8's (no Content-Encoding, no other charset)."""

    status: int
    headers: Any
    body: bytes
    plain: bool
    response: httpx.Response | None = None

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")  # as httpx's Response.text would


def _url(text: str) -> URL | str:
    """The URL as httpx writes it (which percent-encodes what a URL may not hold) and aiohttp
    then reads it; the text when aiohttp cannot read it, for aiohttp to refuse at each request
    (a ConnectionFailed, as for any endpoint that cannot be reached)."""
    written = str(httpx.URL(text))
    try:
        return URL(written)
    except ValueError:
        return written


def _plain(headers: Any) -> bool:
    encoding = headers.get(hdrs.CONTENT_ENCODING)
    if encoding and encoding.strip().lower() != "identity":
        return False
    kind = headers.get(hdrs.CONTENT_TYPE)
    if not kind or "charset" not in kind.lower():
        return True
    charset = kind.lower().partition("charset=")[2].split(";")[0].strip().strip('"\'')
    return charset in ("utf-8", "utf8")


def _load_reply(text: str) -> Any:
    """A reply's JSON. ``load_json``'s depth check walks the parsed value (~20 µs a reply); a
    text with no more brackets than the depth limit cannot nest deeper, and skips it."""
    if text.count("{") + text.count("[") <= MAX_DEPTH:
        return json.loads(text)
    return load_json(text, as_written=False)


def _name(exc: BaseException) -> str:
    text = server_line(str(exc), 160)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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
