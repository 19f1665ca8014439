"""Trust boundaries for model specs: which specs name a place (a URL, a file) rather than a model.

A spec such as ``openai:gpt-4o-mini`` names a model at its provider's own host; ``openai:x@http://
HOST/v1`` and ``embedded:/path/model.gguf`` name a place as well. Task files, Slack members and
editor workspaces are untrusted, so the fronts ask these questions before they build a model:
the CLI warns, the editor and the bot refuse (see ``docs/security.md``). Whatever a spec names,
an API key goes only to its provider's own host or to an endpoint the operator bound it to
(the ``key_bindings`` setting; see ``core.models.endpoints``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .errors import PromptTunerError
from .models.endpoints import BadURL, bound_key_name
from .models.registry import one_line, parse_spec
from .task import Task


@dataclass(frozen=True)
class NamedEndpoint:
    role: str      # target | optimizer | judge
    spec: str      # the spec as written
    place: str     # the URL(s) or the file path the spec names


def spec_place(spec: str) -> str | None:
    """The URL(s) or model file a spec names, or None when it names only a provider's model.

    Examples:
        >>> from core import spec_place
        >>> spec_place("openai:qwen2.5@http://gpu1:8000/v1"), spec_place("embedded:/models/tiny.gguf")
        ('http://gpu1:8000/v1', '/models/tiny.gguf')
        >>> spec_place("openai:gpt-4o-mini") is None, spec_place("embedded") is None
        (True, True)
    """
    _, _, rest = spec.strip().partition(":")
    if _kind(spec) == "embedded":
        return rest.strip() or None
    _, at, urls = rest.partition("@")
    return urls.strip() or None if at else None


def task_endpoints(task: Task) -> list[NamedEndpoint]:
    """The model roles whose spec in the task's ``models:`` names a URL or a model file.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from core import load_task, task_endpoints
        >>> path = Path(tempfile.mkdtemp()) / "t.yaml"
        >>> _ = path.write_text("{name: t, prompt: Hi, models: "
        ...                     "{target: 'openai:m@http://10.0.0.5:8000/v1', judge: 'openai:gpt-4o'}}")
        >>> task_endpoints(load_task(path))  # doctest: +NORMALIZE_WHITESPACE
        [NamedEndpoint(role='target', spec='openai:m@http://10.0.0.5:8000/v1',
                       place='http://10.0.0.5:8000/v1')]
    """
    out = []
    for role in ("target", "optimizer", "judge"):
        spec = getattr(task.models, role, None)
        place = spec_place(spec) if spec else None
        if spec and place:
            out.append(NamedEndpoint(role, spec, place))
    return out


def bound_key_names(spec: str, key_bindings: Mapping[str, str]) -> list[str]:
    """The environment variables whose keys the operator bound to the URLs ``spec`` names (empty
    when it names none, none is bound, or the spec is malformed: building it will say why).

    Examples:
        >>> from core import bound_key_names
        >>> bindings = {"https://gpu1.lan:8000/v1": "VLLM_API_KEY"}
        >>> bound_key_names("openai:qwen2.5@https://gpu1.lan:8000/v1", bindings)
        ['VLLM_API_KEY']
        >>> bound_key_names("openai:qwen2.5@https://elsewhere.example/v1", bindings)
        []
    """
    try:
        urls = parse_spec(spec).urls
        names = [bound_key_name(url, key_bindings) for url in urls]
    except (PromptTunerError, BadURL):
        return []
    return sorted({n for n in names if n})



def endpoint_note(named: NamedEndpoint, key_bindings: Mapping[str, str]) -> str:
    """One line for a person: what the task file's spec names, and whether a key goes there.

    Examples:
        >>> from core import NamedEndpoint, endpoint_note
        >>> named = NamedEndpoint("target", "openai:qwen2.5@https://gpu1.lan:8000/v1",
        ...                       "https://gpu1.lan:8000/v1")
        >>> print(endpoint_note(named, {}))  # doctest: +NORMALIZE_WHITESPACE
        the task file's models.target names https://gpu1.lan:8000/v1; no API key goes there
        unless the operator binds one to it (key_bindings)
        >>> print(endpoint_note(named, {"https://gpu1.lan:8000/v1": "VLLM_API_KEY"}))
        ... # doctest: +NORMALIZE_WHITESPACE
        the task file's models.target names https://gpu1.lan:8000/v1; the key in VLLM_API_KEY
        goes there (bound by key_bindings)
    """
    where, place = f"the task file's models.{named.role} names", one_line(named.place)
    if _kind(named.spec) == "embedded":
        return f"{where} the model file {place}, which will be loaded and run"
    bound = bound_key_names(named.spec, key_bindings)
    keys = (f"the key in {', '.join(bound)} goes there (bound by key_bindings)" if bound else
            "no API key goes there unless the operator binds one to it (key_bindings)")
    return f"{where} {place}; {keys}"


def _kind(spec: str) -> str:
    return spec.strip().partition(":")[0].lower()
