"""Untrusted prompt templates under limits: nothing is evaluated while compiling, a render stops
within about its time limit with what it builds bounded, every failure is one TaskError line,
and ordinary prompts render exactly as Jinja's sandbox renders them."""

from __future__ import annotations

import json
import re
import resource
import time
from pathlib import Path
from typing import Any

import jinja2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2.sandbox import SandboxedEnvironment

from core.errors import TaskError
from core.template_limits import LIMITS, allowance
from core.templates import compile_prompt, render_prompt, template_error

SLOW_S = 1.0  # the render limit is LIMITS.render_seconds (0.2 s); generous for a busy machine
LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
SILENT_LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
DOUBLING = "{% set a = 'x' * 1000 %}" + "".join(
    f"{{% set {b} = {a} ~ {a} %}}" for a, b in zip("abcdefghij", "bcdefghijk", strict=True)) + "{{ k }}"


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fails_quickly(text: str, values: dict[str, Any] | None = None) -> str:
    """Render; it must fail with one TaskError line within SLOW_S. Returns that line."""
    started = time.monotonic()
    with pytest.raises(TaskError) as caught:
        render_prompt(text, values or {})
    elapsed = time.monotonic() - started
    line = str(caught.value)
    assert elapsed < SLOW_S, f"{elapsed:.2f} s for {text[:60]!r}"
    assert "\n" not in line and "Traceback" not in line, line
    return line


# -- compiling evaluates nothing -------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "{{ 10**10000000 }}",                # Jinja's optimizer folded this at compile time: 13.6 s
    "{{ 'x'|center(10**9) }}",           # and would build 1 GB here
    "{{ 'x' * 10**9 }}",
    "{{ ('x' ~ 'y') * 10**9 }}",
    "{% if 9**9**9 %}x{% endif %}",
])
def test_compiling_evaluates_nothing(text: str) -> None:
    compile_prompt.cache_clear()
    started = time.monotonic()
    template, slots = compile_prompt(text)
    assert time.monotonic() - started < 0.5
    assert slots == frozenset()
    assert template is not None


