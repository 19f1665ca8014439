"""``prompt-tuner runs``, ``show RUN_ID``, ``export RUN_ID``, ``versions TASK``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from rich.console import Console

from .config import Settings

COMMANDS = ("runs", "show", "export", "versions")


def add_parsers(sub: argparse._SubParsersAction[Any],
                common: Callable[[argparse.ArgumentParser], None]) -> None:
    """(being written)"""


def run(args: argparse.Namespace, out: Console, settings: Settings) -> int:
    raise NotImplementedError
