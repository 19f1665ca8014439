"""``prompt-tuner report RUN_ID --format md|html|json|csv [--output FILE]``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from rich.console import Console

from .config import Settings

COMMANDS = ("report",)


def add_parsers(sub: argparse._SubParsersAction[Any],
                common: Callable[[argparse.ArgumentParser], None]) -> None:
    """(being written)"""


def run(args: argparse.Namespace, out: Console, settings: Settings) -> int:
    raise NotImplementedError
