"""Optional parts of prompt-tuner and the extras that install them.

The base install needs no C compiler. The embedded model, the Slack bot and the
language server each need packages of their own, named by an extra of the ``prompt-tuner``
distribution; a front that finds one missing says so in one line instead of a traceback.

Examples:
    >>> from core import EXTRAS, missing_extra
    >>> sorted(EXTRAS)
    ['embedded', 'lsp', 'slack']
    >>> missing_extra("lsp", "the language server") is None  # installed here
    True
"""

from __future__ import annotations

import importlib.util

from .errors import ConfigError

#: extra -> the import names it provides (the first missing one is named in the message)
EXTRAS: dict[str, tuple[str, ...]] = {
    "embedded": ("llama_cpp",),
    "slack": ("slack_bolt", "slack_sdk", "markdown_it"),
    "lsp": ("pygls", "lsprotocol"),
}

_DISTRIBUTIONS = {"llama_cpp": "llama-cpp-python", "slack_bolt": "slack-bolt", "slack_sdk": "slack-sdk",
                  "markdown_it": "markdown-it-py", "pygls": "pygls", "lsprotocol": "lsprotocol"}


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a parent that fails to import, a module set to None
        return False


def missing_extra(extra: str, purpose: str) -> ConfigError | None:
    """The error to raise when ``extra`` is not installed (``None`` when it is): one line naming
    the missing package and the install command, for ``purpose`` ("the Slack bot")."""
    for module in EXTRAS[extra]:
        if not _importable(module):
            package = _DISTRIBUTIONS.get(module, module)
            return ConfigError(
                f"{purpose} needs the `{extra}` extra ({package} is not installed)",
                f"pip install 'prompt-tuner[{extra}]'")
    return None


def require_extra(extra: str, purpose: str) -> None:
    """Raise :class:`ConfigError` (exit 2) when ``extra`` is not installed."""
    error = missing_extra(extra, purpose)
    if error is not None:
        raise error
