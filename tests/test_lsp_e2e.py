"""The language server end to end: a real LSP client (pytest-lsp) drives ``python -m lsp_server``
over stdio; runs go to the loopback fake model server, whose rules make a whole tune
deterministic (see tests/test_engine.py for the idea):

* a request that shows the unrendered template (``{{ text }}``) is the optimizer's meta-prompt,
  and it proposes GOOD;
* the target answers right only when its rendered prompt carries the marker word.
"""

from __future__ import annotations

import ast
import asyncio
import os
import re
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient, client_capabilities, make_test_lsp_client

from core import load_settings, resume
from tests.fakes.fixtures import StartFakeServer
from tests.fakes.harness import FakeServer

REPO = Path(__file__).resolve().parents[1]
SLOT = "{{ text }}"
WRONG = "UNSURE, it is a movie review"
MARKER = "ZEBRA"
ORIGINAL = "Please read the following movie review and tell me what you think about it. " + SLOT
GOOD = f"{MARKER} Answer with one word, positive or negative.\nReview: {SLOT}"
REVIEWS = {
    "A joy from start to finish.": "positive",
    "Two hours of my life I will never get back.": "negative",
    "The best film I have seen this year.": "positive",
    "Dull, slow and far too long.": "negative",
    "I laughed and cried, a wonderful ride.": "positive",
    "The plot makes no sense at all.": "negative",
    "Brilliant acting and a clever script.": "positive",
    "I walked out after half an hour.": "negative",
}
TIMEOUT = 30


def task_yaml(n: int = len(REVIEWS)) -> str:
    lines = ["name: lsp-sentiment", "description: Label a movie review positive or negative.",
             f"prompt: \"{ORIGINAL}\"", "metric: label", "labels: [positive, negative]",
             "examples:"]
    for text, label in list(REVIEWS.items())[:n]:
        lines.append(f"  - {{text: \"{text}\", expected: {label}}}")
    return "\n".join(lines) + "\n"


def world(vary: str = GOOD) -> dict[str, Any]:
    proposal = f"Sure! Here is a better prompt:\n<<<\n{vary}\n>>>"
    rules = [[WRONG, proposal], [SLOT, proposal]]
    rules += [[f"{MARKER} Answer with one word, positive or negative.\nReview: {text}", label]
              for text, label in REVIEWS.items()]
    return {"rules": rules, "reply": f"fixed:{WRONG}"}


def options(server: FakeServer | None, tmp_path: Path, **more: Any) -> dict[str, Any]:
    spec = f"openai:fake@{server.base_url}" if server else "openai:fake@http://127.0.0.1:9/v1"
    opts: dict[str, Any] = {
        "models": {"target": spec, "optimizer": spec, "judge": spec},
        "storePath": str(tmp_path / "store.db"),
        "settings": {"run_dir": str(tmp_path / "runs"), "cache.enabled": False,
                     "tune.variations": 1, "tune.refine_top": 0, "tune.max_examples": 8,
                     "retry.attempts": 1},
        "onResult": "codeAction",
    }
    opts.update(more)
    return opts


def read_code_actions_whole(client: LanguageClient) -> None:
    """lsprotocol's client-side hook reads any code action that carries a command as a bare
    Command (dropping its kind, edit and disabled reason); tell the two apart by the type of
    ``command`` instead."""
    converter = client.protocol._converter

    def hook(obj: Any, _: type) -> Any:
        kind = lsp.Command if isinstance(obj.get("command"), str) else lsp.CodeAction
        return converter.structure(obj, kind)

    converter.register_structure_hook(lsp.Command | lsp.CodeAction, hook)


async def start(tmp_path: Path, init: dict[str, Any],
                applied: list[lsp.ApplyWorkspaceEditParams] | None = None,
                configuration: dict[str, Any] | None = None) -> LanguageClient:
    """A client that records the edits the server applies and, asked to choose, picks the first
    action offered (the replacement); ``configuration`` answers workspace/configuration."""
    client = make_test_lsp_client()
    if configuration is not None:
        client.set_configuration(configuration)
    read_code_actions_whole(client)

    def apply_edit(params: lsp.ApplyWorkspaceEditParams) -> lsp.ApplyWorkspaceEditResult:
        if applied is not None:
            applied.append(params)
        return lsp.ApplyWorkspaceEditResult(applied=True)

    def choose(params: lsp.ShowMessageRequestParams) -> lsp.MessageActionItem | None:
        return params.actions[0] if params.actions else None

    client.feature(lsp.WORKSPACE_APPLY_EDIT)(apply_edit)
    client.feature(lsp.WINDOW_SHOW_MESSAGE_REQUEST)(choose)

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    await client.start_io(sys.executable, "-m", "lsp_server", env=env, cwd=str(tmp_path))
    client.init_result = await client.initialize_session(lsp.InitializeParams(  # type: ignore[attr-defined]
        capabilities=client_capabilities("visual-studio-code"),
        root_uri=tmp_path.as_uri(), initialization_options=init,
        workspace_folders=[lsp.WorkspaceFolder(uri=tmp_path.as_uri(), name="w")]))
    return client


