"""Hypothesis strategies for the fuzz tests: YAML text from a grammar of valid and broken task
fields, odd scalars, deep nesting and templates; configs; JSONL/CSV datasets; model replies.

Values are built as small trees whose leaves may be ``Raw`` YAML source (an odd scalar written as
it would be typed), then emitted as YAML text, and sometimes broken after the fact (a character
dropped, the text cut, a tab where YAML forbids one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st


@dataclass(frozen=True)
class Raw:
    """YAML source text used as it is (``1:30``, ``0755``, ``*nowhere``, ``!!binary …``)."""

    text: str


ODD_SCALARS = [
    "1:30", "0755", "0o17", "0x1F", "2024-01-01", "2001-12-14t21:59:43.10-05:00", ".inf", "-.inf",
    ".nan", "~", "null", "yes", "no", "on", "off", "y", "n", "True", "-0", "1e400", "1_000",
    "+12", "'single'", '"\\u0000nul"', '"\\ud800"', '"\\x80"', "''", '""', "!!binary aGVsbG8=",
    "!!set {a: null}", "!!timestamp 2001-12-14", "!!float 1", "!!str 5", "!!int '7'",
    "!!python/object/apply:os.getcwd []", "!custom tag", "&anchor value", "*nowhere", "'unclosed",
    '"unclosed', "[unclosed", "{unclosed", "@reserved", "`tick", "%directive", "- dash",
    "? key", "|", ">", "|-\n    block text", "\u200b", "\U0001f600", "é\u0301", "\x7f",
    "5" * 5000, "-" + "9" * 400, "0." + "1" * 500, "x" * 10_000, "a: b: c", "#comment",
]
NAMES = ["t", "task", "", " ", "x" * 300, "naïve ☃", "a/b", "../up", "\\x00"]
TEMPLATE_BITS = [
    "Review: ", "{{ text }}", "{{ text|upper }}", "{{ text|trim|lower }}", "{{ nope }}",
    "{{ text.nope }}", "{{ text.nope.deeper }}", "{{ text[0] }}", "{{ text[99] }}",
    "{{ text|bogusfilter }}", "{{ 1/0 }}", "{{ 10**20 }}", "{{ [].pop() }}", "{{ ''.join }}",
    "{{ text.__class__ }}", "{{ text.__class__.__mro__ }}", "{{ lipsum }}", "{{ range(3)|list }}",
    "{% for i in range(3) %}{{ i }}{% endfor %}", "{% if text %}yes{% endif %}", "{% if %}",
    "{% for %}", "{% endfor %}", "{% include 'x.txt' %}", "{% extends 'base' %}",
    "{% import 'm' as m %}", "{% macro m() %}x{% endmacro %}{{ m() }}", "{% raw %}{{ raw }}",
    "{% endraw %}", "{#", "#}", "{{", "}}", "{%", "%}", "{{ text }", "{{ text | }}", "{{ ( }}",
    "{{ '%s' % text }}", "{{ '{}'.format(text) }}", "{{ text * 3 }}", "{{ -text }}",
    "{{ text + 1 }}", "{{ None.x }}", "{{ self }}", "{{ cycler }}", "{{ namespace(a=1).a }}",
    "{% set x = 1 %}{{ x }}", "{{ x|default('d') }}", "{{ text|e }}", "{{ text|safe }}",
    "{{ text|format(1, 2) }}", "{{ text|int }}", "{{ text|float }}", "{{ text|wordwrap(0) }}",
    "{{ text|truncate(-1) }}", "{{ text|indent(-5) }}", "{{ text|center(-3) }}",
    "{{ text|batch(0)|list }}", "{{ text|slice(0)|list }}", "{{ [1,2]|random }}",
    "{{ text|attr('upper')() }}", "{{ {}|dictsort }}", "{{ [3,'a']|sort }}", "{{ [3,'a']|max }}",
    "{{ text|replace('a', 'b', -1) }}", "{{ 'x'|list|first }}", "{{ []|first }}",
    "{{ text|tojson }}", "{{ text|urlencode }}", "{{ text|xmlattr }}", "{{ text|filesizeformat }}",
    "{{ text|striptags }}", "{{ text|groupby('x') }}", "{{ text|map('upper')|join }}",
    "{{ text|select('odd')|list }}", "{{ text|selectattr('x')|list }}", "{{ text|sum }}",
    "{{ loop.index }}", "{% break %}", "{% continue %}", "{% do x %}", "{% with %}{% endwith %}",
    "{% filter upper %}x{% endfilter %}", "{% autoescape true %}x{% endautoescape %}",
    "{% call m() %}{% endcall %}", "{% block b %}{% endblock %}", "{{ caller() }}",
    "{{ super() }}", "{{ varargs }}", "{{ kwargs }}", "{{ text is defined }}", "{{ text is nope }}",
    "{{ text in 5 }}", "{{ 1 < 'a' }}", "{{ {}['k'] }}", "{{ ()[0] }}", "\n", "\t", "\x00", "💥",
    "{text}", "${text}", "%(text)s", "{{ text }}" * 40,
]
METRIC_TYPES = ["exact", "contains", "label", "regex", "numeric", "json", "similarity", "judge",
                "custom", "bogus", "", "EXACT"]
SPLIT_NAMES = ["train", "dev", "test", "all", "bogus", ""]


def emit(value: Any) -> str:
    """A value as YAML flow text; ``Raw`` leaves as they are."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{emit(k)}: {emit(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(emit(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)  # YAML reads no \\ud83d\\ude00 surrogate pairs


