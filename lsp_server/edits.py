"""A finished run as an offer: its title with the measured gain, and the WorkspaceEdit that puts
the winner in the prompt's exact place (quoted and indented like the original).

The offer carries the run's other choices (``core.run_choices``: the shortest prompt and the
cheapest one that score like the winner), each an edit of its own titled with what it measured;
they are offered on the same terms as the winner (significant, or ``offerInsignificant``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from lsprotocol import types as lsp

from core import Choice, PromptTunerError, TuneResult, load_run, run_choices

from .linking import text_of
from .rewrite import replacement
from .server import Offer, PromptTunerServer


def fmt_p(p: float | None) -> str:
    if p is None:
        return "p=n/a"
    return "p<0.001" if p < 0.001 else f"p={p:.3f}" if p < 0.1 else f"p={p:.2f}"


log = logging.getLogger(__name__)


@dataclass
class RunOffer(Offer):
    """The winner's offer and the run's other choices, each an offer of its own."""

    more: tuple[Offer, ...] = ()


def gain_title(version: int | None, before: float, after: float, p: float | None,
               significant: bool, roles: str = "") -> str:
    v = (f"v{version}" if version else "the best version") + (f" ({roles})" if roles else "")
    if significant:
        return f"Replace with {v}: {before:.0%} → {after:.0%} ({fmt_p(p)})"
    return f"Replace anyway with {v}: {before:.0%} → {after:.0%} ({fmt_p(p)}, not significant)"


def measured(choice: Choice) -> str:
    """What a choice measured, for its title: "75% [41, 93] dev, 12 prompt tokens"."""
    dev = choice.dev
    cost = "" if choice.cost is None else f", ${choice.cost * 1000:.4f} per 1,000 answers"
    return (f"{dev.mean:.0%} [{dev.low * 100:.0f}, {dev.high * 100:.0f}] dev, "
            f"{choice.tokens:.0f} prompt tokens{cost}")


def offers_of(offer: Offer) -> tuple[Offer, ...]:
    """The winner's offer, then the run's other choices."""
    return (offer, *offer.more) if isinstance(offer, RunOffer) else (offer,)


def choice_title(choice: Choice, significant: bool) -> str:
    verb = "Replace with" if significant else "Replace anyway with"
    return f"{verb} {choice.label} ({', '.join(choice.roles)}): {measured(choice)}"


def choices_of(server: PromptTunerServer, result: TuneResult) -> list[Choice]:
    """The run's choices, from the store it wrote (empty when they cannot be read)."""
    try:
        return run_choices(load_run(server.store, result.run_id), server.store)
    except PromptTunerError as exc:
        log.warning("no choices for run %s: %s", result.run_id, exc)
        return []


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
    offer = RunOffer(uri, key, original, new_text, title, significant and result.improved,
                     result.run_id, message)
    if not result.improved or result.best.id == result.original.id:
        return offer
    return with_choices(offer, choices_of(server, result), version, result)


def with_choices(offer: RunOffer, choices: list[Choice], version: int | None,
                 result: TuneResult) -> RunOffer:
    """The winner's offer with the run's other choices; with none, the winner's offer as is.
    A choice whose text in the file would be the original's or an earlier choice's (they differ
    only in what the file cannot hold, such as demonstrations) is left out."""
    if not choices or choices[0].id != result.best.id:
        return offer
    seen = {offer.original_text.strip(), offer.new_text.strip()}
    more = []
    for choice in choices[1:]:
        text = text_of(choice.messages, offer.original_text)
        if text.strip() in seen:
            continue
        seen.add(text.strip())
        more.append(Offer(offer.uri, offer.key, offer.original_text, text,
                          choice_title(choice, offer.significant), offer.significant,
                          offer.run_id, offer.message))
    if not more:
        return offer
    best = choices[0]
    orig = result.original.estimate
    title = gain_title(version or best.version, orig.mean, result.best.estimate.mean,
                       result.p_value, offer.significant, ", ".join(best.roles))
    return replace(offer, title=f"{title}, {measured(best)}", more=tuple(more))


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