@pytest.fixture
async def lsp_client(tmp_path: Path, fake_openai: FakeServer) -> AsyncIterator[LanguageClient]:
    client = await start(tmp_path, options(fake_openai, tmp_path))
    yield client
    await client.shutdown_session()


def open_doc(client: LanguageClient, path: Path, text: str, language: str = "plaintext") -> str:
    path.write_text(text, encoding="utf-8")
    uri = path.as_uri()
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(
        lsp.TextDocumentItem(uri=uri, language_id=language, version=1, text=text)))
    return uri


async def diagnostics(client: LanguageClient, uri: str) -> list[lsp.Diagnostic]:
    async with asyncio.timeout(TIMEOUT):
        while uri not in client.diagnostics:
            await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return list(client.diagnostics[uri])


def python_source() -> str:
    return ("import os\n\n"
            "# prompt-tuner: task=sentiment.tune.yaml\n"
            f"SYSTEM_PROMPT = {ORIGINAL!r}\n"
            "\n\ndef main() -> None:\n    print(SYSTEM_PROMPT)\n")


async def code_actions(client: LanguageClient, uri: str, line: int, col: int = 20) -> list[Any]:
    pos = lsp.Position(line=line, character=col)
    got = await client.text_document_code_action_async(lsp.CodeActionParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri), range=lsp.Range(pos, pos),
        context=lsp.CodeActionContext(diagnostics=[])))
    return list(got or [])


def action(actions: list[Any], title: str) -> lsp.CodeAction:
    found = [a for a in actions if isinstance(a, lsp.CodeAction) and a.title.startswith(title)]
    assert found, f"no action {title!r} in {[(type(a), getattr(a, 'title', a)) for a in actions]}"
    return found[0]


async def execute(client: LanguageClient, command: str, args: list[Any]) -> dict[str, Any]:
    got = await asyncio.wait_for(client.workspace_execute_command_async(
        lsp.ExecuteCommandParams(command=command, arguments=args)), TIMEOUT)
    assert isinstance(got, dict), got
    return got


def apply(text: str, edit: lsp.TextEdit) -> str:
    lines = text.splitlines(keepends=True)

    def offset(p: lsp.Position) -> int:
        return sum(len(ln) for ln in lines[:p.line]) + p.character  # ASCII text in these tests

    return text[:offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end):]


def edits_of(edit: lsp.WorkspaceEdit) -> list[lsp.TextEdit]:
    if edit.document_changes:
        return [e for dc in edit.document_changes if isinstance(dc, lsp.TextDocumentEdit)
                for e in dc.edits if isinstance(e, lsp.TextEdit)]
    return [e for es in (edit.changes or {}).values() for e in es]


# -- tests -----------------------------------------------------------------------------------


async def test_initialize_advertises_code_actions_hover_and_the_commands(tmp_path: Path) -> None:
    client = await start(tmp_path, options(None, tmp_path))
    try:
        caps = client.init_result.capabilities  # type: ignore[attr-defined]
        assert caps.hover_provider and caps.code_action_provider
        assert caps.execute_command_provider is not None
        assert {"promptTuner.optimize", "promptTuner.evaluate",
                "promptTuner.history"} <= set(caps.execute_command_provider.commands)
    finally:
        await client.shutdown_session()


