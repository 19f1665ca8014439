"""The commands that call a model: "Optimize this prompt" (a tune, with progress and cancel) and
"Evaluate this prompt". Both run on the server's event loop as asyncio tasks; the core writes
everything to the store as it happens, so a cancelled run is kept as ``interrupted``. These
explicit actions are the only place where a task's custom metric code is imported, and only
when ``trust.check_runnable`` allows it."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp

from core import PromptTunerError, TuneResult, evaluate_prompt, safety_summary, tune

from .analysis import SiteReport
from .edits import offer_for, offers_of, workspace_edit
from .linking import task_for, text_of
from .progress import RunProgress
from .server import Offer, PromptTunerServer
from .trust import check_runnable


class CommandError(PromptTunerError):
    """A command cannot run as asked; the message goes to the user."""


def locate(server: PromptTunerServer, uri: str, key: str | None,
           line: int | None = None) -> SiteReport:
    analysis = server.analysis(uri, fresh=True)
    if analysis is None:
        raise CommandError(f"{uri} is not a document prompt-tuner reads",
                           "open a .prompt, .prompt.md, .j2, .tune.yaml or .py file")
    for report in analysis.sites:
        if report.site.key == key or (key is None and line is not None and report.site.line == line):
            return report
    if key is None and len(analysis.sites) == 1:
        return analysis.sites[0]
    raise CommandError(f"no prompt {key or ''} in {Path(analysis.path).name}",
                       "put the cursor on the prompt and ask again")


def may_run(server: PromptTunerServer, report: SiteReport) -> None:
    """Raise unless the prompt's task may run from the editor (see ``trust``)."""
    task = report.link.task
    if task is not None:
        check_runnable(task, report.link.path, server.workspace_folders(),
                       server.options.trust_workspace)


async def optimize(server: PromptTunerServer, uri: str, key: str | None) -> dict[str, Any]:
    report = locate(server, uri, key)
    site = report.site
    doc_path = server.analyses[uri].path
    task = task_for(doc_path, site, report.link, server.root)
    may_run(server, report)
    settings = server.analyzer.settings_for(report.link.task)
    run_key = (uri, site.key)
    if run_key in server.runs:
        raise CommandError(f"{site.key} is already being optimized", "wait, or cancel that run")
    token = f"prompt-tuner/{uuid.uuid4().hex[:12]}"
    window = server.client_capabilities.window
    shows_progress = bool(window and window.work_done_progress)
    if shows_progress:
        await server.work_done_progress.create_async(token)
    bar = RunProgress(server.work_done_progress if shows_progress else None, token)
    bar.begin(f"Optimizing {site.key}", f"task {task.name} on {settings.models.target}")
    run = asyncio.ensure_future(tune(task, settings, secrets=server.loaded.secrets,
                                     on_event=bar.on_event, store=server.store))
    server.runs[run_key] = run
    loop = asyncio.get_running_loop()
    cancelled_by_user = server.work_done_progress.tokens.get(token)
    if cancelled_by_user is not None:  # the editor's Cancel button on the progress
        cancelled_by_user.add_done_callback(
            lambda f: loop.call_soon_threadsafe(run.cancel) if f.cancelled() else None)
    try:
        result = await _wait(run)
    except asyncio.CancelledError:
        bar.end("cancelled: what was measured is kept in the store")
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # the request itself was cancelled
        return {"status": "interrupted", "runId": None, "message": "cancelled"}
    except PromptTunerError as exc:
        bar.end(f"failed: {exc}")
        raise
    finally:
        server.runs.pop(run_key, None)
        server.work_done_progress.tokens.pop(token, None)
        history = server.history()
        if history is not None:
            history.clear()
        server.analyses.clear()  # "edited since the best version" may have changed
    offer = offer_for(server, uri, site.key, site.text.strip(), result)
    bar.end(offer.message)
    server.offers[run_key] = offer
    return await _deliver(server, offer, result)


