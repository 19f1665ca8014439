"""Processors: user hooks on the target's calls. ``before_request(messages, context)`` changes
what is sent (and so the cache key); ``after_response(text, context)`` changes what is scored
(the raw reply is what is kept). Configured as ``processors:`` in the settings and in a task
file (the task's come after the settings'), by name, with settings, or as ``pkg.mod:fn``."""

from __future__ import annotations

from .base import Processor, ProcessorContext, ProcessorFactory, Role, is_hosted
from .builtin import BUILTIN_PROCESSORS
from .pipeline import Pipeline, context_for, pipeline_for, target_pipeline
from .registry import (
    check_specs,
    code_refs,
    processor_code_refs,
    processor_names,
    register_processor,
    resolve,
)
from .spec import ProcessorEntry, ProcessorSpec, spec_json

__all__ = [
    "BUILTIN_PROCESSORS", "Pipeline", "Processor", "ProcessorContext", "ProcessorEntry",
    "ProcessorFactory", "ProcessorSpec", "Role", "check_specs", "code_refs", "context_for",
    "is_hosted", "pipeline_for", "processor_code_refs", "processor_names", "register_processor",
    "resolve", "spec_json", "target_pipeline",
]