async def test_an_undefined_variable_in_a_prompt_file_is_an_error_that_says_the_fix(
    lsp_client: LanguageClient, tmp_path: Path
) -> None:
    (tmp_path / "review.tune.yaml").write_text(task_yaml(), encoding="utf-8")
    uri = open_doc(lsp_client, tmp_path / "review.prompt",
                   "Classify the review.\nAnswer with one word: positive or negative.\n"
                   "<review>{{ txt }}</review>\n")

    found = await diagnostics(lsp_client, uri)

    undefined = [d for d in found if d.code == "undefined-variable"]
    assert len(undefined) == 1
    d = undefined[0]
    assert d.severity == lsp.DiagnosticSeverity.Error
    assert "txt" in d.message and "text" in d.message and "Fix:" in d.message
    assert (d.range.start.line, d.range.start.character, d.range.end.character) == (2, 11, 14)
    assert any(d.code == "unused-variable" and "'text'" in d.message for d in found)


async def test_a_prompt_longer_than_the_targets_context_is_flagged(tmp_path: Path) -> None:
    init = options(None, tmp_path, models={"target": "embedded"})
    init["settings"]["embedded.n_ctx"] = 256
    client = await start(tmp_path, init)
    try:
        body = "\n".join(f"Rule {i}: keep the answer polite and factual at all times." for i in range(60))
        uri = open_doc(client, tmp_path / "long.prompt.md", body + "\n")
        found = [d for d in await diagnostics(client, uri) if d.code == "too-long"]
        assert len(found) == 1
        assert "256" in found[0].message and "embedded.n_ctx" in found[0].message
        assert found[0].severity == lsp.DiagnosticSeverity.Error
        assert 10 < found[0].range.start.line < 60  # from where it stops fitting
    finally:
        await client.shutdown_session()


async def test_the_code_actions_on_a_python_system_prompt_include_optimize(
    lsp_client: LanguageClient, tmp_path: Path
) -> None:
    (tmp_path / "sentiment.tune.yaml").write_text(task_yaml(), encoding="utf-8")
    uri = open_doc(lsp_client, tmp_path / "app.py", python_source(), "python")

    titles = [a.title for a in await code_actions(lsp_client, uri, line=3)]

    assert "Optimize this prompt" in titles
    assert "Evaluate this prompt" in titles
    assert await code_actions(lsp_client, uri, line=0) == []  # not on a prompt


async def test_optimize_reports_progress_and_offers_the_winner_as_a_quoted_edit(
    lsp_client: LanguageClient, tmp_path: Path, fake_openai: FakeServer
) -> None:
    fake_openai.configure(**world())
    (tmp_path / "sentiment.tune.yaml").write_text(task_yaml(), encoding="utf-8")
    source = python_source()
    uri = open_doc(lsp_client, tmp_path / "app.py", source, "python")
    optimize = action(await code_actions(lsp_client, uri, line=3), "Optimize this prompt")
    assert optimize.command is not None

    result = await execute(lsp_client, optimize.command.command, list(optimize.command.arguments or []))

    assert result["significant"] and result["improved"]
    assert re.fullmatch(r"Replace with v\d+: 0% → 100% \(p=0\.008\)", result["title"])
    (_token, reports), = lsp_client.progress_reports.items()
    kinds = [type(r).__name__ for r in reports]
    assert kinds[0] == "WorkDoneProgressBegin" and kinds[-1] == "WorkDoneProgressEnd"
    assert "WorkDoneProgressReport" in kinds
    assert isinstance(reports[0], lsp.WorkDoneProgressBegin) and reports[0].cancellable
    # the code action now offers the winner as a WorkspaceEdit on the prompt's exact range
    offered = action(await code_actions(lsp_client, uri, line=3), "Replace with v")
    assert offered.edit is not None and offered.title == result["title"]
    (edit,) = edits_of(offered.edit)
    assert (edit.range.start.line, edit.range.start.character) == (3, len("SYSTEM_PROMPT = "))
    new_source = apply(source, edit)
    module = ast.parse(new_source)
    assign = next(n for n in module.body if isinstance(n, ast.Assign))
    assert ast.literal_eval(assign.value) == GOOD
    assert new_source.startswith(source[:source.index("SYSTEM_PROMPT")])
    assert new_source.endswith(source[source.index("\n\n\ndef main"):])


async def test_by_default_the_user_is_asked_and_accepting_applies_the_edit(
    tmp_path: Path, fake_openai: FakeServer
) -> None:
    fake_openai.configure(**world())
    applied: list[lsp.ApplyWorkspaceEditParams] = []
    init = options(fake_openai, tmp_path)
    del init["onResult"]  # the default: ask
    client = await start(tmp_path, init, applied)
    try:
        (tmp_path / "sentiment.tune.yaml").write_text(task_yaml(), encoding="utf-8")
        source = python_source()
        uri = open_doc(client, tmp_path / "app.py", source, "python")
        result = await execute(client, "promptTuner.optimize", [{"uri": uri, "key": "SYSTEM_PROMPT"}])
        async with asyncio.timeout(TIMEOUT):
            while not applied:
                await asyncio.sleep(0.05)
        assert applied[0].label == result["title"]
        (edit,) = edits_of(applied[0].edit)
        assign = ast.parse(apply(source, edit)).body[1]
        assert isinstance(assign, ast.Assign) and ast.literal_eval(assign.value) == GOOD
    finally:
        await client.shutdown_session()


