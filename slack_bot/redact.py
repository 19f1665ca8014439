"""Credentials never reach a log line: every log record's text is scrubbed of the configured
secrets and of anything shaped like a Slack token (``xoxb-…``, ``xapp-…``) when the record is
made, whichever logger or handler it goes to."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any

TOKEN = re.compile(r"\b(?:xox[abposre]|xapp)-[A-Za-z0-9-]+")
MASK = "[redacted]"
_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return TOKEN.sub(MASK, text)


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
