"""prompt-tuner's language server: diagnostics, hover and "Optimize this prompt" in editors.

The server (``prompt-tuner-lsp``, pygls over stdio or TCP) finds prompts in prompt files, task
files and Python code, checks them without calling a model while the user types, and runs the
core's ``tune``/``evaluate_prompt`` as cancellable commands with work-done progress. It imports
the core's public API (``from core import ...``) and nothing else of the core.
"""

from __future__ import annotations

__all__ = ["SERVER_NAME"]

SERVER_NAME = "prompt-tuner-lsp"
