"""What files in the workspace may make the editor do (docs/editors.md, "Untrusted workspaces").

Workspace files are untrusted: opening, typing, hovering and listing code actions read task
files only inside the workspace folders and never import code. Custom metric and processor
code runs only on
an explicit "Optimize"/"Evaluate", for a task file inside the workspace, in a workspace the user
trusted with the ``trustWorkspace`` setting. A task file whose ``models:`` names an endpoint (a
URL or a model file) is not run from the editor at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core import PromptTunerError, Task, custom_metric_refs, processor_code_refs, task_endpoints

TRUST_HINT = ("to let Optimize/Evaluate run it, set promptTuner.trustWorkspace to true: in VS Code "
              "in your user settings, for a workspace VS Code trusts; in Neovim with "
              "setup({ trust_workspace = true })")
OUTSIDE_FIX = "move the task file into the workspace, or open its folder as a workspace folder"


class Refused(PromptTunerError):
    """The workspace asks for something the editor does not do for untrusted files."""


def resolved(path: Path) -> Path | None:
    """``path`` with symlinks and ``..`` resolved, or None when it is not a usable path."""
    try:
        return path.expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        return None


def inside(path: Path, folders: Sequence[Path]) -> bool:
    """Whether ``path`` (resolved) lies in one of ``folders`` (resolved already)."""
    real = resolved(path)
    return real is not None and any(real == f or real.is_relative_to(f) for f in folders)


def outside_reason(path: Path, folders: Sequence[Path], what: str) -> str | None:
    """Why the editor will not read ``path``, or None when it lies inside the workspace."""
    if resolved(path) is None:
        return f"{what} is not a usable path"
    if inside(path, folders):
        return None
    where = ", ".join(str(f) for f in folders) or "(none)"
    return f"{what} {path} is outside the workspace folder(s) {where}: it is not read"


def endpoint_reason(task: Task) -> str | None:
    """Why the editor will not run ``task`` because of its ``models:``, or None."""
    named = task_endpoints(task)
    if not named:
        return None
    first = named[0]
    return (f"{Path(task.source or task.name).name}: models.{first.role} names an endpoint "
            f"({first.place}); the editor does not run task files that choose where your key "
            "or model comes from")


def endpoint_fix(task: Task) -> str:
    role = task_endpoints(task)[0].role
    return (f"remove models.{role} from the task and set promptTuner.models.{role} in the editor, "
            "or run the task with the prompt-tuner CLI")


def check_runnable(task: Task, task_file: Path | None, folders: Sequence[Path],
                   trusted: bool) -> None:
    """Raise ``Refused`` unless an explicit run of ``task`` may go ahead. Nothing is imported."""
    why = endpoint_reason(task)
    if why is not None:
        raise Refused(why, endpoint_fix(task))
    code = [("custom metric", ref) for ref in custom_metric_refs(task)]
    code += [("processor", ref) for ref in processor_code_refs(task)]
    if not code:
        return
    name = task_file.name if task_file is not None else task.name
    kind, first = code[0]
    if not trusted:
        raise Refused(f"{name} runs {kind} code ({first.text}) and this workspace is not "
                      "trusted", TRUST_HINT)
    if task_file is None or not inside(task_file, folders):
        raise Refused(f"{name} runs {kind} code and is outside the workspace folder(s)",
                      OUTSIDE_FIX)
    for kind, ref in code:
        if ref.file is not None and not inside(ref.file, folders):
            raise Refused(f"{kind} {ref.text!r}: {ref.file} is outside the workspace "
                          "folder(s)", f"move the {kind.split()[-1]}'s file into the workspace")