def test_a_template_with_too_many_tags_is_refused_before_compiling() -> None:
    text = "{{ a }}" * (LIMITS.compile_tokens // 2)
    started = time.monotonic()
    with pytest.raises(TaskError, match="Jinja tokens"):
        compile_prompt(text)
    assert time.monotonic() - started < SLOW_S


@pytest.mark.parametrize("text, says", [
    ("{{ " + "(" * 300 + "1" + ")" * 300 + " }}", "nested too deeply"),
    ("{% for a in x %}" * 30 + "{% endfor %}" * 30, "nested too deeply"),
    ("ok\n{{ broken }\n", "line 2"),
    ("{{ 1" + "0" * 5000 + " }}", "prompt template"),  # an integer literal over Python's digit limit
])
def test_compile_errors_are_task_errors(text: str, says: str) -> None:
    with pytest.raises(TaskError, match=says) as caught:
        compile_prompt(text)
    assert "\n" not in str(caught.value)


# -- rendering stops: time, steps, sizes -----------------------------------------------------------

@pytest.mark.parametrize("text, says", [
    ("{{ 10**10000000 }}", "bits long"),
    ("{{ (2 ** 1000) ** 1000 }}", "bits long"),
    ("{{ (10**4000) * (10**4000) * (10**4000) * (10**4000) * (10**4000) * (10**4000) }}", "bits"),
    (LOOPS, "loop steps|longer than"),
    (SILENT_LOOPS, "loop steps|longer than"),
    ("{% set r = range(100000) %}{% for i in r %}{% for j in r %}{{ j }}{% endfor %}{% endfor %}",
     "loop steps|longer than|in all"),
    ("{{ range(10**9)|length }}", "range"),
    ("{{ 'x' * 10**9 }}", "characters"),
    ("{{ [1, 2] * 10**8 }}", "characters"),
    ("{{ 'x'|center(10**9) }}", "center width"),
    ("{{ 'x'.ljust(10**9) }}", "ljust width"),
    ("{{ '\t'.expandtabs(10**9) }}", "characters"),
    ("{{ 'a\nb\nc'|indent(10**8) }}", "characters"),
    ("{{ ('x\n' * 50000)|indent(' ' * 10000) }}", "characters"),
    ("{{ ('x' * 1000)|wordwrap(1, wrapstring='y' * 1000) }}", "characters"),
    ("{{ ('<a>' * 60000)|striptags }}", "striptags"),
    ("{{ ('ab ' * 60000)|wordwrap(1) }}", "wordwrap"),
    ("{{ '%999999999s' % 'x' }}", "width"),
    ("{{ '%*s' % (10**9, 'x') }}", "\\* width"),
    ("{{ ('%s' * 5000) % (('y' * 100000,) * 5000) }}", "characters"),
    ("{{ '{:>999999999}'.format(1) }}", "format width"),
    ("{{ '{:{}}'.format(1, 10**9) }}", "format spec"),
    ("{{ ('{0}' * 10000).format('y' * 100000) }}", "characters"),
    ("{{ '%d'|format(1) ~ '%999999999d'|format(1) }}", "width"),
    ("{{ 'ab'.replace('', 'x' * 100000) }}", "characters"),
    ("{{ ('ab' * 1000)|replace('', 'y' * 1000) }}", "characters"),
    ("{{ ['y' * 100000] * 3 }}", "characters"),
    ("{{ ('y' * 100000).join(['a', 'b', 'c', 'd']) }}", "characters"),
    ("{{ (['y' * 100000] * 2)|join(',') ~ (['y' * 100000] * 2)|join(',') }}", "characters"),
    ("{{ range(10)|batch(10**9, 'x')|list }}", "batch"),
    ("{{ range(10)|slice(10**9)|list }}", "slice"),
    ("{{ range(100000)|batch(1)|sum(start=[]) }}", "sum"),
    ("{{ 12345|round(-10**9) }}", "round precision"),
    ("{{ {'a': [1, 2]}|tojson(indent=10**9) }}", "indent"),
    (DOUBLING, "characters"),
    ("{% set ns = namespace(s='y' * 1000) %}{% for i in range(1000) %}{% set ns.s = ns.s ~ ns.s[:1000] %}"
     "{% endfor %}{{ ns.s|length }}", "in all"),
    ("{% set s = 'y' * 100000 %}{% for i in range(1000) %}{{ s[1:] }}{% endfor %}", "in all"),
    ("{% set l = ['y' * 1000] * 100 %}{{ [l] * 1000 }}", "characters"),
    ("{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}", ""),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "without end"),
    ("{% for x in [1] recursive %}{{ loop(range(100000)) }}{% endfor %}", "without end|longer than"),
    ("{% for i in range(100000) %}{{ cycler(*range(100000)).next() }}{% endfor %}",
     "loop steps|longer than"),
    ("{% set l = [] %}{% for i in range(40) %}{{ l.extend(l) }}{% endfor %}", "unsafe"),
    ("{% set d = {} %}{% for i in range(100000) %}{{ dict.update(d, {i: i}) }}{% endfor %}", "unsafe"),
    ("{{ 'x'|attr('center')(10**9) }}", "center width"),
    ("{{ ['a', 'b']|map('center', 10**9)|list }}", "center width"),
    ("{% filter center(10**9) %}x{% endfilter %}", "center width"),
    ("{{ (10**19000) * (10**19000) }}", "bits long"),
    ("{{ (range(100000)|list)|string }}", "characters"),
    ("{{ lipsum(10**6) }}", "lipsum"),
])
def test_runaway_templates_stop_with_one_line(text: str, says: str) -> None:
    before = max_rss_mib()
    line = fails_quickly(text)
    assert re.search(says, line), line
    assert max_rss_mib() - before < 256, "the render built too much"