async def test_cancelling_a_run_stops_it_and_leaves_the_store_consistent(
    tmp_path: Path, fake_server: StartFakeServer
) -> None:
    slow = fake_server("openai", latency=0.4)
    slow.configure(**world())
    client = await start(tmp_path, options(slow, tmp_path, settings={
        "run_dir": str(tmp_path / "runs"), "cache.enabled": False, "tune.variations": 1,
        "tune.refine_top": 0, "tune.max_examples": 8, "tune.concurrency": 1}))
    try:
        (tmp_path / "sentiment.tune.yaml").write_text(task_yaml(), encoding="utf-8")
        uri = open_doc(client, tmp_path / "app.py", python_source(), "python")
        run = asyncio.ensure_future(execute(client, "promptTuner.optimize",
                                            [{"uri": uri, "key": "SYSTEM_PROMPT"}]))
        async with asyncio.timeout(TIMEOUT):
            while len(slow.requests()) < 2:
                await asyncio.sleep(0.05)
        (token,) = client.progress_reports
        client.window_work_done_progress_cancel(lsp.WorkDoneProgressCancelParams(token=token))
        result = await asyncio.wait_for(run, TIMEOUT)

        assert result["status"] == "interrupted"
        assert type(client.progress_reports[token][-1]).__name__ == "WorkDoneProgressEnd"
        sent = len(slow.requests())
        await asyncio.sleep(1.0)
        assert len(slow.requests()) <= sent + 1  # no new work after the stop (one may be in flight)
        db = sqlite3.connect(tmp_path / "store.db")
        (run_id, status, error), = db.execute("select id, status, error from runs").fetchall()
        assert (status, error) == ("interrupted", "interrupted by the user")
        scored = db.execute("select count(*) from evaluations where run_id = ?", [run_id]).fetchone()
        assert scored[0] >= 1
        db.close()
    finally:
        await client.shutdown_session()
    # consistent: the core can finish the interrupted run from what was stored
    slow.configure(latency=0.0)
    settings = load_settings(flags={"store_path": str(tmp_path / "store.db"),
                                    "run_dir": str(tmp_path / "runs")}).settings
    finished = await resume(run_id, settings)
    assert finished.status == "finished" and finished.best_prompt == GOOD


async def test_typing_makes_no_model_call(
    lsp_client: LanguageClient, tmp_path: Path, fake_openai: FakeServer
) -> None:
    (tmp_path / "sentiment.tune.yaml").write_text(task_yaml(), encoding="utf-8")
    source = python_source()
    uri = open_doc(lsp_client, tmp_path / "app.py", source, "python")
    await diagnostics(lsp_client, uri)
    for version in range(2, 12):
        lsp_client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[lsp.TextDocumentContentChangePartial(
                range=lsp.Range(lsp.Position(3, 30), lsp.Position(3, 30)), text="x")]))
        await asyncio.sleep(0.02)
        await lsp_client.text_document_hover_async(lsp.HoverParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri), position=lsp.Position(3, 25)))
        await code_actions(lsp_client, uri, line=3)
    await asyncio.sleep(0.3)

    assert fake_openai.requests() == []


async def test_no_significant_gain_offers_no_replacement(
    tmp_path: Path, fake_openai: FakeServer
) -> None:
    fake_openai.configure(**world())
    client = await start(tmp_path, options(fake_openai, tmp_path))
    try:
        (tmp_path / "sentiment.tune.yaml").write_text(task_yaml(n=4), encoding="utf-8")
        uri = open_doc(client, tmp_path / "app.py", python_source(), "python")
        result = await execute(client, "promptTuner.optimize", [{"uri": uri, "key": "SYSTEM_PROMPT"}])
        assert result["improved"] and not result["significant"]
        assert result["edit"] is None and "No significant gain" in result["message"]
        assert any("No significant gain" in m.message for m in client.messages)
        offered = action(await code_actions(client, uri, line=3), "Replace anyway")
        assert offered.edit is None and offered.disabled is not None
    finally:
        await client.shutdown_session()


