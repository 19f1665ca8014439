"""Writing a tuned prompt back: Python literals keep their quoting and indentation, task files
keep their YAML block, and whatever the text, the result reads back as exactly that text."""

from __future__ import annotations

import ast
import textwrap

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from lsp_server.find_files import find_file_prompt, find_task_prompt
from lsp_server.find_python import find_python_prompts
from lsp_server.rewrite import replacement
from lsp_server.sites import PromptSite

PATTERNS = ["*_PROMPT"]
STYLES = {
    "double": 'X_PROMPT = "Classify the review."\n',
    "single": "X_PROMPT = 'Classify the review.'\n",
    "raw": "X_PROMPT = r'Match \\d+ digits.'\n",
    "triple": 'X_PROMPT = """\nClassify the review.\nAnswer in one word.\n"""\n',
    "triple-single": "X_PROMPT = '''Classify the review.'''\n",
    "concatenated": 'X_PROMPT = (\n    "Classify the review.\\n"\n    "Answer in one word."\n)\n',
    "dedent": ('import textwrap\n\n\nclass Bot:\n    X_PROMPT = textwrap.dedent("""\\\n'
               '        Classify the review.\n        Answer in one word.\n        """)\n'),
    "indented-method": ('def f():\n    if True:\n        X_PROMPT = "Classify."\n'
                        '        return X_PROMPT\n'),
}


def only_site(source: str) -> PromptSite:
    sites, _ = find_python_prompts(source, PATTERNS)
    assert len(sites) == 1
    return sites[0]


def rewritten(source: str, new_text: str) -> tuple[str, PromptSite]:
    site = only_site(source)
    out = source[:site.span.start] + replacement(site, source, new_text) + source[site.span.end:]
    return out, only_site(out)


@pytest.mark.parametrize("style", sorted(STYLES))
@pytest.mark.parametrize("new_text", [
    "Answer with one word.",
    "Line one.\nLine two: {{ text }}",
    'Quotes \' and " and """ and \'\'\' and a backslash \\ and a tab\t.',
    "Ends with a quote\"",
    "Unicode: café, 東京, emoji 🙂",
])
def test_every_style_reads_back_as_the_new_text(style: str, new_text: str) -> None:
    source = STYLES[style]
    out, site = rewritten(source, new_text)

    compile(out, "<rewritten>", "exec")  # still valid Python
    assert site.text.strip() == new_text.strip()


@settings(max_examples=150, deadline=None)
@given(style=st.sampled_from(sorted(STYLES)),
       text=st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=80)
       .filter(lambda t: t.strip() != ""))
def test_any_text_round_trips_in_any_style(style: str, text: str) -> None:
    _out, site = rewritten(STYLES[style], text)
    assert site.text.strip() == text.strip()


def test_a_one_line_literal_becomes_a_parenthesized_block_indented_under_its_statement() -> None:
    out, _ = rewritten(STYLES["indented-method"], "First line.\nSecond line.")

    assert out == ('def f():\n    if True:\n        X_PROMPT = (\n            "First line.\\n"\n'
                   '            "Second line."\n        )\n        return X_PROMPT\n')


def test_a_concatenated_literal_keeps_its_continuation_indentation() -> None:
    out, _ = rewritten(STYLES["concatenated"], "A.\nB.\nC.")

    assert out == 'X_PROMPT = (\n    "A.\\n"\n    "B.\\n"\n    "C."\n)\n'


def test_a_dedented_block_keeps_its_margin_and_closing_quotes() -> None:
    out, _ = rewritten(STYLES["dedent"], "New first.\nNew second.")

    assert out.endswith('    X_PROMPT = textwrap.dedent("""\\\n        New first.\n'
                        '        New second.\n        """)\n')
    namespace: dict[str, object] = {}
    exec(out, namespace)
    assert namespace["Bot"].X_PROMPT == "New first.\nNew second.\n"  # type: ignore[attr-defined]


def test_triple_quotes_keep_the_layout_newlines_around_the_text() -> None:
    out, _ = rewritten(STYLES["triple"], "Only this.")

    assert out == 'X_PROMPT = """\nOnly this.\n"""\n'


def test_a_raw_literal_stays_raw_when_the_text_allows_it() -> None:
    out, _ = rewritten(STYLES["raw"], r"Match \w+ words.")
    assert out == "X_PROMPT = r'Match \\w+ words.'\n"
    assert ast.literal_eval(out.split("= ", 1)[1]) == r"Match \w+ words."


TASK = textwrap.dedent("""\
    name: t
    prompt: |
      Classify the review.
      {{ text }}
    examples:
      - {text: a, expected: b}
    """)


@pytest.mark.parametrize("source", [
    TASK,
    TASK.replace("prompt: |\n  Classify the review.\n  {{ text }}\n", 'prompt: "Classify: {{ text }}"\n'),
    TASK.replace("prompt: |\n  Classify the review.\n  {{ text }}\n",
                 "prompt:\n  - role: system\n    content: Classify the review.\n"
                 "  - {role: user, content: '{{ text }}'}\n"),
])
@pytest.mark.parametrize("new_text", ["One line: {{ text }}", "Two lines.\nReview: {{ text }}"])
def test_a_task_files_prompt_is_rewritten_as_yaml_that_loads_back(source: str, new_text: str) -> None:
    (site,), _ = find_task_prompt(source)
    out = source[:site.span.start] + replacement(site, source, new_text) + source[site.span.end:]

    data = yaml.safe_load(out)
    prompt = data["prompt"]
    got = prompt if isinstance(prompt, str) else prompt[0]["content"]
    assert got.strip() == new_text
    assert data["examples"] == [{"text": "a", "expected": "b"}]


def test_a_prompt_file_keeps_its_front_matter_and_trailing_newline() -> None:
    source = "---\ntask: review.tune.yaml\n---\n\nOld prompt.\n"
    (site,), _ = find_file_prompt(source)
    out = source[:site.span.start] + replacement(site, source, "New prompt.") + source[site.span.end:]

    assert out == "---\ntask: review.tune.yaml\n---\n\nNew prompt.\n"
    assert site.task_ref == "review.tune.yaml"
