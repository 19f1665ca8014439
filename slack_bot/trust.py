"""Which models a Slack member may reach: only the ones the operator configured.

A member chooses a target by alias (``--target small``); the aliases are the bot's ``targets``
setting plus ``default``, the core's configured target. A URL, a model file or any other raw
spec is refused before anything is contacted, because the bot attaches the server's API keys to
the models it builds and posts model servers' errors back into threads.

A task file is read by the bot but may have been written by anyone: its ``models:`` may not
name a place (a URL or a model file), and its plain specs (``openai:gpt-4o``) are taken only
when the operator already configured the same spec, as an alias or as one of the core's model
roles. The same check guards every run the bot starts (tunes, A/B tests, evaluations, resumed
runs), so no command can build a model the operator did not choose.
"""

from __future__ import annotations

from collections.abc import Mapping

from core import Settings, Task, spec_place, task_endpoints

from .commands import UsageError
from .settings import DEFAULT_ALIAS

ROLES = ("target", "optimizer", "judge")


def _norm(spec: str) -> str:
    return spec.strip()


class ModelPolicy:
    """The operator's models: the aliases members may name, and every spec a run may use."""

    def __init__(self, core: Settings, targets: Mapping[str, str]) -> None:
        self.aliases: dict[str, str] = {DEFAULT_ALIAS: _norm(core.models.target)}
        self.aliases.update({name.lower(): _norm(spec) for name, spec in targets.items()})
        self.allowed = frozenset(self.aliases.values()) | {
            _norm(getattr(core.models, role)) for role in ROLES}

    def names(self) -> str:
        return ", ".join(f"`{name}`" for name in sorted(self.aliases))

    def target(self, choice: str) -> str:
        """The spec behind the alias ``choice``; one line listing the aliases otherwise."""
        spec = self.aliases.get(choice.strip().lower())
        if spec is None:
            raise UsageError(f"`--target` takes the name of one of this bot's models: "
                             f"{self.names()}. A URL, a model file or another model cannot be "
                             "chosen from Slack; ask the bot's operator to add it to `targets`.")
        return spec

    def check_task(self, task: Task, what: str) -> None:
        """Refuse a task whose ``models:`` name a place, or a model the operator did not set."""
        named = task_endpoints(task)
        if named:
            first = named[0]
            raise UsageError(f"{what} names a model endpoint for its {first.role} (`models:`); "
                             f"the bot only uses its own models. Remove `models:` from the task "
                             f"file and choose one with `--target`: {self.names()}.")
        for role in ROLES:
            spec = getattr(task.models, role, None)
            if spec and _norm(spec) not in self.allowed:
                raise UsageError(f"{what} asks for the {role} model `{spec}`, which is not one of "
                                 f"this bot's models. Remove it from `models:` and choose one "
                                 f"with `--target`: {self.names()}.")

    def check_settings(self, settings: Settings) -> None:
        """Refuse a run whose resolved models are not all the operator's (the last guard)."""
        for role in ROLES:
            spec = _norm(getattr(settings.models, role))
            if spec not in self.allowed:
                place = " at a place the operator did not configure" if spec_place(spec) else ""
                raise UsageError(f"this run's {role} model is not one of this bot's models"
                                 f"{place}; choose one with `--target`: {self.names()}.")
