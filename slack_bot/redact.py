"""Credentials never reach a log line or a Slack message: every log record's text, and every
text the bot sends to Slack (posts, edits, ephemeral lines, acks, uploads), is scrubbed of the
configured secrets (the Slack credentials and every model API key the core holds) and of
anything shaped like a Slack token (``xoxb-…``, ``xapp-…``), whichever logger, handler or
message it goes to. A model server that echoes a key in its error body is the usual way one
would otherwise reach a thread."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, SecretStr

TOKEN = re.compile(r"\b(?:xox[abposre]|xapp)-[A-Za-z0-9-]+")
MASK = "[redacted]"
_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return TOKEN.sub(MASK, text)


def scrub(value: Any) -> Any:
    """``value`` (text, or Block Kit's dicts and lists) with every secret masked."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    return value


def secret_values(settings: BaseModel | None) -> list[str]:
    """Every secret a settings object holds (its ``SecretStr`` fields, also inside mappings and
    lists, e.g. keys bound to endpoints), so a key added to the core is covered without a list
    to keep in step."""
    out: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            if value.get_secret_value().strip():
                out.append(value.get_secret_value().strip())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name, None))
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple, set, frozenset)):
            for v in value:
                walk(v)

    walk(settings)
    return out


def install(secrets: Iterable[str]) -> None:
    """Scrub ``secrets`` (and token-shaped text) from every log record from now on."""
    global _installed
    with _lock:
        _secrets.update(s for s in secrets if len(s) >= 6)
        if _installed:
            return
        _installed = True
        previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it to the handler to report
            return record
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and redact(str(exc)) != str(exc):
            # the traceback would repeat the secret: keep only the scrubbed one-line error
            record.exc_info, record.exc_text = None, None
            record.msg, record.args = f"{record.getMessage()} ({type(exc).__name__}: {redact(str(exc))})", ()
        return record

    logging.setLogRecordFactory(factory)