def test_the_inputs_size_raises_the_size_limit() -> None:
    """A big document passes through, and so does work proportional to it."""
    doc = "word " * 200_000  # 1,000,000 characters, five times LIMITS.made_chars
    out = render_prompt("{{ doc|upper|trim }}\n{{ doc[:10] }}\nAgain: {{ doc }}", {"doc": doc})
    assert len(out) == len(doc.strip()) + 11 + 8 + len(doc)
    line = fails_quickly("{{ doc ~ doc ~ doc ~ doc ~ doc }}", {"doc": doc})
    assert "characters" in line


# -- every error is a TaskError with its line -------------------------------------------------------

@pytest.mark.parametrize("text, says", [
    ("a\nb\n{{ 1 / 0 }}", "line 3: ZeroDivisionError"),
    ("{{ 'a' + 1 }}", "line 1: TypeError"),
    ("x\n{{ 2.0 ** 100000 }}", "line 2: OverflowError"),
    ("{{ range(1, 2, 0) }}", "ValueError"),
    ("{{ '{0}{}'.format(1, 2) }}", "ValueError"),
    ("\n\n\n{{ text.nosuch }}", "line 4 refers to something undefined"),
    ("{{ text.__class__ }}", "unsafe"),
    ("{% include 'other.j2' %}", "prompt template"),
    ("{% extends 'base.j2' %}", "prompt template"),
    ("{{ [1, 2]|sum(start='') }}", "sum"),
    ("{{ '%d' % x }}", "line 1: TypeError"),
])
def test_template_errors_are_one_line_task_errors(text: str, says: str) -> None:
    line = fails_quickly(text, {"text": "a", "x": "1"})
    assert re.search(says, line), line


def test_a_memory_error_is_a_task_error() -> None:
    error = template_error(MemoryError())
    assert isinstance(error, TaskError) and "too much memory" in str(error)


# -- ordinary prompts render exactly as Jinja's sandbox renders them -----------------------------------

