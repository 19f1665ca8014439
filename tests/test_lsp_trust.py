"""The editor and untrusted workspaces: a real LSP client (pytest-lsp) drives ``python -m
lsp_server`` in a workspace whose task files hold custom metrics (a ``file.py:fn`` one and a
``module:fn`` one whose module sits in the workspace, importable from the server's working
directory) and ``task:`` links that leave the workspace (``..`` and a symlink).

Each piece of custom code writes a marker file when it is imported. Opening, editing, hovering
and listing code actions must never create one; an explicit Evaluate in a workspace the user
trusted does (so these tests can fail).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types as lsp
from pygls.protocol import default_converter
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

from tests.fakes.harness import FakeServer
from tests.test_lsp_e2e import (
    TIMEOUT,
    action,
    code_actions,
    diagnostics,
    open_doc,
    options,
    read_code_actions_whole,
)

REPO = Path(__file__).resolve().parents[1]

METRIC = """from pathlib import Path

Path({marker!r}).write_text("imported", encoding="utf-8")


def score(answer, example):
    return True
"""

APP = """# prompts of the app

FILE_PROMPT = "Say hello to {{ name }}."
MODULE_PROMPT = "Say goodbye to {{ name }}."
# prompt-tuner: task=../outside/evil.tune.yaml
OUTSIDE_PROMPT = "Say nothing to {{ name }}."
"""
LINES = {"FILE_PROMPT": 2, "MODULE_PROMPT": 3, "OUTSIDE_PROMPT": 5}


def task(name: str, function: str, models: str = "") -> str:
    return (f"name: {name}\nprompt: \"Greet {{{{ name }}}}.\"\n"
            f"metrics:\n  - {{type: custom, function: \"{function}\"}}\n"
            "examples:\n  - {name: Ann}\n  - {name: Bo}\n" + models)


@dataclass
class World:
    ws: Path
    outside: Path
    markers: Path

    def imported(self) -> list[str]:
        return sorted(p.name for p in self.markers.iterdir())


@pytest.fixture
def world(tmp_path: Path) -> World:
    ws, outside, markers = tmp_path / "ws", tmp_path / "outside", tmp_path / "markers"
    for d in (ws, outside, markers):
        d.mkdir()
    (ws / "metric_file.py").write_text(METRIC.format(marker=str(markers / "file")), encoding="utf-8")
    (ws / "ws_metric_mod.py").write_text(METRIC.format(marker=str(markers / "module")),
                                         encoding="utf-8")
    (ws / "file_prompt.tune.yaml").write_text(task("file-metric", "metric_file.py:score"),
                                              encoding="utf-8")
    (ws / "module_prompt.tune.yaml").write_text(task("module-metric", "ws_metric_mod:score"),
                                                encoding="utf-8")
    (outside / "evil.py").write_text(METRIC.format(marker=str(markers / "outside")), encoding="utf-8")
    (outside / "evil.tune.yaml").write_text(task("evil", "evil.py:score"), encoding="utf-8")
    (ws / "linked.tune.yaml").symlink_to(outside / "evil.tune.yaml")
    return World(ws, outside, markers)


@pytest.fixture
def shadowing(world: World) -> Path:
    """A workspace file named like a module the server imports, found first if the server's
    working directory were on its path (``python -m`` puts it there)."""
    (world.ws / "yaml.py").write_text(METRIC.format(marker=str(world.markers / "shadow")),
                                      encoding="utf-8")
    return world.ws / "yaml.py"


class Client(LanguageClient):
    """pytest-lsp's client that also keeps the document version of each publication."""

    def __init__(self) -> None:
        super().__init__(converter_factory=default_converter)
        self.versions: dict[str, int | None] = {}

        def published(client: Client, params: lsp.PublishDiagnosticsParams) -> None:
            client.diagnostics[params.uri] = params.diagnostics
            client.versions[params.uri] = params.version

        register_lsp_features(self, {**DEFAULT_CLIENT_FEATURES,
                                     lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS: published})


