"""Typed Jinja2 templates: sandboxed, StrictUndefined, variables checked before rendering.

Two kinds of template go through here:
- files in ``templates/`` (meta-prompts for strategies and the judge, report layouts), loaded
  through a loader whose compiled templates expire after a TTL so edits show up in a long-lived
  bot or language server;
- prompt templates written by users or proposed by the optimizer (``{{ field }}`` slots):
  untrusted, so they get their own environment with time and size limits
  (``core.template_sandbox``, ``core.template_limits``).

Values are inserted as data: a dataset value that contains ``{{ x }}`` stays literal text.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
from jinja2.sandbox import SandboxedEnvironment

from . import template_limits as budgets
from .errors import PromptTunerError, TaskError
from .models.base import Message, Role
from .template_limits import LIMITS, LimitExceeded, TemplateLimits
from .template_sandbox import GuardedEnvironment


def templates_dir() -> Path:
    """``templates/`` beside the package in a checkout, ``core/_templates`` in a wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise PromptTunerError("prompt-tuner's templates folder is missing",
                           "reinstall the package")


def _is_html(name: str | None) -> bool:
    """HTML report layouts (``*.html.j2``) escape what they insert; meta-prompts, Markdown and
    prompt templates insert text as it is."""
    return name is not None and name.endswith((".html.j2", ".html"))


def _env(loader: jinja2.BaseLoader | None = None) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=loader, undefined=jinja2.StrictUndefined, autoescape=_is_html,
        keep_trailing_newline=False, trim_blocks=True, lstrip_blocks=True,
    )


class TemplateLibrary:
    """Loads ``templates/*.j2`` with a TTL cache and checks variables on every render."""

    def __init__(self, root: Path | None = None, ttl_s: float = 5.0) -> None:
        self.root = root or templates_dir()
        self.ttl_s = ttl_s
        self._env = _env(jinja2.FileSystemLoader(str(self.root)))
        self._cache: dict[str, tuple[float, jinja2.Template, frozenset[str]]] = {}

    def get(self, name: str) -> tuple[jinja2.Template, frozenset[str]]:
        now = time.monotonic()
        hit = self._cache.get(name)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1], hit[2]
        try:
            source, _, _ = self._env.loader.get_source(self._env, name)  # type: ignore[union-attr]
            variables = frozenset(jinja2.meta.find_undeclared_variables(self._env.parse(source)))
            template = self._env.get_template(name)
        except jinja2.TemplateNotFound:
            raise PromptTunerError(f"template {name} not found in {self.root}",
                                   "reinstall the package") from None
        except jinja2.TemplateSyntaxError as exc:
            raise PromptTunerError(f"template {name} line {exc.lineno}: {exc.message}",
                                   "fix the template") from None
        self._cache[name] = (now, template, variables)
        return template, variables

    def variables(self, name: str) -> frozenset[str]:
        return self.get(name)[1]

    def render(self, name: str, **values: Any) -> str:
        template, variables = self.get(name)
        missing = sorted(variables - values.keys())
        if missing:
            raise PromptTunerError(f"template {name} needs {', '.join(missing)}",
                                   "this is a bug in the caller")
        return template.render(**values).strip()


    def render_messages(self, name: str, **values: Any) -> tuple[Message, ...]:
        """Render a chat template: lines ``[system]``, ``[user]``, ``[assistant]`` start turns."""
        text = self.render(name, **values)
        messages: list[Message] = []
        role: Role | None = None
        lines: list[str] = []
        for line in text.splitlines():
            marker = line.strip()
            if marker in ("[system]", "[user]", "[assistant]"):
                if role is not None:
                    messages.append(Message(role, "\n".join(lines).strip()))
                role, lines = marker[1:-1], []  # type: ignore[assignment]
            else:
                lines.append(line)
        if role is None:
            return (Message("user", text),)
        messages.append(Message(role, "\n".join(lines).strip()))
        return tuple(messages)


_prompt_env = GuardedEnvironment(LIMITS)
_FIX = "fix the {{ }} / {% %} syntax in the prompt"
_SMALLER = "a prompt template fills in {{ fields }}; keep its loops, repetition and numbers small"


