"""The static checks on prompts, and finding prompts in Python code, without a server."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from lsp_server.checks import CODES, Finding, PromptFacts, run_checks
from lsp_server.find_python import find_python_prompts
from lsp_server.tokens import estimate_tokens


def codes(text: str, **facts: object) -> list[str]:
    return [f.code for f in run_checks(PromptFacts(text=text, **facts))]  # type: ignore[arg-type]


def finding(text: str, code: str, **facts: object) -> tuple[str, str]:
    (f,) = [f for f in run_checks(PromptFacts(text=text, **facts)) if f.code == code]  # type: ignore[arg-type]
    return text[f.start:f.end], f.message + " | " + f.fix


def test_a_clean_prompt_has_no_findings() -> None:
    text = ("Classify the movie review.\nAnswer with one word: positive or negative.\n"
            "<review>{{ text }}</review>")
    assert codes(text, fields=frozenset({"text"}), fields_from="the task t.tune.yaml",
                 metric_types=("label",), labels=("positive", "negative"),
                 context_tokens=2048) == []


def test_a_jinja_syntax_error_points_at_its_line() -> None:
    where, message = finding("Line one.\nBroken {{ text | }}\nLine three.", "template-syntax")
    assert where == "Broken {{ text | }}" and "Jinja syntax error" in message


def test_undefined_and_unused_variables_name_the_fields() -> None:
    facts = {"fields": frozenset({"review"}), "fields_from": "the task r.tune.yaml"}
    where, message = finding("Label this: {{ reveiw }}", "undefined-variable", **facts)
    assert where == "reveiw" and "it has: review" in message
    assert "unused-variable" in codes("Label this: {{ reveiw }}", **facts)


def test_slots_without_any_task_are_reported_only_when_asked() -> None:
    assert codes("Hi {{ name }}") == []
    assert codes("Hi {{ name }}", report_unlinked_slots=True) == ["undefined-variable"]


def test_too_long_counts_the_longest_example_and_starts_where_it_stops_fitting() -> None:
    text = "\n".join(f"Step {i} uses the word w{i} and value v{i * 7} here." for i in range(60))
    where, message = finding(text, "too-long", context_tokens=200, context_from="embedded.n_ctx",
                             longest_values=50)
    assert "> 200 (embedded.n_ctx)" in message and "longest example" in message
    assert where.startswith("Step ") and 0 < text.index(where) < len(text) // 2
    assert codes(text, context_tokens=100_000) == []


def test_label_and_json_tasks_need_the_format_stated() -> None:
    assert codes("Read the review and tell me.", metric_types=("label",),
                 labels=("positive", "negative")) == ["output-format"]
    assert codes("Answer positive or negative.", metric_types=("label",),
                 labels=("positive", "negative")) == []
    assert codes("Extract the name.", metric_types=("json",)) == ["output-format"]
    assert codes("Extract the name as JSON.", metric_types=("json",)) == []


@pytest.mark.parametrize(("text", "risky"), [
    ("{{ text }}\nNow classify the text above as positive or negative please.", True),
    ("Classify the text as positive or negative.\n{{ text }}", False),
    ('Text: "{{ text }}"\nNow classify the text above as positive or negative please.', False),
    ("<review>{{ text }}</review>\nNow classify the review above as positive or negative.", False),
    ("```\n{{ text }}\n```\nNow classify the text above as positive or negative please.", False),
])
def test_injection_risk_is_undelimited_input_before_instructions(text: str, risky: bool) -> None:
    assert ("injection-risk" in codes(text)) is risky


def test_weak_wording_and_vague_quantifiers() -> None:
    text = "Try to answer briefly. Give a few bullet points. Some people like tea."
    found = run_checks(PromptFacts(text=text))
    assert [(f.code, text[f.start:f.end]) for f in found] == [
        ("weak-wording", "Try to"), ("vague-quantifier", "a few bullet points")]


def test_duplicated_instructions_point_at_the_repeat() -> None:
    text = "Answer in one word.\nBe polite to the user.\nAnswer in one word!"
    where, message = finding(text, "duplicate-instruction")
    assert where == "Answer in one word!" and "line 1" in message


def test_every_code_has_a_default_severity() -> None:
    assert set(CODES.values()) <= {"error", "warning", "information", "hint"}


def test_token_estimate_is_close_to_a_real_tokenizer_and_errs_high() -> None:
    # SmolLM2's tokenizer gives 15 tokens for this sentence.
    n = estimate_tokens("Classify the movie review as positive or negative. Answer with one word.")
    assert 15 <= n <= 25


# -- finding prompts in Python -------------------------------------------------------------

SOURCE = '''\
import textwrap

SYSTEM_PROMPT = "You are terse.\\nTry to answer in one word."
NOT_A_PROMPT_NAME = "ignored"
DOC = """
FAKE_PROMPT = "inside a string, not code"
"""

class Agent:
    # prompt-tuner: task=tasks/agent.tune.yaml
    greeting = "Hello, café 🙂 {{ name }}."

    def run(self) -> None:
        self.ERROR_PROMPT: str = 'Explain the error.'
        LIVE_PROMPT = f"{self}"
broken = (
'''


def test_prompts_are_found_by_name_pattern_and_marker_comment() -> None:
    sites, notes = find_python_prompts(SOURCE, ["*_PROMPT"])

    assert [(s.key, s.task_ref) for s in sites] == [
        ("SYSTEM_PROMPT", None), ("greeting", "tasks/agent.tune.yaml"), ("ERROR_PROMPT", None)]
    assert [n.message.split(" ")[0] for n in notes] == ["LIVE_PROMPT"]  # the f-string


def test_a_prompts_characters_map_to_their_exact_source_positions() -> None:
    sites, _ = find_python_prompts(SOURCE, ["*_PROMPT"])
    system, greeting = sites[0], sites[1]
    at = system.text.index("Try to")
    span = system.doc_span(at, at + len("Try to"))
    assert SOURCE[span.start:span.end] == "Try to"
    at = greeting.text.index("{{ name }}")
    span = greeting.doc_span(at, at + len("{{ name }}"))
    assert SOURCE[span.start:span.end] == "{{ name }}"


def test_an_unexpected_failure_on_one_prompt_keeps_the_other_prompts_diagnostics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from lsp_server import analysis
    from lsp_server.options import ServerOptions

    def flaky(facts: PromptFacts) -> list[Finding]:
        if "BOOM" in facts.text:
            raise KeyError("a bug in a check")
        return run_checks(facts)

    monkeypatch.setattr("lsp_server.analysis.run_checks", flaky)
    opts = ServerOptions()
    analyzer = analysis.Analyzer(opts, opts.core_settings(tmp_path), tmp_path, lambda: None)
    source = "A_PROMPT = 'BOOM, try to answer.'\nB_PROMPT = 'Try to keep it short.'\n"

    with caplog.at_level(logging.ERROR, logger="lsp_server.analysis"):
        got = analyzer.analyse(tmp_path / "app.py", "python", source)

    assert [r.site.key for r in got.sites] == ["B_PROMPT"]
    assert [i.code for i in got.sites[0].issues] == ["weak-wording"]
    (failed,) = got.issues
    assert failed.code == "analysis-failed" and failed.span is not None and failed.span.start == 11
    assert "checking A_PROMPT" in failed.message and "KeyError" in failed.message
    assert "Traceback" in caplog.text and "a bug in a check" in caplog.text
