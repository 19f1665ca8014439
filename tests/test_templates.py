"""The template library: TTL reloads, declared variables, chat templates."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.errors import PromptTunerError
from core.templates import TemplateLibrary, templates_dir


def test_an_edited_template_is_picked_up_after_its_ttl(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text("one {{ x }}", encoding="utf-8")
    lib = TemplateLibrary(tmp_path, ttl_s=0.2)
    assert lib.render("t.j2", x=1) == "one 1"
    (tmp_path / "t.j2").write_text("two {{ x }}", encoding="utf-8")
    assert lib.render("t.j2", x=1) == "one 1"  # still cached
    time.sleep(0.25)
    assert lib.render("t.j2", x=1) == "two 1"


def test_a_missing_variable_is_an_error_before_rendering(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text("{{ a }} and {% if b %}{{ c }}{% endif %}", encoding="utf-8")
    lib = TemplateLibrary(tmp_path)
    assert lib.variables("t.j2") == {"a", "b", "c"}
    with pytest.raises(PromptTunerError, match="needs b, c"):
        lib.render("t.j2", a=1)


def test_chat_templates_render_to_messages(tmp_path: Path) -> None:
    (tmp_path / "c.j2").write_text(
        "[system]\nBe brief.\n[user]\nQ: {{ q }}\n[assistant]\nA: 4\n[user]\nQ: {{ q }}?\n",
        encoding="utf-8")
    messages = TemplateLibrary(tmp_path).render_messages("c.j2", q="2+2")
    assert [(m.role, m.content) for m in messages] == [
        ("system", "Be brief."), ("user", "Q: 2+2"), ("assistant", "A: 4"), ("user", "Q: 2+2?")]


def test_every_shipped_template_declares_what_its_callers_pass() -> None:
    lib = TemplateLibrary()
    expected = {
        "judge/score.j2": {"request", "description", "rubric", "expected", "answer"},
        "refine/propose.j2": {"description", "prompt"},
        "refine/improve.j2": {"description", "prompt", "failures"},
    }
    for name, variables in expected.items():
        assert lib.variables(name) == variables, name
    assert (templates_dir() / "report" / "run.md.j2").is_file()