async def start(ws: Path, init: dict[str, Any], path: list[Path] | None = None) -> Client:
    """The server runs in the workspace, with the workspace as its only folder and on its Python
    path unless ``path`` says otherwise (so ``ws_metric_mod`` is importable: a test of "never
    imported" that could fail)."""
    client = Client()
    read_code_actions_whole(client)
    extra = [ws] if path is None else path
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *map(str, extra)])}
    await client.start_io(sys.executable, "-m", "lsp_server", env=env, cwd=str(ws))
    await client.initialize_session(lsp.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=ws.as_uri(),
        initialization_options=init, workspace_folders=[lsp.WorkspaceFolder(uri=ws.as_uri(), name="ws")]))
    return client


@pytest.fixture
async def untrusted(world: World, fake_openai: FakeServer) -> AsyncIterator[Client]:
    client = await start(world.ws, options(fake_openai, world.ws.parent))
    yield client
    await client.shutdown_session()


@pytest.fixture
async def trusted(world: World, fake_openai: FakeServer) -> AsyncIterator[Client]:
    client = await start(world.ws, options(fake_openai, world.ws.parent, trustWorkspace=True))
    yield client
    await client.shutdown_session()


async def hover(client: LanguageClient, uri: str, line: int) -> str:
    got = await client.text_document_hover_async(lsp.HoverParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri), position=lsp.Position(line, 18)))
    assert got is not None and isinstance(got.contents, lsp.MarkupContent)
    return got.contents.value


async def evaluate(client: LanguageClient, uri: str, key: str) -> Any:
    return await asyncio.wait_for(client.workspace_execute_command_async(lsp.ExecuteCommandParams(
        command="promptTuner.evaluate", arguments=[{"uri": uri, "key": key}])), TIMEOUT)


async def settled(client: Client, uri: str, version: int) -> list[lsp.Diagnostic]:
    """The diagnostics published for ``version`` of the document."""
    async with asyncio.timeout(TIMEOUT):
        while client.versions.get(uri) != version:
            await asyncio.sleep(0.02)
    return list(client.diagnostics[uri])


def by_code(found: list[lsp.Diagnostic]) -> dict[str, list[lsp.Diagnostic]]:
    out: dict[str, list[lsp.Diagnostic]] = {}
    for d in found:
        out.setdefault(str(d.code), []).append(d)
    return out


# -- untrusted: nothing the workspace names is imported ---------------------------------------


async def test_opening_editing_hovering_and_listing_actions_import_no_workspace_code(
    untrusted: Client, world: World, fake_openai: FakeServer
) -> None:
    client = untrusted
    app = open_doc(client, world.ws / "app.py", APP, "python")
    front = open_doc(client, world.ws / "front.prompt",
                     "---\ntask: ../outside/evil.tune.yaml\n---\nSay {{ name }}.\n")
    via_symlink = open_doc(client, world.ws / "sym.prompt",
                           "---\ntask: linked.tune.yaml\n---\nSay {{ name }}.\n")
    own_task = open_doc(client, world.ws / "file_prompt.tune.yaml",
                        (world.ws / "file_prompt.tune.yaml").read_text(encoding="utf-8"))

    found = by_code(await settled(client, app, 1))
    (outside,) = found["outside-workspace"]
    assert outside.range.start.line == LINES["OUTSIDE_PROMPT"]
    assert "outside the workspace" in outside.message and "evil.tune.yaml" in outside.message
    assert "task-error" not in found and "analysis-failed" not in found  # both custom tasks load
    for uri in (front, via_symlink):
        codes = by_code(await settled(client, uri, 1))
        assert "outside-workspace" in codes
        assert "unused-variable" not in codes and "undefined-variable" not in codes  # not read
    assert by_code(await settled(client, own_task, 1)) == {}

    for version in range(2, 6):  # typing in a prompt linked to custom code
        client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=app, version=version),
            content_changes=[lsp.TextDocumentContentChangePartial(
                range=lsp.Range(lsp.Position(2, 27), lsp.Position(2, 27)), text="!")]))
        await settled(client, app, version)
    for key, line in LINES.items():
        shown = await hover(client, app, line)
        assert key in shown
    assert "file-metric" in await hover(client, app, LINES["FILE_PROMPT"])

    for key in ("FILE_PROMPT", "MODULE_PROMPT"):
        offered = await code_actions(client, app, LINES[key])
        for title in ("Optimize this prompt", "Evaluate this prompt"):
            disabled = action(offered, title).disabled
            assert disabled is not None and "trustWorkspace" in disabled.reason
    outside_actions = await code_actions(client, app, LINES["OUTSIDE_PROMPT"])
    assert action(outside_actions, "Optimize this prompt").disabled is not None
    await code_actions(client, front, 3)
    await code_actions(client, own_task, 1, col=12)

    assert world.imported() == []
    assert fake_openai.requests() == []


