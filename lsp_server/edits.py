"""A finished run as an offer: its title with the measured gain, and the WorkspaceEdit that puts
the winner in the prompt's exact place (quoted and indented like the original)."""

from __future__ import annotations

from lsprotocol import types as lsp

from core import TuneResult

from .linking import text_of
from .rewrite import replacement
from .server import Offer, PromptTunerServer


def fmt_p(p: float | None) -> str:
    if p is None:
        return "p=n/a"
    return "p<0.001" if p < 0.001 else f"p={p:.3f}" if p < 0.1 else f"p={p:.2f}"


def gain_title(version: int | None, before: float, after: float, p: float | None,
               significant: bool) -> str:
    v = f"v{version}" if version else "the best version"
    if significant:
        return f"Replace with {v}: {before:.0%} → {after:.0%} ({fmt_p(p)})"
    return f"Replace anyway with {v}: {before:.0%} → {after:.0%} ({fmt_p(p)}, not significant)"


def offer_for(server: PromptTunerServer, uri: str, key: str, original: str,
              result: TuneResult) -> Offer:
    orig, best = result.original.estimate, result.best.estimate
    history = server.history()
    version = history.version_of(result.task_name, result.best.id) if history else None
    significant = (result.improved and result.p_value is not None
                   and result.p_value < server.options.alpha and best.mean > orig.mean)
    new_text = text_of(result.best.candidate.messages, original)
    title = gain_title(version, orig.mean, best.mean, result.p_value, significant)
    if significant:
        message = (f"v{version or '?'} scores {best.fmt()} against your prompt's {orig.fmt()} "
                   f"on the same examples ({fmt_p(result.p_value)}, run {result.run_id}).")
    elif result.improved:
        message = (f"No significant gain: v{version or '?'} scores {best.fmt()} against your "
                   f"prompt's {orig.fmt()} ({fmt_p(result.p_value)}); your prompt is kept. "
                   "Add examples or raise the budget to tell them apart.")
    else:
        title = f"No better prompt found: yours scores {orig.fmt()}"
        message = f"{title} (run {result.run_id}). {result.explanation}"
    return Offer(uri, key, original, new_text, title, significant and result.improved,
                 result.run_id, message)


def workspace_edit(server: PromptTunerServer, offer: Offer) -> lsp.WorkspaceEdit | None:
    """The edit for the document as it is now; None if the prompt changed since the run."""
    analysis = server.analysis(offer.uri, fresh=True)
    report = analysis.site_by_key(offer.key) if analysis is not None else None
    if analysis is None or report is None or report.site.text.strip() != offer.original_text:
        return None
    if offer.new_text.strip() == offer.original_text:
        return None
    new_source = replacement(report.site, analysis.text, offer.new_text)
    edit = lsp.TextEdit(range=server.ranges(analysis).range(report.site.span), new_text=new_source)
    version = server.workspace.get_text_document(offer.uri).version
    caps = server.client_capabilities.workspace
    versioned = bool(caps and caps.workspace_edit and caps.workspace_edit.document_changes)
    if versioned:
        return lsp.WorkspaceEdit(document_changes=[lsp.TextDocumentEdit(
            text_document=lsp.OptionalVersionedTextDocumentIdentifier(uri=offer.uri, version=version),
            edits=[edit])])
    return lsp.WorkspaceEdit(changes={offer.uri: [edit]})
