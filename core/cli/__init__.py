"""The terminal front, ``prompt-tuner``: the command line parser and ``main`` (in ``app``), one
module per command or group of commands, and the terminal's charts (``termcharts``).

Like the Slack bot and the language server, it uses only the core's public API (``core``).
"""

from __future__ import annotations

from .app import build_parser, entry, main

__all__ = ["build_parser", "entry", "main"]
