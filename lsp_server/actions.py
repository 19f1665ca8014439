"""Code actions on a prompt: optimize, evaluate, history, and the offer a finished run left."""

from __future__ import annotations

from typing import Any

from lsprotocol import types as lsp

from core import PromptTunerError

from .analysis import SiteReport
from .edits import offers_of, workspace_edit
from .linking import task_for
from .runs import may_run
from .server import Offer, PromptTunerServer

OPTIMIZE = "promptTuner.optimize"
EVALUATE = "promptTuner.evaluate"
HISTORY = "promptTuner.history"
CANCEL = "promptTuner.cancel"
COMMANDS = (OPTIMIZE, EVALUATE, HISTORY, CANCEL)
KIND = lsp.CodeActionKind.RefactorRewrite


def _action(title: str, command: str, args: dict[str, Any],
            disabled: str | None = None) -> lsp.CodeAction:
    return lsp.CodeAction(title=title, kind=KIND,
                          command=lsp.Command(title=title, command=command, arguments=[args]),
                          disabled=lsp.CodeActionDisabled(reason=disabled) if disabled else None)


def _why_not_tunable(server: PromptTunerServer, uri: str, report: SiteReport) -> str | None:
    if any(i.code in ("template-syntax", "undefined-variable", "task-error", "outside-workspace") and
           server.options.severity_of(i.code) == "error" for i in report.issues):
        return "fix the errors in this prompt first"
    try:
        task_for(server.analyses[uri].path, report.site, report.link, server.root)
        may_run(server, report)
    except PromptTunerError as exc:
        return str(exc)
    return None


def _why_not_evaluable(server: PromptTunerServer, report: SiteReport) -> str | None:
    if report.link.task is None and report.link.error:
        return report.link.error
    if report.link.task is None or not report.link.task.examples:
        return "evaluating needs a linked task with examples"
    try:
        may_run(server, report)
    except PromptTunerError as exc:
        return str(exc)
    return None


def _replacements(server: PromptTunerServer, offer: Offer) -> list[lsp.CodeAction]:
    """The winner, then the run's other choices: edits when the gain is significant (or
    ``offerInsignificant``), else shown disabled with the reason; none once the prompt changed."""
    out = []
    for one in offers_of(offer):
        edit = workspace_edit(server, one)
        if edit is not None and (one.significant or server.options.offer_insignificant):
            out.append(lsp.CodeAction(title=one.title, kind=KIND, edit=edit,
                                      is_preferred=one.significant and one is offer))
        elif edit is not None:
            out.append(lsp.CodeAction(title=one.title, kind=KIND,
                                      disabled=lsp.CodeActionDisabled(reason=one.message)))
    return out


def code_actions(server: PromptTunerServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
    uri = params.text_document.uri
    analysis = server.analysis(uri)
    if analysis is None:
        return []
    ranges = server.ranges(analysis)
    start = ranges.offset(params.range.start)
    end = ranges.offset(params.range.end)
    report = analysis.site_at(start) or analysis.site_at(end)
    if report is None:
        return []
    key = report.site.key
    args = {"uri": uri, "key": key}
    out: list[lsp.CodeAction] = []
    offer = server.offers.get((uri, key))
    if offer is not None:
        out += _replacements(server, offer)
    if (uri, key) in server.runs:
        out.append(_action(f"Cancel optimizing {key}", CANCEL, args))
    else:
        out.append(_action("Optimize this prompt", OPTIMIZE, args,
                           _why_not_tunable(server, uri, report)))
    out.append(_action("Evaluate this prompt", EVALUATE, args, _why_not_evaluable(server, report)))
    out.append(_action("Show prompt history", HISTORY, args))
    if params.context.only:
        out = [a for a in out if any(str(a.kind).startswith(str(k)) for k in params.context.only)]
    return out
