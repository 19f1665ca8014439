"""A metric written by the user: ``package.module:function`` or ``path/to/file.py:function``.

The function is called as ``fn(answer: str, example: dict)`` with ``example`` a copy of
``{"inputs": {...}, "expected": str | None, "meta": {...}}``; it may be sync or async and return
a bool, a number in [0, 1], a ``(value, reason)`` tuple or a :class:`Score`. Sync functions run
on the event loop: keep them quick. A function that raises or returns anything else scores 0
with outcome ``error`` — one bad answer must not end the run.

Outcome tags: ``ok`` (1.0), ``partial`` (between), ``wrong`` (0.0), ``error``; a returned Score
keeps its own.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import importlib.util
import inspect
import math
import numbers
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import TaskError
from ..task import Example
from .base import Score
from .custom_ref import parse_custom_ref


def _load_file(path: Path, ref: str, what: str = "custom metric") -> Any:
    if not path.is_file():
        raise TaskError(f"{what} {ref!r}: file not found: {path}",
                        "give the path relative to the task file's folder")
    name = "prompt_tuner_custom_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TaskError(f"{what} {ref!r}: cannot load {path} as Python", "use a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise TaskError(f"{what} {ref!r}: importing {path} failed: {type(exc).__name__}: {exc}",
                        "fix the error in that file") from None
    return module


def _load_module(mod: str, ref: str, what: str = "custom metric") -> Any:
    try:
        return importlib.import_module(mod)
    except ModuleNotFoundError as exc:
        raise TaskError(f"{what} {ref!r}: no module named {exc.name or mod!r}",
                        f"install it or put it on PYTHONPATH; for a file next to the task, "
                        f"write {mod.replace('.', '/')}.py:function") from None
    except Exception as exc:
        raise TaskError(f"{what} {ref!r}: importing {mod} failed: {type(exc).__name__}: {exc}",
                        "fix the error in that module") from None


def load_object(ref: str, base_dir: Path | None = None, what: str = "custom metric") -> Any:
    """What ``ref`` names, imported; a file path is relative to ``base_dir`` (the task's
    folder). This runs the module's code: see ``custom_ref`` for checking without it. ``what``
    names the kind of reference in error lines (a processor uses the same rules)."""
    parsed = parse_custom_ref(ref, base_dir)
    func = parsed.function
    if parsed.file is not None:
        target = str(parsed.file)
        module = _load_file(parsed.file, ref, what)
    else:
        target = parsed.module or ""
        module = _load_module(target, ref, what)
    fn = getattr(module, func, None)
    if fn is None:
        public = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        have = f"it has: {', '.join(public[:8])}" if public else "it defines no functions"
        raise TaskError(f"{what} {ref!r}: {target} has no function {func!r}", have)
    return fn


def load_custom(ref: str, base_dir: Path | None = None) -> Callable[..., Any]:
    """The function ``ref`` names, imported (see :func:`load_object`)."""
    fn = load_object(ref, base_dir)
    func = parse_custom_ref(ref, base_dir).function
    if not callable(fn):
        raise TaskError(f"custom metric {ref!r}: {func!r} is a {type(fn).__name__}, not a function",
                        "name a function taking (answer, example)")
    return fn  # type: ignore[no-any-return]


def _value(x: Any) -> float | None:
    if isinstance(x, bool):
        return 1.0 if x else 0.0
    if isinstance(x, numbers.Real):
        v = float(x)
        return v if math.isfinite(v) and 0.0 <= v <= 1.0 else None
    return None


def _outcome(value: float) -> str:
    return "ok" if value == 1.0 else "wrong" if value == 0.0 else "partial"


def _example_dict(example: Example) -> dict[str, Any]:
    data = {"inputs": dict(example.inputs), "expected": example.expected, "meta": dict(example.meta)}
    try:
        return copy.deepcopy(data)
    except Exception:
        return data


class CustomMetric:
    """Scores with a user function; see the module docstring for the contract."""

    name = "custom"

    def __init__(self, ref: str, base_dir: Path | None = None) -> None:
        self.ref = ref
        self.fn = load_custom(ref, base_dir)
        self.label = ref.rpartition(":")[2].strip()

    def _error(self, why: str) -> Score:
        return Score(0.0, f"custom metric {self.label}: {why}"[:300], "error")

    def _convert(self, result: Any) -> Score:
        if isinstance(result, Score):
            return result
        reason = ""
        if isinstance(result, tuple):
            if len(result) != 2:
                return self._error(f"returned a tuple of {len(result)}, expected (value, reason)")
            result, reason = result[0], str(result[1])
        value = _value(result)
        if value is None:
            return self._error(f"returned {result!r:.60}, expected a bool or a number in [0, 1]")
        return Score(value, reason, _outcome(value))

    async def score(self, answer: str, example: Example) -> Score:
        try:
            result = self.fn(answer, _example_dict(example))
            if inspect.isawaitable(result):
                result = await result
        except (Exception, SystemExit) as exc:
            return self._error(f"raised {type(exc).__name__}: {exc}")
        return self._convert(result)
