"""The LSP methods the server answers, wired to the modules that do the work."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.uris import to_fs_path

from core import PromptTunerError

from . import actions, documents, runs
from .diagnostics import Scheduler, publish
from .hover import hover
from .server import PromptTunerServer

log = logging.getLogger(__name__)
CONFIG_SECTION = "promptTuner"


def _args(raw: tuple[Any, ...]) -> tuple[str, str | None]:
    """``[{"uri": ..., "key": ...}]`` (what code actions send) or ``[uri, key]``."""
    first = raw[0] if raw else None
    if isinstance(first, dict):
        return str(first["uri"]), first.get("key")
    if isinstance(first, str):
        return first, str(raw[1]) if len(raw) > 1 else None
    raise runs.CommandError("the command needs the document URI and the prompt's key",
                            'pass [{"uri": ..., "key": ...}]')


async def _guarded(server: PromptTunerServer, job: Any) -> Any:
    """Run a command; a prompt-tuner error becomes one message to the user and a failed request."""
    try:
        return await job
    except PromptTunerError as exc:
        server.window_show_message(lsp.ShowMessageParams(lsp.MessageType.Error, str(exc)))
        raise


def build_server() -> PromptTunerServer:
    server = PromptTunerServer()
    scheduler = Scheduler(server)

    @server.feature(lsp.INITIALIZE)
    def initialize(ls: PromptTunerServer, params: lsp.InitializeParams) -> None:
        folders = params.workspace_folders or []
        root = folders[0].uri if folders else params.root_uri
        path = to_fs_path(root) if root else None
        ls.root = Path(path) if path else None
        ls.configure(params.initialization_options)

    @server.feature(lsp.INITIALIZED)
    async def initialized(ls: PromptTunerServer, params: lsp.InitializedParams) -> None:
        await _pull_configuration(ls)

    @server.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: PromptTunerServer,
                                       params: lsp.DidChangeConfigurationParams) -> None:
        settings = params.settings
        if isinstance(settings, dict) and CONFIG_SECTION in settings:
            ls.configure(ls.init_options, settings[CONFIG_SECTION])
        else:
            await _pull_configuration(ls)
        for uri in list(ls.workspace.text_documents):
            publish(ls, uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: PromptTunerServer, params: lsp.DidOpenTextDocumentParams) -> None:
        publish(ls, params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: PromptTunerServer, params: lsp.DidChangeTextDocumentParams) -> None:
        scheduler.changed(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: PromptTunerServer, params: lsp.DidSaveTextDocumentParams) -> None:
        path = to_fs_path(params.text_document.uri)
        if path and path.endswith((".tune.yaml", ".tune.yml")):
            ls.analyzer.tasks.forget(Path(path))
            ls.analyses.clear()  # prompts linked to this task are checked again
            for uri in list(ls.workspace.text_documents):
                publish(ls, uri)
        else:
            publish(ls, params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: PromptTunerServer, params: lsp.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        scheduler.closed(uri)
        ls.analyses.pop(uri, None)
        ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @server.feature(lsp.TEXT_DOCUMENT_CODE_ACTION, lsp.CodeActionOptions(
        code_action_kinds=[actions.KIND], resolve_provider=False))
    def code_action(ls: PromptTunerServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        return actions.code_actions(ls, params)

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def on_hover(ls: PromptTunerServer, params: lsp.HoverParams) -> lsp.Hover | None:
        return hover(ls, params)

    @server.feature(documents.DOCUMENT_REQUEST)
    def virtual_document(ls: PromptTunerServer, params: Any) -> dict[str, str]:
        uri = params["uri"] if isinstance(params, dict) else getattr(params, "uri", "")
        return documents.virtual_document(ls, str(uri))

    @server.command(actions.OPTIMIZE)
    async def optimize(ls: PromptTunerServer, *raw: Any) -> Any:
        uri, key = _args(raw)
        result = await _guarded(ls, runs.optimize(ls, uri, key))
        publish(ls, uri)
        return result

    @server.command(actions.EVALUATE)
    async def evaluate(ls: PromptTunerServer, *raw: Any) -> Any:
        uri, key = _args(raw)
        return await _guarded(ls, runs.evaluate(ls, uri, key))

    @server.command(actions.HISTORY)
    async def history(ls: PromptTunerServer, *raw: Any) -> Any:
        uri, key = _args(raw)
        return await _guarded(ls, documents.show_history(ls, uri, key))

    @server.command(actions.CANCEL)
    def cancel(ls: PromptTunerServer, *raw: Any) -> bool:
        uri, key = _args(raw)
        task = ls.runs.get((uri, key or ""))
        if isinstance(task, asyncio.Future) and not task.done():
            task.cancel()
            return True
        return False

    return server


async def _pull_configuration(ls: PromptTunerServer) -> None:
    caps = ls.client_capabilities.workspace
    if not (caps and caps.configuration):
        return
    try:
        got = await ls.workspace_configuration_async(lsp.ConfigurationParams(
            items=[lsp.ConfigurationItem(section=CONFIG_SECTION)]))
    except Exception as exc:  # a client that advertises but fails the request
        log.warning("workspace/configuration failed: %s", exc)
        return
    value = got[0] if got else None
    if isinstance(value, dict) and value:
        ls.configure(ls.init_options, value)
        for uri in list(ls.workspace.text_documents):  # opened before the settings came
            publish(ls, uri)
