"""Publishing diagnostics: findings to LSP diagnostics, and the schedule that keeps typing cheap.

The schedule is leading-edge: the first change after a quiet spell is analysed at once (so a
single edit gets its diagnostics within milliseconds), and changes that arrive while the
document was analysed less than ``debounceMs`` ago are folded into one run at the end of that
window.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from lsprotocol import types as lsp

from .analysis import DocAnalysis, Issue
from .ranges import Ranges
from .server import PromptTunerServer

SOURCE = "prompt-tuner"
_SEVERITIES = {"error": lsp.DiagnosticSeverity.Error, "warning": lsp.DiagnosticSeverity.Warning,
               "information": lsp.DiagnosticSeverity.Information,
               "hint": lsp.DiagnosticSeverity.Hint}


def to_diagnostic(issue: Issue, ranges: Ranges, server: PromptTunerServer) -> lsp.Diagnostic | None:
    severity = server.options.severity_of(issue.code)
    if severity == "off":
        return None
    where = ranges.range(issue.span) if issue.span is not None else ranges.line(issue.line or 0)
    message = f"{issue.message}. Fix: {issue.fix}" if issue.fix else issue.message
    return lsp.Diagnostic(range=where, message=message, severity=_SEVERITIES[severity],
                          code=issue.code, source=SOURCE, data={"fix": issue.fix})


def diagnostics_of(analysis: DocAnalysis, server: PromptTunerServer) -> list[lsp.Diagnostic]:
    ranges = server.ranges(analysis)
    issues = list(analysis.issues)
    for report in analysis.sites:
        issues += report.issues
    out = [d for i in issues if (d := to_diagnostic(i, ranges, server)) is not None]
    if server.config_error:
        out.append(lsp.Diagnostic(range=ranges.line(0), message=server.config_error,
                                  severity=lsp.DiagnosticSeverity.Warning, code="settings",
                                  source=SOURCE))
    return out


def publish(server: PromptTunerServer, uri: str) -> None:
    analysis = server.analysis(uri)
    if analysis is None:
        return
    version = server.workspace.get_text_document(uri).version
    server.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
        uri=uri, diagnostics=diagnostics_of(analysis, server), version=version))


class Scheduler:
    """Per-document leading-edge debounce of ``publish``."""

    def __init__(self, server: PromptTunerServer) -> None:
        self.server = server
        self.last_run: dict[str, float] = {}
        self.pending: dict[str, asyncio.TimerHandle] = {}

    def changed(self, uri: str) -> None:
        if uri in self.pending:
            return  # a run is already due and will see the latest text
        wait = self.last_run.get(uri, 0.0) + self.server.options.debounce_ms / 1000 - time.monotonic()
        if wait <= 0:
            self._run(uri)
            return
        loop = asyncio.get_running_loop()
        self.pending[uri] = loop.call_later(wait, self._run, uri)

    def _run(self, uri: str) -> None:
        self.pending.pop(uri, None)
        self.last_run[uri] = time.monotonic()
        with contextlib.suppress(KeyError):  # closed meanwhile
            publish(self.server, uri)

    def closed(self, uri: str) -> None:
        handle = self.pending.pop(uri, None)
        if handle is not None:
            handle.cancel()
        self.last_run.pop(uri, None)