async def test_an_explicit_evaluate_in_an_untrusted_workspace_says_how_to_trust_and_imports_nothing(
    untrusted: Client, world: World, fake_openai: FakeServer
) -> None:
    app = open_doc(untrusted, world.ws / "app.py", APP, "python")
    await diagnostics(untrusted, app)

    for key in ("FILE_PROMPT", "MODULE_PROMPT"):
        with pytest.raises(Exception, match="not trusted"):
            await evaluate(untrusted, app, key)
    with pytest.raises(Exception, match="outside the workspace"):
        await evaluate(untrusted, app, "OUTSIDE_PROMPT")

    shown = [m.message for m in untrusted.messages if m.type == lsp.MessageType.Error]
    assert any("metric_file.py:score" in m and "promptTuner.trustWorkspace" in m for m in shown)
    assert all("\n" not in m for m in shown)
    assert world.imported() == []
    assert fake_openai.requests() == []


# -- trusted: only an explicit action runs it ---------------------------------------------------


async def test_in_a_trusted_workspace_only_an_explicit_evaluate_imports_the_custom_metrics(
    trusted: Client, world: World, fake_openai: FakeServer
) -> None:
    app = open_doc(trusted, world.ws / "app.py", APP, "python")
    await diagnostics(trusted, app)
    await hover(trusted, app, LINES["FILE_PROMPT"])
    offered = await code_actions(trusted, app, LINES["FILE_PROMPT"])
    assert action(offered, "Evaluate this prompt").disabled is None
    assert world.imported() == []

    got = await evaluate(trusted, app, "FILE_PROMPT")
    assert got["n"] == 2 and got["mean"] == 1.0
    assert world.imported() == ["file"]
    got = await evaluate(trusted, app, "MODULE_PROMPT")
    assert got["n"] == 2
    assert world.imported() == ["file", "module"]

    with pytest.raises(Exception, match="outside the workspace"):
        await evaluate(trusted, app, "OUTSIDE_PROMPT")
    assert world.imported() == ["file", "module"]


async def test_a_task_file_that_names_an_endpoint_is_not_run_from_the_editor(
    world: World, fake_openai: FakeServer, fake_server: Any
) -> None:
    attacker: FakeServer = fake_server("openai")
    models = f"models:\n  target: \"openai:gpt-4o-mini@{attacker.base_url}\"\n"
    (world.ws / "greet_prompt.tune.yaml").write_text(task("greet", "metric_file.py:score", models),
                                                     encoding="utf-8")
    client = await start(world.ws, options(fake_openai, world.ws.parent, trustWorkspace=True))
    try:
        app = open_doc(client, world.ws / "greet.py", "GREET_PROMPT = \"Greet {{ name }}.\"\n", "python")
        (warning,) = [d for d in await diagnostics(client, app) if d.code == "task-endpoint"]
        assert "models.target" in warning.message and attacker.base_url in warning.message
        offered = await code_actions(client, app, 0)
        reason = action(offered, "Evaluate this prompt").disabled
        assert reason is not None and "names an endpoint" in reason.reason
        with pytest.raises(Exception, match="names an endpoint"):
            await evaluate(client, app, "GREET_PROMPT")
        with pytest.raises(Exception, match="names an endpoint"):
            await asyncio.wait_for(client.workspace_execute_command_async(lsp.ExecuteCommandParams(
                command="promptTuner.optimize", arguments=[{"uri": app, "key": "GREET_PROMPT"}])),
                TIMEOUT)
    finally:
        await client.shutdown_session()
    assert attacker.requests() == [] and fake_openai.requests() == []
    assert world.imported() == []


