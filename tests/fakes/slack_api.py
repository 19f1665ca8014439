"""A loopback fake of Slack for tests: both directions of the wire, with no network.

``FakeSlackApi`` is the Web API (``https://slack.com/api/`` → ``http://127.0.0.1:PORT/api/``),
an aiohttp server on its own thread. Point an SDK client at it with ``WebClient(base_url=
api.base_url)``. It records every call (method, headers without credentials, the JSON, form or
query body), keeps the messages it was sent (posts and their edits, by channel and ts), serves
the file-upload flow (``files.getUploadURLExternal`` → POST to the upload URL →
``files.completeUploadExternal``) and ``response_url`` posts, and injects faults per method:
``api.fail("chat.postMessage", status=429, retry_after=1)`` or ``status=500`` or a Slack error
(``status=200, error="channel_not_found"``).

``SlackSender`` is the Slack platform calling an app: slash commands, button clicks and modal
submissions as real HTTP requests, signed with the app's signing secret the way Slack signs
them (``v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}")``), optionally stale, wrongly signed
or marked as a retry (``X-Slack-Retry-Num``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
import urllib.parse
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web

SECRET_HEADERS = frozenset({"authorization", "cookie"})


@dataclass
class Call:
    """One request the fake received."""

    method: str                  # the API method; "upload" for a file body, "response_url"
    path: str
    headers: dict[str, str]      # without Authorization (see ``authorized``)
    body: dict[str, Any]
    status: int
    authorized: bool             # it carried a bearer token
    t: float = field(default_factory=time.time)
    raw: bytes = b""


@dataclass
class Fault:
    status: int
    retry_after: float | None = None
    error: str | None = None


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    edits: int = 0


class FakeSlackApi:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self.messages: dict[tuple[str, str], Message] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._clock = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    # -- addresses -------------------------------------------------------------------------------
    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The Web API base URL for ``WebClient(base_url=...)``."""
        return f"{self.root_url}/api/"

    def response_url(self, name: str = "cmd") -> str:
        return f"{self.root_url}/response/{name}"

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> FakeSlackApi:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True,
                                        name="fake-slack-api")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake Slack API did not start")
        return self

    def _serve(self, ready: threading.Event) -> None:
        loop = self._loop = asyncio.new_event_loop()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{name}", self._response_url)
        self._runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, self.host, 0)
        loop.run_until_complete(site.start())
        self.port = int(self._runner.addresses[0][1])
        ready.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> FakeSlackApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- control -----------------------------------------------------------------------------------
    def fail(self, method: str, status: int = 429, *, times: int = 1,
             retry_after: float | None = None, error: str | None = None) -> None:
        """The next ``times`` calls of ``method`` get this failure instead of an answer."""
        with self._lock:
            for _ in range(times):
                self._faults[method].append(Fault(status, retry_after, error))

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._faults.clear()

    def wait_for(self, predicate: Any, timeout: float = 30.0, what: str = "a call") -> Any:
        """Poll until ``predicate(self)`` is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = predicate(self)
            if got:
                return got
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; calls: "
                             f"{[c.method for c in self.calls()]}")

    async def until(self, predicate: Any, timeout: float = 30.0, what: str = "a call") -> Any:
        """``wait_for`` for a test whose event loop also runs the app under test."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = predicate(self)
            if got:
                return got
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; calls: "
                             f"{[c.method for c in self.calls()]}")

    def posts(self, channel: str | None = None) -> list[Message]:
        """Every message posted, oldest first."""
        with self._lock:
            got = [m for m in self.messages.values() if channel is None or m.channel == channel]
        return sorted(got, key=lambda m: float(m.ts))

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """The replies in a thread, oldest first."""
        with self._lock:
            got = [m for m in self.messages.values()
                   if m.channel == channel and m.thread_ts == thread_ts]
        return sorted(got, key=lambda m: float(m.ts))

    # -- the server --------------------------------------------------------------------------------
    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._clock):06d}"

    async def _read(self, request: web.Request) -> tuple[dict[str, Any], bytes]:
        raw = await request.read()
        body: dict[str, Any] = dict(request.query)
        kind = request.content_type
        if kind == "application/json" and raw:
            body.update(json.loads(raw))
        elif kind == "application/x-www-form-urlencoded" and raw:
            body.update({k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode()).items()})
        elif raw:
            body["_bytes"] = len(raw)  # multipart or binary: kept in ``Call.raw``
        return body, raw

    def _record(self, request: web.Request, method: str, body: dict[str, Any], status: int,
                raw: bytes = b"") -> None:
        headers = {k.lower(): v for k, v in request.headers.items()
                   if k.lower() not in SECRET_HEADERS}
        authorized = request.headers.get("Authorization", "").startswith("Bearer ")
        with self._lock:
            self._calls.append(Call(method, request.path, headers, body, status, authorized,
                                    raw=raw))

    def _fault(self, method: str) -> Fault | None:
        with self._lock:
            queue = self._faults.get(method)
            return queue.popleft() if queue else None

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body, raw = await self._read(request)
        fault = self._fault(method)
        if fault is not None:
            self._record(request, method, body, fault.status, raw)
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            payload = {"ok": False, "error": fault.error or ("ratelimited" if fault.status == 429
                                                             else "internal_error")}
            return web.json_response(payload, status=fault.status, headers=headers)
        self._record(request, method, body, 200, raw)
        return web.json_response(self._answer(method, body))

    def _answer(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return {"ok": True}
        result: dict[str, Any] = handler(body)
        return result

    @staticmethod
    def _blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
        blocks = body.get("blocks") or []
        return json.loads(blocks) if isinstance(blocks, str) else list(blocks)

    def _auth_test(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://fake.slack.test/", "team": "Fake", "user": "tuner",
                "team_id": "T0001", "user_id": "UBOT", "bot_id": "BBOT"}

    def _chat_postMessage(self, body: dict[str, Any]) -> dict[str, Any]:
        ts, channel = self._next_ts(), str(body.get("channel"))
        msg = Message(channel, ts, str(body.get("text") or ""), self._blocks(body),
                      body.get("thread_ts") or None)
        with self._lock:
            self.messages[(channel, ts)] = msg
        return {"ok": True, "channel": channel, "ts": ts,
                "message": {"text": msg.text, "ts": ts, "thread_ts": msg.thread_ts}}

    def _chat_update(self, body: dict[str, Any]) -> dict[str, Any]:
        key = (str(body.get("channel")), str(body.get("ts")))
        with self._lock:
            msg = self.messages.get(key)
            if msg is None:
                return {"ok": False, "error": "message_not_found"}
            msg.text, msg.blocks = str(body.get("text") or ""), self._blocks(body)
            msg.edits += 1
        return {"ok": True, "channel": key[0], "ts": key[1]}

    def _chat_postEphemeral(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._next_ts()}

    def _views_open(self, body: dict[str, Any]) -> dict[str, Any]:
        view = body.get("view")
        view = json.loads(view) if isinstance(view, str) else dict(view or {})
        return {"ok": True, "view": {**view, "id": f"V{next(self._ids):08d}", "hash": "h1"}}

    def _files_getUploadURLExternal(self, body: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._ids):08d}"
        with self._lock:
            self.uploads[file_id] = {"filename": body.get("filename"),
                                     "length": int(body.get("length") or 0), "content": None}
        return {"ok": True, "file_id": file_id, "upload_url": f"{self.root_url}/upload/{file_id}"}

    def _files_completeUploadExternal(self, body: dict[str, Any]) -> dict[str, Any]:
        files = body.get("files")
        files = json.loads(files) if isinstance(files, str) else list(files or [])
        with self._lock:
            for f in files:
                entry = self.uploads.setdefault(f["id"], {})
                entry.update(title=f.get("title"), channel=body.get("channel_id"),
                             thread_ts=body.get("thread_ts"), completed=True)
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}

    async def _upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        raw = await request.read()
        with self._lock:
            known = file_id in self.uploads
            if known:
                self.uploads[file_id]["content"] = raw
        self._record(request, "upload", {"file_id": file_id, "bytes": len(raw)},
                     200 if known else 404, raw)
        if not known:
            return web.Response(status=404, text="unknown upload")
        return web.Response(text=f"OK - {len(raw)}")

    async def _response_url(self, request: web.Request) -> web.Response:
        body, _ = await self._read(request)
        self._record(request, "response_url", body, 200)
        return web.Response(text="ok")