@lru_cache(maxsize=4096)
def compile_prompt(text: str) -> tuple[jinja2.Template, frozenset[str]]:
    """Compile a prompt template (untrusted: see ``core.template_sandbox``); every failure is a
    TaskError naming the line. Compiling evaluates nothing, and its cost is bounded by the
    template's token count."""
    _check_source(text, LIMITS)
    try:
        parsed = _prompt_env.parse(text)
        slots = frozenset(jinja2.meta.find_undeclared_variables(parsed))
        return _prompt_env.from_string(parsed), slots
    except Exception as exc:
        raise template_error(exc) from None


def _check_source(text: str, limits: TemplateLimits) -> None:
    if len(text) > limits.source_chars:
        raise TaskError(f"the prompt template is {len(text):,} characters long; the limit is "
                        f"{limits.source_chars:,}", "shorten it")
    if "{" not in text:
        return
    tokens = 0
    try:
        for _ in _prompt_env.lex(text):
            tokens += 1
            if tokens > limits.compile_tokens:
                raise TaskError(f"the prompt template has more than {limits.compile_tokens:,} "
                                "Jinja tokens", "use fewer {{ }} and {% %} tags")
    except jinja2.TemplateSyntaxError as exc:
        raise template_error(exc) from None


def prompt_slots(text: str) -> frozenset[str]:
    """The ``{{ slots }}`` a prompt template reads (the example fields it needs); a template
    syntax error is a one-line ``TaskError``.

    Examples:
        >>> from core import prompt_slots
        >>> sorted(prompt_slots("Review: {{ review }}\\nTitle: {{ title | upper }}"))
        ['review', 'title']
        >>> prompt_slots("No slots here.")
        frozenset()
    """
    return compile_prompt(text)[1]


def render_prompt(text: str, values: Mapping[str, Any]) -> str:
    """Fill a prompt template's slots, within the limits of ``core.template_limits``: at most
    about 0.2 s, and text a few times the inputs' size; every failure is a one-line TaskError."""
    template, slots = compile_prompt(text)
    missing = sorted(slots - values.keys())
    if missing:
        raise TaskError(f"prompt slot {{{{ {missing[0]} }}}} has no value",
                        "add that field to every example or remove the slot")
    token = budgets.start(budgets.Budget(LIMITS, budgets.allowance(text, values)))
    try:
        return template.render(values)
    except Exception as exc:
        raise template_error(exc) from None
    finally:
        budgets.stop(token)


def template_error(exc: BaseException) -> TaskError:
    """One line for anything a prompt template raised, with its line when known."""
    if isinstance(exc, TaskError):
        return exc
    line = exc.lineno if isinstance(exc, jinja2.TemplateSyntaxError) else _template_line(exc)
    where = f"prompt template line {line}" if line else "prompt template"
    detail = " ".join(str(getattr(exc, "message", None) or exc).split())
    if len(detail) > 200:
        detail = detail[:197] + "..."
    if isinstance(exc, LimitExceeded):
        return TaskError(f"{where} {detail}", _SMALLER)
    if isinstance(exc, jinja2.exceptions.SecurityError):
        return TaskError(f"{where} does something unsafe: {detail}", "use plain {{ field }} slots")
    if isinstance(exc, jinja2.exceptions.UndefinedError):
        return TaskError(f"{where} refers to something undefined: {detail}",
                         "use plain {{ field }} slots")
    if isinstance(exc, RecursionError) or (isinstance(exc, SyntaxError)
                                           and not isinstance(exc, jinja2.TemplateSyntaxError)):
        return TaskError(f"{where} is nested too deeply or calls a macro without end",
                         "use fewer nested tags, brackets and macro calls")
    if isinstance(exc, MemoryError):
        return TaskError(f"{where} needs too much memory", _SMALLER)
    if isinstance(exc, jinja2.TemplateError):
        return TaskError(f"{where}: {detail}", _FIX)
    return TaskError(f"{where}: {type(exc).__name__}: {detail}" if detail
                     else f"{where}: {type(exc).__name__}", "fix the expression on that line")


def _template_line(exc: BaseException) -> int | None:
    """The template line Jinja put in the traceback (its frames are named ``<template>``)."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
