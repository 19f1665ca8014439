"""``prompt-tuner plugins``: what is loaded, from which package and version, and what it added;
a plugin that failed to load is listed with why. ``--json`` prints one JSON document."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.text import Text

from core import PLUGIN_KINDS, Settings, loaded_plugins

from .termcharts import emit, emit_json
from .termcharts import table as new_table

COMMAND = "plugins"


def add_parsers(sub: argparse._SubParsersAction[Any],
                common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(COMMAND, help="list the loaded plugins and what each adds",
                       description="Every plugin of the `prompt_tuner` entry-point group, the "
                       "built-ins first: its package and version, and the providers, metrics, "
                       "strategies, processors, editor checks and commands it registered.")
    common(p)
    p.add_argument("--json", action="store_true", help="print the list as one JSON document")


def run(args: argparse.Namespace, out: Console, settings: Settings | None = None) -> int:
    found = loaded_plugins()
    if args.json:
        emit_json(out, {"plugins": [p.to_json() for p in found]})
        return 0
    table = new_table()
    for column in ("plugin", "package", "version", "adds"):
        table.add_column(column, overflow="fold")
    for p in found:
        adds = "\n".join(f"{kind}: {', '.join(names)}" for kind in PLUGIN_KINDS
                         if (names := p.registered.get(kind)))
        if p.error:
            adds = "\n".join(filter(None, [adds, f"[failed] {p.error}"]))
        table.add_row(p.name, p.package, p.version,
                      Text(adds or "nothing", "red" if p.error else ""))
    emit(out, table)
    return 0
