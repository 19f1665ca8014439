"""The editor's built-in checks, registered as a plugin like any installed one (entry point
``editor-checks`` of the ``prompt_tuner`` group): a package adds its own through the same
``register_checks`` hook, and the server runs them all."""

from __future__ import annotations

from core import Register, hookimpl

from .checks import CHECKS


@hookimpl
def register_checks(register: Register) -> None:
    for check in CHECKS:
        register(check.__name__.removeprefix("check_").replace("_", "-"), check)
