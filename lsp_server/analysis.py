"""One document, analysed: its prompts, the task each is linked to, and every finding placed in
the document. No model is called and no workspace code is imported; task files are read once per
change on disk, the store a few times a minute at most, and unchanged prompts are not re-checked.

A failure while checking one prompt is reported on that prompt (and logged with its traceback)
while the rest of the document keeps its diagnostics."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from core import LoadedSettings, PromptTunerError, Settings, Task, resolve_models

from .checks import Finding, PromptFacts, run_checks
from .checks.template import template_variables
from .find_files import DocKind, find_file_prompt, find_task_prompt
from .find_python import find_python_prompts
from .history import History, candidate_id
from .linking import Link, TaskCache, link_for, messages_for, quick_name
from .options import ServerOptions
from .sites import Note, PromptSite
from .spans import LineIndex, Span
from .tokens import estimate_tokens
from .trust import endpoint_fix, endpoint_reason

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Issue:
    code: str
    message: str
    fix: str
    span: Span | None = None
    line: int | None = None  # a whole line instead of a span


@dataclass
class SiteReport:
    site: PromptSite
    link: Link
    task_name: str
    candidate_id: str
    issues: list[Issue] = field(default_factory=list)


@dataclass
class DocAnalysis:
    path: Path
    kind: DocKind
    text: str
    index: LineIndex
    sites: list[SiteReport]
    issues: list[Issue]

    def site_at(self, offset: int) -> SiteReport | None:
        return next((r for r in self.sites if r.site.span.contains(offset)), None)

    def site_by_key(self, key: str) -> SiteReport | None:
        return next((r for r in self.sites if r.site.key == key), None)


class Analyzer:
    def __init__(self, options: ServerOptions, loaded: LoadedSettings, root: Path | None,
                 history: Callable[[], History | None],
                 folders: Callable[[], Sequence[Path]] = tuple) -> None:
        self.options = options
        self.loaded = loaded
        self.root = root
        self.folders = folders  # the workspace folders, resolved
        self.tasks = TaskCache()
        self.history = history
        self._checked: dict[tuple[object, ...], list[Finding]] = {}

    def analyse(self, path: Path, kind: DocKind, text: str) -> DocAnalysis:
        index = LineIndex(text)
        try:
            if kind == "python":
                sites, notes = find_python_prompts(text, self.options.prompt_names, index)
            elif kind == "task":
                sites, notes = find_task_prompt(text)
            else:
                sites, notes = find_file_prompt(text)
        except Exception as exc:
            return DocAnalysis(path, kind, text, index, [], [_failure(exc, f"reading {path.name}")])
        issues = [self._note(n) for n in notes]
        reports = []
        for site in sites:
            try:
                link = link_for(path, site, self.tasks, self.folders())
                report = self._report(path, site, link)
            except Exception as exc:
                issues.append(_failure(exc, f"checking {site.key}", Span(site.span.start,
                                                                         site.span.start)))
                continue
            reports.append(report)
            if kind == "task" and link.error:
                issues.append(Issue(link.code, link.error, link.fix, line=link.line or 0))
        if kind == "task" and not sites:
            try:
                link = self.tasks.load(path, self.folders())
            except Exception as exc:
                issues.append(_failure(exc, f"loading {path.name}"))
                link = Link(path, None)
            if link.error:
                issues.append(Issue(link.code, link.error, link.fix, line=link.line or 0))
        return DocAnalysis(path, kind, text, index, reports, issues)

    @staticmethod
    def _note(note: Note) -> Issue:
        if note.line is not None:
            return Issue(note.code, note.message, "", line=note.line)
        return Issue(note.code, note.message, "", span=Span(note.offset, note.offset))

    def settings_for(self, task: Task | None) -> Settings:
        return resolve_models(self.loaded, task.models) if task is not None else self.loaded.settings

    def _report(self, path: Path, site: PromptSite, link: Link) -> SiteReport:
        text = site.text.strip()
        task = link.task
        name = task.name if task is not None else quick_name(path, site, self.root)
        report = SiteReport(site, link, name, candidate_id(messages_for(text, task)))
        lead = len(site.text) - len(site.text.lstrip())
        for f in self._findings(site, link):
            span = site.doc_span(f.start + lead, f.end + lead)
            report.issues.append(Issue(f.code, f.message, f.fix, span=span))
        first_line = site.doc_span(0, _first_line_end(text) + lead)
        if link.path is not None and link.error and site.kind != "task":
            message = f"linked task: {link.error}" if link.code == "task-error" else link.error
            report.issues.append(Issue(link.code, message, link.fix, span=first_line))
        refused = endpoint_reason(task) if task is not None else None
        if task is not None and refused is not None:
            report.issues.append(Issue("task-endpoint", refused, endpoint_fix(task), span=first_line))
        edited = self._edited(report)
        if edited is not None:
            report.issues.append(edited)
        return report

    def _findings(self, site: PromptSite, link: Link) -> list[Finding]:
        key = (site.text, site.kind, site.declared, link.path, id(link.task), link.error)
        hit = self._checked.get(key)
        if hit is None:
            if len(self._checked) > 512:
                self._checked.clear()
            hit = self._checked[key] = run_checks(self._facts(site, link))
        return hit

    def _facts(self, site: PromptSite, link: Link) -> PromptFacts:
        text = site.text.strip()
        task = link.task
        settings = self.settings_for(task)
        fields: frozenset[str] | None = None
        source = ""
        longest = 0
        if task is not None and task.examples:
            fields = frozenset.intersection(*(frozenset(e.inputs) for e in task.examples))
            source = f"the task {link.path.name if link.path else task.name}"
            longest = _longest_values(task, text)
        elif site.declared is not None:
            fields, source = site.declared, "the front matter's `variables`"
        elif task is not None:
            fields, source = frozenset(), f"the task {link.path.name if link.path else task.name}"
        types = tuple(s.type for s in task.metric_specs()) if task is not None else ()
        labels = task.label_set() if task is not None and "label" in types else ()
        context, context_from = self._context(settings)
        return PromptFacts(
            text=text, fields=fields, fields_from=source,
            report_unlinked_slots=site.kind == "file" and task is None and site.declared is None
            and link.path is None,
            metric_types=types, labels=labels, longest_values=longest,
            context_tokens=context, context_from=context_from,
            answer_tokens=settings.tune.answer_max_tokens or 0)

    def _context(self, settings: Settings) -> tuple[int | None, str]:
        target = settings.models.target
        if target == "embedded" or target.startswith("embedded:"):
            return settings.embedded.n_ctx, f"{target}, embedded.n_ctx"
        if self.options.context_tokens:
            return self.options.context_tokens, f"{target}, contextTokens"
        return None, ""

    def _edited(self, report: SiteReport) -> Issue | None:
        history = self.history()
        if history is None:
            return None
        best = history.best(report.task_name)
        if best is None or best.candidate_id == report.candidate_id:
            return None
        here = history.measurements(report.task_name).get(report.candidate_id)
        now = (f"this text is v{here.version}, measured {here.fmt()}" if here is not None
               else "this text has not been measured")
        text = report.site.text
        lead = len(text) - len(text.lstrip())
        return Issue("edited-since-best",
                     f"differs from v{best.version}, the best stored version of "
                     f"{report.task_name}: {best.fmt()} (run {best.run_id}); {now}",
                     "run 'Evaluate this prompt' to measure it, or 'Show history' to compare",
                     span=report.site.doc_span(lead, lead + _first_line_end(text.strip())))


def _failure(exc: Exception, doing: str, span: Span | None = None) -> Issue:
    """The one diagnostic that stands for a failure: a user error says itself; anything else is
    a bug, logged with its traceback."""
    if isinstance(exc, PromptTunerError):
        return Issue("analysis-failed", f"{doing}: {exc.message}", exc.hint, span=span,
                     line=None if span else 0)
    log.error("prompt-tuner could not finish %s", doing, exc_info=exc)
    return Issue("analysis-failed",
                 f"prompt-tuner could not finish {doing}: {type(exc).__name__}: {str(exc)[:200]}",
                 "the other checks still ran; see the server log, and please report it",
                 span=span, line=None if span else 0)


def _first_line_end(text: str) -> int:
    end = text.find("\n")
    return len(text) if end == -1 else end


def _longest_values(task: Task, text: str) -> int:
    try:
        slots = template_variables(text)
    except jinja2.TemplateError:  # reported by the template check
        return 0
    if not slots:
        return 0
    return max((estimate_tokens(" ".join(str(e.inputs.get(s, "")) for s in slots))
                for e in task.examples), default=0)
