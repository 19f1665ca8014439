"""One exception root for everything prompt-tuner raises on purpose.

Errors that come from user input (a task file, a model spec, a flag, a server that is down)
carry a one-line ``message`` and a ``hint`` saying how to fix it; the CLI prints exactly
``error: {message} ({hint})`` and exits 2.
"""

from __future__ import annotations


class PromptTunerError(Exception):
    """Root of every deliberate prompt-tuner error.

    Examples:
        >>> from core import ConfigError, PromptTunerError
        >>> error = ConfigError("unknown profile 'fast'", "use one of: default, quick, thorough")
        >>> isinstance(error, PromptTunerError), error.exit_code
        (True, 2)
        >>> print(error)
        unknown profile 'fast' (use one of: default, quick, thorough)
    """

    exit_code = 2

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(PromptTunerError):
    """A configuration file, profile, environment variable or flag is invalid."""


class TaskError(PromptTunerError):
    """A task file or quick-form task is invalid."""


class ModelSpecError(PromptTunerError):
    """A model spec string (``openai:MODEL@URL`` …) cannot be understood."""


class BudgetExhausted(PromptTunerError):
    """The run's budget has no room for another model call."""


class RunCancelled(PromptTunerError):
    """The run was cancelled by the user; what it measured so far is saved."""


class ReportNotWritten(PromptTunerError):
    """A run finished and is stored, but its report files could not be written (a full disk, a
    run folder that cannot be written): the message says where the results are."""


class ModelError(PromptTunerError):
    """A model call failed. ``model`` and ``endpoint`` say where."""

    def __init__(self, message: str, hint: str = "", *, model: str = "", endpoint: str = "") -> None:
        super().__init__(message, hint)
        self.model = model
        self.endpoint = endpoint


class TransientModelError(ModelError):
    """A failure that may go away on retry: 429, 5xx, timeouts, dropped connections, garbage."""

    def __init__(
        self,
        message: str,
        hint: str = "",
        *,
        model: str = "",
        endpoint: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, hint, model=model, endpoint=endpoint)
        self.status = status
        self.retry_after = retry_after


class RateLimited(TransientModelError):
    """HTTP 429 (or a provider's 'overloaded')."""


class ServerError(TransientModelError):
    """HTTP 5xx."""


class ConnectionFailed(TransientModelError):
    """The connection could not be made or was dropped before a full reply."""


class ModelTimeout(TransientModelError):
    """No complete reply within the configured timeout."""


class MalformedResponse(TransientModelError):
    """The server answered 2xx with a body we cannot read."""


class RequestRejected(ModelError):
    """A 4xx other than 429: the request itself is wrong; retrying cannot help."""

    def __init__(
        self, message: str, hint: str = "", *, model: str = "", endpoint: str = "", status: int = 400
    ) -> None:
        super().__init__(message, hint, model=model, endpoint=endpoint)
        self.status = status


class ContextLengthExceeded(RequestRejected):
    """The server (or our own check) says the request is longer than the model's context."""


class ModelUnavailable(ModelError):
    """Every attempt failed; the message names the model, the endpoint and the last failure."""


def first_user_error(exc: BaseException, *,
                     also: tuple[type[BaseException], ...] = ()) -> BaseException:
    """The error a person needs from a failure that may be a task group's: the first
    ``PromptTunerError`` (or Ctrl-C, or one of the front's own user errors ``also``) anywhere in
    ``exc``, groups opened depth first, however deeply; else its first error (a bug, shown as one).
    ``exc`` itself when it is not a group. Every front finds the error to show this one way.

    Examples:
        >>> from core import ModelUnavailable, TaskError, first_user_error
        >>> group = ExceptionGroup("scoring", [
        ...     ValueError("a bug"),
        ...     ExceptionGroup("calls", [ModelUnavailable("embedded: no answer", "check the model")]),
        ... ])
        >>> print(first_user_error(group))
        embedded: no answer (check the model)
        >>> first_user_error(ExceptionGroup("g", [ValueError("a bug")]))
        ValueError('a bug')
        >>> error = TaskError("x.yaml: no prompt")
        >>> first_user_error(error) is error
        True
    """
    if not isinstance(exc, BaseExceptionGroup):
        return exc
    found = _first_of(exc, (PromptTunerError, KeyboardInterrupt, *also))
    return found if found is not None else _leaf(exc)


def _first_of(group: BaseExceptionGroup[BaseException],
              kinds: tuple[type[BaseException], ...]) -> BaseException | None:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            inner = _first_of(exc, kinds)
            if inner is not None:
                return inner
        elif isinstance(exc, kinds):
            return exc
    return None


def _leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _leaf(first) if isinstance(first, BaseExceptionGroup) else first