def emit_document(fields: dict[str, Any]) -> str:
    """Top-level keys in block style, values in flow style (one line each, with a few values in
    block style when they are multi-line strings)."""
    lines = []
    for key, value in fields.items():
        if isinstance(value, str) and "\n" in value and not value.startswith("\t"):
            lines.append(f"{key}: |\n" + "".join(f"  {line}\n" for line in value.splitlines()))
        else:
            lines.append(f"{key}: {emit(value)}\n")
    return "".join(lines)


odd = st.sampled_from(ODD_SCALARS).map(Raw)
plain_text = st.text(st.characters(codec="utf-8"), max_size=30)  # utf-8: no lone surrogates
leaf = st.one_of(odd, plain_text, st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                 st.booleans(), st.none())


def nested(depth_max: int = 4) -> st.SearchStrategy[Any]:
    return st.recursive(leaf, lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(plain_text, inner, max_size=3)),
        max_leaves=8)


def deep(n: int) -> Raw:
    """``[[[…]]]`` nested ``n`` deep (a RecursionError before the YAML depth limit)."""
    return Raw("[" * n + "]" * n)


deep_value = st.sampled_from([10, 200, 900, 3000, 20_000]).map(deep)
merge_key = st.sampled_from([Raw("&a {description: merged}"), Raw("[&a x, *a]"), Raw("*a")])

template = st.lists(st.sampled_from(TEMPLATE_BITS), min_size=1, max_size=6).map("".join)
messages = st.lists(st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool", "", Raw("1:30")]),
     "content": st.one_of(template, odd)}), min_size=0, max_size=3)
prompt = st.one_of(template, template, messages, odd, nested())

example = st.one_of(
    st.fixed_dictionaries({"text": st.one_of(plain_text, odd, template)},
                          optional={"expected": st.one_of(plain_text, odd, st.integers(),
                                                          nested()),
                                    "meta": nested(), "extra": odd}),
    nested(), odd)
examples = st.one_of(st.lists(example, max_size=6), odd, deep_value, nested())

regex_pattern = st.sampled_from([
    "^(pos|neg)", "(", "[a-", "(?P<x>", "\\", "a{99999999}", "(?<=a+)b", "(a|a)*$", "\\p{L}+",
    "(?i)POS", "", ".*", "(?P<answer>\\w+)", "\\d+",
])
metric = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(METRIC_TYPES)}, optional={
        "name": st.one_of(plain_text, odd), "weight": st.one_of(st.floats(), odd, st.integers()),
        "pattern": regex_pattern, "module": st.sampled_from(["nope_mod:f", "os:getcwd", ""]),
        "tolerance": st.one_of(st.floats(), odd), "threshold": st.one_of(st.floats(), odd),
        "labels": st.lists(plain_text, max_size=3), "bogus": leaf}),
    odd, nested())
dataset = st.one_of(
    st.fixed_dictionaries({"file": st.sampled_from(["data.jsonl", "data.csv", "data.tsv", "data.json",
                                                    "missing.jsonl", "", "/etc/hostname", ".",
                                                    "../../../etc/passwd", "data.txt"])},
                          optional={"inputs": st.one_of(st.dictionaries(plain_text, plain_text,
                                                                        max_size=2), odd),
                                    "expected": st.one_of(plain_text, odd),
                                    "meta": st.one_of(st.lists(plain_text, max_size=2), odd)}),
    odd)
splits = st.one_of(
    st.fixed_dictionaries({}, optional={
        "train": st.one_of(st.floats(), odd), "dev": st.one_of(st.floats(), odd),
        "test": st.one_of(st.floats(), odd), "seed": st.one_of(st.integers(), odd),
        "stratify": st.one_of(st.booleans(), odd),
        "files": st.dictionaries(st.sampled_from(SPLIT_NAMES), st.sampled_from(
            ["data.jsonl", "missing.jsonl", ""]), max_size=2)}),
    odd)


def model_spec(url: str) -> st.SearchStrategy[Any]:
    return st.sampled_from([f"openai:m@{url}", "openai:m@http://[::1", "openai:m@ftp://x",
                            "nosuch:m", "openai:", "openai:m@", "embedded:/nonexistent/m.gguf",
                            f"anthropic:m@{url}", "openai:m@http://127.0.0.1:0/v1", "", "@", ":"])


BASE_TASK: dict[str, Any] = {
    "name": "t", "prompt": "Review: {{ text }}", "metric": "label",
    "labels": ["positive", "negative"],
    "examples": [{"text": "good", "expected": "positive"}, {"text": "bad", "expected": "negative"},
                 {"text": "fine", "expected": "positive"}],
}


