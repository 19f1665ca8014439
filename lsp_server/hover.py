"""Hover on a prompt: which task scores it, its score with CI (its measurement on the most
examples, as every front shows it), version, when and by which run it was measured (from the
store), and its size."""

from __future__ import annotations

from lsprotocol import types as lsp

from .server import PromptTunerServer
from .tokens import estimate_tokens


def hover(server: PromptTunerServer, params: lsp.HoverParams) -> lsp.Hover | None:
    uri = params.text_document.uri
    analysis = server.analysis(uri)
    if analysis is None:
        return None
    ranges = server.ranges(analysis)
    report = analysis.site_at(ranges.offset(params.position))
    if report is None:
        return None
    site, link = report.site, report.link
    if link.path is not None:
        linked = f"task `{report.task_name}` ({link.path.name})"
    else:
        linked = f"quick form `{report.task_name}` (no task file: scored by the judge)"
    lines = [f"**{site.key}** · {linked} · ≈{estimate_tokens(site.text.strip()):,} tokens"]
    history = server.history()
    measured = history.measurements(report.task_name) if history else {}
    here = measured.get(report.candidate_id)
    if here is not None:
        lines.append(f"v{here.version} `{here.candidate_id}`: **{here.fmt()}**, measured "
                     f"{here.when_text()} by run `{here.run_id}`")
    else:
        version = history.version_of(report.task_name, report.candidate_id) if history else None
        lines.append(f"v{version} `{report.candidate_id}`: not scored yet" if version
                     else f"`{report.candidate_id}`: not measured yet (a new version)")
    best = history.best(report.task_name) if history else None
    if best is not None and best.candidate_id != report.candidate_id:
        lines.append(f"best stored: v{best.version} {best.fmt()} (run `{best.run_id}`)")
    evaluated = server.evaluations.get((uri, site.key))
    if evaluated is not None and evaluated[0] == site.text.strip():
        lines.append(f"evaluated in this session on {evaluated[2]}: {evaluated[1].fmt()}")
    return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value="\n\n".join(lines)),
                     range=ranges.range(site.span))