async def _wait(run: asyncio.Future[TuneResult]) -> TuneResult:
    """Await the run; if this await is cancelled, cancel the run and let it record that."""
    try:
        return await asyncio.shield(run)
    except asyncio.CancelledError:
        run.cancel()
        with contextlib.suppress(BaseException):
            await run
        raise


async def _deliver(server: PromptTunerServer, offer: Offer, result: TuneResult) -> dict[str, Any]:
    """Send the offer the way the user asked (apply / ask / code action) and describe it."""
    edit = workspace_edit(server, offer) if offer.significant or server.options.offer_insignificant \
        else None
    out: dict[str, Any] = {
        "status": result.status, "runId": result.run_id, "improved": result.improved,
        "significant": offer.significant, "pValue": result.p_value, "title": offer.title,
        "message": offer.message, "baseline": result.original.estimate.mean,
        "best": result.best.estimate.mean, "n": result.best.estimate.n,
        "newText": offer.new_text if edit is not None else None,
        "edit": None if edit is None else server.protocol._converter.unstructure(edit),
        "safety": safety_summary(result.safety),
        "choices": [{"title": one.title, "newText": one.new_text}
                    for one in offers_of(offer)] if edit is not None else [],
    }
    if out["safety"]:
        server.window_show_message(lsp.ShowMessageParams(lsp.MessageType.Info, out["safety"]))
    if edit is None:
        server.window_show_message(lsp.ShowMessageParams(lsp.MessageType.Info, offer.message))
    elif server.options.on_result == "apply":
        applied = await server.workspace_apply_edit_async(
            lsp.ApplyWorkspaceEditParams(edit=edit, label=offer.title))
        out["applied"] = bool(applied.applied)
    elif server.options.on_result == "ask":
        asking = asyncio.ensure_future(_ask(server, offer, edit))
        server.background.add(asking)
        asking.add_done_callback(server.background.discard)
    return out


async def _ask(server: PromptTunerServer, offer: Offer, edit: lsp.WorkspaceEdit) -> None:
    """Ask which of the run's choices to apply (the winner first), or to keep the prompt."""
    keep = "Keep mine"
    offers = offers_of(offer)
    choice = await server.window_show_message_request_async(lsp.ShowMessageRequestParams(
        type=lsp.MessageType.Info, message=offer.message,
        actions=[*(lsp.MessageActionItem(one.title) for one in offers),
                 lsp.MessageActionItem(keep)]))
    picked = next((one for one in offers if choice is not None and choice.title == one.title), None)
    if picked is not None:
        current = workspace_edit(server, picked)  # the document may have moved meanwhile
        if current is not None:
            await server.workspace_apply_edit_async(
                lsp.ApplyWorkspaceEditParams(edit=current, label=picked.title))


async def evaluate(server: PromptTunerServer, uri: str, key: str | None) -> dict[str, Any]:
    report = locate(server, uri, key)
    if report.link.task is None and report.link.error:
        raise CommandError(report.link.error, report.link.fix)
    if report.link.task is None or not report.link.task.examples:
        raise CommandError("evaluating needs a task with examples",
                           f"link one: a sidecar task file or a marker comment ({report.task_name})")
    task = task_for(server.analyses[uri].path, report.site, report.link, server.root)
    may_run(server, report)
    settings = server.analyzer.settings_for(report.link.task)
    got = await evaluate_prompt(task, settings, secrets=server.loaded.secrets, prompt=task.messages)
    est = got.aggregate
    message = (f"{report.site.key} on {got.target}: {est.fmt()} "
               f"({', '.join(f'{k} {v}' for k, v in sorted(got.outcomes.items()))})")
    screened = safety_summary(got.safety)
    if screened:
        message += f" · {screened}"
    server.evaluations[(uri, report.site.key)] = (report.site.text.strip(), est, got.target)
    server.window_show_message(lsp.ShowMessageParams(lsp.MessageType.Info, message))
    return {**est.to_json(), "message": message,
            "outcomes": got.outcomes, "text": text_of(task.messages, report.site.text)}


__all__ = ["CommandError", "evaluate", "locate", "may_run", "optimize"]
