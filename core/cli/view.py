"""``prompt-tuner view``: browse the store in a web browser — tasks, runs, prompt versions with
their diffs, reviews and who wrote them, and each run's report — served read-only on
127.0.0.1 until Ctrl-C (``core.viewer``).

A host other machines can reach is refused (one line, exit 2) unless ``--allow-remote`` says the
user means it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console

from core import Settings, ViewError, make_view_server, view_url

from .checks import non_negative

COMMAND = "view"


def add_parsers(sub: argparse._SubParsersAction[Any],
                common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``view``; ``common`` adds --profile/--config/--store."""
    p = sub.add_parser(COMMAND, help="browse the store's tasks, runs and versions in a browser",
                       description="Serve a read-only web page over the store on this machine: "
                       "tasks, runs, every prompt version with a word diff against its parent, "
                       "reviews and who wrote them, and each run's report. Stops with Ctrl-C.")
    p.add_argument("--host", default="127.0.0.1", metavar="HOST",
                   help="address to listen on (default 127.0.0.1; another one needs "
                   "--allow-remote)")
    p.add_argument("--port", type=non_negative, default=8765, metavar="N",
                   help="port to listen on (default 8765; 0: any free port)")
    p.add_argument("--allow-remote", action="store_true",
                   help="let --host be an address other machines can reach: whoever reaches it "
                   "reads every prompt, answer and review in the store")
    common(p)


def run(args: argparse.Namespace, out: Console, settings: Settings) -> int:
    """Serve until interrupted; 0. A bad host, a busy port or no store: one line, exit 2."""
    store = settings.store_file()
    server = make_view_server(store, args.host, args.port, allow_remote=args.allow_remote)
    try:
        out.print(f"serving {store} read-only at {view_url(server)} (Ctrl-C stops)",
                  highlight=False, markup=False, soft_wrap=True)
        sys.stdout.flush()
        server.serve_forever()
    except KeyboardInterrupt:
        out.print("stopped", highlight=False)
    finally:
        server.server_close()
    return 0


__all__ = ["COMMAND", "ViewError", "add_parsers", "run"]
