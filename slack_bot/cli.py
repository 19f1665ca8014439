"""``prompt-tuner-slack``: checks that the ``slack`` extra is installed before importing the bot
(whose modules import slack-bolt at the top), so a base install says what to install in one line."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from core import missing_extra


def main(argv: Sequence[str] | None = None) -> int:
    error = missing_extra("slack", "the Slack bot")
    if error is not None:
        print(f"prompt-tuner-slack: error: {error}", file=sys.stderr)
        return 2
    from .app import main as run_bot

    return run_bot(argv)
