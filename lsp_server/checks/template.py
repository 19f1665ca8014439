"""Jinja syntax errors, and ``{{ variables }}`` with no value (or values never used)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import jinja2
import jinja2.meta

from .base import Finding, PromptFacts

_env = jinja2.Environment(autoescape=False)
_BLOCKS = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)


def template_variables(text: str) -> frozenset[str]:
    """The undeclared variables of a Jinja template (raises jinja2.TemplateSyntaxError)."""
    return frozenset(jinja2.meta.find_undeclared_variables(_env.parse(text)))


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
    except jinja2.TemplateSyntaxError as exc:
        start, end = _line_span(text, exc.lineno or 1)
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
