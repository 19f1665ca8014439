"""Checks of flag values the terminal front makes before any work starts: numbers argparse lets
through (a negative seed, NaN) and folders a run will write into, so that a mistake is one line
at once rather than an internal error after the run has spent its calls."""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path

from core import ConfigError


def _whole(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < least:
        raise argparse.ArgumentTypeError(
            f"{value} must be {'0 or more' if least == 0 else f'at least {least}'}")
    return value


def non_negative(text: str) -> int:
    """An argparse ``type``: a whole number, 0 or more."""
    return _whole(text, 0)


def positive(text: str) -> int:
    """An argparse ``type``: a whole number, 1 or more."""
    return _whole(text, 1)


def non_negative_float(text: str) -> float:
    """An argparse ``type``: a finite number, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be a finite number, 0 or more")
    return value


def writable_folder(path: Path, what: str, hint: str) -> None:
    """``path`` is a folder we can create files in (made if missing); a ``ConfigError`` saying
    ``what`` it is for otherwise."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {path} is a file, not a folder", hint)
    try:
        path.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(prefix=".write-check-", dir=path))
    except OSError as exc:
        raise ConfigError(f"cannot write to {what} {path}: {exc.strerror or exc}", hint) from None
