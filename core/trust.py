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
    """The URL(s) or model file a spec names, or None when it names only a provider's model."""
    _, _, rest = spec.strip().partition(":")
    if _kind(spec) == "embedded":
        return rest.strip() or None
    _, at, urls = rest.partition("@")
    return urls.strip() or None if at else None


def task_endpoints(task: Task) -> list[NamedEndpoint]:
    """The model roles whose spec in the task's ``models:`` names a URL or a model file."""
    out = []
    for role in ("target", "optimizer", "judge"):
        spec = getattr(task.models, role, None)
        place = spec_place(spec) if spec else None
        if spec and place:
            out.append(NamedEndpoint(role, spec, place))
    return out


def bound_key_names(spec: str, key_bindings: Mapping[str, str]) -> list[str]:
    """The environment variables whose keys the operator bound to the URLs ``spec`` names (empty
    when it names none, none is bound, or the spec is malformed: building it will say why)."""
    try:
        urls = parse_spec(spec).urls
        names = [bound_key_name(url, key_bindings) for url in urls]
    except (PromptTunerError, BadURL):
        return []
    return sorted({n for n in names if n})



def endpoint_note(named: NamedEndpoint, key_bindings: Mapping[str, str]) -> str:
    """One line for a person: what the task file's spec names, and whether a key goes there."""
    where, place = f"the task file's models.{named.role} names", one_line(named.place)
    if _kind(named.spec) == "embedded":
        return f"{where} the model file {place}, which will be loaded and run"
    bound = bound_key_names(named.spec, key_bindings)
    keys = (f"the key in {', '.join(bound)} goes there (bound by key_bindings)" if bound else
            "no API key goes there unless the operator binds one to it (key_bindings)")
    return f"{where} {place}; {keys}"


def _kind(spec: str) -> str:
    return spec.strip().partition(":")[0].lower()
