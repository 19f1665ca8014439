"""Processors (``core.processors``): hooks on the target's requests and answers.

Real runs against the loopback OpenAI fake show that a ``before_request`` processor changes what
the server receives (and the cache key with it), and an ``after_response`` processor changes
what is scored while the raw reply stays stored; the built-ins and the registry's rules are
checked one by one."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from core import Store, load_settings, load_task, tune
from core.errors import TaskError
from core.models.base import Message
from core.processors import (
    Processor,
    ProcessorContext,
    ProcessorEntry,
    is_hosted,
    processor_names,
    register_processor,
    resolve,
)
from core.processors.builtin import final_answer, first_line, strip_think, trim
from core.task import task_from_dict
from tests.fakes.harness import FakeServer

HOSTED = ProcessorContext("t", "target", "openai", hosted=True)
LOCAL = ProcessorContext("t", "target", "openai", hosted=False)

# a processor in a file beside the task, named as file.py:NAME (imported: the CLI vouches for it)
TAG_PY = '''\
from core.models.base import Message
from core.processors import Processor


def _tag(messages, context):
    *head, last = messages
    return [*head, Message(last.role, last.content + " [tagged for " + context.role + "]")]


TAG = Processor("tag", before_request=_tag)
'''


def _entry(**fields: Any) -> ProcessorEntry:
    """A ``{name: …, setting: …}`` entry as a task file gives it."""
    return ProcessorEntry.model_validate(fields)


def _task(folder: Path, processors: list[Any]) -> Path:
    (folder / "tag.py").write_text(TAG_PY, encoding="utf-8")
    examples = [{"text": f"film {i} was lovely", "expected": "positive"} for i in range(4)]
    examples += [{"text": f"film {i} was awful", "expected": "negative"} for i in range(4, 8)]
    path = folder / "task.json"
    path.write_text(json.dumps({
        "name": "proc-task", "prompt": "Review: {{ text }}", "metric": "exact",
        "examples": examples, "processors": processors}), encoding="utf-8")
    return path


def _settings(server: FakeServer, folder: Path, cache: bool = False) -> Any:
    target, optimizer = f"openai:tgt@{server.base_url}", f"openai:opt@{server.base_url}"
    return load_settings(flags={
        "models.target": target, "models.optimizer": optimizer, "models.judge": optimizer,
        "store_path": str(folder / "store.db"), "run_dir": str(folder / "runs"),
        "cache.enabled": cache, "cache.path": str(folder / "cache.db"),
        "tune.strategy": "refine", "tune.rounds": 1, "tune.variations": 1,
        "tune.faithfulness": "off", "tune.predictor": False, "tune.warm_start": False,
        "tune.seed": 3}).settings


def _target_prompts(server: FakeServer) -> list[str]:
    return [r["body"]["messages"][-1]["content"] for r in server.requests()
            if r.get("body") and r["body"].get("model") == "tgt"]


def _world(server: FakeServer) -> None:
    """The target thinks aloud before it answers; the optimizer has nothing to offer."""
    server.configure(reply="fixed:no idea", rules=[
        ["was lovely", "<think>the reviewer liked it</think>\npositive"],
        ["was awful", "<think>the reviewer hated it</think>\nnegative"]])


def test_before_request_changes_what_is_sent_and_after_response_what_is_scored(
        fake_openai: FakeServer, tmp_path: Path) -> None:
    _world(fake_openai)
    plain = asyncio.run(tune(load_task(_task(tmp_path, [])), _settings(fake_openai, tmp_path)))
    sent = _target_prompts(fake_openai)
    assert sent and not any("[tagged" in s for s in sent)
    assert plain.original.estimate.mean == 0.0  # "<think>…</think> positive" is not "positive"

    fake_openai.reset()
    _world(fake_openai)
    task = load_task(_task(tmp_path, ["tag.py:TAG", "strip-think"]))
    processed = asyncio.run(tune(task, _settings(fake_openai, tmp_path)))
    sent = _target_prompts(fake_openai)
    assert sent and all(s.endswith("[tagged for target]") for s in sent)
    assert processed.original.estimate.mean == 1.0  # the answer after strip-think is scored
    # the optimizer's requests are not the target's: no processor touched them
    assert not any("[tagged" in r["body"]["messages"][-1]["content"]
                   for r in fake_openai.requests() if r["body"]["model"] == "opt")
    store = Store(tmp_path / "store.db")
    try:
        rows = store.evaluations(processed.run_id, processed.original.id, split="dev")
    finally:
        store.close()
    assert rows and all(r["answer"].startswith("<think>") and r["score"] == 1.0 for r in rows)


def test_the_cache_tells_runs_with_and_without_a_request_processor_apart(
        fake_openai: FakeServer, tmp_path: Path) -> None:
    _world(fake_openai)
    first = asyncio.run(tune(load_task(_task(tmp_path, ["strip-think"])),
                             _settings(fake_openai, tmp_path, cache=True)))
    assert first.calls > 0 and _target_prompts(fake_openai)

    fake_openai.reset()
    _world(fake_openai)
    # the same run again: every answer comes from the cache (an after_response processor
    # does not change a request)
    again = asyncio.run(tune(load_task(_task(tmp_path, ["strip-think"])),
                             _settings(fake_openai, tmp_path, cache=True)))
    assert again.calls == 0 and not _target_prompts(fake_openai)

    # with a processor that changes the request, the cached answers are not reused
    tagged = asyncio.run(tune(load_task(_task(tmp_path, ["tag.py:TAG", "strip-think"])),
                              _settings(fake_openai, tmp_path, cache=True)))
    sent = _target_prompts(fake_openai)
    assert tagged.calls > 0 and sent and all(s.endswith("[tagged for target]") for s in sent)


# -- the built-ins ---------------------------------------------------------------------------


def test_strip_think() -> None:
    assert strip_think("<think>a\nb</think>\nyes", LOCAL) == "yes"
    assert strip_think("x <THINK>a</THINK> y <think>b</think> z", LOCAL) == "x  y  z"
    assert strip_think("<think>ran out of tokens", LOCAL) == ""
    assert strip_think("still thinking</think> no", LOCAL) == "no"  # began inside a block
    assert strip_think("plain answer", LOCAL) == "plain answer"


def test_first_line_final_answer_and_trim() -> None:
    assert first_line("\n\n  positive  \nbecause", LOCAL) == "positive"
    assert first_line("", LOCAL) == ""
    assert final_answer("Let me see.\nAnswer: 41\nFinal answer: **42**\n", LOCAL) == "42"
    assert final_answer("The answer is negative.\n", LOCAL) == "negative."
    assert final_answer("some reasoning\n\nblue\n", LOCAL) == "blue"
    assert trim("  x \n", LOCAL) == "x"


def test_aliases_maps_whole_answers_and_checks_its_settings() -> None:
    [aliases] = resolve([_entry(name="aliases", map={"Yes": "true", "y": "true"})],
                        import_code=False)
    assert aliases.after_response is not None
    assert aliases.after_response(" yes ", LOCAL) == "true"
    assert aliases.after_response("Y", LOCAL) == "true"
    assert aliases.after_response("yes, I think", LOCAL) == "yes, I think"
    [strict] = resolve([_entry(name="aliases", map={"Yes": "true"}, case_sensitive=True)],
                       import_code=False)
    assert strict.after_response is not None and strict.after_response("yes", LOCAL) == "yes"
    bad: list[tuple[dict[str, Any], str]] = [
        ({}, "needs a map"), ({"map": {"a": ["b"]}}, "is not text to text"),
        ({"map": {"a": "b"}, "mapping": 1}, "unknown setting 'mapping'")]
    for settings, says in bad:
        with pytest.raises(TaskError, match=says):
            resolve([_entry(name="aliases", **settings)], import_code=False)


def test_redact_masks_personal_data_only_for_hosted_models() -> None:
    [redact] = resolve(["redact"], import_code=False)
    assert redact.before_request is not None
    text = ("Mail jane.doe+x@example.co.uk or call +1 (555) 123-4567; card 4111 1111 1111 1111; "
            "key sk-proj-abcdefghijklmnopqrstuvwx; order 2024-01-15, 12 items.")
    messages = (Message("system", "Be brief."), Message("user", text))
    out = redact.before_request(messages, HOSTED)
    got = out[1].content
    for secret in ("jane.doe", "555", "4111", "sk-proj"):
        assert secret not in got
    for mask in ("[email]", "[phone]", "[card]", "[key]"):
        assert mask in got
    assert "2024-01-15" in got and "12 items" in got and out[0].content == "Be brief."
    assert list(redact.before_request(messages, LOCAL)) == list(messages)
    # a number that fails the Luhn check is not a card
    assert "[card]" not in redact.before_request((Message("user", "id 1234567812345678"),),
                                                 HOSTED)[0].content


def test_which_endpoints_are_hosted() -> None:
    assert not is_hosted("embedded", ())
    assert not is_hosted("openai", ("http://127.0.0.1:8000/v1",))
    assert not is_hosted("openai", ("http://localhost:8000/v1", "http://[::1]:9/v1"))
    assert is_hosted("openai", ())  # the provider's own API
    assert is_hosted("openai", ("http://127.0.0.1:8000/v1", "https://gpu.example.com/v1"))


# -- the registry ----------------------------------------------------------------------------


def test_every_builtin_is_registered() -> None:
    assert {"strip-think", "first-line", "final-answer", "trim", "aliases", "redact"} <= set(
        processor_names())


def test_unknown_name_and_settings_on_a_plain_processor_are_one_line_errors() -> None:
    with pytest.raises(TaskError) as err:
        resolve(["strip-thinks"], import_code=True)
    assert "unknown processor 'strip-thinks'" in err.value.message
    assert "strip-think" in err.value.hint and "\n" not in str(err.value)
    with pytest.raises(TaskError, match="takes no settings"):
        resolve([_entry(name="trim", width=3)], import_code=True)


def test_code_references_are_refused_without_import_code(tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    (tmp_path / "hook.py").write_text(
        f"open({str(marker)!r}, 'w').close()\ndef fn(text, context):\n    return text\n",
        encoding="utf-8")
    with pytest.raises(TaskError, match="runs code from a module, which is not imported here"):
        resolve(["hook.py:fn"], import_code=False, base_dir=tmp_path)
    assert not marker.exists()
    # a task file read without import_code is checked without running its code
    data = {"name": "t", "prompt": "hi", "processors": ["hook.py:fn"]}
    task_from_dict(data, tmp_path / "t.yaml", base_dir=tmp_path, import_code=False)
    assert not marker.exists()
    bad = {**data, "processors": ["hook.py:nothere"]}
    with pytest.raises(TaskError, match=r"processor 'hook\.py:nothere'.*no function 'nothere'"):
        task_from_dict(bad, tmp_path / "t.yaml", base_dir=tmp_path, import_code=False)
    # with import_code the function is imported and runs after the response
    [hook] = resolve(["hook.py:fn"], import_code=True, base_dir=tmp_path)
    assert marker.exists() and hook.after_response is not None and hook.before_request is None


def test_a_missing_module_is_named_in_one_line() -> None:
    with pytest.raises(TaskError, match=re.escape("processor 'no_such_pkg.mod:fn': no module named")):
        resolve(["no_such_pkg.mod:fn"], import_code=True)


def test_registered_processors_and_factories_resolve_by_name() -> None:
    def upper(text: str, context: ProcessorContext) -> str:
        return text.upper()

    register_processor("test-upper", Processor("test-upper", after_response=upper))
    register_processor("test-suffix", lambda suffix: Processor(
        "test-suffix", after_response=lambda text, ctx: text + str(suffix)))
    got = resolve(["test-upper", _entry(name="test-suffix", suffix="!")],
                  import_code=False)
    assert [p.name for p in got] == ["test-upper", "test-suffix"]
    with pytest.raises(TaskError, match="processor 'test-suffix':"):
        resolve([_entry(name="test-suffix", other=1)], import_code=False)
    with pytest.raises(ValueError, match="without ':'"):
        register_processor("a:b", Processor("a:b"))


def test_settings_processors_come_before_the_task_ones(tmp_path: Path) -> None:
    from core.processors import target_pipeline

    settings = load_settings(flags={"processors": ["strip-think"]}).settings
    task = task_from_dict({"name": "t", "prompt": "hi", "processors": ["first-line"]},
                          tmp_path / "t.yaml", base_dir=tmp_path)
    pipeline = target_pipeline(settings, task)
    assert pipeline.names() == ["strip-think", "first-line"]
    assert pipeline.context.role == "target" and not pipeline.context.hosted  # embedded
    assert pipeline.after("<think>\nx\n</think>\nfirst\nsecond") == "first"


def test_a_processor_that_breaks_is_one_line() -> None:
    from core.processors import Pipeline

    def boom(text: str, context: ProcessorContext) -> str:
        raise RuntimeError("nope")

    def wrong(messages: tuple[Message, ...], context: ProcessorContext) -> Any:
        return "not messages"

    with pytest.raises(TaskError, match="processor 'boom' failed on an answer: RuntimeError: nope"):
        Pipeline([Processor("boom", after_response=boom)], LOCAL).after("x")
    with pytest.raises(TaskError, match="not a non-empty list of messages"):
        Pipeline([Processor("wrong", before_request=wrong)], LOCAL).before(
            (Message("user", "x"),))


def test_the_task_schema_lists_processors() -> None:
    from core import task_schema

    assert "processors" in task_schema()["properties"]