# -- the Slack platform calling an app ---------------------------------------------------------------

def sign(secret: str, body: str, timestamp: int) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class SlackSender:
    """Sends what Slack sends to an app's Request URL, signed with ``signing_secret``."""

    def __init__(self, app_url: str, signing_secret: str, api: FakeSlackApi,
                 team_id: str = "T0001") -> None:
        self.app_url = app_url
        self.signing_secret = signing_secret
        self.api = api
        self.team_id = team_id
        self._ids = itertools.count(1)

    def trigger(self) -> str:
        """A fresh trigger_id, unique like Slack's."""
        return f"{next(self._ids)}.{int(time.time())}.{secrets.token_hex(8)}"

    async def send(self, body: str, *, timestamp: int | None = None, secret: str | None = None,
                   signature: str | None = None, retry_num: int | None = None,
                   content_type: str = "application/x-www-form-urlencoded") -> httpx.Response:
        ts = int(time.time()) if timestamp is None else timestamp
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(ts)}
        if signature is None:
            headers["X-Slack-Signature"] = sign(secret or self.signing_secret, body, ts)
        elif signature:  # "": no signature header at all
            headers["X-Slack-Signature"] = signature
        if retry_num is not None:
            headers.update({"X-Slack-Retry-Num": str(retry_num),
                            "X-Slack-Retry-Reason": "http_timeout"})
        async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
            return await client.post(self.app_url, content=body.encode(), headers=headers)

    def command_body(self, text: str, *, user: str = "U0001", channel: str = "C0001",
                     command: str = "/tune", trigger_id: str | None = None) -> str:
        return urllib.parse.urlencode({
            "token": "legacy-verification", "team_id": self.team_id, "team_domain": "fake",
            "channel_id": channel, "channel_name": "tuning", "user_id": user,
            "user_name": user.lower(), "command": command, "text": text, "api_app_id": "A0001",
            "is_enterprise_install": "false", "response_url": self.api.response_url("cmd"),
            "trigger_id": trigger_id or self.trigger()})

    async def command(self, text: str, **kwargs: Any) -> httpx.Response:
        send_args = {k: kwargs.pop(k) for k in ("timestamp", "secret", "signature", "retry_num")
                     if k in kwargs}
        return await self.send(self.command_body(text, **kwargs), **send_args)

    def _payload(self, payload: dict[str, Any]) -> str:
        return urllib.parse.urlencode({"payload": json.dumps(payload)})

    async def click(self, message: Message, action_id: str, *, user: str = "U0001",
                    block_id: str | None = None, **send_args: Any) -> httpx.Response:
        """Press the button ``action_id`` (in block ``block_id``) of a message the app posted."""
        button, in_block = _find_button(message.blocks, action_id, block_id)
        payload = {
            "type": "block_actions", "api_app_id": "A0001", "token": "legacy-verification",
            "user": {"id": user, "username": user.lower(), "name": user.lower(),
                     "team_id": self.team_id},
            "team": {"id": self.team_id, "domain": "fake"}, "trigger_id": self.trigger(),
            "container": {"type": "message", "message_ts": message.ts, "channel_id": message.channel,
                          "is_ephemeral": False, "thread_ts": message.thread_ts},
            "channel": {"id": message.channel, "name": "tuning"},
            "message": {"type": "message", "ts": message.ts, "thread_ts": message.thread_ts,
                        "text": message.text, "blocks": message.blocks},
            "response_url": self.api.response_url("action"),
            "actions": [{"type": "button", "action_id": action_id, "block_id": in_block,
                         "value": button.get("value"), "text": button.get("text"),
                         "action_ts": f"{time.time():.6f}"}],
        }
        return await self.send(self._payload(payload), **send_args)

    async def submit_view(self, view: dict[str, Any], values: dict[str, dict[str, str]], *,
                          user: str = "U0001", **send_args: Any) -> httpx.Response:
        """Submit a modal the app opened; ``values`` maps block_id → {action_id: text}."""
        state = {block: {action: {"type": "plain_text_input", "value": text}
                         for action, text in fields.items()} for block, fields in values.items()}
        payload = {
            "type": "view_submission", "api_app_id": "A0001", "token": "legacy-verification",
            "team": {"id": self.team_id, "domain": "fake"}, "trigger_id": self.trigger(),
            "user": {"id": user, "username": user.lower(), "name": user.lower(),
                     "team_id": self.team_id},
            "view": {**view, "team_id": self.team_id, "state": {"values": state}},
        }
        return await self.send(self._payload(payload), **send_args)


def _find_button(blocks: list[dict[str, Any]], action_id: str,
                 block_id: str | None) -> tuple[dict[str, Any], str]:
    for block in blocks:
        if block.get("type") != "actions" or (block_id and block.get("block_id") != block_id):
            continue
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return element, str(block.get("block_id", ""))
    raise AssertionError(f"no button {action_id!r} (block {block_id!r}) in the message")