def field_values(url: str) -> dict[str, st.SearchStrategy[Any]]:
    """For every task field, values valid, odd and broken."""
    text_or_odd = st.one_of(plain_text, odd)
    good_examples = st.lists(st.fixed_dictionaries(
        {"text": plain_text, "expected": st.sampled_from(["positive", "negative", "1:30", ""])},
        optional={"meta": plain_text}), min_size=1, max_size=5)
    good_metrics = st.lists(st.sampled_from([
        {"type": "exact"}, {"type": "contains"}, {"type": "label"}, {"type": "judge"},
        {"type": "regex", "pattern": "pos"}, {"type": "numeric"}, {"type": "json"},
        {"type": "similarity"}, {"type": "exact", "weight": 2}]), min_size=1, max_size=3)
    return {
        "name": st.one_of(st.sampled_from(NAMES), odd),
        "prompt": st.one_of(prompt, template.map(lambda t: t + " {{ text }}")),
        "description": text_or_odd,
        "examples": st.one_of(good_examples, good_examples, examples),
        "examples_file": st.sampled_from(["data.jsonl", "missing.jsonl", "", "data.csv"]),
        "dataset": dataset,
        "splits": splits,
        "metric": st.one_of(st.sampled_from(["auto", "exact", "contains", "label", "judge",
                                             "bogus"]), odd),
        "metrics": st.one_of(good_metrics, good_metrics, st.lists(metric, max_size=3), odd),
        "labels": st.one_of(st.lists(st.one_of(plain_text, odd), max_size=4), odd),
        "rubric": st.one_of(template, odd),
        "models": st.one_of(st.fixed_dictionaries({}, optional={
            "target": model_spec(url), "judge": model_spec(url), "bogus": leaf}), odd),
        "unknown_field": leaf,
        "<<": merge_key,
    }


@st.composite
def task_fields(draw: st.DrawFn, url: str) -> dict[str, Any]:
    """A valid task with one to three fields replaced, added or removed."""
    fields = dict(BASE_TASK)
    values = field_values(url)
    for name in draw(st.lists(st.sampled_from(sorted(values)), min_size=1, max_size=3,
                              unique=True)):
        if name in fields and draw(st.integers(0, 5)) == 0:
            del fields[name]
        else:
            fields[name] = draw(values[name])
    return fields


@st.composite
def broken(draw: st.DrawFn, text: str) -> str:
    """The text, or the text with one small accident."""
    how = draw(st.sampled_from(["none"] * 12 + ["cut", "drop", "tab", "bom", "crlf", "dup",
                                                 "nul"]))
    if not text or how == "none":
        return text
    at = draw(st.integers(0, len(text) - 1))
    if how == "cut":
        return text[:at]
    if how == "drop":
        return text[:at] + text[at + 1:]
    if how == "tab":
        return "\t" + text
    if how == "bom":
        return "\ufeff" + text
    if how == "crlf":
        return text.replace("\n", "\r\n")
    if how == "dup":
        return text + text
    return text[:at] + "\x00" + text[at:]


# -- datasets ---------------------------------------------------------------------------------------

json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), plain_text),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(plain_text, inner, max_size=3)), max_leaves=6)
jsonl_row = st.one_of(
    st.fixed_dictionaries({"text": st.one_of(plain_text, json_value)},
                          optional={"expected": json_value, "meta": json_value,
                                    "": json_value, "x": json_value}).map(json.dumps),
    json_value.map(json.dumps),
    st.sampled_from(["", "{", "[1,", '{"text": NaN}', '{"text": Infinity, "expected": -Infinity}',
                     '{"text": "a"} {"text": "b"}', '{"text": "\\ud800"}', "\x00", "null",
                     "[" * 5000 + "]" * 5000, '{"text": ' + "9" * 5000 + "}",
                     '{"text": "a", "text": "b"}', "\ufeff{\"text\": \"bom\"}"]),
)
jsonl = st.lists(jsonl_row, max_size=8).map(lambda rows: "\n".join(rows) + "\n")
csv_cell = st.one_of(plain_text, st.sampled_from(['"', '""', '"a,b"', "a\nb", "\x00", "1:30",
                                                  "0755", "=cmd()", "", " ", "\r"]))
csv_text = st.builds(
    lambda header, rows, sep: "\n".join(sep.join(r) for r in [header, *rows]) + "\n",
    st.lists(st.sampled_from(["text", "expected", "meta", "", "text", "x y", '"q"']),
             min_size=0, max_size=4),
    st.lists(st.lists(csv_cell, max_size=5), max_size=6),
    st.sampled_from([",", "\t", ";"]))
json_array = st.lists(json_value, max_size=5).map(json.dumps)
dataset_bytes = st.one_of(
    st.binary(max_size=200), st.just(b"\xff\xfe\x00t\x00e"), st.just(b"text,expected\n\xe9,x\n"))
