"""Finding tasks: task files in the bot's task folder (``task:<name>``), and the tasks of past
runs in the store (for history and A/B tests of tasks that came from the quick form)."""

from __future__ import annotations

from pathlib import Path

from core import PromptTunerError, Store, Task, load_task

from .commands import TASK_NAME, UsageError

SUFFIXES = (".tune.yaml", ".tune.yml", ".yaml", ".yml", ".json")


def available(task_dir: Path) -> list[str]:
    if not task_dir.is_dir():
        return []
    names = set()
    for path in task_dir.iterdir():
        for suffix in SUFFIXES:
            if path.is_file() and path.name.endswith(suffix):
                names.add(path.name[: -len(suffix)])
                break
    return sorted(names)


def task_file(task_dir: Path, name: str) -> Path | None:
    if not TASK_NAME.match(name) or ".." in name:
        return None
    for suffix in SUFFIXES:
        path = task_dir / f"{name}{suffix}"
        if path.is_file():
            return path
    return None


def load_named(task_dir: Path, name: str) -> Task:
    """The task file ``name`` from the task folder; UsageError naming the choices."""
    path = task_file(task_dir, name)
    if path is None:
        have = available(task_dir)
        choices = ", ".join(f"`{n}`" for n in have[:20]) if have else "none yet"
        raise UsageError(f"There is no task `{name}` in the bot's task folder. Known tasks: "
                         f"{choices}. Or tune a prompt directly: `/tune <prompt> --task \"...\"`.")
    try:  # its data files must lie in the task folder too (a `dataset.file: /etc/...` stays unread)
        return load_task(path, within=[task_dir])
    except PromptTunerError as exc:
        raise UsageError(f"The task file `{path.name}` has a problem: {exc}") from None


def from_store(store: Store, name: str) -> Task | None:
    """The task as its latest run saw it."""
    for row in store.runs(limit=50, task_name=name):
        if row.get("task_json"):
            return Task.model_validate_json(row["task_json"])
    return None


def find(task_dir: Path, store: Store, name: str) -> Task:
    """A task file by file name (or task name), else the task of its latest run."""
    if task_file(task_dir, name) is not None:
        return load_named(task_dir, name)
    task = from_store(store, name)
    if task is None:
        have = sorted(set(available(task_dir)))
        choices = ", ".join(f"`{n}`" for n in have[:20]) if have else "none in the task folder"
        raise UsageError(f"I know no task `{name}`: no task file and no run of it in the store. "
                         f"Task files: {choices}.")
    return task


def store_name(task_dir: Path, name: str) -> str:
    """The name runs of ``name`` are stored under (a file's ``name:`` may differ from its file)."""
    path = task_file(task_dir, name)
    if path is None:
        return name
    try:
        return load_task(path).name
    except PromptTunerError:
        return name
