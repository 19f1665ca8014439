"""Virtual documents (``prompt-tuner:`` URIs) such as a prompt's version history with diffs.

Clients that registered the scheme (the bundled VS Code extension and Neovim config say so with
``virtualDocuments: true``) fetch the content with the ``promptTuner/document`` request; other
clients get the same Markdown written to a file under the run folder.
"""

from __future__ import annotations

import re
from typing import Any

from lsprotocol import types as lsp

from .history import history_document
from .runs import locate
from .server import PromptTunerServer

SCHEME = "prompt-tuner"
DOCUMENT_REQUEST = "promptTuner/document"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "prompt"


async def show_history(server: PromptTunerServer, uri: str, key: str | None) -> dict[str, Any]:
    report = locate(server, uri, key)
    history = server.history()
    content = history_document(report.task_name, history) if history else "No store.\n"
    name = f"{_slug(report.task_name)}.history.md"
    if server.options.virtual_documents:
        target = f"{SCHEME}:/history/{name}"
        server.virtual[target] = content
    else:
        folder = server.loaded.settings.runs_dir() / "history"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        path.write_text(content, encoding="utf-8")
        target = path.as_uri()
    caps = server.client_capabilities.window
    if caps is not None and caps.show_document is not None and caps.show_document.support:
        await server.window_show_document_async(lsp.ShowDocumentParams(uri=target, take_focus=True))
    return {"uri": target, "content": content}


def virtual_document(server: PromptTunerServer, uri: str) -> dict[str, str]:
    return {"uri": uri, "content": server.virtual.get(uri, "This document has expired.\n")}
