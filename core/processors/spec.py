"""How a processor is named in a task file or the settings: a plain name (``strip-think``), a
code reference (``pkg.mod:fn``), or a mapping with a ``name`` and the processor's settings
(``{name: aliases, map: {yes: "true"}}``). Only the shape is checked here; the registry checks
that the name exists and its settings fit (``core.processors.registry``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ProcessorEntry(BaseModel):
    """A processor with settings: ``name`` picks it, every other key is one of its settings."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(min_length=1, max_length=300, description=(
        "a processor name (strip-think, first-line, final-answer, trim, aliases, redact, or a "
        "registered one) or a code reference pkg.mod:fn"))

    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


ProcessorSpec = str | ProcessorEntry


def spec_name(spec: ProcessorSpec) -> str:
    return spec if isinstance(spec, str) else spec.name


def spec_params(spec: ProcessorSpec) -> dict[str, Any]:
    return {} if isinstance(spec, str) else spec.params()


def spec_json(spec: ProcessorSpec) -> Any:
    """The spec as it would be written in a file (for run records and messages)."""
    return spec if isinstance(spec, str) else {"name": spec.name, **spec.params()}
