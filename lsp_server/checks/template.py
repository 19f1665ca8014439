"""Jinja syntax errors, and ``{{ variables }}`` with no value (or values never used)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import jinja2
import jinja2.meta
from jinja2 import nodes
from jinja2.compiler import Frame

from .base import Finding, PromptFacts

_env = jinja2.Environment(autoescape=False)
_BLOCKS = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)


def template_variables(text: str) -> frozenset[str]:
    """The undeclared variables of a Jinja template (raises jinja2.TemplateSyntaxError, also for
    a template nested too deeply to read). Constant expressions are not folded, so
    ``{{ 10**10000000 }}`` costs nothing here."""
    try:
        tree = _env.parse(text)
        tracker = _Names(_env)
        tracker.visit(tree)
    except (RecursionError, MemoryError):
        raise jinja2.TemplateSyntaxError("the template is nested too deeply", 1) from None
    except ValueError as exc:  # the lexer's int() of a literal with thousands of digits
        raise jinja2.TemplateSyntaxError(f"the template cannot be read: {str(exc)[:120]}", 1) from None
    return frozenset(tracker.undeclared_identifiers)


class _Names(jinja2.meta.TrackingCodeGenerator):
    """``find_undeclared_variables`` without evaluating anything: Jinja's code generator folds
    constant expressions (``{{ 10**10000000 }}`` takes seconds), and we only want the names."""

    def __init__(self, environment: jinja2.Environment) -> None:
        super().__init__(environment)
        self.optimizer = None

    def _output_child_to_const(self, node: nodes.Expr, frame: Frame, finalize: Any) -> str:
        raise nodes.Impossible()

    def visit_Const(self, node: nodes.Const, frame: Frame) -> None:
        self.write("None")  # a huge literal's repr raises; its value does not matter here

    def visit_EvalContextModifier(self, node: nodes.EvalContextModifier, frame: Frame) -> None:
        for keyword in node.options:
            self.visit(keyword.value, frame)
        frame.eval_ctx.volatile = True


def variable_span(text: str, name: str) -> tuple[int, int]:
    """Where ``name`` first appears inside a ``{{ }}`` or ``{% %}`` block."""
    word = re.compile(rf"\b{re.escape(name)}\b")
    for block in _BLOCKS.finditer(text):
        m = word.search(block.group())
        if m:
            return block.start() + m.start(), block.start() + m.end()
    return 0, 0


def _line_span(text: str, lineno: int) -> tuple[int, int]:
    lines = text.split("\n")
    line = max(1, min(lineno, len(lines)))
    start = sum(len(ln) + 1 for ln in lines[:line - 1])
    return start, start + len(lines[line - 1])


def check_template(facts: PromptFacts) -> Iterator[Finding]:
    text = facts.text
    if not facts.templated or ("{{" not in text and "{%" not in text):
        return
    try:
        slots = template_variables(text)
    except jinja2.TemplateError as exc:
        start, end = _line_span(text, getattr(exc, "lineno", None) or 1)
        yield Finding("template-syntax", f"Jinja syntax error: {exc.message}",
                      "fix the {{ }} / {% %} syntax (write {{ '{{' }} for a literal brace)",
                      start, end)
        return
    if facts.fields is not None:
        have = ", ".join(sorted(facts.fields)) or "none"
        for name in sorted(slots - facts.fields):
            start, end = variable_span(text, name)
            yield Finding("undefined-variable",
                          f"undefined variable {{{{ {name} }}}}: {facts.fields_from} has no "
                          f"field '{name}' (it has: {have})",
                          f"rename the slot to one of the fields, or add '{name}' to every example",
                          start, end)
        if facts.fields_from.startswith("the task"):
            for name in sorted(facts.fields - slots):
                yield Finding("unused-variable",
                              f"{facts.fields_from} gives '{name}' but the prompt never uses "
                              f"{{{{ {name} }}}}",
                              f"add {{{{ {name} }}}} where the model needs it, or drop the field",
                              0, min(len(text), text.find("\n") if "\n" in text else len(text)))
    elif facts.report_unlinked_slots:
        for name in sorted(slots):
            start, end = variable_span(text, name)
            yield Finding("undefined-variable",
                          f"{{{{ {name} }}}} has no value: no task is linked to this prompt",
                          "add a sidecar task file with examples that have this field, or "
                          "declare `variables:` in front matter", start, end)