# -- what used to take a document's diagnostics down ----------------------------------------------


async def test_prompts_that_used_to_crash_the_analysis_get_a_diagnostic_and_the_rest_keep_theirs(
    untrusted: Client, world: World
) -> None:
    nested = "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}"
    source = (f"DEEP_PROMPT = {nested!r}\n"
              "HUGE_PROMPT = '{{ 10**10000000 }} and {{ " + "7" * 5000 + " }}'\n"
              "PLAIN_PROMPT = 'Try to keep the answer short.'\n"
              "LONG_PROMPT = 'x' " + "+ 'y' " * 20000 + "\n")
    loop = asyncio.get_running_loop()
    began = loop.time()
    app = open_doc(untrusted, world.ws / "crashy.py", source, "python")
    found = await diagnostics(untrusted, app)
    took = loop.time() - began

    lines = {(d.code, d.range.start.line) for d in found}
    assert ("template-syntax", 0) in lines                    # nested too deeply
    assert ("template-syntax", 1) in lines                    # a 5,000-digit literal
    assert ("weak-wording", 2) in lines                       # the others keep theirs
    assert ("not-checked", 3) in lines                        # too deep for Python's parser
    assert not any(d.code == "analysis-failed" for d in found)
    assert took < 10  # 10**10000000 is never computed (it took 14 s on this machine)
    began = loop.time()
    await code_actions(untrusted, app, 1)
    await hover(untrusted, app, 1)
    assert loop.time() - began < 10

    deep_front = open_doc(untrusted, world.ws / "deep.prompt",
                          "---\nvariables: " + "[" * 3000 + "]" * 3000 + "\n---\nTry to be brief.\n")
    codes = {d.code for d in await diagnostics(untrusted, deep_front)}
    assert codes == {"template-syntax", "weak-wording"}


# -- data files: only inside the workspace are they read ---------------------------------------------

SECRET = "SECRET_COLUMN_4f1e"  # the outside file's header: a wrong mapping would list it


def data_task(name: str, file: str) -> str:
    return (f"name: {name}\nprompt: \"Greet {{{{ name }}}}.\"\n"
            f"dataset:\n  file: \"{file}\"\n  inputs: {{name: nosuch}}\n")


async def test_a_tasks_data_file_outside_the_workspace_is_refused_unread(
    untrusted: Client, world: World
) -> None:
    """The editor read a task's data file wherever it pointed (``..``, an absolute path, a
    symlink), and its content could show in a diagnostic (here: the columns a wrong mapping
    lists). Now: one diagnostic that says why, and the outside file's content never shows."""
    (world.outside / "secret.csv").write_text(f"{SECRET},expected\nhidden,x\n", encoding="utf-8")
    (world.ws / "secret_link.csv").symlink_to(world.outside / "secret.csv")
    (world.ws / "inside.csv").write_text("INSIDE_COLUMN,expected\nseen,x\n", encoding="utf-8")
    tasks = {"dotdot": "../outside/secret.csv", "absolute": str(world.outside / "secret.csv"),
             "symlink": "secret_link.csv"}
    uris = {}
    for name, file in tasks.items():
        path = world.ws / f"{name}.tune.yaml"
        uris[name] = open_doc(untrusted, path, data_task(name, file))
    (world.ws / "data_prompt.tune.yaml").write_text(data_task("sidecar", "../outside/secret.csv"),
                                                    encoding="utf-8")
    app = open_doc(untrusted, world.ws / "data.py", 'DATA_PROMPT = "Greet {{ name }}."\n', "python")
    control = open_doc(untrusted, world.ws / "inside.tune.yaml", data_task("inside", "inside.csv"))

    shown: list[str] = []
    for name, uri in uris.items():
        found = await settled(untrusted, uri, 1)
        shown += [d.message for d in found]
        (refused,) = [d for d in found if d.code == "task-error"]
        assert "dataset.file" in refused.message and "is outside the folder" in refused.message, name
        assert refused.range.start.line == 3  # the `file:` line
    found = await settled(untrusted, app, 1)
    shown += [d.message for d in found]
    assert any("linked task" in d.message and "is outside the folder" in d.message for d in found)
    shown.append(await hover(untrusted, app, 0))
    assert not [m for m in shown if SECRET in m or "hidden" in m]
    # the channel exists: a data file inside the workspace is read, and its columns show
    assert any("INSIDE_COLUMN" in d.message for d in await settled(untrusted, control, 1))