async def test_hover_and_history_show_the_measured_versions(
    lsp_client: LanguageClient, tmp_path: Path, fake_openai: FakeServer
) -> None:
    fake_openai.configure(**world())
    (tmp_path / "sentiment.tune.yaml").write_text(task_yaml(), encoding="utf-8")
    uri = open_doc(lsp_client, tmp_path / "app.py", python_source(), "python")
    args = [{"uri": uri, "key": "SYSTEM_PROMPT"}]
    result = await execute(lsp_client, "promptTuner.optimize", args)

    hover = await lsp_client.text_document_hover_async(lsp.HoverParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri), position=lsp.Position(3, 25)))
    assert hover is not None and isinstance(hover.contents, lsp.MarkupContent)
    assert "v1" in hover.contents.value and "0% [0%, 32%] (n=8)" in hover.contents.value
    best = re.search(r"Replace with (v\d+)", result["title"])
    assert best is not None and best.group(1) != "v1"
    assert result["runId"] in hover.contents.value
    assert f"best stored: {best.group(1)} 100%" in hover.contents.value
    found = await diagnostics(lsp_client, uri)
    assert any(d.code == "edited-since-best" and best.group(1) in d.message for d in found)

    shown = await execute(lsp_client, "promptTuner.history", args)
    assert f"## {best.group(1)} " in shown["content"] and "```diff" in shown["content"]
    assert "+Review: {{ text }}" in shown["content"]
    assert lsp_client.shown_documents and lsp_client.shown_documents[-1].uri == shown["uri"]


@pytest.mark.slow
async def test_evaluate_scores_the_prompt_on_the_embedded_model_with_an_interval(
    tmp_path: Path
) -> None:
    client = await start(tmp_path, {"models": {"target": "embedded"},
                                    "storePath": str(tmp_path / "store.db"),
                                    "settings": {"run_dir": str(tmp_path / "runs")}})
    try:
        (tmp_path / "sentiment.tune.yaml").write_text(task_yaml(n=2), encoding="utf-8")
        uri = open_doc(client, tmp_path / "app.py", python_source(), "python")
        got = await asyncio.wait_for(client.workspace_execute_command_async(lsp.ExecuteCommandParams(
            command="promptTuner.evaluate", arguments=[{"uri": uri, "key": "SYSTEM_PROMPT"}])), 240)
        assert isinstance(got, dict)
        assert got["n"] == 2 and 0 <= got["low"] <= got["mean"] <= got["high"] <= 1
        assert any("SYSTEM_PROMPT on embedded" in m.message and "(n=2)" in m.message
                   for m in client.messages)
    finally:
        await client.shutdown_session()


async def test_workspace_configuration_overrides_the_initialization_options(tmp_path: Path) -> None:
    init = options(None, tmp_path, severity={"weak-wording": "error"})
    client = await start(tmp_path, init, configuration={
        "promptTuner": {"severity": {"weak-wording": "off", "vague-quantifier": "warning"}}})
    try:
        uri = open_doc(client, tmp_path / "notes.prompt", "Try to list a few bullet points.\n")
        async with asyncio.timeout(TIMEOUT):
            while True:
                found = {d.code: d.severity for d in await diagnostics(client, uri)}
                if "weak-wording" not in found:
                    break
                await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        assert found == {"vague-quantifier": lsp.DiagnosticSeverity.Warning}
    finally:
        await client.shutdown_session()


async def test_the_history_opens_as_a_virtual_document_the_client_can_fetch(tmp_path: Path) -> None:
    client = await start(tmp_path, options(None, tmp_path, virtualDocuments=True))
    try:
        uri = open_doc(client, tmp_path / "notes.prompt", "Summarize the text in three bullets.\n")
        shown = await execute(client, "promptTuner.history", [{"uri": uri, "key": "prompt"}])
        assert shown["uri"] == "prompt-tuner:/history/notes.prompt.history.md"
        assert client.shown_documents[-1].uri == shown["uri"]
        fetched = await client.protocol.send_request_async(  # type: ignore[no-untyped-call]
            "promptTuner/document", {"uri": shown["uri"]})
        content = fetched["content"] if isinstance(fetched, dict) else fetched.content
        assert content == shown["content"] and "No versions stored yet" in content
    finally:
        await client.shutdown_session()
