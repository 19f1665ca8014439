"""``prompt-tuner summarize RESULT.json``: the Markdown comment for a pull request, from what
``eval --json`` or ``compare --json`` wrote (``-`` reads it from stdin).

A file that cannot be read, is not JSON, or is not such a result is one line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from core import PromptTunerError, Settings, load_json, render_gate_markdown

COMMAND = "summarize"
MAX_BYTES = 64 << 20  # a compare of many prompts with their worst answers is well under this


class SummarizeError(PromptTunerError):
    """The result file cannot be read, or the summary cannot be written."""


def add_parsers(sub: argparse._SubParsersAction[Any],
                common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(COMMAND, help="a Markdown summary of an eval/compare --json result",
                       description="Read what `eval --json` or `compare --json` wrote and print "
                       "GitHub-flavoured Markdown for a pull-request comment or a job summary: "
                       "each prompt's score with its 95% CI and n, the difference from PROMPT_A "
                       "with its CI and p-value, the verdict, and the CI gate with ✅/❌.")
    p.add_argument("result", metavar="RESULT.json", help="the --json output (`-`: read stdin)")
    p.add_argument("--output", type=Path, metavar="FILE", help="write the Markdown here, not stdout")
    common(p)


def _read(ref: str) -> str:
    try:
        if ref == "-":
            return sys.stdin.read(MAX_BYTES + 1)
        with open(ref, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name, undecodable stdin
        why = getattr(exc, "strerror", None) or exc
        raise SummarizeError(f"cannot read {'stdin' if ref == '-' else ref[:200]}: {why}",
                             "give the file that `eval --json` or `compare --json` wrote") from None
    return raw.decode("utf-8", errors="replace")


def _load(ref: str) -> Any:
    text = _read(ref)
    where = "stdin" if ref == "-" else ref[:200]
    if len(text) > MAX_BYTES:
        raise SummarizeError(f"{where}: larger than {MAX_BYTES >> 20} MiB",
                             "give the --json output of one eval or compare")
    try:
        return load_json(text, as_written=False)
    except (json.JSONDecodeError, RecursionError) as exc:
        line = getattr(exc, "lineno", "?")
        raise SummarizeError(f"{where} line {line}: not valid JSON",
                             "give the file that `eval --json` or `compare --json` wrote") from None


def run(args: argparse.Namespace, out: Console, settings: Settings | None = None) -> int:
    """Print (or write to ``--output``) the Markdown summary; 0, or a one-line error (exit 2)."""
    body = render_gate_markdown(_load(args.result))
    if args.output is None:
        sys.stdout.write(body)
        sys.stdout.flush()
        return 0
    try:
        args.output.write_text(body, encoding="utf-8")
    except OSError as exc:
        raise SummarizeError(f"cannot write {args.output}: {exc.strerror or exc}",
                             "point --output at a file in a folder you can write to") from None
    return 0
