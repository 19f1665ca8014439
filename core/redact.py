"""Configured secrets out of every text a model server sent us, and out of every log record.

A server's reply is untrusted and may echo what it received (an ``Authorization`` header in an
error body, or in an answer). The model call stack (``core.models.stack``) passes each
completion and each model error through a :class:`Redactor` built from every configured key,
so the cache, the store, reports, chat threads and error lines only ever see the redacted text.
:func:`protect_logs` does the same for log records, whichever handler writes them (console,
``--log-file``, a front's own logging), by wrapping the process's log-record factory.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from .errors import PromptTunerError

MASK = "[redacted]"
# Shorter values are not real keys (test placeholders such as "test"); masking them would
# mangle ordinary words in answers.
MIN_SECRET_CHARS = 8


class Redactor:
    """Replaces each of a set of secrets by ``[redacted]`` wherever it appears."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        unique = {s for s in secrets if len(s) >= MIN_SECRET_CHARS}
        self.secrets: tuple[str, ...] = tuple(sorted(unique, key=lambda s: (-len(s), s)))

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def text(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def error(self, exc: BaseException) -> None:
        """Redact an exception in place (message, hint and args), and the ones it was raised
        from, so that however it is shown later — ``str``, a traceback, a stored error — the
        secret is gone."""
        seen: set[int] = set()
        current: BaseException | None = exc
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            if isinstance(current, PromptTunerError):
                current.message = self.text(current.message)
                current.hint = self.text(current.hint)
            current.args = tuple(self.text(a) if isinstance(a, str) else a for a in current.args)
            current = current.__cause__ or current.__context__


_lock = threading.Lock()
_log_redactor = Redactor()
_installed = False


def protect_logs(redactor: Redactor) -> None:
    """From now on, redact ``redactor``'s secrets (and those registered before) from every log
    record this process makes."""
    global _log_redactor, _installed
    if not redactor:
        return
    with _lock:
        _log_redactor = Redactor([*_log_redactor.secrets, *redactor.secrets])
        if not _installed:
            logging.setLogRecordFactory(_redacting(logging.getLogRecordFactory()))
            _installed = True


def _redacting(make: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        redactor = _log_redactor
        if redactor:
            _scrub(record, redactor)
        return record
    return factory


def _scrub(record: logging.LogRecord, redactor: Redactor) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: the handler reports it as it always does
        return
    clean = redactor.text(message)
    if clean != message:  # records without a secret keep their format and args for filters
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[1] is not None:
        redactor.error(record.exc_info[1])