ORDINARY = [
    "Review: {{ review }}",
    "{{ review|upper }} / {{ review|lower|trim }} / {{ review|title }} / {{ review|capitalize }}",
    "{% if label %}Label: {{ label }}{% else %}none{% endif %}\n{{ review }}",
    "{% for tag in tags %}- {{ loop.index }}. {{ tag|trim }}\n{% else %}no tags{% endfor %}",
    "{% for k, v in meta|dictsort %}{{ k }}={{ v }};{% endfor %} {{ meta.items()|list|length }}",
    "{{ tags|join(', ') }} {{ tags|length }} {{ tags|first }} {{ tags|last }} {{ tags|sort|join }}",
    "{{ tags|map('upper')|select('ne', 'B')|list }} {{ tags|unique|list|count }}",
    "{{ review|replace('film', 'movie') }} {{ review|truncate(20) }} {{ review|wordcount }}",
    "{{ review|center(40) }}|{{ review|indent(2, first=True) }}|{{ review|wordwrap(10) }}",
    "{{ '%s has %d tags' % (review[:4], tags|length) }} {{ '%05.1f'|format(3.14159) }}",
    "{{ '{} / {:>6}'.format(review[:3], 'x') }} {{ '{a}'.format_map({'a': 1}) }}",
    "{{ review.split()|join('_') }} {{ review.upper().replace(' ', '') }} {{ review.count('o') }}",
    "{{ n * 3 + 1 }} {{ n ** 2 }} {{ n // 3 }} {{ n % 3 }} {{ n / 4 }} {{ -n }} {{ 2 ** 10 }}",
    "{{ review ~ '!' ~ n }} {{ review[::-1] }} {{ tags[1:] }} {{ 'ab' * 3 }} {{ [1] + [2] }}",
    "{% set ns = namespace(total=0) %}{% for i in range(n) %}{% set ns.total = ns.total + i %}"
    "{% endfor %}{{ ns.total }}",
    "{% macro item(x) %}<{{ x }}>{% endmacro %}{% for t in tags %}{{ item(t) }}{% endfor %}",
    "{% set block %}{{ review }}{% endset %}{{ block|length }} {% filter upper %}{{ review }}"
    "{% endfilter %}",
    "{{ meta|tojson }} {{ tags|batch(2)|list }} {{ tags|slice(2)|list }} {{ [1, 2.5]|sum }}",
    "{{ 3.14159|round(2) }} {{ '42'|int + 1 }} {{ '1.5'|float }} {{ -3|abs }} {{ none|default('d') }}",
    "{% for x in range(3) recursive %}{{ x }}{% endfor %} {{ range(2, 10, 3)|list }}",
    "{{ tags|select('string')|list }} {{ review is string }} {{ n is divisibleby(3) }}",
    "{{ dict(a=1).a }} {% set j = joiner(', ') %}{% for t in tags %}{{ j() }}{{ t }}{% endfor %}",
    "{% raw %}{{ literal }}{% endraw %} {# a comment #}{{ review|e }}",
    "{{ meta.lang if meta.lang else 'en' }} {{ 'o' in review }} {{ tags|reject('eq', 'a')|list }}",
    "{{ (tags|map('length')|max) }} {{ tags|min }} {{ meta|items|list }} {{ tags|reverse|list }}",
    "Q: {{ review }}\n\n{% if tags %}\n  Tags: {{ tags|join(' ') }}\n{% endif %}\nA:",
]
VALUES: dict[str, Any] = {"review": "A good film <b>& more</b>", "label": "", "tags": [" a ", "B", "c"],
                          "meta": {"lang": "en", "year": 2024}, "n": 7}


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_prompts_render_exactly_as_before(text: str) -> None:
    plain = SandboxedEnvironment(undefined=jinja2.StrictUndefined, trim_blocks=True,
                                 lstrip_blocks=True)
    assert render_prompt(text, VALUES) == plain.from_string(text).render(VALUES)


# -- fuzzing: risky constructs stay within the limits --------------------------------------------------

NUMBERS = st.sampled_from(["0", "1", "7", "-3", "100000", "10**9", "10**1000", "9**9**9", "2.5", "1e308"])
STRINGS = st.sampled_from(["'x'", "''", "'%s%d'", "'{}{:>99999999}'", "'ab\\tc'", "text", "'<a>'"])
NAMES = st.sampled_from(["text", "items", "n", "i", "loop.index", "ns.s"])
OPS = st.sampled_from(["**", "*", "+", "-", "~", "//", "%", "/", " in "])
FILTERS = st.sampled_from([
    "upper", "trim", "list", "join", "join(',')", "center(N)", "indent(N)", "wordwrap(N)",
    "replace('', S)", "format(S)", "batch(N, 'f')", "slice(N)", "sum", "sort", "unique", "first",
    "length", "tojson", "string", "reverse", "striptags", "round(N)", "int", "map('upper')",
    "select", "e", "truncate(N)", "wordcount", "urlize", "pprint", "lower", "dictsort"])


@st.composite
def expressions(draw: st.DrawFn, depth: int = 0) -> str:
    atoms = [NUMBERS, STRINGS, NAMES, st.just("range(N)"), st.just("[E, E]"), st.just("(E)")]
    shape = draw(st.integers(0, 4 if depth < 3 else 0))
    if shape == 0:
        text: str = draw(st.one_of(*atoms))
    elif shape == 1:
        text = f"({draw(expressions(depth + 1))}) {draw(OPS)} ({draw(expressions(depth + 1))})"
    elif shape == 2:
        text = f"({draw(expressions(depth + 1))})|{draw(FILTERS)}"
    elif shape == 3:
        text = f"({draw(expressions(depth + 1))})[{draw(NUMBERS)}:]"
    else:
        method = draw(st.sampled_from(["upper()", "join(items)", "replace('', S)", "ljust(N)",
                                       "format(E)", "split()", "expandtabs(N)", "center(N)"]))
        text = f"{draw(STRINGS)}.{method}"
    while any(mark in text for mark in ("N", "S", "E")):
        text = text.replace("N", draw(NUMBERS), 1).replace("S", draw(STRINGS), 1)
        text = text.replace("E", draw(st.one_of(NUMBERS, STRINGS, NAMES)), 1)
    return text


