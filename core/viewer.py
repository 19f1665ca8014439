"""``prompt-tuner view``'s web server: the store's tasks, runs, prompt versions, reviews and run
reports as read-only pages on the loopback interface (pages: ``core.viewer_pages``).

What keeps it a private, read-only window on one machine:

- it binds 127.0.0.1 unless told otherwise, and :func:`check_host` refuses a host that is not a
  loopback address unless the caller says it means it (``allow_remote``);
- a request whose ``Host`` header is not this server's name (``127.0.0.1``, ``localhost`` or
  ``[::1]`` with the server's port, or the host it was bound to) is refused with 421, so a web
  page on another site cannot read it through DNS rebinding;
- only GET and HEAD: any other method is 405;
- every page is sent with a Content-Security-Policy that allows nothing from elsewhere (no
  script at all; the page's own inline stylesheet by its hash), ``nosniff``, no framing, no
  referrer, no caching;
- the store is opened read-only, once per request (so threads share no connection).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import logging
import re
import socket
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .errors import PromptTunerError
from .store import Store
from .templates import TemplateLibrary
from .viewer_pages import NotFound, error_page, render

log = logging.getLogger(__name__)

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
ALLOWED_METHODS = "GET, HEAD"
_STYLE = re.compile(r"<style>(.*?)</style>", re.S)


class ViewError(PromptTunerError):
    """The viewer cannot start: a host it may not bind, a port in use, no store."""


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, *, allow_remote: bool) -> None:
    """Refuse to serve on a host other machines can reach unless ``allow_remote``."""
    if not host.strip():
        raise ViewError("--host is empty", "leave --host out (127.0.0.1), or name an address")
    if not is_loopback(host) and not allow_remote:
        raise ViewError(f"--host {host[:100]} is not a loopback address: anyone who can reach it "
                        "could read every prompt, answer and review in the store",
                        "leave --host out (127.0.0.1), or add --allow-remote if you mean it")


def csp(html: str) -> str:
    """The page's Content-Security-Policy: nothing but its own inline stylesheets (by hash,
    those in ``<head>``, where no stored text goes) and ``data:`` images."""
    head = html.split("</head>", 1)[0] if "</head>" in html else ""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m.group(1).encode()).digest()).decode() + "'"
        for m in _STYLE.finditer(head))
    return ("default-src 'none'; " + (f"style-src {hashes}; " if hashes else "")
            + "img-src 'self' data:; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")


class Handler(BaseHTTPRequestHandler):
    """One request: checked, routed, answered. ``store_path`` and ``templates`` are bound by
    :func:`make_server`."""

    server_version = "prompt-tuner-view"
    sys_version = ""

    def __init__(self, *args: object, store_path: Path, templates: TemplateLibrary,
                 hosts: frozenset[str], **kwargs: object) -> None:
        self.store_path, self.templates, self.hosts = store_path, templates, hosts
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    # -- methods --------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _refuse_method(self) -> None:
        self._send(HTTPStatus.METHOD_NOT_ALLOWED,
                   f"{self.command} is not allowed: this viewer only reads", body=True,
                   extra={"Allow": ALLOWED_METHODS})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = _refuse_method

    def log_message(self, format: str, *args: object) -> None:
        log.info("%s %s", self.address_string(), format % args)

    # -- answering ------------------------------------------------------------------------------
    def _host_ok(self) -> bool:
        return (self.headers.get("Host") or "").strip().lower() in self.hosts

    def _answer(self, *, body: bool) -> None:
        if not self._host_ok():
            self._send(HTTPStatus.MISDIRECTED_REQUEST,
                       "this viewer answers only to 127.0.0.1 or localhost", body=body)
            return
        if self.path.split("?", 1)[0] == "/favicon.ico":
            self._raw(HTTPStatus.NO_CONTENT, b"", "image/x-icon", "default-src 'none'", body)
            return
        try:
            store = Store.existing(self.store_path)
        except PromptTunerError as exc:
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, str(exc), body=body)
            return
        try:
            html = render(store, self.templates, self.path)
        except NotFound as exc:
            self._send(HTTPStatus.NOT_FOUND, str(exc), body=body)
            return
        except Exception:  # a bug: the page says so, the log has the traceback
            log.exception("cannot render %s", self.path)
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, "this page could not be rendered "
                       "(the viewer's log has the details)", body=body)
            return
        finally:
            store.close()
        self._page(HTTPStatus.OK, html, body)

    def _send(self, status: HTTPStatus, message: str, *, body: bool,
              extra: dict[str, str] | None = None) -> None:
        html = error_page(self.templates, int(status), status.phrase, message)
        self._page(status, html, body, extra)

    def _page(self, status: HTTPStatus, html: str, body: bool,
              extra: dict[str, str] | None = None) -> None:
        self._raw(status, html.encode("utf-8"), "text/html; charset=utf-8", csp(html), body,
                  extra)

    def _raw(self, status: HTTPStatus, data: bytes, kind: str, policy: str, body: bool,
             extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": kind, "Content-Length": str(len(data)),
                            "Content-Security-Policy": policy,
                            "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                            "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
                            "Cross-Origin-Resource-Policy": "same-origin",
                            **(extra or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        if body and data:
            self.wfile.write(data)


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """The ``Host`` headers this server answers: its loopback names, and the host it was bound
    to, each with its port."""
    bare = host.strip("[]").lower()
    names = {*LOOPBACK_NAMES, f"[{bare}]" if ":" in bare else bare}
    names.discard("0.0.0.0")
    names.discard("[::]")
    return frozenset(f"{name}:{port}" for name in names)


def make_server(store_path: Path, host: str = "127.0.0.1", port: int = 0, *,
                allow_remote: bool = False,
                templates: TemplateLibrary | None = None) -> ThreadingHTTPServer:
    """A server (not yet serving: call ``serve_forever``) for the store at ``store_path``, on
    ``host``:``port`` (0: a free port; read it from ``server_address``). The store must exist;
    it is only ever opened read-only."""
    check_host(host, allow_remote=allow_remote)
    if not 0 <= port <= 65535:
        raise ViewError(f"--port {port}: not a port", "give 0-65535 (0: any free port)")
    Store.existing(store_path).close()  # no store, or not one: say so now, not on every page
    lib = templates or TemplateLibrary()
    server_class = _V6Server if ":" in host.strip("[]") else ThreadingHTTPServer
    try:
        server = server_class((host.strip("[]"), port), partial(
            Handler, store_path=store_path, templates=lib, hosts=frozenset()))
    except OSError as exc:
        raise ViewError(f"cannot serve on {host}:{port}: {exc.strerror or exc}",
                        "pick another --port (0: any free one)") from None
    bound = int(server.server_address[1])
    server.RequestHandlerClass = partial(Handler, store_path=store_path, templates=lib,
                                         hosts=allowed_hosts(host, bound))
    return server


class _V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def server_url(server: ThreadingHTTPServer) -> str:
    """The address to open in a browser."""
    host, port = str(server.server_address[0]), int(server.server_address[1])
    name = f"[{host}]" if ":" in host else host
    return f"http://{name}:{port}/"
