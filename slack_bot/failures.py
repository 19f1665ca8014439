"""Why a background run stopped, in one line for its thread: the core's own error line when there
is one (also from inside an ``ExceptionGroup``, which the core's concurrent evaluation may raise),
a plain sentence for a timeout or a connection problem, and the exception's type and first line
for anything else. Never a traceback; every secret scrubbed."""

from __future__ import annotations

from core import PromptTunerError, first_user_error

from .commands import UsageError
from .redact import redact

MAX_CHARS = 500


def cause(exc: BaseException) -> BaseException:
    """The exception that says most: the first user error (the core's or the bot's) inside, found
    the core's way (``first_user_error``)."""
    return first_user_error(exc, also=(UsageError,))


def one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def failure_line(exc: BaseException) -> str:
    """What to tell the thread about ``exc``."""
    leaf = cause(exc)
    detail = str(leaf).strip()
    if isinstance(leaf, (PromptTunerError, UsageError)):
        text = detail or type(leaf).__name__
    elif isinstance(leaf, TimeoutError):
        text = "a model call timed out; try again later, or with a smaller `--budget`"
    elif isinstance(leaf, (ConnectionError, OSError)):
        text = f"could not reach a model ({type(leaf).__name__}{': ' + detail if detail else ''})"
    else:
        text = (f"an unexpected {type(leaf).__name__}{': ' + detail if detail else ''}; "
                "the bot's log has the details")
    return one_line(redact(text))
