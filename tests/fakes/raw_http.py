"""A tiny loopback HTTP server that answers with whatever bytes a test scripts, in-process.

For failure paths the full fake model server (``model_server.py``) does not reach: a server that
accepts and never answers, garbage instead of HTTP, a wrong ``Content-Length``, a body cut short.
Each request is read (headers and a ``Content-Length`` body), then handed to ``reply``, which
returns the raw bytes to send (the connection is then closed), ``None`` to close without a word,
or ``STALL`` to hold the connection open until the server stops::

    with RawServer(lambda request: b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\n{}") as srv:
        ...  # point a client at srv.base_url
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Final

STALL: Final = b"\x00stall"
Reply = Callable[[bytes], bytes | None]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def http_response(status: int, body: bytes, content_type: str = "application/json",
                  headers: dict[str, str] | None = None) -> bytes:
    """A complete HTTP/1.1 response with a correct ``Content-Length``."""
    lines = [f"HTTP/1.1 {status} X", f"Content-Type: {content_type}",
             f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip() or 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


class RawServer:
    """Serves ``reply`` on 127.0.0.1 from a thread per connection; records every request."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.requests: list[bytes] = []
        self._stop = threading.Event()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                conn: socket.socket = self.request
                conn.settimeout(10)
                try:
                    request = _read_request(conn)
                    outer.requests.append(request)
                    answer = outer.reply(request)
                    if answer == STALL:
                        outer._stop.wait()
                    elif answer is not None:
                        conn.sendall(answer)
                except OSError:
                    pass

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> RawServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> RawServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
