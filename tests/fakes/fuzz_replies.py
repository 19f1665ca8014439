"""A loopback model whose replies are scripted as data (for the corpus) or drawn by hypothesis:
good answers, garbage, huge or partial bodies, odd status codes, lying headers, silence.

A reply spec is a dict: ``{"status": 503, "body": "...", "headers": {...}}`` (a complete response;
``body`` may instead be ``"good:TEXT"`` for a well-formed completion of TEXT), ``{"raw": "..."}``
(bytes sent as they are, HTTP or not), ``{"close": true}`` (hang up without a word) or
``{"stall": true}`` (say nothing until the client gives up), ``{"good": true}`` (a plausible
answer) or ``{"echo": true}`` (the last message back). Replies are used in turn, cycling.
"""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any

from hypothesis import strategies as st

from .fuzz import completion_body, plausible_answer
from .raw_http import STALL, RawServer, http_response

Spec = dict[str, Any]


def render(spec: Spec) -> bytes | None:
    """The bytes a reply spec sends (``STALL``, or None to hang up)."""
    if spec.get("stall"):
        return STALL
    if spec.get("close"):
        return None
    if "raw" in spec:
        return str(spec["raw"]).encode("utf-8", "surrogateescape")
    body = str(spec.get("body", ""))
    data = completion_body(body[5:]) if body.startswith("good:") else body.encode(
        "utf-8", "surrogateescape")
    headers = {str(k): str(v) for k, v in spec.get("headers", {}).items()}
    return http_response(int(spec.get("status", 200)), data, spec.get("type", "application/json"),
                         headers)


def scripted_model(replies: list[Spec] | None) -> RawServer:
    """A model that gives ``replies`` in turn (good answers when None)."""
    if not replies:
        from .fuzz import good_model

        return good_model()
    turn = itertools.cycle(replies)
    lock = threading.Lock()

    def reply(request: bytes) -> bytes | None:
        with lock:
            spec = next(turn)
        if spec.get("good"):
            return plausible_answer(request)
        if spec.get("echo"):
            return http_response(200, completion_body(_last_text(request)))
        return render(spec)

    return RawServer(reply)


def _last_text(request: bytes) -> str:
    try:
        body = json.loads(request.partition(b"\r\n\r\n")[2])
        return str(body["messages"][-1]["content"])
    except (ValueError, KeyError, IndexError, TypeError):
        return ""


# -- hypothesis ---------------------------------------------------------------------------------

STATUSES = [200, 200, 200, 201, 204, 301, 302, 400, 401, 403, 404, 408, 409, 413, 422, 429, 500,
            502, 503, 504, 529, 999, 100]
choice = st.fixed_dictionaries({}, optional={
    "index": st.one_of(st.integers(), st.none(), st.text(max_size=3)),
    "message": st.one_of(st.none(), st.text(max_size=5), st.fixed_dictionaries({}, optional={
        "role": st.sampled_from(["assistant", "user", "", None]),
        "content": st.one_of(st.text(max_size=50), st.none(), st.integers(), st.lists(
            st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=10)}),
            max_size=2), st.just("x" * 200_000)),
        "reasoning_content": st.text(max_size=10),
        "tool_calls": st.lists(st.dictionaries(st.text(max_size=3), st.text(max_size=3)),
                               max_size=1)})),
    "finish_reason": st.sampled_from(["stop", "length", "content_filter", None, "", 5]),
    "text": st.text(max_size=10)})
usage = st.one_of(st.none(), st.text(max_size=4), st.fixed_dictionaries({}, optional={
    "prompt_tokens": st.one_of(st.integers(-5, 10**12), st.none(), st.text(max_size=3),
                               st.floats()),
    "completion_tokens": st.one_of(st.integers(-5, 10**12), st.none(), st.floats()),
    "total_tokens": st.integers()}))
completion_json = st.fixed_dictionaries({}, optional={
    "id": st.text(max_size=5), "model": st.one_of(st.text(max_size=5), st.none()),
    "choices": st.one_of(st.lists(choice, max_size=2), st.none(), st.text(max_size=3),
                         st.dictionaries(st.text(max_size=2), st.integers(), max_size=1)),
    "usage": usage,
    "error": st.one_of(st.text(max_size=20), st.fixed_dictionaries({}, optional={
        "message": st.one_of(st.text(max_size=40), st.integers(), st.none()),
        "type": st.text(max_size=10), "code": st.one_of(st.text(max_size=20), st.integers())})),
}).map(lambda d: json.dumps(d, allow_nan=True))
garbage = st.one_of(
    st.text(max_size=100), st.sampled_from([
        "", "null", "[]", "{", '{"choices": [', "<html><body>502 Bad Gateway</body></html>",
        '{"choices": [{"message": {"content": "positive"}}]}', "NaN", '"string"', "1e999",
        '{"choices": [{"message": {"content": "' + "y" * 300_000 + '"}}]}',
        "[" * 10_000 + "]" * 10_000, '{"error": {"message": "sk-fuzz leaked"}}',
        "data: {\"choices\": []}\n\n", "\ufeff{}", "\x00\x01\x02"]))
headers = st.dictionaries(
    st.sampled_from(["Retry-After", "retry-after-ms", "x-ratelimit-reset-requests",
                     "Content-Encoding", "Transfer-Encoding", "Content-Type"]),
    st.sampled_from(["1", "0", "-1", "abc", "1e9", "nan", "0.001", "gzip", "chunked", "text/html",
                     "Wed, 21 Oct 2015 07:28:00 GMT", "99999999999999999999", ""]), max_size=2)
raw = st.sampled_from([
    "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"choices\"",     # cut short
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{\"choices\": []}",  # longer than it says
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nbad\r\n",
    "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope",
    "HTTP/1.1 abc\r\n\r\n", "not http at all\r\n\r\n", "HTTP/1.1 200 OK\r\n" + "X: y\r\n" * 500,
    "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "\x00" * 64, "",
    "HTTP/1.1 429 Too Many\r\nRetry-After: 0\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 20\r\n\r\ndata: [DONE]\n\n" +
    " " * 3,
])
good_reply = st.builds(lambda text: {"status": 200, "body": "good:" + text},
                       st.one_of(st.sampled_from(["positive", "negative", "Score: 7/10", ""]),
                                 st.text(max_size=40)))
reply_spec = st.one_of(
    good_reply, good_reply,
    st.builds(lambda status, body, hdrs: {"status": status, "body": body, "headers": hdrs},
              st.sampled_from(STATUSES), st.one_of(completion_json, garbage), headers),
    raw.map(lambda text: {"raw": text}),
    st.sampled_from([{"close": True}, {"stall": True}]),
)
replies = st.lists(reply_spec, min_size=1, max_size=4)
