"""Processors by name, and turning a task's or the settings' ``processors:`` list into them.

A name is looked up among the processors the plugins registered (``core.plugins``: the built-ins
of ``core.processors.builtin`` come through ``core.builtins``, an installed package through its
``register_processors`` hook; code in this process may add more with
:func:`register_processor`). A code reference ``pkg.mod:fn`` (or ``file.py:fn``, relative to the
task file) follows the rules of custom metrics (``core.metrics.custom``): it is imported only
where the caller vouches for the code (``import_code=True``: the CLI, a run); a front that reads
files nobody vouched for (the editor) passes False and gets a one-line refusal, and
:func:`check_specs` checks such a list without importing anything. What the reference names is a
:class:`Processor`, an object with ``before_request`` and/or ``after_response`` methods, or a
function ``fn(text, context) -> str`` that runs after the response.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import plugins
from ..errors import TaskError
from .base import Processor, ProcessorFactory
from .spec import ProcessorSpec, spec_name, spec_params

if TYPE_CHECKING:
    from ..metrics.custom_ref import CustomRef
    from ..task import Task

HOOKS = ("before_request", "after_response")


def register_processor(name: str, processor: Processor | ProcessorFactory) -> None:
    """Make ``name`` usable in ``processors:``: a processor, or a factory that takes the entry's
    settings as keywords and returns one. A later registration of the same name from this
    process replaces it; a plugin's is never replaced.

    Examples:
        >>> from core import Processor, ProcessorContext, processor_names, register_processor
        >>> def shout(text: str, context: ProcessorContext) -> str:
        ...     return text.upper()
        >>> register_processor("shout", Processor("shout", after_response=shout))
        >>> "shout" in processor_names()
        True

        A factory takes the settings of a ``{name: ..., ...}`` entry in ``processors:``:

        >>> register_processor("cut", lambda chars=20: Processor(
        ...     "cut", after_response=lambda text, context: text[:chars]))
        >>> register_processor("a:b", Processor("a:b"))
        Traceback (most recent call last):
        ValueError: processor name 'a:b': a printable name without ':' is needed
    """
    if not name or ":" in name or not name.isprintable() or name != name.strip():
        raise ValueError(f"processor name {name!r}: a printable name without ':' is needed")
    plugins.add("processor", name, processor)


def processor_names() -> list[str]:
    """The names ``processors:`` may use, sorted (code references ``pkg.mod:fn`` aside).

    Examples:
        >>> from core import processor_names
        >>> {"strip-think", "first-line", "trim"} <= set(processor_names())
        True
    """
    return sorted(plugins.registered("processor"))


def is_code_ref(name: str) -> bool:
    return ":" in name


def _as_processor_error(exc: TaskError) -> TaskError:
    return TaskError(exc.message.replace("custom metric", "processor", 1), exc.hint)


def _unknown(name: str) -> TaskError:
    return TaskError(f"unknown processor {name!r}",
                     f"use one of: {', '.join(processor_names())}, or a code reference pkg.mod:fn")


def _adapt(ref: str, obj: Any) -> Processor:
    """A Processor from what a code reference names."""
    if isinstance(obj, Processor):
        return obj
    hooks = {h: getattr(obj, h, None) for h in HOOKS}
    if any(callable(f) for f in hooks.values()):
        return Processor(str(getattr(obj, "name", ref)),
                         before_request=hooks["before_request"] if callable(
                             hooks["before_request"]) else None,
                         after_response=hooks["after_response"] if callable(
                             hooks["after_response"]) else None)
    if callable(obj):
        return Processor(ref, after_response=obj)
    raise TaskError(f"processor {ref!r} names a {type(obj).__name__}, not a processor",
                    "name a Processor, an object with before_request/after_response, or a "
                    "function (text, context) -> str")


def _load(ref: str, base_dir: Path | None) -> Processor:
    from ..metrics.custom import load_object  # imports the scoring stack: only when needed

    try:
        return _adapt(ref, load_object(ref, base_dir, what="processor"))
    except TaskError as exc:
        raise _as_processor_error(exc) from None


def _build(name: str, params: dict[str, Any]) -> Processor:
    entry = plugins.registered("processor").get(name)
    if entry is None:
        raise _unknown(name)
    if isinstance(entry, Processor):
        if params:
            raise TaskError(f"processor {name!r} takes no settings ({', '.join(params)} given)",
                            f"write it as just {name}")
        return entry
    try:
        made = entry(**params)
    except TaskError:
        raise
    except (TypeError, ValueError) as exc:
        raise TaskError(f"processor {name!r}: {exc}", "check its settings") from None
    if not isinstance(made, Processor):
        raise TaskError(f"processor {name!r}: its factory returned a {type(made).__name__}",
                        "report it to whoever registered the processor")
    return made


def resolve(specs: Sequence[ProcessorSpec], *, import_code: bool,
            base_dir: Path | None = None) -> list[Processor]:
    """The processors ``specs`` name, in order. A code reference is imported only with
    ``import_code``; without, it is refused in one line (nothing is imported)."""
    out = []
    for spec in specs:
        name, params = spec_name(spec), spec_params(spec)
        if not is_code_ref(name):
            out.append(_build(name, params))
            continue
        if not import_code:
            raise TaskError(f"processor {name!r} runs code from a module, which is not imported "
                            "here", f"use a named processor ({', '.join(processor_names())}), "
                            "or run the task with the prompt-tuner CLI")
        if params:
            raise TaskError(f"processor {name!r}: a code reference takes no settings",
                            "give the settings inside your code")
        out.append(_load(name, base_dir))
    return out


def code_refs(specs: Sequence[ProcessorSpec], base_dir: Path | None = None) -> list[CustomRef]:
    """The code references among ``specs`` (what a run of them would import), parsed only."""
    from ..metrics.custom_ref import parse_custom_ref  # the metrics import the task module

    out = []
    for spec in specs:
        name = spec_name(spec)
        if is_code_ref(name):
            try:
                out.append(parse_custom_ref(name, base_dir))
            except TaskError as exc:
                raise _as_processor_error(exc) from None
    return out


def check_specs(specs: Sequence[ProcessorSpec], base_dir: Path | None = None, *,
                import_code: bool) -> None:
    """Load-time check: with ``import_code`` everything is built (code imported); without, the
    names and settings of named processors are checked and code references only read (their
    syntax, a file's functions by parsing it), as for custom metrics."""
    if import_code:
        resolve(specs, import_code=True, base_dir=base_dir)
        return
    from ..metrics.custom_ref import check_custom_ref

    named = [s for s in specs if not is_code_ref(spec_name(s))]
    resolve(named, import_code=False)
    for ref in code_refs(specs, base_dir):
        try:
            check_custom_ref(ref)
        except TaskError as exc:
            raise _as_processor_error(exc) from None


def processor_code_refs(task: Task) -> list[CustomRef]:
    """The code a run of ``task``'s own processors would import (the editor's trust check).

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from core import load_task, processor_code_refs
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "hooks.py").write_text("def clean(text, context):\\n    return text\\n")
        >>> _ = (folder / "t.yaml").write_text("{name: t, prompt: Hi, processors: [trim, 'hooks.py:clean']}")
        >>> task = load_task(folder / "t.yaml", import_code=False)  # read, not imported
        >>> [(ref.function, ref.file.name) for ref in processor_code_refs(task)]
        [('clean', 'hooks.py')]
    """
    return code_refs(task.processors, task.base_dir())
