"""Talking to the Slack Web API: one client with the SDK's retry handlers (429 with Retry-After,
500/503, dropped connections), and the few calls the bot makes, each returning what the caller
needs. A failed call raises ``SlackError`` with Slack's error code and no credentials. Every
message and file the bot sends is scrubbed of secrets on the way out (``redact.scrub``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from .redact import redact, scrub

log = logging.getLogger(__name__)
DEFAULT_API_URL = "https://slack.com/api/"


class SlackError(Exception):
    """A Web API call failed after the SDK's retries; ``code`` is Slack's error string."""

    def __init__(self, method: str, code: str) -> None:
        super().__init__(f"Slack {method} failed: {code}")
        self.method = method
        self.code = code


@dataclass(frozen=True)
class Upload:
    filename: str
    content: str | bytes
    title: str


def make_client(token: str | None, api_url: str | None = None) -> AsyncWebClient:
    base = api_url or DEFAULT_API_URL
    return AsyncWebClient(
        token=token, base_url=base if base.endswith("/") else base + "/",
        retry_handlers=[AsyncConnectionErrorRetryHandler(max_retry_count=2),
                        AsyncRateLimitErrorRetryHandler(max_retry_count=4),
                        AsyncServerErrorRetryHandler(max_retry_count=3)])


def _code(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
    return type(exc).__name__


class SlackIO:
    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def _call(self, method: str, coro: Any) -> Any:
        try:
            return await coro
        except (SlackApiError, SlackClientError, OSError, TimeoutError) as exc:
            code = _code(exc)
            log.warning("Slack %s failed: %s", method, code)
            raise SlackError(method, code) from None

    async def post(self, channel: str, text: str, blocks: Sequence[dict[str, Any]] | None = None,
                   thread_ts: str | None = None) -> str:
        """Post a message (in a thread when ``thread_ts``); returns its ts."""
        resp = await self._call("chat.postMessage", self.client.chat_postMessage(
            channel=channel, text=redact(text), blocks=scrub(list(blocks)) if blocks else None,
            thread_ts=thread_ts, unfurl_links=False, unfurl_media=False))
        return str(resp["ts"])

    async def update(self, channel: str, ts: str, text: str,
                     blocks: Sequence[dict[str, Any]] | None = None) -> None:
        await self._call("chat.update", self.client.chat_update(
            channel=channel, ts=ts, text=redact(text), blocks=scrub(list(blocks)) if blocks else []))

    async def ephemeral(self, channel: str, user: str, text: str,
                        thread_ts: str | None = None) -> None:
        await self._call("chat.postEphemeral", self.client.chat_postEphemeral(
            channel=channel, user=user, text=redact(text), thread_ts=thread_ts))

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        await self._call("views.open", self.client.views_open(trigger_id=trigger_id, view=view))

    async def upload(self, channel: str, thread_ts: str, files: Sequence[Upload],
                     comment: str = "") -> None:
        """Upload files into a thread: files.getUploadURLExternal, the upload, then
        files.completeUploadExternal (the SDK's files_upload_v2)."""
        await self._call("files_upload_v2", self.client.files_upload_v2(
            file_uploads=[{"filename": f.filename, "title": f.title,
                           "content": redact(f.content) if isinstance(f.content, str) else f.content}
                          for f in files],
            channel=channel, thread_ts=thread_ts, initial_comment=redact(comment) or None))
