"""A custom metric's reference (``pkg.module:function`` or ``path/to/file.py:function``), parsed and
checked without running any of the code it names.

The language server loads task files from a workspace nobody vouched for, so it must not import
them to report a mistake: a file reference is checked by reading the file and parsing it with
``ast`` (it must exist, be Python and bind the function at the top level); a module reference
only for its syntax (finding a dotted module imports its parent packages). Importing happens
when a run builds the metric (``custom.load_custom``).
"""

from __future__ import annotations

import ast
import keyword
from dataclasses import dataclass
from pathlib import Path

from ..errors import TaskError
from ..task import Task

HINT = "write `module.path:function` (importable) or `file.py:function` (relative to the task file)"
MAX_SOURCE_BYTES = 5_000_000
_BLOCKS = (ast.If, ast.Try, ast.With, ast.AsyncWith, ast.For, ast.AsyncFor, ast.While)


@dataclass(frozen=True)
class CustomRef:
    """What a reference names: a file (resolved, symlinks followed) or a dotted module, and the
    function in it."""

    text: str
    function: str
    file: Path | None = None
    module: str | None = None


def parse_custom_ref(ref: str, base_dir: Path | None = None) -> CustomRef:
    """Split ``ref``; a file path is relative to ``base_dir`` (the task's folder)."""
    target, sep, func = ref.rpartition(":")
    target, func = target.strip(), func.strip()
    if not sep or not target or not func:
        raise TaskError(f"custom metric {ref!r}: no function named", HINT)
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target).expanduser()
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        return CustomRef(ref, func, file=path.resolve())
    return CustomRef(ref, func, module=target)


def custom_metric_refs(task: Task) -> list[CustomRef]:
    """The references of every custom metric in ``task`` (code a run of it would import).

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from core import custom_metric_refs, load_task
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "score.py").write_text("def polite(answer, example):\\n    return 1.0\\n")
        >>> _ = (folder / "t.yaml").write_text(
        ...     "{name: t, prompt: Hi, metrics: [{type: custom, function: 'score.py:polite'}]}")
        >>> [(ref.function, ref.file.name, ref.module) for ref in
        ...  custom_metric_refs(load_task(folder / "t.yaml", import_code=False))]
        [('polite', 'score.py', None)]
    """
    out = []
    for spec in task.metric_specs():
        function = spec.params().get("function")
        if spec.type == "custom" and isinstance(function, str):
            out.append(parse_custom_ref(function, task.base_dir()))
    return out


def check_custom_ref(ref: CustomRef) -> None:
    """Raise a TaskError when the reference cannot work; imports and runs nothing."""
    if not ref.function.isidentifier() or keyword.iskeyword(ref.function):
        raise TaskError(f"custom metric {ref.text!r}: {ref.function!r} is not a function name", HINT)
    if ref.module is not None:
        parts = ref.module.split(".")
        if not all(p.isidentifier() and not keyword.iskeyword(p) for p in parts):
            raise TaskError(f"custom metric {ref.text!r}: {ref.module!r} is not a module name", HINT)
        return
    assert ref.file is not None
    names, star = _top_level_names(_parse(ref.file, ref.text).body)
    if ref.function not in names and not star:
        defined = sorted(n for n in names if not n.startswith("_"))
        have = f"it defines: {', '.join(defined[:8])}" if defined else "it defines no functions"
        raise TaskError(f"custom metric {ref.text!r}: {ref.file} has no function {ref.function!r}", have)


def _parse(path: Path, ref: str) -> ast.Module:
    if not path.is_file():
        raise TaskError(f"custom metric {ref!r}: file not found: {path}",
                        "give the path relative to the task file's folder")
    try:
        if path.stat().st_size > MAX_SOURCE_BYTES:
            raise TaskError(f"custom metric {ref!r}: {path} is larger than "
                            f"{MAX_SOURCE_BYTES // 1_000_000} MB", "name a Python source file")
        source = path.read_bytes()
    except OSError as exc:
        raise TaskError(f"custom metric {ref!r}: cannot read {path}: {exc.strerror or exc}",
                        "check the file") from None
    try:
        return ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        where = f" line {exc.lineno}" if exc.lineno else ""
        raise TaskError(f"custom metric {ref!r}: {path}{where}: {exc.msg}",
                        "fix the syntax in that file") from None
    except (ValueError, UnicodeDecodeError):
        raise TaskError(f"custom metric {ref!r}: {path} is not Python source",
                        "name a .py file") from None
    except (RecursionError, MemoryError):
        raise TaskError(f"custom metric {ref!r}: {path} is nested too deeply to check",
                        "simplify that file") from None


def _top_level_names(body: list[ast.stmt]) -> tuple[set[str], bool]:
    """Names a module binds at import (also under if/try/with/loops), and whether it has
    ``from x import *`` (which may bind any name)."""
    names: set[str] = set()
    star = False
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                star = star or alias.name == "*"
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, _BLOCKS):
            inner: list[ast.stmt] = [*node.body, *getattr(node, "orelse", []),
                                     *getattr(node, "finalbody", [])]
            for handler in getattr(node, "handlers", []):
                inner += handler.body
            more, more_star = _top_level_names(inner)
            names |= more
            star = star or more_star
    return names, star