# -- history is only read ------------------------------------------------------------------------------


def seed_best(store_file: Path, task_name: str, text: str) -> None:
    from core import Candidate, Message, Store

    store = Store(store_file)
    try:
        cid = Candidate((Message("user", text),)).id
        store.create_run("r-best", task_name=task_name, task={}, settings={}, target="t",
                         optimizer="o", judge="j", metric="custom")
        store.add_candidate("r-best", task_name, candidate_id=cid,
                            messages=[{"role": "user", "content": text}], parents=[],
                            strategy="seed", operator="seed", generation=0)
        store.set_candidate_score("r-best", cid, score=0.9, low=0.8, high=1.0, n=10,
                                  status="evaluated")
        store.save_version(task_name, messages=[{"role": "user", "content": text}], parents=[],
                           author="test", candidate_id=cid)
    finally:
        store.close()


async def test_history_is_read_without_taking_the_stores_write_lock(
    untrusted: Client, world: World
) -> None:
    """The editor opened the store for writing to read history: while a CLI run held the
    store's write lock, every document's diagnostics waited for it (30 s, then no history).
    Read-only, history reads past the lock."""
    import sqlite3

    store_file = world.ws.parent / "store.db"
    seed_best(store_file, "file-metric", "Greet {{ name }} warmly, by name.")
    writer = sqlite3.connect(store_file, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a run in another process, mid-write
    try:
        app = open_doc(untrusted, world.ws / "app.py", APP, "python")
        found = await asyncio.wait_for(settled(untrusted, app, 1), 10)
    finally:
        writer.rollback()
        writer.close()
    (edited,) = [d for d in found if d.code == "edited-since-best"]
    assert edited.range.start.line == LINES["FILE_PROMPT"] and "run r-best" in edited.message


# -- linking, without a server ---------------------------------------------------------------------


def test_without_workspace_folders_the_documents_folder_bounds_its_links(world: World) -> None:
    from lsp_server.linking import TaskCache, link_for
    from lsp_server.sites import PromptSite
    from lsp_server.spans import Span

    def site(ref: str | None, key: str = "prompt") -> PromptSite:
        return PromptSite(key=key, kind="file", span=Span(0, 1), text="Say hi.", offsets=(0, 1),
                          task_ref=ref)

    doc = world.ws / "hello.prompt"
    tasks = TaskCache()
    for ref in ("../outside/evil.tune.yaml", str(world.outside / "evil.tune.yaml"), "linked.tune.yaml",
                "bad\0name.tune.yaml"):
        link = link_for(doc, site(ref), tasks, ())
        assert link.code == "outside-workspace" and link.task is None, ref
    (world.ws / "hello.tune.yaml").symlink_to(world.outside / "evil.tune.yaml")  # a sidecar
    assert link_for(doc, site(None), tasks, ()).code == "outside-workspace"
    inside = link_for(doc, site("file_prompt.tune.yaml"), tasks, ())
    assert inside.task is not None and inside.error is None
    assert world.imported() == []


async def test_a_workspace_file_named_like_a_module_the_server_uses_is_not_imported(
    world: World, shadowing: Path
) -> None:
    client = await start(world.ws, options(None, world.ws.parent), path=[])
    try:
        uri = open_doc(client, world.ws / "notes.prompt", "Try to list a few bullet points.\n")
        assert {d.code for d in await diagnostics(client, uri)} == {"weak-wording", "vague-quantifier"}
        uri = open_doc(client, world.ws / "file_prompt.tune.yaml",
                       (world.ws / "file_prompt.tune.yaml").read_text(encoding="utf-8"))
        assert await diagnostics(client, uri) == []
    finally:
        await client.shutdown_session()
    assert world.imported() == []

