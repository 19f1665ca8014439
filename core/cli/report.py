"""``prompt-tuner report RUN_ID --format md|html|json|csv [--output FILE]``: any stored run as a
report. Markdown, JSON and CSV go to stdout unless ``--output`` names a file; HTML (one
self-contained file with charts) goes to the run's folder unless ``--output`` says otherwise."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from core import (
    REPORT_FORMATS,
    PromptTunerError,
    ReportFormat,
    Settings,
    Store,
    load_run,
    render_run,
    resolve_run_id,
)

COMMANDS = ("report",)


def add_parsers(sub: argparse._SubParsersAction[Any],
                common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``report`` to the CLI's subcommands; ``common`` adds --profile/--config/--store."""
    p = sub.add_parser("report", help="a stored run as Markdown, HTML (with charts), JSON or CSV",
                       description="Render a stored run, finished or not. md, json and csv print "
                       "to stdout; html is one self-contained file (no network needed to open "
                       "it) written to the run's folder. --output FILE writes any format to FILE.")
    p.add_argument("run_id", metavar="RUN_ID",
                   help="a run id, a unique prefix of one, or `last` (see `prompt-tuner runs`)")
    p.add_argument("--format", "-f", dest="format", choices=REPORT_FORMATS, default="md",
                   help="md (default), html, json (the whole run) or csv (one row per candidate)")
    p.add_argument("--output", "-o", type=Path, metavar="FILE",
                   help="write the report to FILE instead (`-` for stdout)")
    common(p)


def run(args: argparse.Namespace, out: Console, settings: Settings) -> int:
    """Run ``report``. User mistakes raise ``PromptTunerError`` (one line, exit 2 in the CLI's
    main)."""
    if args.command not in COMMANDS:
        raise PromptTunerError(f"unknown command {args.command}", "see `prompt-tuner --help`")
    store = Store.existing(settings.store_file())
    try:
        run_id = resolve_run_id(store, args.run_id)
        fmt: ReportFormat = args.format
        text = render_run(load_run(store, run_id), store, fmt)
    finally:
        store.close()
    target = _target(args.output, fmt, settings, run_id)
    if target is None:
        out.out(text, highlight=False, end="")
        return 0
    _write(target, text)
    out.print(Text.assemble(f"{fmt} report of run {run_id} written to ", (str(target), "bold")),
              soft_wrap=True)
    return 0


def _target(output: Path | None, fmt: str, settings: Settings, run_id: str) -> Path | None:
    """Where the report goes: None for stdout."""
    if output is not None:
        return None if str(output) == "-" else output
    if fmt == "html":
        return settings.runs_dir() / run_id / "report.html"
    return None


def _write(target: Path, text: str) -> None:
    if target.is_dir():
        raise PromptTunerError(f"--output {target} is a folder",
                               f"give a file name, e.g. {target / 'report.html'}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise PromptTunerError(f"cannot write {target}: {exc.strerror or exc}",
                               "choose a file in a folder you can write to") from None
