"""The text that replaces a prompt's span when a better prompt is accepted.

Layout whitespace the original had around its text (a leading newline after triple quotes, the
trailing newline of a block) is kept; only the prompt between it changes.
"""

from __future__ import annotations

import json

import yaml

from .quoting import requote
from .sites import PromptSite, YamlScalar


def replacement(site: PromptSite, document: str, new_text: str) -> str:
    """Source for ``site.span`` holding ``new_text``."""
    new_text = new_text.strip()
    if site.kind == "python":
        assert site.literal is not None
        raw_value = site.text  # the literal's value, layout whitespace included
        lead = raw_value[:len(raw_value) - len(raw_value.lstrip())]
        trail = raw_value[len(raw_value.rstrip()):]
        return requote(lead + new_text + trail, site.literal)
    if site.kind == "task":
        assert site.yaml is not None
        return _yaml_scalar(document[site.span.start:site.span.end], site.yaml, new_text)
    return new_text


def _yaml_scalar(original: str, scalar: YamlScalar, text: str) -> str:
    if "\n" not in text and scalar.single_line:
        if scalar.style == "'":
            return "'" + text.replace("'", "''") + "'"
        return json.dumps(text, ensure_ascii=False)
    if scalar.style == "|" and not scalar.single_line:
        header = original.split("\n", 1)[0].rstrip()
        indent = " " * max(scalar.indent, scalar.key_column + 2)
        tail = "\n" if original.endswith("\n") else ""
    else:
        header, indent, tail = "|-", " " * (scalar.key_column + 2), ""
    lines = [(indent + ln) if ln.strip() else "" for ln in text.split("\n")]
    block = header + "\n" + "\n".join(lines) + tail
    if _yaml_value(block) == text or (_yaml_value(block) or "").strip() == text:
        return block
    return json.dumps(text, ensure_ascii=False)


def _yaml_value(block: str) -> str | None:
    try:
        value = yaml.safe_load("k: " + block)
    except yaml.YAMLError:
        return None
    got = value.get("k") if isinstance(value, dict) else None
    return got if isinstance(got, str) else None