@st.composite
def templates(draw: st.DrawFn, depth: int = 0) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.integers(0, 5 if depth < 3 else 1))
        expr = draw(expressions())
        if kind <= 1:
            parts.append(f"{{{{ {expr} }}}}")
        elif kind == 2:
            parts.append(f"{{% for i in {expr} %}}{draw(templates(depth + 1))}{{% endfor %}}")
        elif kind == 3:
            parts.append(f"{{% set ns.s = {expr} %}}{draw(templates(depth + 1))}")
        elif kind == 4:
            parts.append("{% macro m(k) %}{% if k %}" + draw(templates(depth + 1))
                         + "{{ m(k - 1) }}{{ m(k - 1) }}{% endif %}{% endmacro %}{{ m(N) }}"
                         .replace("N", draw(NUMBERS)))
        else:
            parts.append(f"{{% if {expr} %}}{draw(templates(depth + 1))}{{% endif %}}")
    return "".join(parts)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=templates())
def test_fuzzed_templates_stay_within_the_limits(body: str) -> None:
    text = "{% set ns = namespace(s='') %}" + body
    before = max_rss_mib()
    started = time.monotonic()
    values = {"text": "some text", "items": ["a", "b"], "n": 3, "i": 2, "loop": {"index": 1}}
    try:
        out = render_prompt(text, values)
    except TaskError as exc:
        assert "\n" not in str(exc)
    else:
        assert len(out) <= LIMITS.made_chars + LIMITS.input_factor * allowance(text, values)
    assert time.monotonic() - started < 2 * SLOW_S, text
    assert max_rss_mib() - before < 256, text


# -- the CLI: one line, exit 2, quickly --------------------------------------------------------------

CLI_FREEZERS = ["{{ 10**10000000 }}", LOOPS, SILENT_LOOPS, "{{ 'x' * 10**9 }}", DOUBLING]


@pytest.fixture
def no_model_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default target is the embedded model: the run must fail before loading it."""
    from core.models import embedded

    def refuse(*args: Any) -> Any:
        raise AssertionError("the embedded model was loaded")

    monkeypatch.setattr(embedded, "_load", refuse)


@pytest.mark.usefixtures("cli_console", "no_model_load")
@pytest.mark.parametrize("form", ["quick", "task file"])
@pytest.mark.parametrize("prompt", CLI_FREEZERS, ids=["power", "loops", "silent-loops", "repeat", "doubling"])
def test_cli_tune_with_a_freezing_prompt_ends_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], prompt: str, form: str
) -> None:
    from core.cli import main

    if form == "quick":
        target = prompt
    else:
        target = str(tmp_path / "freeze.yaml")
        Path(target).write_text(json.dumps({
            "name": "freeze", "prompt": "{{ text }} " + prompt, "metric": "label",
            "examples": [{"text": "lovely", "expected": "positive"},
                         {"text": "awful", "expected": "negative"}]}), encoding="utf-8")
    started = time.monotonic()
    code = main(["tune", target, "-q", "--store", str(tmp_path / "store.db"),
                 "--run-dir", str(tmp_path / "runs")])
    elapsed = time.monotonic() - started
    captured = capsys.readouterr()
    assert code == 2, captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("prompt-tuner: error: prompt template"), captured.err
    assert "internal error" not in captured.err and "Traceback" not in captured.err + captured.out
    assert elapsed < 10.0, f"{elapsed:.1f} s"
