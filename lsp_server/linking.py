"""Which task scores a prompt, and the core ``Task`` a run uses for the editor's text.

A prompt is linked to a task file by, in order: a marker comment (``# prompt-tuner:
task=PATH``) or front matter (``task: PATH``), relative to the document; a sidecar beside the
document (``support.prompt.md`` -> ``support.tune.yaml``; a Python prompt ``SYSTEM_PROMPT`` ->
``system_prompt.tune.yaml``); a task file is its own task. Without one, the quick form applies:
the prompt alone, judged by the judge model (it cannot have ``{{ slots }}``).

A linked task file that resolves outside the workspace folders (through ``..``, an absolute path
or a symlink) is refused unread, and so is a task's data file (``dataset.file``, ``examples_file``,
``splits.files``) that does; task files are loaded without importing custom metric code (see
``trust``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core import (
    Candidate,
    Message,
    PromptTunerError,
    Task,
    load_task,
    messages_text,
    parse_prompt_text,
    quick_task,
)

from .find_files import stem_of
from .sites import PromptSite
from .trust import OUTSIDE_FIX, outside_reason, resolved

_ROLE_LINE = re.compile(r"^\s*\[(system|user|assistant)\]\s*$", re.I | re.M)


@dataclass(frozen=True)
class Link:
    path: Path | None            # the task file (None: quick form)
    task: Task | None            # loaded, or None when it failed to load (``error``)
    error: str | None = None
    line: int | None = None      # the line of the error in the task file, when known
    code: str = "task-error"     # the diagnostic an error becomes
    fix: str = "fix the task file"


class TaskCache:
    """Task files loaded once per modification time (and set of folders their data may be in)."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[float, tuple[Path, ...], Link]] = {}

    def load(self, path: Path, folders: Sequence[Path]) -> Link:
        """``path`` loaded; its data files are read only when they resolve into ``folders``."""
        try:
            mtime = path.stat().st_mtime
        except (OSError, ValueError):
            return Link(path, None, f"task file not found: {path}")
        within = tuple(folders) or _own_folder(path)
        hit = self._cache.get(path)
        if hit is not None and hit[:2] == (mtime, within):
            return hit[2]
        try:
            link = Link(path, load_task(path, import_code=False, within=within))
        except PromptTunerError as exc:
            m = re.search(r"line (\d+)", exc.message)
            link = Link(path, None, str(exc), int(m.group(1)) - 1 if m else None)
        self._cache[path] = (mtime, within, link)
        return link

    def forget(self, path: Path) -> None:
        self._cache.pop(path, None)


def _own_folder(path: Path) -> tuple[Path, ...]:
    """Without workspace folders, a document's own folder stands for the workspace."""
    own = resolved(path.parent)
    return (own,) if own is not None else ()


def sidecar(doc: Path, site: PromptSite) -> Path:
    if site.kind == "python":
        return doc.parent / f"{site.key.lower()}.tune.yaml"
    return doc.parent / f"{stem_of(doc.name)}.tune.yaml"


def link_for(doc: Path, site: PromptSite, tasks: TaskCache, folders: Sequence[Path]) -> Link:
    """The task ``site`` is linked to; ``folders``: the workspace folders, resolved (none: the
    document's own folder stands for the workspace)."""
    allowed = tuple(folders) or _own_folder(doc)
    if site.kind == "task":
        return tasks.load(doc, allowed)
    if site.task_ref:
        ref = Path(site.task_ref)
        path = ref if ref.is_absolute() or site.task_ref.startswith("~") else doc.parent / ref
        return _linked(path, allowed, tasks, "the linked task file")
    side = sidecar(doc, site)
    if side.is_file():
        return _linked(side, allowed, tasks, "the sidecar task file")
    return Link(None, None)


def _linked(path: Path, folders: Sequence[Path], tasks: TaskCache, what: str) -> Link:
    why = outside_reason(path, folders, what)
    if why is not None:
        return Link(path, None, why, code="outside-workspace", fix=OUTSIDE_FIX)
    return tasks.load(path.expanduser(), folders)


def has_roles(text: str) -> bool:
    return bool(_ROLE_LINE.search(text))


def messages_for(text: str, task: Task | None) -> tuple[Message, ...]:
    """The messages a prompt's text stands for: its own ``[role]`` turns, or the task's messages
    with the main one (system, else first user) replaced."""
    if has_roles(text):
        return tuple(parse_prompt_text(text))
    if task is None:
        return (Message("user", text),)
    return Candidate(task.messages).with_main(text).messages


def text_of(messages: tuple[Message, ...], like: str) -> str:
    """The inverse of ``messages_for`` for a winning candidate, in the form the editor holds: with
    ``[role]`` lines (even for one message) when ``like`` has them, else the main message alone."""
    if has_roles(like):
        return messages_text(messages, roles=True)
    cand = Candidate(messages)
    return cand.messages[cand.main_index()].content


def quick_name(doc: Path, site: PromptSite, root: Path | None) -> str:
    """A stable task name for an unlinked prompt (its history survives edits to its text)."""
    try:
        rel = doc.relative_to(root) if root is not None else Path(doc.name)
    except ValueError:
        rel = Path(doc.name)
    return f"{rel.as_posix()}:{site.key}" if site.kind == "python" else rel.as_posix()


def task_for(doc: Path, site: PromptSite, link: Link, root: Path | None) -> Task:
    """The task a run of this prompt uses (raises PromptTunerError with a fix)."""
    text = site.text.strip()
    if link.path is not None:
        if link.task is None:
            raise PromptTunerError(link.error or f"cannot load {link.path}", "fix the task file")
        return link.task.model_copy(update={"messages": messages_for(text, link.task)})
    task = quick_task(text)
    return task.model_copy(update={"name": quick_name(doc, site, root),
                                   "messages": messages_for(text, None)})
