"""HTTP mode: an aiohttp server that hands Slack's requests (slash commands, button clicks, modal
submissions) to Bolt, which verifies each signature and timestamp before anything runs. Also a
``GET /healthz`` for container health checks."""

from __future__ import annotations

import logging

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

log = logging.getLogger(__name__)


def web_app(bolt: AsyncApp, path: str) -> web.Application:
    async def events(request: web.Request) -> web.Response:
        response = await bolt.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post(path, events)
    app.router.add_get("/healthz", health)
    return app


class HttpServer:
    """The web app on ``host:port`` (port 0: any free one; ``port`` tells which after start)."""

    def __init__(self, bolt: AsyncApp, host: str, port: int, path: str) -> None:
        self.runner = web.AppRunner(web_app(bolt, path), access_log=None)
        self.host, self.port, self.path = host, port, path

    async def start(self) -> int:
        await self.runner.setup()
        await web.TCPSite(self.runner, self.host, self.port).start()
        self.port = int(self.runner.addresses[0][1])
        return self.port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    async def stop(self) -> None:
        await self.runner.cleanup()
