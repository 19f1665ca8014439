"""``prompt-tuner-lsp``: run the language server over stdio (the default) or TCP."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from core import __version__, missing_extra


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="prompt-tuner-lsp",
                                description="prompt-tuner's language server for editors")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (default)")
    mode.add_argument("--tcp", action="store_true", help="listen on a TCP port instead")
    p.add_argument("--host", default="127.0.0.1", help="TCP address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=2087, help="TCP port (default 2087)")
    p.add_argument("--log-file", help="write the server's log here (stderr by default)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="-v info, -vv debug")
    p.add_argument("--version", action="version", version=f"prompt-tuner-lsp {__version__}")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    handler: logging.Handler = (logging.FileHandler(args.log_file) if args.log_file
                                else logging.StreamHandler(sys.stderr))
    logging.basicConfig(level=level, handlers=[handler],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    error = missing_extra("lsp", "the language server")
    if error is not None:
        print(f"prompt-tuner-lsp: error: {error}", file=sys.stderr)
        return 2
    from .features import build_server  # pygls is imported only when the server runs

    server = build_server()
    if args.tcp:
        server.start_tcp(args.host, args.port)
    else:
        server.start_io()
    return 0
